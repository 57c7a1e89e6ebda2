"""
Keys and secrets (`kit/keys.py`, `kit/ids.py`) and contact normalisation (`kit/normalise.py`).
"""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from cartback.domain.errors import ConfigurationError
from cartback.domain.stores import KeyKind
from cartback.kit.ids import new_id
from cartback.kit.keys import (
    SHOWN_PREFIX_LENGTH,
    SecretBox,
    digest_key,
    generate_key,
    generate_webhook_secret,
    shown_prefix,
)
from cartback.kit.normalise import normalise_email, normalise_phone

OLD = "old-secret-key-0123456789-0123456789"
NEW = "new-secret-key-0123456789-0123456789"


# --- keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "prefix"), [(KeyKind.SECRET, "cb_sk_"), (KeyKind.PUBLIC, "cb_pk_")]
)
def test_keys_start_with_their_kind_prefix_and_carry_256_bits(kind: KeyKind, prefix: str) -> None:
    """
    A key is recognisable by its prefix and carries 32 random bytes (43 URL-safe characters).
    """
    # given / when
    key = generate_key(kind)
    # then
    assert (prefix, 43) == (key[: len(prefix)], len(key) - len(prefix))


def test_two_keys_are_never_the_same() -> None:
    """
    Keys are random.
    """
    # given / when
    keys = {generate_key(KeyKind.SECRET) for _ in range(20)}
    # then
    assert 20 == len(keys)


def test_webhook_secrets_are_standard_webhooks_style() -> None:
    """
    `whsec_` and 24 random bytes in base64.
    """
    # given / when
    secret = generate_webhook_secret()
    # then
    assert ("whsec_", 24) == (secret[:6], len(base64.b64decode(secret[6:])))


def test_the_key_digest_is_its_sha256() -> None:
    """
    Only the SHA-256 of a key is stored.
    """
    # given
    key = "cb_sk_example"
    # when
    digest = digest_key(key)
    # then
    assert hashlib.sha256(key.encode()).hexdigest() == digest


def test_different_keys_have_different_digests() -> None:
    """
    The digest tells keys apart.
    """
    # given / when
    digests = {digest_key("cb_sk_a"), digest_key("cb_sk_b")}
    # then
    assert 2 == len(digests)


def test_only_a_short_prefix_of_a_key_is_shown_again() -> None:
    """
    Listings show the first characters, enough to recognise a key but not to use it.
    """
    # given
    key = generate_key(KeyKind.SECRET)
    # when
    shown = shown_prefix(key)
    # then
    assert (key[:SHOWN_PREFIX_LENGTH], 12) == (shown, len(shown))


def test_ids_carry_their_prefix_and_21_crockford_base32_characters() -> None:
    """
    `st_` and 21 lower-case characters of Crockford's base32 (no i, l, o, u).
    """
    # given / when
    identifier = new_id("st")
    # then
    assert re.fullmatch(r"st_[0-9a-hjkmnp-tv-z]{21}", identifier) is not None


def test_ids_made_in_a_later_millisecond_sort_after(monkeypatch: pytest.MonkeyPatch) -> None:
    """
    The id starts with its creation time, so later ids sort after earlier ones.
    """
    # given
    moments = iter([1_700_000_000_000_000_000, 1_700_000_000_001_000_000])
    monkeypatch.setattr("cartback.kit.ids.time.time_ns", lambda: next(moments))
    # when
    first, second = new_id("ca"), new_id("ca")
    # then
    assert [first, second] == sorted([second, first])


def test_ids_are_unique() -> None:
    """
    Two ids are never the same.
    """
    # given / when
    ids = {new_id("ct") for _ in range(50)}
    # then
    assert 50 == len(ids)


# --- secret box -----------------------------------------------------------------------------


@pytest.mark.parametrize("plaintext", ["whsec_abc", "", "ünïcödé ✓"])
def test_a_sealed_secret_opens_to_itself(plaintext: str) -> None:
    """
    What the box seals, it opens.
    """
    # given
    box = SecretBox([NEW])
    # when
    opened = box.open(box.seal(plaintext))
    # then
    assert plaintext == opened


