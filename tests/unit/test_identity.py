"""
Identity rules (`domain/identity.py`): robots by user agent and StoreBot email, and which
contact a claim belongs to.
"""

from __future__ import annotations

import pytest

from cartback.domain.events import IdentityClaims
from cartback.domain.identity import (
    ContactRef,
    IdentityResolution,
    is_bot_email,
    is_bot_user_agent,
    resolve_identity,
)

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
ANDROID_CUBOT = (
    "Mozilla/5.0 (Linux; Android 10; CUBOT_X30) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)
STOREBOT = (
    "Mozilla/5.0 (X11; Linux x86_64; Storebot-Google/1.0) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/79.0.3945.88 Safari/537.36"
)


BOT_AGENTS = [
    STOREBOT,
    "Mozilla/5.0 (compatible; StoreBot-Google/1.0)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "AdsBot-Google (+http://www.google.com/adsbot.html)",
    "Mediapartners-Google",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (compatible; YandexBot/3.0)",
    "Mozilla/5.0 (compatible; GPTBot/1.1; +https://openai.com/gptbot)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0 Safari/537.36",
    "python-requests/2.32.3",
    "curl/8.5.0",
    "Wget/1.21.4",
    "Mozilla/5.0 (compatible; SomeCrawler/1.0)",
    "Mozilla/5.0 (compatible; UptimeRobot/2.0)",
]
PEOPLE_AGENTS = [CHROME, IPHONE, ANDROID_CUBOT, "", None]


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [(agent, True) for agent in BOT_AGENTS] + [(agent, False) for agent in PEOPLE_AGENTS],
)
def test_crawlers_monitors_and_headless_browsers_are_bots_and_browsers_are_not(
    user_agent: str | None, expected: bool
) -> None:
    """
    Announced crawlers (Google's StoreBot first) are bots; real browsers are people.
    """
    # given / when
    bot = is_bot_user_agent(user_agent)
    # then
    assert expected == bot


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("walker@storebotmail.joonix.net", True),
        ("Walker@StoreBotMail.Joonix.NET", True),
        ("x@eu.storebotmail.joonix.net", True),
        ("x@storebotmail.com", True),
        ("shopper@example.com", False),
        ("x@notstorebotmail.joonix.net", False),
        ("x@storebotmail.joonix.net.evil.example", False),
        ("", False),
        (None, False),
    ],
)
def test_storebot_addresses_are_bots(email: str | None, expected: bool) -> None:
    """
    Addresses at StoreBot's mail domains (and their subdomains) are bots; look-alikes are not.
    """
    # given / when
    bot = is_bot_email(email)
    # then
    assert expected == bot


def contact(contact_id: str, **identifiers: str) -> ContactRef:
    """
    An existing contact with some identifiers.
    """
    return ContactRef(id=contact_id, **identifiers)


def test_an_unknown_person_gets_a_new_contact_with_every_identifier() -> None:
    """
    With no existing contact, the resolution asks for a new one holding all claimed identifiers.
    """
    # given
    claims = IdentityClaims(user_id="u1", email="a@example.com", phone="+14155550123")
    # when
    resolution = resolve_identity(claims, by_user_id=None, by_email=None, by_phone=None)
    # then
    assert (
        IdentityResolution(
            contact_id=None,
            updates={"user_id": "u1", "email": "a@example.com", "phone": "+14155550123"},
        )
        == resolution
    )


def test_empty_identifiers_are_not_written() -> None:
    """
    A claim with only an email creates a contact with only that email.
    """
    # given
    claims = IdentityClaims(email="a@example.com")
    # when
    resolution = resolve_identity(claims, by_user_id=None, by_email=None, by_phone=None)
    # then
    assert {"email": "a@example.com"} == resolution.updates


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        ({"by_user_id": "A", "by_email": "B", "by_phone": "C"}, "A"),
        ({"by_user_id": None, "by_email": "B", "by_phone": "C"}, "B"),
        ({"by_user_id": None, "by_email": None, "by_phone": "C"}, "C"),
    ],
)
def test_user_id_outranks_email_which_outranks_phone(
    found: dict[str, str | None], expected: str
) -> None:
    """
    The claim belongs to the contact found by the strongest identifier.
    """
    # given
    claims = IdentityClaims(user_id="u1", email="a@example.com", phone="+14155550123")
    refs = {name: contact(cid) if cid else None for name, cid in found.items()}
    # when
    resolution = resolve_identity(claims, **refs)
    # then
    assert expected == resolution.contact_id


