"""
The token-bucket rate limiter (`api/ratelimit.py`), on a hand-moved monotonic clock: bursts,
refill, per-key buckets, forgetting old buckets and the `Retry-After` value.
"""

from __future__ import annotations

import pytest

from cartback.api import ratelimit
from cartback.api.ratelimit import RateLimiter, retry_after_seconds


class FakeTime:
    """
    Stands in for the `time` module inside the limiter: `monotonic()` moves only when told.
    """

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        """
        The current fake reading.
        """
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    """
    The limiter's clock, replaced for this test only.
    """
    fake = FakeTime()
    monkeypatch.setattr(ratelimit, "time", fake)
    return fake


def drain(limiter: RateLimiter, key: str, times: int) -> list[float]:
    """
    Ask `times` times and return every answer.
    """
    return [limiter.acquire(key) for _ in range(times)]


def test_a_new_key_may_burst(clock: FakeTime) -> None:
    """
    A key never seen starts with a full bucket: `burst` requests pass at once.
    """
    # given
    limiter = RateLimiter(rate=2, burst=5)
    # when
    waits = drain(limiter, "store-a", 5)
    # then
    assert [0.0] * 5 == waits


def test_beyond_the_burst_the_caller_is_told_how_long_to_wait(clock: FakeTime) -> None:
    """
    The request after the burst is refused with the time one token takes to come back.
    """
    # given
    limiter = RateLimiter(rate=2, burst=5)
    drain(limiter, "store-a", 5)
    # when
    wait = limiter.acquire("store-a")
    # then
    assert 0.5 == wait


def test_tokens_come_back_at_the_rate(clock: FakeTime) -> None:
    """
    After 1/rate seconds exactly one more request passes.
    """
    # given
    limiter = RateLimiter(rate=2, burst=5)
    drain(limiter, "store-a", 5)
    clock.now += 0.5
    # when
    waits = drain(limiter, "store-a", 2)
    # then
    assert [0.0, 0.5] == waits


def test_a_refused_request_takes_no_token(clock: FakeTime) -> None:
    """
    Refusals do not dig the bucket deeper: waiting as told is enough.
    """
    # given
    limiter = RateLimiter(rate=2, burst=1)
    drain(limiter, "store-a", 1)
    drain(limiter, "store-a", 10)
    clock.now += 0.5
    # when
    wait = limiter.acquire("store-a")
    # then
    assert 0.0 == wait


def test_a_long_pause_refills_only_up_to_the_burst(clock: FakeTime) -> None:
    """
    An hour of silence earns a full burst, not an hour of tokens.
    """
    # given
    limiter = RateLimiter(rate=2, burst=3)
    drain(limiter, "store-a", 3)
    clock.now += 3600
    # when
    waits = drain(limiter, "store-a", 4)
    # then
    assert [0.0, 0.0, 0.0, 0.5] == waits


def test_keys_have_their_own_buckets(clock: FakeTime) -> None:
    """
    One store using up its burst does not limit another.
    """
    # given
    limiter = RateLimiter(rate=1, burst=2)
    drain(limiter, "store-a", 3)
    # when
    waits = drain(limiter, "store-b", 2)
    # then
    assert [0.0, 0.0] == waits


def test_a_costly_request_waits_for_its_missing_tokens(clock: FakeTime) -> None:
    """
    A request costing 5 with 3 tokens left waits for the 2 missing ones.
    """
    # given
    limiter = RateLimiter(rate=4, burst=5)
    drain(limiter, "store-a", 2)
    # when
    wait = limiter.acquire("store-a", cost=5)
    # then
    assert 0.5 == wait


def test_the_wait_is_never_zero(clock: FakeTime) -> None:
    """
    However close the next token, a refusal asks for a positive wait.
    """
    # given
    limiter = RateLimiter(rate=1e9, burst=1)
    drain(limiter, "store-a", 1)
    # when
    wait = limiter.acquire("store-a")
    # then
    assert 0.001 == wait


def test_the_least_recently_used_bucket_is_forgotten_first(
    clock: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    Beyond MAX_BUCKETS, the oldest bucket is dropped (and a forgotten bucket is full again).
    """
    # given
    monkeypatch.setattr(ratelimit, "MAX_BUCKETS", 2)
    limiter = RateLimiter(rate=1, burst=1)
    drain(limiter, "old", 1)
    drain(limiter, "recent", 1)
    drain(limiter, "newest", 1)
    # when
    waits = [limiter.acquire("old"), limiter.acquire("newest")]
    # then
    assert [0.0, 1.0] == waits


def test_using_a_bucket_keeps_it_remembered(
    clock: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    A bucket in use is not the one forgotten.
    """
    # given
    monkeypatch.setattr(ratelimit, "MAX_BUCKETS", 2)
    limiter = RateLimiter(rate=1, burst=1)
    drain(limiter, "busy", 1)
    drain(limiter, "idle", 1)
    drain(limiter, "busy", 1)
    drain(limiter, "newcomer", 1)
    # when
    wait = limiter.acquire("busy")
    # then
    assert 1.0 == wait


def test_an_older_clock_reading_never_removes_tokens(clock: FakeTime) -> None:
    """
    Two threads can read the clock in one order and take the lock in the other; the late
    (older) reading must not count as negative time.
    """
    # given
    limiter = RateLimiter(rate=1, burst=2)
    limiter.acquire("store-a")
    clock.now -= 1.0
    # when
    wait = limiter.acquire("store-a")
    # then
    assert 0.0 == wait


@pytest.mark.parametrize(
    ("wait", "expected"), [(0.0, 1), (0.001, 1), (1.0, 1), (1.2, 2), (59.01, 60)]
)
def test_retry_after_is_whole_seconds_and_never_zero(wait: float, expected: int) -> None:
    """
    `Retry-After` rounds the wait up to whole seconds, at least one.
    """
    # given / when
    seconds = retry_after_seconds(wait)
    # then
    assert expected == seconds
