"""
The Twilio inbound webhook (`POST /webhooks/twilio/{store_id}/inbound`): signed replies are
stored once; STOP withdraws SMS consent and suppresses the number, START/UNSTOP/YES restore it,
YES confirms double opt-in requests, HELP is answered; a forged or missing signature is a 401
and stores nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cartback.bootstrap import Container
from cartback.domain.consent import Basis, Channel, Purpose
from cartback.domain.ports import SmsConfirmation
from cartback.engine.clock import SimulatedClock
from cartback.services.permission import may_message
from cartback.services.sms_config import configure_sms
from cartback.services.stores import CreatedStore
from cartback.store.tables import consent_ledger, sms_confirmations
from helpers import assert_problem, auth, identify
from twilio_signing import twilio_signature

TOKEN = "0123456789abcdef0123456789abcdef"
ACCOUNT = "AC" + "0" * 32
PHONE = "+14155550123"
HELP_TEXT = 'Test Shop <help> & "support": shop.example.com. Reply STOP to opt out.'
PUBLIC_BASE = "https://cartback.example.com"
EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response />'


@pytest.fixture
def container(container: Container) -> Container:
    """
    The container, with the public URL Twilio is told to call.
    """
    container.settings.base_url = PUBLIC_BASE
    return container


@pytest.fixture
def sms_store(store: CreatedStore, container: Container) -> CreatedStore:
    """
    The store, with a Twilio account configured.
    """
    configure_sms(
        uow=container.uow_factory(),
        clock=container.clock,
        box=container.box,
        store_id=store.store.id,
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        help_text=HELP_TEXT,
    )
    return store


def _path(store: CreatedStore) -> str:
    return f"/webhooks/twilio/{store.store.id}/inbound"


def _params(body: str, *, sid: str = "SM1", sender: str = PHONE) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": ACCOUNT,
        "From": sender,
        "To": "+14155550100",
        "Body": body,
        "NumMedia": "0",
    }


def _send(
    client: TestClient,
    store: CreatedStore,
    params: dict[str, str],
    *,
    signature: str | None = "sign",
    url: str | None = None,
) -> Any:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature == "sign":
        signature = twilio_signature(TOKEN, url or PUBLIC_BASE + _path(store), params)
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return client.post(_path(store), content=urlencode(params), headers=headers)


def _contact(client: TestClient, store: CreatedStore, container: Container) -> Any:
    sent = client.post(
        "/v1/batch",
        json={"batch": [identify(anonymous_id="anon-sms", phone=PHONE)]},
        headers=auth(store.secret_key),
    )
    assert 200 == sent.status_code, sent.text
    with container.uow_factory(read_only=True) as uow:
        _, _, ref = uow.contacts.find(store.store.id, user_id=None, email=None, phone=PHONE)
        assert ref is not None
        return uow.contacts.get(store.store.id, ref.id)


def _ledger(container: Container, contact_id: str) -> dict[tuple[str, str], bool]:
    with container.uow_factory(read_only=True) as uow:
        state = uow.consents.current(contact_id)
    return {(c.value, p.value): fact.granted for (c, p), fact in state.items()}


def _suppressed(container: Container, store: CreatedStore) -> bool:
    with container.uow_factory(read_only=True) as uow:
        return uow.suppressions.is_suppressed(store.store.id, Channel.SMS, PHONE)


def _inbound(client: TestClient, store: CreatedStore) -> list[dict[str, Any]]:
    response = client.get("/v1/inbound", headers=auth(store.secret_key))
    assert 200 == response.status_code, response.text
    rows: list[dict[str, Any]] = response.json()["data"]
    return rows


@pytest.mark.parametrize(
    "word",
    [
        "STOP",
        "stop",
        " Stop \n",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "REVOKE",
        "OPTOUT",
    ],
)
def test_an_opt_out_keyword_withdraws_sms_consent_and_suppresses_the_number(
    client: TestClient, sms_store: CreatedStore, container: Container, word: str
) -> None:
    """
    Any opt-out keyword, in any case and trimmed: both SMS purposes withdrawn in the ledger,
    the number suppressed (`sms_stop`), an empty TwiML answer.
    """
    # given
    contact = _contact(client, sms_store, container)
    # when
    response = _send(client, sms_store, _params(word))
    # then
    assert (200, "text/xml", EMPTY) == (
        response.status_code,
        response.headers["content-type"].split(";")[0],
        response.text,
    )
    assert {("sms", "recovery"): False, ("sms", "marketing"): False} == _ledger(
        container, contact.id
    )
    listed = client.get("/v1/suppressions?channel=sms", headers=auth(sms_store.secret_key))
    assert [(PHONE, "sms_stop", "sms_keyword")] == [
        (row["address"], row["reason"], row["source"]) for row in listed.json()["data"]
    ]
    assert [(word.strip().upper(), contact.id)] == [
        (row["keyword"], row["contact_id"]) for row in _inbound(client, sms_store)
    ]


def test_the_ledger_keeps_the_keyword_as_it_was_received(
    client: TestClient, sms_store: CreatedStore, container: Container
) -> None:
    """
    The withdrawal's text is the shopper's own word ("Stop"), its source `sms_keyword`.
    """
    # given
    contact = _contact(client, sms_store, container)
    # when
    _send(client, sms_store, _params("Stop "))
    # then
    with container.engine.connect() as connection:
        rows = connection.execute(
            select(consent_ledger.c.text, consent_ledger.c.source).where(
                consent_ledger.c.contact_id == contact.id
            )
        ).all()
    assert [("Stop", "sms_keyword"), ("Stop", "sms_keyword")] == [tuple(r) for r in rows]


def test_after_stop_the_permission_says_no(
    client: TestClient, sms_store: CreatedStore, container: Container
) -> None:
    """
    The flow engine's question, after STOP: no SMS for recovery, on the suppression list.
    """
    # given
    contact = _contact(client, sms_store, container)
    # when
    _send(client, sms_store, _params("STOP"))
    # then
    with container.uow_factory(read_only=True) as uow:
        store = uow.stores.get(sms_store.store.id)
        assert store is not None
        answer = may_message(uow, store, contact, Channel.SMS, Purpose.RECOVERY)
    assert (False, Basis.SUPPRESSED) == (answer.allowed, answer.basis)


@pytest.mark.parametrize("word", ["START", "unstop"])
def test_start_lifts_the_suppression_and_grants_recovery_texts(
    client: TestClient,
    sms_store: CreatedStore,
    container: Container,
    clock: SimulatedClock,
    word: str,
) -> None:
    """
    STOP, then START (or UNSTOP) a minute later: the number is off the list, recovery granted
    with the keyword as its words; marketing stays withdrawn.
    """
    # given
    contact = _contact(client, sms_store, container)
    _send(client, sms_store, _params("STOP", sid="SM1"))
    clock.advance(timedelta(minutes=1))
    # when
    response = _send(client, sms_store, _params(word, sid="SM2"))
    # then
    assert (200, EMPTY) == (response.status_code, response.text)
    assert (False, {("sms", "recovery"): True, ("sms", "marketing"): False}) == (
        _suppressed(container, sms_store),
        _ledger(container, contact.id),
    )
    with container.uow_factory(read_only=True) as uow:
        store = uow.stores.get(sms_store.store.id)
        assert store is not None
        answer = may_message(uow, store, contact, Channel.SMS, Purpose.RECOVERY)
    assert (True, Basis.CONSENT) == (answer.allowed, answer.basis)


def test_yes_confirms_pending_double_opt_in_requests_with_their_own_words(
    client: TestClient, sms_store: CreatedStore, container: Container, clock: SimulatedClock
) -> None:
    """
    A double opt-in request waits for YES; the grant then carries the request's text, source,
    address and user agent, and the request is marked confirmed.
    """
    # given
    contact = _contact(client, sms_store, container)
    requested = clock.now()
    with container.uow_factory() as uow:
        request_id = uow.sms_confirmations.add(
            SmsConfirmation(
                id=None,
                store_id=sms_store.store.id,
                contact_id=contact.id,
                phone=PHONE,
                purpose=Purpose.RECOVERY,
                text="Text me my checkout link. Msg & data rates may apply. Reply STOP to opt out.",
                text_version="sms-v1",
                source="post_abandon",
                client_ip="203.0.113.9",
                user_agent="Mozilla/5.0 test",
                requested_at=requested,
            )
        )
        uow.commit()
    clock.advance(timedelta(minutes=2))
    # when
    response = _send(client, sms_store, _params("Yes"))
    # then
    assert (200, EMPTY) == (response.status_code, response.text)
    assert {("sms", "recovery"): True} == _ledger(container, contact.id)
    with container.engine.connect() as connection:
        ledger = connection.execute(
            select(
                consent_ledger.c.text,
                consent_ledger.c.source,
                consent_ledger.c.client_ip,
                consent_ledger.c.user_agent,
                consent_ledger.c.text_version,
            )
        ).all()
        confirmed = connection.execute(
            select(sms_confirmations.c.confirmed_at).where(sms_confirmations.c.id == request_id)
        ).scalar_one()
    assert [
        (
            "Text me my checkout link. Msg & data rates may apply. Reply STOP to opt out.",
            "post_abandon",
            "203.0.113.9",
            "Mozilla/5.0 test",
            "sms-v1",
        )
    ] == [tuple(r) for r in ledger]
    assert confirmed is not None
    with container.uow_factory(read_only=True) as uow:
        assert [] == uow.sms_confirmations.pending(sms_store.store.id, PHONE)


def test_yes_with_nothing_pending_grants_nothing(
    client: TestClient, sms_store: CreatedStore, container: Container
) -> None:
    """
    "Yes" is also an ordinary answer: with no pending request it adds no consent.
    """
    # given
    contact = _contact(client, sms_store, container)
    # when
    response = _send(client, sms_store, _params("YES"))
    # then
    assert (200, {}) == (response.status_code, _ledger(container, contact.id))


def test_stop_discards_pending_requests_so_a_later_yes_confirms_nothing(
    client: TestClient, sms_store: CreatedStore, container: Container, clock: SimulatedClock
) -> None:
    """
    Asked for double opt-in, the shopper texts STOP, then YES: the old request is gone, so
    the YES lifts the suppression but grants nothing.
    """
    # given
    contact = _contact(client, sms_store, container)
    with container.uow_factory() as uow:
        uow.sms_confirmations.add(
            SmsConfirmation(
                id=None,
                store_id=sms_store.store.id,
                contact_id=contact.id,
                phone=PHONE,
                purpose=Purpose.RECOVERY,
                text="Text me my checkout link. Reply STOP to opt out.",
                text_version="sms-v1",
                source="post_abandon",
                client_ip=None,
                user_agent=None,
                requested_at=clock.now(),
            )
        )
        uow.commit()
    _send(client, sms_store, _params("STOP", sid="SM-stop"))
    clock.advance(timedelta(minutes=1))
    # when
    _send(client, sms_store, _params("YES", sid="SM-yes"))
    # then
    with container.uow_factory(read_only=True) as uow:
        pending = uow.sms_confirmations.pending(sms_store.store.id, PHONE)
    assert ([], {("sms", "recovery"): False, ("sms", "marketing"): False}) == (
        pending,
        _ledger(container, contact.id),
    )


@pytest.mark.parametrize("word", ["HELP", "info", " Help "])
def test_help_is_answered_with_the_store_help_text_escaped(
    client: TestClient, sms_store: CreatedStore, container: Container, word: str
) -> None:
    """
    HELP and INFO get the store's help text as a TwiML message, XML-escaped; nothing changes.
    """
    # given
    contact = _contact(client, sms_store, container)
    # when
    response = _send(client, sms_store, _params(word))
    # then
    assert (
        200,
        '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Test Shop &lt;help&gt; '
        '&amp; "support": shop.example.com. Reply STOP to opt out.</Message></Response>',
    ) == (response.status_code, response.text)
    assert ({}, False) == (_ledger(container, contact.id), _suppressed(container, sms_store))


def test_any_other_reply_is_stored_for_the_merchant(
    client: TestClient, sms_store: CreatedStore, container: Container
) -> None:
    """
    "please stop texting me" is not a keyword: stored with its contact, nothing else happens.
    """
    # given
    contact = _contact(client, sms_store, container)
    # when
    response = _send(client, sms_store, _params("Is the blue mug back in stock?", sid="SMx"))
    # then
    assert (200, EMPTY) == (response.status_code, response.text)
    [row] = _inbound(client, sms_store)
    assert ("SMx", PHONE, "Is the blue mug back in stock?", None, contact.id, "sms") == (
        row["provider_id"],
        row["sender"],
        row["body"],
        row["keyword"],
        row["contact_id"],
        row["channel"],
    )
    assert {} == _ledger(container, contact.id)


def test_a_stop_from_an_unknown_number_still_suppresses_it(
    client: TestClient, sms_store: CreatedStore, container: Container
) -> None:
    """
    No contact has the number: the reply is stored without one and the number is suppressed.
    """
    # when
    response = _send(client, sms_store, _params("STOP"))
    # then
    assert (200, True) == (response.status_code, _suppressed(container, sms_store))
    assert [None] == [row["contact_id"] for row in _inbound(client, sms_store)]


def test_a_redelivery_changes_nothing_and_answers_the_same(
    client: TestClient, sms_store: CreatedStore, container: Container, clock: SimulatedClock
) -> None:
    """
    The same MessageSid again (Twilio retries): one stored reply, the same answer; a STOP
    redelivered after START does not withdraw again.
    """
    # given
    contact = _contact(client, sms_store, container)
    first_help = _send(client, sms_store, _params("HELP", sid="SM-help"))
    _send(client, sms_store, _params("STOP", sid="SM-stop"))
    clock.advance(timedelta(minutes=1))
    _send(client, sms_store, _params("START", sid="SM-start"))
    clock.advance(timedelta(minutes=1))
    # when
    again_help = _send(client, sms_store, _params("HELP", sid="SM-help"))
    again_stop = _send(client, sms_store, _params("STOP", sid="SM-stop"))
    # then
    assert (first_help.text, EMPTY) == (again_help.text, again_stop.text)
    assert 3 == len(_inbound(client, sms_store))
    assert (False, {("sms", "recovery"): True, ("sms", "marketing"): False}) == (
        _suppressed(container, sms_store),
        _ledger(container, contact.id),
    )


def test_the_url_the_request_arrived_at_is_accepted_too(
    client: TestClient, sms_store: CreatedStore, container: Container
) -> None:
    """
    A local set-up (a tunnel, no CARTBACK_BASE_URL): signed over the request's own URL.
    """
    # when
    response = _send(client, sms_store, _params("STOP"), url="http://testserver" + _path(sms_store))
    # then
    assert (200, True) == (response.status_code, _suppressed(container, sms_store))


def _nothing_stored(client: TestClient, store: CreatedStore, container: Container) -> None:
    assert ([], False) == (_inbound(client, store), _suppressed(container, store))


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
        "not base64 at all",
    ],
)
def test_a_missing_or_forged_signature_is_401_and_nothing_is_stored(
    client: TestClient, sms_store: CreatedStore, container: Container, signature: str | None
) -> None:
    """
    No header, an empty one, another request's signature, garbage: 401, nothing stored.
    """
    # when
    response = _send(client, sms_store, _params("STOP"), signature=signature)
    # then
    assert_problem(response, 401)
    _nothing_stored(client, sms_store, container)


@pytest.mark.parametrize(
    ("token", "base"),
    [
        pytest.param("another-token-0123456789", PUBLIC_BASE, id="another-token"),
        pytest.param(TOKEN, "https://evil.example", id="another-url"),
    ],
)
def test_a_signature_with_another_token_or_url_is_refused(
    client: TestClient, sms_store: CreatedStore, container: Container, token: str, base: str
) -> None:
    """
    Signed with the wrong token, or for another URL: 401, nothing stored.
    """
    # given
    params = _params("STOP")
    signature = twilio_signature(token, base + _path(sms_store), params)
    # when
    response = _send(client, sms_store, params, signature=signature)
    # then
    assert_problem(response, 401)
    _nothing_stored(client, sms_store, container)


def test_a_tampered_body_is_refused(
    client: TestClient, sms_store: CreatedStore, container: Container
) -> None:
    """
    Signed for "Hello", delivered as "STOP": 401, the number is not suppressed.
    """
    # given
    signature = twilio_signature(TOKEN, PUBLIC_BASE + _path(sms_store), _params("Hello"))
    # when
    response = _send(client, sms_store, _params("STOP"), signature=signature)
    # then
    assert_problem(response, 401)
    _nothing_stored(client, sms_store, container)


def test_a_store_without_a_twilio_account_refuses_everything(
    client: TestClient, store: CreatedStore, container: Container
) -> None:
    """
    Nothing can verify the signature: 401, nothing stored.
    """
    # when
    response = _send(client, store, _params("STOP"))
    # then
    body = assert_problem(response, 401)
    assert "cartback sms configure" in body["detail"]
    _nothing_stored(client, store, container)


def test_an_unknown_store_is_404(client: TestClient) -> None:
    """
    A store id that does not exist.
    """
    # when
    response = client.post(
        "/webhooks/twilio/st_nope/inbound",
        content=urlencode(_params("STOP")),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"},
    )
    # then
    assert_problem(response, 404)


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"From": PHONE, "Body": "STOP"}, id="no-sid"),
        pytest.param({"MessageSid": "SM1", "Body": "STOP"}, id="no-from"),
        pytest.param({"MessageSid": "S" * 65, "From": PHONE, "Body": "STOP"}, id="long-sid"),
        pytest.param({"MessageSid": "SM\x001", "From": PHONE, "Body": "STOP"}, id="nul-sid"),
    ],
)
def test_a_signed_request_without_the_fields_is_400(
    client: TestClient, sms_store: CreatedStore, container: Container, params: dict[str, str]
) -> None:
    """
    Correctly signed but missing MessageSid or From (or with an impossible one): 400.
    """
    # when
    response = _send(client, sms_store, params)
    # then
    assert_problem(response, 400)
    _nothing_stored(client, sms_store, container)


def test_bodies_that_are_not_utf8_or_too_large_are_refused(
    client: TestClient, sms_store: CreatedStore
) -> None:
    """
    Not UTF-8: 400; over 64 KB: 413. Neither is stored.
    """
    # when
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"}
    bad = client.post(_path(sms_store), content=b"Body=\xff\xfe", headers=headers)
    large = client.post(_path(sms_store), content=b"Body=" + b"a" * 70_000, headers=headers)
    # then
    assert_problem(bad, 400)
    assert_problem(large, 413)


def test_inbound_listing_needs_a_server_key_and_a_sane_limit(
    client: TestClient, sms_store: CreatedStore
) -> None:
    """
    No key: 401; the public key: 403; a limit of 0 or 501: 400.
    """
    # when
    statuses = [
        client.get("/v1/inbound").status_code,
        client.get("/v1/inbound", headers=auth(sms_store.public_key)).status_code,
        client.get("/v1/inbound?limit=0", headers=auth(sms_store.secret_key)).status_code,
        client.get("/v1/inbound?limit=501", headers=auth(sms_store.secret_key)).status_code,
        client.get("/v1/inbound?limit=x", headers=auth(sms_store.secret_key)).status_code,
    ]
    # then
    assert [401, 403, 400, 400, 400] == statuses


def test_replies_belong_to_one_store(
    client: TestClient,
    sms_store: CreatedStore,
    store_factory: Callable[..., CreatedStore],
) -> None:
    """
    Another store's listing does not show this store's replies.
    """
    # given
    other = store_factory()
    _send(client, sms_store, _params("hello"))
    # when
    listed = client.get("/v1/inbound", headers=auth(other.secret_key)).json()
    # then
    assert {"data": [], "count": 0} == listed