def test_a_sealed_secret_does_not_show_the_plaintext() -> None:
    """
    Sealing encrypts, with a fresh nonce each time.
    """
    # given
    box = SecretBox([NEW])
    # when
    sealed = [box.seal("whsec_visible"), box.seal("whsec_visible")]
    # then
    assert (False, True) == ("whsec_visible" in sealed[0], sealed[0] != sealed[1])


def test_a_rotated_box_opens_secrets_sealed_with_the_old_key() -> None:
    """
    After rotation (`new,old`), secrets sealed under the old key still open.
    """
    # given
    sealed = SecretBox([OLD]).seal("whsec_old")
    # when
    opened = SecretBox([NEW, OLD]).open(sealed)
    # then
    assert "whsec_old" == opened


def test_a_rotated_box_seals_with_the_first_key() -> None:
    """
    The first key seals: once the old key is dropped, new secrets still open.
    """
    # given
    sealed = SecretBox([NEW, OLD]).seal("whsec_new")
    # when
    opened = SecretBox([NEW]).open(sealed)
    # then
    assert "whsec_new" == opened


def test_a_replaced_key_cannot_open_old_secrets() -> None:
    """
    A key replaced instead of rotated is a configuration error that says how to rotate.
    """
    # given
    sealed = SecretBox([OLD]).seal("whsec_old")
    # when / then
    with pytest.raises(ConfigurationError, match="keep the old key in the list"):
        SecretBox([NEW]).open(sealed)


@pytest.mark.parametrize("sealed", ["not a token", "", "gAAAAA"])
def test_garbage_does_not_open(sealed: str) -> None:
    """
    Tampered or truncated values are refused, not decrypted.
    """
    # given
    box = SecretBox([NEW])
    # when / then
    with pytest.raises(ConfigurationError):
        box.open(sealed)


def test_a_box_needs_a_key() -> None:
    """
    No keys, no box.
    """
    # given / when / then
    with pytest.raises(ConfigurationError, match="at least one secret key"):
        SecretBox([])


# --- normalisation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ada@example.com", "ada@example.com"),
        (" Ada.Lovelace@Example.COM ", "ada.lovelace@example.com"),
        ("ADA+shop@EXAMPLE.co.uk", "ada+shop@example.co.uk"),
        ("walker@storebotmail.joonix.net", "walker@storebotmail.joonix.net"),
    ],
)
def test_emails_are_trimmed_and_lower_cased(raw: str, expected: str) -> None:
    """
    Addresses are compared and matched in one form.
    """
    # given / when
    email = normalise_email(raw)
    # then
    assert expected == email


@pytest.mark.parametrize(
    "raw",
    ["", "nope", "a@b", "@example.com", "a@@example.com", "a b@example.com", "a@exa mple.com"],
)
def test_invalid_emails_are_refused(raw: str) -> None:
    """
    Text that is not an address raises ValueError (never the library's own error type).
    """
    # given / when / then
    with pytest.raises(ValueError):  # noqa: PT011 - the message is the library's
        normalise_email(raw)


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+1 (415) 555-0123", None, "+14155550123"),
        ("+14155550123", "DE", "+14155550123"),
        ("030 901820", "DE", "+4930901820"),
        ("0049 30 901820", "DE", "+4930901820"),
        (" (415) 555-0123 ", "US", "+14155550123"),
    ],
)
def test_phones_are_written_in_e164(raw: str, region: str | None, expected: str) -> None:
    """
    International numbers as given; national numbers in the store's country.
    """
    # given / when
    phone = normalise_phone(raw, default_region=region)
    # then
    assert expected == phone


@pytest.mark.parametrize(
    ("raw", "region", "message"),
    [
        ("030 901820", None, "country code"),
        ("call me", "US", "country code"),
        ("", "US", "country code"),
        ("+1 555", None, "not a valid phone number"),
        ("12", "US", "not a valid phone number"),
        ("+1" + "5" * 300, None, "country code"),
    ],
)
def test_invalid_phones_are_refused_with_advice(raw: str, region: str | None, message: str) -> None:
    """
    A number that cannot be read, or is not a real number, is refused.
    """
    # given / when / then
    with pytest.raises(ValueError, match=message):
        normalise_phone(raw, default_region=region)
