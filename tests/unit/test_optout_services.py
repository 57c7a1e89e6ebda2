"""
The opt-out use cases on the in-memory fakes: `may_message` (ledger, suppression list, past
orders and the store's policy in one answer), SMS replies, unsubscribe choices, the
suppression list and the Twilio configuration.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from cartback.domain.consent import Basis, Channel, Purpose, erased_address
from cartback.domain.errors import ConfigurationError, InvalidInput, NotFound
from cartback.domain.optouts import Preference, opt_out_claims
from cartback.domain.ports import Contact, OrderRecord, SmsConfirmation, Suppression
from cartback.domain.stores import Store
from cartback.engine.clock import SimulatedClock
from cartback.kit.keys import SecretBox
from cartback.services.permission import append_claims, may_message
from cartback.services.sms_config import configure_sms, default_help_text, sms_credentials
from cartback.services.sms_replies import SmsReply, receive_sms
from cartback.services.stores import StoreSettings, create_store
from cartback.services.suppressions import add_suppression, remove_suppression
from cartback.services.unsubscribe import LinkTarget, choose_preference, unsubscribe
from fakes import FakeUnitOfWorkFactory

EMAIL = "jane@example.com"
PHONE = "+14155550123"
BOX = SecretBox(["unit-test-key"])


def _store(uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, **settings: object) -> Store:
    values: dict[str, object] = {
        "name": "Shop",
        "platform": "custom",
        "domains": ["shop.example.com"],
        **settings,
    }
    return create_store(
        uow=uow_factory(),
        clock=clock,
        box=BOX,
        settings=StoreSettings(**values),  # type: ignore[arg-type]
    ).store


def _contact(uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, store: Store) -> Contact:
    with uow_factory() as uow:
        ref = uow.contacts.create(
            store.id, fields={"email": EMAIL, "phone": PHONE}, is_bot=False, now=clock.now()
        )
        uow.commit()
    with uow_factory(read_only=True) as uow:
        contact = uow.contacts.get(store.id, ref.id)
    assert contact is not None
    return contact


def _ask(
    uow_factory: FakeUnitOfWorkFactory,
    store: Store,
    contact: Contact,
    channel: Channel = Channel.EMAIL,
    purpose: Purpose = Purpose.RECOVERY,
) -> tuple[bool, Basis]:
    with uow_factory(read_only=True) as uow:
        answer = may_message(uow, store, contact, channel, purpose)
    return answer.allowed, answer.basis


@pytest.fixture
def us_store(uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock) -> Store:
    """
    A US store: email on the opt-out model, SMS only with consent.
    """
    return _store(uow_factory, clock, country="US")


@pytest.fixture
def contact(uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, us_store: Store) -> Contact:
    """
    A person with an email address and a phone number.
    """
    return _contact(uow_factory, clock, us_store)


# --- may_message ---------------------------------------------------------------------------


def test_with_nothing_on_record_the_store_policy_answers(
    uow_factory: FakeUnitOfWorkFactory, us_store: Store, contact: Contact
) -> None:
    """
    US: email allowed on the opt-out model, SMS not without consent.
    """
    assert ((True, Basis.OPT_OUT_MODEL), (False, Basis.NO_CONSENT)) == (
        _ask(uow_factory, us_store, contact),
        _ask(uow_factory, us_store, contact, Channel.SMS),
    )


@pytest.mark.parametrize("address", [EMAIL, erased_address(EMAIL)], ids=["plain", "erased"])
def test_a_suppressed_address_is_refused_whatever_the_ledger_says(
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    us_store: Store,
    contact: Contact,
    address: str,
) -> None:
    """
    A grant in the ledger does not beat the list, in plain or erased (hashed) form.
    """
    # given
    with uow_factory() as uow:
        grant = replace(
            opt_out_claims(text="t", source="s", at=clock.now(), channel=Channel.EMAIL)[0],
            granted=True,
            purpose=Purpose.RECOVERY,
        )
        append_claims(uow, us_store.id, contact.id, [grant], now=clock.now())
        uow.suppressions.add(
            Suppression(
                store_id=us_store.id,
                channel=Channel.EMAIL,
                address=address,
                reason="complaint",
                source="api",
                created_at=clock.now(),
            )
        )
        uow.commit()
    # then
    assert (False, Basis.SUPPRESSED) == _ask(uow_factory, us_store, contact)


def test_a_withdrawal_beats_the_opt_out_model(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, us_store: Store, contact: Contact
) -> None:
    """
    Withdrawn in the ledger, not suppressed: still no, on the basis `withdrawn`.
    """
    # given
    with uow_factory() as uow:
        claims = opt_out_claims(text="no", source="api", at=clock.now(), channel=Channel.EMAIL)
        append_claims(uow, us_store.id, contact.id, claims, now=clock.now())
        uow.commit()
    # then
    assert (False, Basis.WITHDRAWN) == _ask(uow_factory, us_store, contact)


def test_existing_customers_get_the_eu_soft_opt_in(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock
) -> None:
    """
    An EU store with the soft opt-in: no before the first order, yes after it.
    """
    # given
    store = _store(uow_factory, clock, country="DE")
    with uow_factory() as uow:
        uow.stores.save(replace(store, settings={**store.settings, "soft_opt_in": True}))
        uow.commit()
    with uow_factory(read_only=True) as uow:
        store = uow.stores.get(store.id)  # type: ignore[assignment]
    person = _contact(uow_factory, clock, store)
    before = _ask(uow_factory, store, person)
    # when
    with uow_factory() as uow:
        uow.orders.upsert(
            OrderRecord(
                store_id=store.id,
                order_key="1001",
                cart_id=None,
                contact_id=person.id,
                status="paid",
                total=Decimal("20"),
                currency="EUR",
                placed_at=clock.now(),
            ),
            now=clock.now(),
        )
        uow.commit()
    # then
    assert ((False, Basis.NO_CONSENT), (True, Basis.SOFT_OPT_IN)) == (
        before,
        _ask(uow_factory, store, person),
    )


def test_no_address_on_the_channel_is_no(
    uow_factory: FakeUnitOfWorkFactory, us_store: Store, contact: Contact
) -> None:
    """
    A contact without a phone number cannot be texted.
    """
    assert (False, Basis.NO_ADDRESS) == _ask(
        uow_factory, us_store, replace(contact, phone=None), Channel.SMS
    )


# --- SMS replies -----------------------------------------------------------------------------


def _reply(
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    store: Store,
    body: str,
    sid: str,
    sender: str = PHONE,
) -> tuple[bool, str | None, str | None]:
    outcome = receive_sms(
        uow=uow_factory(),
        clock=clock,
        store=store,
        reply=SmsReply(message_sid=sid, sender=sender, body=body),
        help_text="HELP TEXT",
    )
    return outcome.stored, outcome.keyword, outcome.answer


def test_stop_then_start_restores_recovery_texts(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, us_store: Store, contact: Contact
) -> None:
    """
    STOP: suppressed. START a minute later: lifted, recovery granted, marketing still withdrawn.
    """
    # given
    _reply(uow_factory, clock, us_store, "stop", "SM1")
    stopped = _ask(uow_factory, us_store, contact, Channel.SMS)
    clock.advance(timedelta(minutes=1))
    # when
    _reply(uow_factory, clock, us_store, "Start", "SM2")
    # then
    assert ((False, Basis.SUPPRESSED), (True, Basis.CONSENT), (False, Basis.WITHDRAWN)) == (
        stopped,
        _ask(uow_factory, us_store, contact, Channel.SMS),
        _ask(uow_factory, us_store, contact, Channel.SMS, Purpose.MARKETING),
    )


def test_a_national_number_is_read_in_the_store_country(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, us_store: Store, contact: Contact
) -> None:
    """
    `(415) 555-0123` from a US store's reply is the contact's +14155550123.
    """
    # when
    _reply(uow_factory, clock, us_store, "STOP", "SM1", sender="(415) 555-0123")
    # then
    assert (False, Basis.SUPPRESSED) == _ask(uow_factory, us_store, contact, Channel.SMS)


def test_help_answers_and_redeliveries_answer_the_same(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, us_store: Store
) -> None:
    """
    HELP: stored, answered; the same SID again: not stored, the same answer.
    """
    assert [(True, "HELP", "HELP TEXT"), (False, "HELP", "HELP TEXT")] == [
        _reply(uow_factory, clock, us_store, "help", "SM1"),
        _reply(uow_factory, clock, us_store, "help", "SM1"),
    ]


def test_yes_confirms_every_pending_request_of_the_number(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, us_store: Store, contact: Contact
) -> None:
    """
    Two pending requests (recovery, marketing): both granted, both confirmed.
    """
    # given
    with uow_factory() as uow:
        for purpose in Purpose:
            uow.sms_confirmations.add(
                SmsConfirmation(
                    id=None,
                    store_id=us_store.id,
                    contact_id=contact.id,
                    phone=PHONE,
                    purpose=purpose,
                    text=f"words {purpose.value}",
                    text_version=None,
                    source="checkout",
                    client_ip=None,
                    user_agent=None,
                    requested_at=clock.now(),
                )
            )
        uow.commit()
    clock.advance(timedelta(minutes=1))
    # when
    _reply(uow_factory, clock, us_store, "YES", "SM1")
    # then
    with uow_factory(read_only=True) as uow:
        pending = uow.sms_confirmations.pending(us_store.id, PHONE)
    assert ([], (True, Basis.CONSENT)) == (
        pending,
        _ask(uow_factory, us_store, contact, Channel.SMS, Purpose.MARKETING),
    )


def test_a_reply_from_a_short_code_is_stored_without_a_number(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, us_store: Store
) -> None:
    """
    A sender that is not a phone number: kept as written; STOP suppresses nothing.
    """
    # when
    _reply(uow_factory, clock, us_store, "STOP", "SM1", sender="whatsapp:abc")
    # then
    with uow_factory(read_only=True) as uow:
        [message] = uow.inbound_messages.list_recent(us_store.id, limit=5)
        listed = uow.suppressions.list_recent(us_store.id, limit=5)
    assert ("whatsapp:abc", None, []) == (message.sender, message.contact_id, listed)


# --- unsubscribe choices ---------------------------------------------------------------------


def test_unsubscribe_then_recovery_only(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, us_store: Store, contact: Contact
) -> None:
    """
    Unsubscribed: suppressed. Then "recovery only": allowed, marketing withdrawn.
    """
    # given
    target = LinkTarget(store_id=us_store.id, contact_id=contact.id, channel=Channel.EMAIL)
    unsubscribe(uow=uow_factory(), clock=clock, target=target)
    after = _ask(uow_factory, us_store, contact)
    clock.advance(timedelta(minutes=1))
    # when
    chosen = choose_preference(
        uow=uow_factory(),
        clock=clock,
        target=target,
        preference=Preference.RECOVERY,
        text="Only reminders",
    )
    # then
    assert (Preference.RECOVERY, (False, Basis.SUPPRESSED)) == (chosen.preference, after)
    assert ((True, Basis.CONSENT), (False, Basis.WITHDRAWN)) == (
        _ask(uow_factory, us_store, contact),
        _ask(uow_factory, us_store, contact, purpose=Purpose.MARKETING),
    )


def test_a_link_for_someone_else_or_gone_is_not_found(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, us_store: Store, contact: Contact
) -> None:
    """
    Another store's id with this contact, or a contact that does not exist.
    """
    other = _store(uow_factory, clock)
    for target in (
        LinkTarget(store_id=other.id, contact_id=contact.id, channel=Channel.EMAIL),
        LinkTarget(store_id=us_store.id, contact_id="ct_gone", channel=Channel.EMAIL),
    ):
        with pytest.raises(NotFound):
            unsubscribe(uow=uow_factory(), clock=clock, target=target)


# --- suppression list and Twilio configuration ---------------------------------------------


def test_suppressions_are_normalised_and_removal_of_the_unknown_is_not_found(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, us_store: Store
) -> None:
    """
    A national number is stored in E.164 (the store's country); lifting an absent one: 404.
    """
    added = add_suppression(
        uow=uow_factory(),
        clock=clock,
        store=us_store,
        channel=Channel.SMS,
        address="415-555-0123",
        reason="manual",
    )
    assert (PHONE, True) == (added.suppression.address, added.created)
    with pytest.raises(NotFound):
        remove_suppression(
            uow=uow_factory(), store=us_store, channel=Channel.EMAIL, address="x@example.com"
        )
    with pytest.raises(InvalidInput):
        add_suppression(
            uow=uow_factory(),
            clock=clock,
            store=us_store,
            channel=Channel.EMAIL,
            address="a@example.com",
            reason="sms_stop",
        )


def test_twilio_credentials_are_sealed_and_opened(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, us_store: Store
) -> None:
    """
    The token is stored sealed; the default help text names the shop and how to stop.
    """
    # when
    saved = configure_sms(
        uow=uow_factory(),
        clock=clock,
        box=BOX,
        store_id=us_store.id,
        account_sid="AC" + "a" * 32,
        auth_token="secret-token-0123456789",
        sender="+1 415 555 0100",
    )
    opened = sms_credentials(uow=uow_factory(), box=BOX, store_id=us_store.id)
    # then
    assert "secret-token-0123456789" not in repr(saved.settings)
    assert ("secret-token-0123456789", "+14155550100", default_help_text(us_store)) == (
        opened.auth_token,
        opened.sender,
        opened.help_text,
    )
    assert "Reply STOP to opt out" in opened.help_text


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"account_sid": "AB123"}, "account_sid"),
        ({"auth_token": "short"}, "auth_token"),
        ({"sender": "not a number"}, "from"),
        ({"help_text": "x" * 321}, "help_text"),
        ({"help_text": "   "}, "help_text"),
    ],
)
def test_bad_twilio_settings_are_refused(
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    us_store: Store,
    options: dict[str, str],
    field: str,
) -> None:
    """
    Each malformed value names its field; nothing is saved.
    """
    values = {"account_sid": "AC" + "a" * 32, "auth_token": "secret-token-0123456789", **options}
    with pytest.raises(InvalidInput) as raised:
        configure_sms(uow=uow_factory(), clock=clock, box=BOX, store_id=us_store.id, **values)
    assert [field] == [e.path for e in raised.value.errors]
    with pytest.raises(ConfigurationError):
        sms_credentials(uow=uow_factory(), box=BOX, store_id=us_store.id)
