"""
Prefixed identifiers (`st_…`, `ca_…`) that say what they name and sort by creation millisecond.
"""

from __future__ import annotations

import base64
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: RFC 4648 base32 digits mapped to Crockford's lower-case alphabet, which is in ASCII order,
#: so the text sorts like the number it encodes.
_CROCKFORD = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789abcdefghjkmnpqrstvwxyz"
)


def new_id(prefix: str) -> str:
    """
    A new identifier: the prefix, an underscore, then 21 base32 characters encoding 48 bits of
    creation time in milliseconds and 56 random bits. Rows inserted together land next to each
    other in every index on the id, which keeps writes local (SQLite rewrites every page an
    insert touches).
    """
    source = _seeded
    if source is not None:
        raw = source()
    else:
        raw = (time.time_ns() // 1_000_000).to_bytes(6, "big") + _random_bytes(7)
    return f"{prefix}_{base64.b32encode(raw).translate(_CROCKFORD).decode()[:21]}"


_POOL_BYTES = 4096
_pool = bytearray()
_pool_lock = threading.Lock()


def _random_bytes(count: int) -> bytes:
    """
    `count` bytes from the operating system's secure source, read a page at a time: one
    system call per id cost more than the rest of making it (measured on ingestion batches).
    """
    with _pool_lock:
        if len(_pool) < count:
            _pool.extend(os.urandom(_POOL_BYTES))
        taken = bytes(_pool[:count])
        del _pool[:count]
    return taken


def _forget_pool() -> None:
    # A forked child must not hand out the bytes its parent will also use.
    _pool.clear()


os.register_at_fork(after_in_child=_forget_pool)


#: While `seeded_ids` is active: the source of each new id's 13 raw bytes.
_seeded: Callable[[], bytes] | None = None


@contextmanager
def seeded_ids(seed: int, milliseconds: Callable[[], int]) -> Iterator[None]:
    """
    Within the block, new ids come from `seed` and the given clock (`cartback demo`: the same
    seed gives the same ids, so the same holdout groups and the same report). Never in the
    service: such ids are guessable.
    """
    global _seeded  # noqa: PLW0603 - a process-wide switch, on only while the demo runs
    generator = random.Random(seed)  # noqa: S311 - reproducible on purpose, not secret
    lock = threading.Lock()

    def source() -> bytes:
        with lock:
            return milliseconds().to_bytes(6, "big") + generator.randbytes(7)

    previous, _seeded = _seeded, source
    try:
        yield
    finally:
        _seeded = previous
