"""
Restore tokens (`services.links`): signed with a salt of their own, carrying the time they were
signed; the first secret key signs and every key verifies (rotation); a changed, foreign or
malformed token is refused; a first-version token reads as authentic but expired.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from cartback.domain.restore import is_expired
from cartback.kit.signing import Signer, TimedSigner
from cartback.services.links import (
    LEGACY_RESTORE_SALT,
    RESTORE_SALT,
    InvalidRestoreLink,
    RestoreLinks,
)

BASE = "https://cb.example.com"
OLD_KEY = "old-secret-key-that-is-long-enough-0123456789"
NEW_KEY = "new-secret-key-that-is-long-enough-9876543210"
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def _token(keys: list[str], *, now: datetime = NOW) -> str:
    url = RestoreLinks(secret_keys=keys, base_url=BASE).url(
        store_id="st_1", touch_id="tc_1", now=now
    )
    return url.removeprefix(f"{BASE}/r/")


def test_a_token_names_the_store_the_touch_and_when_it_was_signed() -> None:
    """
    Read back, a token gives its store, its touch and its signing time; it holds no more.
    """
    # when
    target = RestoreLinks(secret_keys=[NEW_KEY], base_url=BASE).read(_token([NEW_KEY]))

    # then
    assert ("st_1", "tc_1", NOW) == (target.store_id, target.touch_id, target.signed_at)


def test_a_token_signed_with_the_old_key_still_verifies_after_rotation() -> None:
    """
    Keys `[new, old]`: links sent before the rotation keep working.
    """
    # given
    token = _token([OLD_KEY])

    # when
    target = RestoreLinks(secret_keys=[NEW_KEY, OLD_KEY], base_url=BASE).read(token)

    # then
    assert "tc_1" == target.touch_id


def test_the_first_key_signs() -> None:
    """
    After rotation new tokens are signed with the new key: a reader holding only it accepts
    them, one holding only the old key does not.
    """
    # given
    token = _token([NEW_KEY, OLD_KEY])

    # when
    with_new = RestoreLinks(secret_keys=[NEW_KEY], base_url=BASE).read(token)

    # then
    assert "tc_1" == with_new.touch_id
    with pytest.raises(InvalidRestoreLink):
        RestoreLinks(secret_keys=[OLD_KEY], base_url=BASE).read(token)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), id="signature"),
        pytest.param(lambda t: "W" + t[1:] if t[0] != "W" else "X" + t[1:], id="payload"),
        pytest.param(lambda t: t.split(".")[0], id="cut-off"),
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: "not-a-token", id="garbage"),
        pytest.param(lambda t: t + "A", id="lengthened"),
    ],
)
def test_a_changed_token_is_refused(change: Callable[[str], str]) -> None:
    """
    Any change to a token (signature, payload, length) makes it invalid.
    """
    # given
    token = _token([NEW_KEY])

    # when / then
    with pytest.raises(InvalidRestoreLink):
        RestoreLinks(secret_keys=[NEW_KEY], base_url=BASE).read(change(token))


def test_a_token_of_another_purpose_is_refused() -> None:
    """
    A value signed with the same key for something else (another salt) is not a restore token.
    """
    # given
    token = TimedSigner([NEW_KEY], salt="cartback.unsubscribe").sign(["st_1", "tc_1"], now=NOW)

    # when / then
    with pytest.raises(InvalidRestoreLink):
        RestoreLinks(secret_keys=[NEW_KEY], base_url=BASE).read(token)


def test_a_first_version_token_reads_as_long_expired() -> None:
    """
    A `cartback.restore.v1` token (no time in it) is authentic, so its page can link to the
    store, but it is older than any lifetime.
    """
    # given
    assert RESTORE_SALT != LEGACY_RESTORE_SALT
    token = Signer([NEW_KEY], salt=LEGACY_RESTORE_SALT).sign(["st_1", "tc_1"])

    # when
    target = RestoreLinks(secret_keys=[NEW_KEY], base_url=BASE).read(token)

    # then
    assert "st_1" == target.store_id
    assert is_expired(target.signed_at, timedelta(days=365), NOW)


@pytest.mark.parametrize(
    ("age", "expired"),
    [
        (timedelta(0), False),
        (timedelta(days=30), False),
        (timedelta(days=30, seconds=1), True),
        (-timedelta(minutes=5), False),
    ],
)
def test_a_link_expires_only_past_its_lifetime(age: timedelta, expired: bool) -> None:
    """
    Exactly at its lifetime a link still works; a second later it does not (a clock a little
    behind the signer's is not an expiry).
    """
    # when / then
    assert expired == is_expired(NOW, timedelta(days=30), NOW + age)


def test_signing_refuses_a_naive_time() -> None:
    """
    The signing time must be timezone-aware.
    """
    # when / then
    with pytest.raises(ValueError, match="timezone-aware"):
        TimedSigner([NEW_KEY], salt=RESTORE_SALT).sign([1], now=datetime(2026, 1, 1))  # noqa: DTZ001
