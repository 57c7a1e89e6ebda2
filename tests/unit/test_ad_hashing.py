"""
Hashing contact details for ad networks (`domain/ad_hashing.py`) against every vector of
`tests/fixtures/ads/hashing_vectors.json`: the networks' published examples and the cases
computed by their documented rules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cartback.domain.ad_hashing import (
    Network,
    hashed,
    normalise_email,
    normalise_phone,
    sha256_hex,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "ads" / "hashing_vectors.json").read_text()
)
PUBLISHED = {(v["platform"], v["field"]): v for v in VECTORS["published"]}
META_CASES: list[dict[str, str]] = VECTORS["computed_meta_rules"]["cases"]
GOOGLE_CASES: list[dict[str, str]] = VECTORS["computed_google_ads_rules"]["cases"]

#: Fields Cartback does not send (gender, state, country, zip, mobile ids): only the hash of
#: their stated normalised text is checked.
OTHER_FIELDS = [
    *(c for c in META_CASES if c["field"] not in ("em", "ph")),
    {
        "normalized": PUBLISHED[("TikTok customer file", "MAID_SHA256")]["normalized"],
        "sha256_hex": PUBLISHED[("TikTok customer file", "MAID_SHA256")]["sha256_hex"],
    },
]


def _normaliser(field: str) -> Any:
    return normalise_email if field in ("em", "hashed_email") else normalise_phone


@pytest.mark.parametrize(
    "case",
    [c for c in META_CASES if c["field"] in ("em", "ph")],
    ids=lambda c: f"{c['field']}:{c['input'].strip()}",
)
def test_meta_email_and_phone_hash_as_metas_sdk_does(case: dict[str, str]) -> None:
    """
    Meta's rules (trim, lower-case; phone digits without `+` and leading zeros) give the
    vector's normalised text and hash.
    """
    # given
    normalise = _normaliser(case["field"])
    # when
    normal = normalise(Network.META, case["input"])
    # then
    assert (case["normalized"], case["sha256_hex"]) == (normal, sha256_hex(normal))


@pytest.mark.parametrize("case", GOOGLE_CASES, ids=lambda c: c["field"])
def test_google_email_and_phone_hash_as_google_ads_documents(case: dict[str, str]) -> None:
    """
    Google's rules (email trimmed and lower-cased; phone in E.164 with its `+`) give the
    vector's normalised text and hash.
    """
    # given
    normalise = _normaliser(case["field"])
    # when
    normal = normalise(Network.GOOGLE, case["input"])
    # then
    assert (case["normalized"], case["sha256_hex"]) == (normal, sha256_hex(normal))


def test_snap_published_email_example() -> None:
    """
    Snap's documented example: `Person@Example.com` hashes as `person@example.com`.
    """
    # given
    vector = PUBLISHED[("Snap CAPI", "em")]
    # when
    found = hashed(Network.SNAP, vector["input"], None)
    # then
    assert (("email", vector["sha256_hex"]),) == found
    assert vector["normalized"] == normalise_email(Network.SNAP, vector["input"])


def test_snap_published_phone_example() -> None:
    """
    Snap's documented example: `+44 844 412 4653` hashes as the digits `448444124653`.
    """
    # given
    vector = PUBLISHED[("Snap CAPI", "ph")]
    # when
    found = hashed(Network.SNAP, None, vector["input"])
    # then
    assert (("phone", vector["sha256_hex"]),) == found
    assert vector["normalized"] == normalise_phone(Network.SNAP, vector["input"])


def test_tiktok_published_email_example() -> None:
    """
    TikTok's documented normalised email hashes to its published digest, and stays as it is.
    """
    # given
    vector = PUBLISHED[("TikTok customer file", "Email_SHA256")]
    # when
    normal = normalise_email(Network.TIKTOK, vector["normalized"])
    # then
    assert vector["normalized"] == normal
    assert vector["sha256_hex"] == sha256_hex(vector["normalized"])


def test_tiktok_published_phone_example_is_the_digits_without_plus() -> None:
    """
    TikTok's published phone digest is that of the bare digits (TikTok labels it with a `+`):
    its own example `374-93-828222` normalises to those digits and hashes to the digest.
    """
    # given
    vector = PUBLISHED[("TikTok customer file", "Phone_SHA256")]
    # when
    found = hashed(Network.TIKTOK, None, "374-93-828222")
    # then
    assert vector["actually_hash_of"] == normalise_phone(Network.TIKTOK, "374-93-828222")
    assert (("phone", vector["sha256_hex"]),) == found


@pytest.mark.parametrize("case", OTHER_FIELDS, ids=lambda c: c["normalized"])
def test_other_fields_hash_to_their_vectors(case: dict[str, str]) -> None:
    """
    The hash itself: SHA-256 of the UTF-8 text in lower-case hex, for every remaining vector.
    """
    # given / when
    digest = sha256_hex(case["normalized"])
    # then
    assert case["sha256_hex"] == digest


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        (Network.META, "16505551212"),
        (Network.GOOGLE, "+16505551212"),
        (Network.TIKTOK, "16505551212"),
        (Network.SNAP, "16505551212"),
    ],
)
def test_only_google_keeps_the_plus_of_e164(network: Network, expected: str) -> None:
    """
    The same stored number: Google hashes it with `+`, the others as bare digits.
    """
    # given / when
    normal = normalise_phone(network, "+16505551212")
    # then
    assert expected == normal


def test_tiktok_drops_a_plus_tag_from_the_address() -> None:
    """
    TikTok removes `+` and what follows it up to the `@`; the other networks keep it.
    """
    # given
    raw = " Jane.Doe+Shop@Example.com "
    # when
    found = {n: normalise_email(n, raw) for n in Network}
    # then
    assert {
        Network.META: "jane.doe+shop@example.com",
        Network.GOOGLE: "jane.doe+shop@example.com",
        Network.TIKTOK: "jane.doe@example.com",
        Network.SNAP: "jane.doe+shop@example.com",
    } == found


@pytest.mark.parametrize("network", list(Network))
@pytest.mark.parametrize("raw", ["not an email", "a@b", "@example.com", ""])
def test_a_text_that_is_no_address_gives_none(network: Network, raw: str) -> None:
    """
    Nothing is hashed for a text that is not an email address.
    """
    # given / when
    normal = normalise_email(network, raw)
    # then
    assert normal is None


@pytest.mark.parametrize("network", list(Network))
@pytest.mark.parametrize("raw", ["12345", "call me", "+0", "", "+1234567890123456"])
def test_a_text_that_is_no_phone_number_gives_none(network: Network, raw: str) -> None:
    """
    Too short, too long (E.164 has at most 15 digits), or no digits: nothing is hashed.
    """
    # given / when
    normal = normalise_phone(network, raw)
    # then
    assert normal is None


def test_google_refuses_a_number_without_country_code() -> None:
    """
    A national number cannot be written in E.164, so Google gets nothing for it.
    """
    # given / when
    normal = normalise_phone(Network.GOOGLE, "650 253 1234")
    # then
    assert normal is None


def test_hashed_gives_email_then_phone_and_skips_what_is_missing() -> None:
    """
    Both identifiers in order; one missing or unusable leaves only the other.
    """
    # given
    email, phone = "Test@Example.com", "+1 650-253-1234"
    # when
    both = hashed(Network.GOOGLE, email, phone)
    email_only = hashed(Network.GOOGLE, email, "no number")
    # then
    assert [("email", sha256_hex("test@example.com")), ("phone", sha256_hex("+16502531234"))] == [
        *both
    ]
    assert (("email", sha256_hex("test@example.com")),) == email_only
    assert () == hashed(Network.META, None, None)
