"""
Token buckets, per store for server keys and per key and client address for browser keys.
In memory and per process: a limit protects this process; run PostgreSQL-backed replicas
behind a proxy with its own limits for a global one.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

#: Buckets kept before the least recently used are forgotten (a forgotten bucket is full).
MAX_BUCKETS = 50_000


@dataclass(kw_only=True, slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """
    Allows `rate` requests per second per key, with bursts up to `burst`.
    """

    def __init__(self, *, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, key: str, cost: float = 1.0) -> float:
        """
        Take `cost` tokens. Returns 0 when allowed, else the seconds to wait before retrying.
        """
        if cost > self._burst:
            raise ValueError("a request may not cost more than the burst")
        with self._lock:
            now = time.monotonic()
            bucket = self._buckets.pop(key, None) or _Bucket(tokens=self._burst, updated=now)
            # A reading older than the bucket's (another thread's clock) adds nothing.
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self._burst, bucket.tokens + elapsed * self._rate)
            bucket.updated = max(now, bucket.updated)
            self._buckets[key] = bucket
            if len(self._buckets) > MAX_BUCKETS:
                self._buckets.popitem(last=False)
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                return 0.0
            return max((cost - bucket.tokens) / self._rate, 0.001)


def retry_after_seconds(wait: float) -> int:
    """
    A whole number of seconds for `Retry-After`, never zero.
    """
    return max(1, math.ceil(wait))