def test_identifiers_held_by_another_contact_are_conflicts_not_merges() -> None:
    """
    Two existing contacts are never merged: the other contact keeps its email and phone.
    """
    # given
    claims = IdentityClaims(user_id="u1", email="b@example.com", phone="+14155550199")
    by_user = contact("A", user_id="u1")
    by_email = contact("B", email="b@example.com")
    by_phone = contact("C", phone="+14155550199")
    # when
    resolution = resolve_identity(claims, by_user_id=by_user, by_email=by_email, by_phone=by_phone)
    # then
    assert IdentityResolution(contact_id="A", conflicts=("email", "phone")) == resolution


def test_a_contact_found_by_user_id_may_change_its_email_and_phone() -> None:
    """
    The user changed their address: the contact found by user id takes the new ones.
    """
    # given
    claims = IdentityClaims(user_id="u1", email="new@example.com", phone="+14155550100")
    by_user = contact("A", user_id="u1", email="old@example.com", phone="+14155550199")
    # when
    resolution = resolve_identity(claims, by_user_id=by_user, by_email=None, by_phone=None)
    # then
    assert (
        IdentityResolution(
            contact_id="A", updates={"email": "new@example.com", "phone": "+14155550100"}
        )
        == resolution
    )


def test_a_contact_found_by_email_does_not_lose_its_phone() -> None:
    """
    A contact found by email only gains identifiers it lacks; a different phone is a conflict.
    """
    # given
    claims = IdentityClaims(email="a@example.com", phone="+14155550100")
    by_email = contact("A", email="a@example.com", phone="+14155550199")
    # when
    resolution = resolve_identity(claims, by_user_id=None, by_email=by_email, by_phone=None)
    # then
    assert IdentityResolution(contact_id="A", conflicts=("phone",)) == resolution


def test_a_shared_phone_cannot_move_someones_email() -> None:
    """
    A contact found by phone keeps its email when a claim brings another one.
    """
    # given
    claims = IdentityClaims(email="other@example.com", phone="+14155550100")
    by_phone = contact("A", email="a@example.com", phone="+14155550100")
    # when
    resolution = resolve_identity(claims, by_user_id=None, by_email=None, by_phone=by_phone)
    # then
    assert IdentityResolution(contact_id="A", conflicts=("email",)) == resolution


def test_a_contact_found_by_email_gains_what_it_lacks() -> None:
    """
    A known email with a new user id and phone: the contact gains both.
    """
    # given
    claims = IdentityClaims(user_id="u1", email="a@example.com", phone="+14155550100")
    by_email = contact("A", email="a@example.com")
    # when
    resolution = resolve_identity(claims, by_user_id=None, by_email=by_email, by_phone=None)
    # then
    assert (
        IdentityResolution(contact_id="A", updates={"user_id": "u1", "phone": "+14155550100"})
        == resolution
    )


def test_another_account_with_a_taken_email_gets_a_contact_of_its_own() -> None:
    """
    An unknown user id whose email belongs to another account's contact is another person: a
    new contact with the user id only, and the email reported as a conflict.
    """
    # given
    claims = IdentityClaims(user_id="u2", email="a@example.com")
    by_email = contact("A", user_id="u1", email="a@example.com")
    # when
    resolution = resolve_identity(claims, by_user_id=None, by_email=by_email, by_phone=None)
    # then
    assert (
        IdentityResolution(contact_id=None, updates={"user_id": "u2"}, conflicts=("email",))
        == resolution
    )


def test_the_same_contact_found_twice_is_no_conflict() -> None:
    """
    When email and phone lead to the same contact, nothing conflicts and nothing changes.
    """
    # given
    claims = IdentityClaims(email="a@example.com", phone="+14155550100")
    same = contact("A", email="a@example.com", phone="+14155550100")
    # when
    resolution = resolve_identity(claims, by_user_id=None, by_email=same, by_phone=same)
    # then
    assert IdentityResolution(contact_id="A") == resolution


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        (IdentityClaims(), True),
        (IdentityClaims(traits={"name": "Ada"}), True),
        (IdentityClaims(user_id="u1"), False),
        (IdentityClaims(email="a@example.com"), False),
        (IdentityClaims(phone="+14155550100"), False),
    ],
)
def test_claims_without_identifiers_are_empty(claims: IdentityClaims, expected: bool) -> None:
    """
    Only a user id, an email or a phone identifies someone; other traits do not.
    """
    # given / when
    empty = claims.is_empty
    # then
    assert expected == empty
