"""
The capture use case on in-memory fakes: the contact found or created, visitor and cart linked,
consent answers in the ledger with their evidence, SMS double opt-in, the ads opt-out, and
nothing at all for robots, honeypots or invalid input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from cartback.domain.cart import new_cart
from cartback.domain.consent import Channel, Purpose
from cartback.domain.errors import InvalidInput, NotFound
from cartback.domain.ports import CartRecord
from cartback.domain.stores import Store
from cartback.engine.clock import SimulatedClock
from cartback.kit.keys import SecretBox
from cartback.services.capture import (
    CaptureEvidence,
    CaptureOutcome,
    CaptureResult,
    capture,
)
from cartback.services.stores import StoreSettings, create_store
from fakes import FakeDatabase, FakeUnitOfWorkFactory

HUMAN = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
EVIDENCE = CaptureEvidence(client_ip="203.0.113.7", user_agent=HUMAN)
EMAIL_TEXT = "Save my cart and email me a link to come back."
SMS_TEXT = "Text me my checkout link. Msg & data rates may apply. Reply STOP to opt out."

Capture = Callable[..., CaptureResult]


@pytest.fixture
def store_factory(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock
) -> Callable[..., Store]:
    """
    Creates stores through the store service (a German shop by default).
    """

    def make(**overrides: Any) -> Store:
        settings = StoreSettings(
            **{
                "name": "Fake Shop",
                "platform": "custom",
                "domains": ["shop.example.com"],
                "country": "DE",
                **overrides,
            }
        )
        box = SecretBox(["unit-test-secret"])
        return create_store(uow=uow_factory(), clock=clock, box=box, settings=settings).store

    return make


@pytest.fixture
def shop(store_factory: Callable[..., Store]) -> Store:
    """
    One store.
    """
    return store_factory()


@pytest.fixture
def send(uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, shop: Store) -> Capture:
    """
    Captures a body (a cart-page email with recovery consent unless overridden; a field
    given as None is left out).
    """

    def run(
        evidence: CaptureEvidence = EVIDENCE, store: Store | None = None, **fields: Any
    ) -> CaptureResult:
        document = {
            "writeKey": "cb_pk_unit",
            "anonymous_id": "anon-1",
            "email": "Ann@Example.com",
            "action": "submitted",
            "widget": "cart_page",
            "consents": [_consent()],
            **fields,
        }
        return capture(
            uow=uow_factory(),
            clock=clock,
            store_id=(store or shop).id,
            document={k: v for k, v in document.items() if v is not None},
            evidence=evidence,
        )

    return run


def _consent(**overrides: Any) -> dict[str, Any]:
    return {
        "channel": "email",
        "purpose": "recovery",
        "granted": True,
        "text": EMAIL_TEXT,
        "text_version": "cart_page.email.v1",
        **overrides,
    }


def _counts(database: FakeDatabase) -> tuple[int, int, int, int]:
    return (
        len(database.contacts),
        len(database.visitors),
        len(database.consents),
        len(database.confirmations),
    )


def test_a_capture_creates_the_contact_and_records_consent_with_its_evidence(
    send: Capture, database: FakeDatabase, clock: SimulatedClock
) -> None:
    """
    The email is lower-cased; the ledger entry has the exact words, version, locale, address,
    user agent, widget and time.
    """
    # when
    result = send(locale="de-de")
    # then
    contact = database.contacts[result.contact_id or ""]
    [(_, owner, entry)] = database.consents
    claim = entry.claim
    assert (CaptureOutcome.STORED, "ann@example.com", contact.id) == (
        result.outcome,
        contact.email,
        owner,
    )
    assert (
        Channel.EMAIL,
        Purpose.RECOVERY,
        True,
        EMAIL_TEXT,
        "cart_page.email.v1",
        "de-DE",
        "203.0.113.7",
        HUMAN,
        "cart_page",
        clock.now(),
    ) == (
        claim.channel,
        claim.purpose,
        claim.granted,
        claim.text,
        claim.text_version,
        claim.locale,
        claim.client_ip,
        claim.user_agent,
        claim.source,
        claim.occurred_at,
    )


def test_a_decline_is_recorded_as_a_decline(send: Capture, database: FakeDatabase) -> None:
    """
    "No thanks" is an answer too: the ledger says not granted.
    """
    # when
    send(consents=[_consent(granted=False)])
    # then
    assert [False] == [entry.claim.granted for _, _, entry in database.consents]


def test_a_known_email_reuses_the_contact_and_adds_the_phone(
    send: Capture, database: FakeDatabase
) -> None:
    """
    The second capture by the same person (now with a phone) stays one contact; a national
    number is read in the store's country.
    """
    # given
    first = send()
    # when
    second = send(anonymous_id="anon-2", phone="0151 23456789", consents=[])
    # then
    contact = database.contacts[first.contact_id or ""]
    assert (first.contact_id, 1, "+4915123456789") == (
        second.contact_id,
        len(database.contacts),
        contact.phone,
    )


def test_the_visitor_and_its_cart_are_linked_to_the_contact(
    send: Capture, database: FakeDatabase, shop: Store, clock: SimulatedClock
) -> None:
    """
    The browser's visitor and the cart named by `cart_id` now belong to the contact.
    """
    # given
    database.carts["ca_1"] = CartRecord(
        id="ca_1",
        store_id=shop.id,
        cart=new_cart(key="cart-1", currency="EUR"),
        created_at=clock.now(),
    )
    # when
    result = send(cart_id="cart-1")
    # then
    [visitor] = database.visitors.values()
    assert (result.contact_id, result.contact_id) == (
        visitor.contact_id,
        database.carts["ca_1"].contact_id,
    )


def test_an_unknown_cart_id_is_ignored(send: Capture, database: FakeDatabase) -> None:
    """
    A cart the store has not seen yet does not stop the capture.
    """
    # when
    result = send(cart_id="never-seen")
    # then
    assert (CaptureOutcome.STORED, 0) == (result.outcome, len(database.carts))


def test_another_browsers_cart_is_not_taken_over(
    send: Capture, database: FakeDatabase, shop: Store, clock: SimulatedClock
) -> None:
    """
    A cart that another visitor holds for another contact keeps its owner.
    """
    # given
    database.carts["ca_2"] = CartRecord(
        id="ca_2",
        store_id=shop.id,
        cart=new_cart(key="cart-2", currency="EUR"),
        visitor_id="vi_someone_else",
        contact_id="ct_someone_else",
        created_at=clock.now(),
    )
    # when
    send(cart_id="cart-2")
    # then
    assert "ct_someone_else" == database.carts["ca_2"].contact_id


@pytest.mark.parametrize(
    "fields",
    [
        {"website": "http://spam.example"},
        {"website": "x", "action": "autofill", "email": "not-an-email"},
    ],
)
def test_a_filled_honeypot_stores_nothing_and_looks_like_success(
    send: Capture, database: FakeDatabase, fields: dict[str, Any]
) -> None:
    """
    Whatever else the body says, a filled honeypot is answered as success and writes nothing.
    """
    # when
    result = send(**fields)
    # then
    assert (CaptureOutcome.HONEYPOT, (0, 0, 0, 0), 0) == (
        result.outcome,
        _counts(database),
        database.commits - 1,  # the store's creation
    )


def test_a_crawler_stores_nothing(send: Capture, database: FakeDatabase) -> None:
    """
    Googlebot filling in the cart page is answered as success and writes nothing.
    """
    # given
    evidence = CaptureEvidence(user_agent="Mozilla/5.0 (compatible; Googlebot/2.1)")
    # when
    result = send(evidence=evidence)
    # then
    assert (CaptureOutcome.CRAWLER, (0, 0, 0, 0)) == (result.outcome, _counts(database))


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"action": "autofill"}, "action"),
        ({"action": None}, "action"),
        ({"widget": "popup"}, "widget"),
        ({"email": "ann@"}, "email"),
        ({"email": None}, "email"),
        ({"email": None, "phone": "12", "consents": []}, "phone"),
        ({"email": 7}, "email"),
        ({"anonymous_id": None}, "anonymous_id"),
        ({"anonymous_id": "  "}, "anonymous_id"),
        ({"locale": "deutsch!"}, "locale"),
        ({"gpc": "yes"}, "gpc"),
        ({"cookie_consent": "maybe"}, "cookie_consent"),
        ({"referrer": "x"}, "referrer"),
        ({"consents": {"channel": "email"}}, "consents"),
        ({"consents": [_consent(text="   ")]}, "consents[0].text"),
        ({"consents": [_consent(text="x" * 2001)]}, "consents[0].text"),
        ({"consents": [_consent(text=None)]}, "consents[0].text"),
        ({"consents": [_consent(granted="true")]}, "consents[0].granted"),
        ({"consents": [_consent(channel="fax")]}, "consents[0].channel"),
        ({"consents": [_consent(purpose="spam")]}, "consents[0].purpose"),
        ({"consents": [_consent(extra=1)]}, "consents[0].extra"),
        ({"consents": [_consent(channel="sms")]}, "consents[0].channel"),
        ({"consents": [_consent(), _consent(granted=False)]}, "consents[1]"),
        ({"consents": ["yes"]}, "consents[0]"),
        ({"consents": [_consent()] * 5}, "consents"),
        ({"email": None, "phone": "+1555", "consents": [_consent()]}, "phone"),
    ],
)
def test_invalid_input_names_the_field_and_stores_nothing(
    send: Capture, database: FakeDatabase, fields: dict[str, Any], path: str
) -> None:
    """
    Every bad field is a 400-style error with its path; no contact, visitor or consent is kept.
    """
    # when
    with pytest.raises(InvalidInput) as raised:
        send(**fields)
    # then
    assert path in [e.path for e in raised.value.errors]
    assert (0, 0, 0, 0) == _counts(database)


def test_an_unknown_store_is_not_found(send: Capture, shop: Store) -> None:
    """
    A store deleted since its key was cached is a NotFound, not a crash.
    """
    # given
    gone = replace(shop, id="st_gone")
    # when / then
    with pytest.raises(NotFound):
        send(store=gone)


def test_sms_double_opt_in_asks_for_confirmation_instead_of_granting(
    send: Capture, database: FakeDatabase, store_factory: Callable[..., Store]
) -> None:
    """
    Under double opt-in an SMS grant is a pending confirmation with the words shown; the
    email grant in the same capture is in the ledger at once.
    """
    # given
    shop = store_factory(sms_double_opt_in=True)
    sms = _consent(channel="sms", text=SMS_TEXT, text_version="post_abandon.sms.v2")
    # when
    result = send(store=shop, phone="+4915123456789", consents=[_consent(), sms])
    # then
    [pending] = database.confirmations
    assert ([Channel.EMAIL], 1) == (
        [entry.claim.channel for _, _, entry in database.consents],
        result.sms_confirmations,
    )
    assert ("+4915123456789", SMS_TEXT, "post_abandon.sms.v2", "cart_page", None) == (
        pending.phone,
        pending.text,
        pending.text_version,
        pending.source,
        pending.confirmed_at,
    )


def test_pressing_the_sms_button_twice_asks_once(
    send: Capture, database: FakeDatabase, store_factory: Callable[..., Store]
) -> None:
    """
    A second grant while the first waits for YES adds no second confirmation text.
    """
    # given
    shop = store_factory(sms_double_opt_in=True)
    sms = _consent(channel="sms", text=SMS_TEXT)
    send(store=shop, email=None, phone="+4915123456789", consents=[sms])
    # when
    send(store=shop, email=None, phone="+4915123456789", consents=[sms])
    # then
    assert 1 == len(database.confirmations)


def test_an_sms_decline_under_double_opt_in_is_recorded_at_once(
    send: Capture, database: FakeDatabase, store_factory: Callable[..., Store]
) -> None:
    """
    Saying no never waits for a confirmation.
    """
    # given
    shop = store_factory(sms_double_opt_in=True)
    # when
    send(
        store=shop,
        phone="+4915123456789",
        consents=[_consent(channel="sms", granted=False, text=SMS_TEXT)],
    )
    # then
    assert ([(Channel.SMS, False)], []) == (
        [(e.claim.channel, e.claim.granted) for _, _, e in database.consents],
        database.confirmations,
    )


def test_without_double_opt_in_an_sms_grant_is_in_the_ledger(
    send: Capture, database: FakeDatabase
) -> None:
    """
    The default store takes the SMS grant as given.
    """
    # when
    send(phone="+4915123456789", consents=[_consent(channel="sms", text=SMS_TEXT)])
    # then
    assert ([(Channel.SMS, True)], []) == (
        [(e.claim.channel, e.claim.granted) for _, _, e in database.consents],
        database.confirmations,
    )


def test_a_repeated_capture_adds_no_second_ledger_entry(
    send: Capture, database: FakeDatabase, clock: SimulatedClock
) -> None:
    """
    The same answer again only confirms the entry (the ledger holds changes).
    """
    # given
    send()
    clock.advance(timedelta(minutes=5))
    # when
    result = send()
    # then
    assert (0, 1) == (result.ledger_entries, len(database.consents))


@pytest.mark.parametrize(
    ("evidence", "fields"),
    [
        (CaptureEvidence(user_agent=HUMAN, gpc_header=True), {}),
        (EVIDENCE, {"gpc": True}),
        (EVIDENCE, {"cookie_consent": "denied"}),
    ],
)
def test_a_browser_saying_no_to_ads_marks_visitor_and_contact(
    send: Capture,
    database: FakeDatabase,
    clock: SimulatedClock,
    evidence: CaptureEvidence,
    fields: dict[str, Any],
) -> None:
    """
    `Sec-GPC: 1`, `gpc: true` or a denied cookie consent set `ads_opt_out_at` on both.
    """
    # when
    result = send(evidence=evidence, **fields)
    # then
    [visitor] = database.visitors.values()
    assert (clock.now(), clock.now()) == (
        visitor.ads_opt_out_at,
        database.contacts[result.contact_id or ""].ads_opt_out_at,
    )


def test_the_first_ads_opt_out_time_is_kept(
    send: Capture, database: FakeDatabase, clock: SimulatedClock
) -> None:
    """
    A later GPC signal does not move the time of the first.
    """
    # given
    first = clock.now()
    send(gpc=True)
    clock.advance(timedelta(hours=1))
    # when
    send(gpc=True)
    # then
    [visitor] = database.visitors.values()
    assert first == visitor.ads_opt_out_at


@pytest.mark.parametrize("fields", [{}, {"cookie_consent": "granted"}, {"gpc": False}])
def test_without_a_no_to_ads_nothing_is_marked(
    send: Capture, database: FakeDatabase, fields: dict[str, Any]
) -> None:
    """
    Consent granted, or no signal at all, leaves `ads_opt_out_at` empty.
    """
    # when
    send(**fields)
    # then
    [visitor] = database.visitors.values()
    assert None is visitor.ads_opt_out_at
