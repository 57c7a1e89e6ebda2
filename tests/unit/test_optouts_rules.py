"""
The pure parts of opting out: SMS keywords, the claims a preference stands for, the choice
preselected from permissions, the page language, and signed links with key rotation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cartback.api._page_texts import negotiate
from cartback.domain.consent import Basis, Channel, Permission, Purpose
from cartback.domain.optouts import (
    SMS_KEYWORDS,
    Evidence,
    KeywordAction,
    Preference,
    current_preference,
    preference_claims,
    sms_keyword,
)
from cartback.services.unsubscribe import FORM_MAX_AGE, InvalidLink, LinkTarget, UnsubscribeLinks

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
YES, NO = (
    Permission(allowed=True, basis=Basis.CONSENT),
    Permission(allowed=False, basis=Basis.WITHDRAWN),
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("STOP", "STOP"),
        ("  stop\n", "STOP"),
        ("Optout", "OPTOUT"),
        ("unstop", "UNSTOP"),
        ("Yes", "YES"),
        ("info", "INFO"),
        ("please stop", None),
        ("STOP!", None),
        ("", None),
        ("opt out", None),
    ],
)
def test_a_keyword_is_the_whole_trimmed_body_in_any_case(body: str, expected: str | None) -> None:
    """
    Only the whole body counts, like Twilio's own matching.
    """
    assert expected == sms_keyword(body)


def test_the_keyword_table_is_twilios() -> None:
    """
    Eight opt-out words, three opt-in words, two help words.
    """
    by_action = {a: sorted(w for w, b in SMS_KEYWORDS.items() if b is a) for a in KeywordAction}
    assert {
        KeywordAction.OPT_OUT: sorted(
            ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"]
        ),
        KeywordAction.OPT_IN: ["START", "UNSTOP", "YES"],
        KeywordAction.HELP: ["HELP", "INFO"],
    } == by_action


@pytest.mark.parametrize(
    ("preference", "expected"),
    [
        (Preference.RECOVERY, {Purpose.RECOVERY: True, Purpose.MARKETING: False}),
        (Preference.EVERYTHING, {Purpose.RECOVERY: True, Purpose.MARKETING: True}),
        (Preference.NOTHING, {Purpose.RECOVERY: False, Purpose.MARKETING: False}),
    ],
)
def test_a_preference_is_one_claim_per_purpose_with_its_evidence(
    preference: Preference, expected: dict[Purpose, bool]
) -> None:
    """
    Each choice grants or withdraws each purpose, on the channel, with the words and client.
    """
    evidence = Evidence(text="words", source="unsubscribe_link", at=T0, client_ip="1.2.3.4")
    claims = preference_claims(preference, channel=Channel.EMAIL, evidence=evidence)
    assert expected == {c.purpose: c.granted for c in claims}
    assert {("email", "words", "unsubscribe_link", T0, "1.2.3.4")} == {
        (c.channel.value, c.text, c.source, c.occurred_at, c.client_ip) for c in claims
    }


@pytest.mark.parametrize(
    ("recovery", "marketing", "expected"),
    [
        (YES, YES, Preference.EVERYTHING),
        (YES, NO, Preference.RECOVERY),
        (NO, NO, Preference.NOTHING),
    ],
)
def test_the_current_preference_follows_the_permissions(
    recovery: Permission, marketing: Permission, expected: Preference
) -> None:
    """
    What the page preselects.
    """
    assert expected == current_preference(recovery=recovery, marketing=marketing)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("de", "de"),
        ("en-GB,en;q=0.9,fr;q=0.8", "en"),
        ("it, es;q=0.5, fr;q=0.6", "fr"),
        ("es;q=x, de;q=0.1", "de"),
        ("fr;q=0", "en"),
        ("FR-ch", "fr"),
    ],
)
def test_the_page_language_is_the_best_supported_one(header: str | None, expected: str) -> None:
    """
    Qualities decide; unsupported languages and q=0 are skipped; English otherwise.
    """
    assert expected == negotiate(header)


def _links(*keys: str) -> UnsubscribeLinks:
    return UnsubscribeLinks(secret_keys=list(keys), base_url="https://cb.example.com/")


def test_a_link_carries_store_contact_and_channel_only() -> None:
    """
    The URL is the base URL, `/u/`, and a token that reads back to the three ids.
    """
    links = _links("k1")
    url = links.url(store_id="st_1", contact_id="ct_1")
    token = url.removeprefix("https://cb.example.com/u/")
    assert LinkTarget(store_id="st_1", contact_id="ct_1", channel=Channel.EMAIL) == links.read(
        token
    )
    assert "@" not in url


def test_rotated_keys_keep_old_links_working_and_removed_keys_do_not() -> None:
    """
    Signed with the old key: valid while it is still in the list, invalid once removed; new
    links are signed with the first key.
    """
    old_token = _links("old").token(store_id="st_1", contact_id="ct_1")
    new_token = _links("new", "old").token(store_id="st_1", contact_id="ct_1")
    assert _links("new", "old").read(old_token).contact_id == "ct_1"
    assert _links("new").read(new_token).contact_id == "ct_1"
    with pytest.raises(InvalidLink):
        _links("new").read(old_token)


@pytest.mark.parametrize("token", ["", "abc", "a.b", "W10.x", "W1siYSJdXQ.deadbeef"])
def test_malformed_tokens_are_invalid_links(token: str) -> None:
    """
    Garbage, truncated or unsigned values never reach the services.
    """
    with pytest.raises(InvalidLink):
        _links("k").read(token)


def test_a_form_token_is_bound_to_its_link_and_expires() -> None:
    """
    Valid for the page it was made on, within two hours; not for another link, not after.
    """
    links = _links("k")
    form = links.form_token("link-a", now=T0)
    assert (True, False, False, False) == (
        links.form_is_valid(form, "link-a", now=T0 + FORM_MAX_AGE),
        links.form_is_valid(form, "link-b", now=T0),
        links.form_is_valid(form, "link-a", now=T0 + FORM_MAX_AGE + timedelta(seconds=1)),
        links.form_is_valid("forged", "link-a", now=T0),
    )
