"""
Twilio status callbacks (`POST /webhooks/twilio/{store_id}/status?touch={id}`): signed
callbacks move the touch (delivered, undelivered, failed; `sent` resolves a touch parked as
ambiguous), error 21610 suppresses the number, a replay is stored once, and a forged or
missing signature or bad input is refused with nothing stored.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import pytest
from fastapi.testclient import TestClient
from sms_touch import PHONE, sms_touch, touch_now
from sqlalchemy import func, select

from cartback.bootstrap import Container
from cartback.domain.consent import Channel
from cartback.domain.touches import TouchStatus
from cartback.services.sms_config import configure_sms
from cartback.services.stores import CreatedStore
from cartback.store.tables import delivery_events
from helpers import assert_problem
from twilio_signing import twilio_signature

TOKEN = "0123456789abcdef0123456789abcdef"
ACCOUNT = "AC" + "0" * 32
SID = "SM" + "1" * 32
PUBLIC_BASE = "https://cartback.example.com"


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
        sender="+14155550100",
    )
    return store


def _params(status: str, *, sid: str = SID, **extra: str) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "AccountSid": ACCOUNT,
        "From": "+14155550100",
        "To": PHONE,
        "ApiVersion": "2010-04-01",
        **extra,
    }


def _post(
    client: TestClient,
    store: CreatedStore,
    params: dict[str, str],
    *,
    touch: str | None = None,
    signature: str | None = "sign",
    signed_path: str | None = None,
    body: bytes | None = None,
) -> Any:
    path = f"/webhooks/twilio/{store.store.id}/status"
    if touch is not None:
        path += f"?touch={quote(touch, safe='')}"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature == "sign":
        signature = twilio_signature(TOKEN, PUBLIC_BASE + (signed_path or path), params)
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    content = body if body is not None else urlencode(params).encode()
    return client.post(path, content=content, headers=headers)


def _count(container: Container) -> int:
    with container.engine.connect() as connection:
        return int(
            connection.execute(select(func.count()).select_from(delivery_events)).scalar_one()
        )


def _suppressed(container: Container, store: CreatedStore) -> bool:
    with container.uow_factory(read_only=True) as uow:
        return uow.suppressions.is_suppressed(store.store.id, Channel.SMS, PHONE)


@pytest.mark.parametrize(
    ("status", "extra", "expected", "error"),
    [
        ("delivered", {}, TouchStatus.DELIVERED, None),
        (
            "undelivered",
            {"ErrorCode": "30003", "ErrorMessage": "Unreachable destination handset"},
            TouchStatus.UNDELIVERED,
            "twilio_30003: Unreachable destination handset",
        ),
        ("failed", {"ErrorCode": "30008"}, TouchStatus.FAILED, "twilio_30008"),
    ],
)
def test_a_signed_callback_moves_the_touch(
    client: TestClient,
    container: Container,
    sms_store: CreatedStore,
    status: str,
    extra: dict[str, str],
    expected: TouchStatus,
    error: str | None,
) -> None:
    """
    delivered, undelivered and failed end the sent touch, with Twilio's error kept.
    """
    # given
    touch = sms_touch(container, sms_store.store.id, provider_id=SID)

    # when
    response = _post(client, sms_store, _params(status, **extra), touch=touch.id)

    # then
    assert 204 == response.status_code, response.text
    after = touch_now(container, touch.id)
    assert (expected, error) == (after.status, after.provider_error)
    assert (after.delivered_at is not None) == (expected is TouchStatus.DELIVERED)
    assert not _suppressed(container, sms_store)


def test_error_21610_fails_the_touch_and_suppresses_the_number(
    client: TestClient, container: Container, sms_store: CreatedStore
) -> None:
    """
    A number that replied STOP to Twilio: the touch fails and the number is suppressed.
    """
    # given
    touch = sms_touch(container, sms_store.store.id, provider_id=SID)
    params = _params("failed", ErrorCode="21610", ErrorMessage="Unsubscribed recipient")

    # when
    response = _post(client, sms_store, params, touch=touch.id)

    # then
    assert 204 == response.status_code, response.text
    assert TouchStatus.FAILED is touch_now(container, touch.id).status
    assert _suppressed(container, sms_store)


def test_sent_resolves_a_touch_parked_as_ambiguous(
    client: TestClient, container: Container, sms_store: CreatedStore
) -> None:
    """
    A touch whose send result was lost is confirmed by Twilio's `sent`: it is sent, with the
    message's SID, and never sent again.
    """
    # given
    touch = sms_touch(
        container, sms_store.store.id, status=TouchStatus.AMBIGUOUS, sent_at=None, provider_id=None
    )

    # when
    response = _post(client, sms_store, _params("sent"), touch=touch.id)

    # then
    assert 204 == response.status_code, response.text
    after = touch_now(container, touch.id)
    assert (TouchStatus.SENT, SID) == (after.status, after.provider_id)
    assert after.sent_at is not None


def test_a_touch_is_found_by_the_message_sid_without_the_query(
    client: TestClient, container: Container, sms_store: CreatedStore
) -> None:
    """
    A callback URL without `?touch=` still moves the touch the SID belongs to.
    """
    # given
    touch = sms_touch(container, sms_store.store.id, provider_id=SID)

    # when
    response = _post(client, sms_store, _params("delivered"))

    # then
    assert 204 == response.status_code, response.text
    assert TouchStatus.DELIVERED is touch_now(container, touch.id).status


def test_a_replayed_callback_is_stored_once(
    client: TestClient, container: Container, sms_store: CreatedStore
) -> None:
    """
    The same SID and status twice: one event, the touch moved once; a new status is new.
    """
    # given
    touch = sms_touch(container, sms_store.store.id, provider_id=SID)
    params = _params("sent")

    # when
    answers = [_post(client, sms_store, params, touch=touch.id).status_code for _ in range(2)]
    answers.append(_post(client, sms_store, _params("delivered"), touch=touch.id).status_code)

    # then
    assert [204, 204, 204] == answers
    assert 2 == _count(container)
    assert TouchStatus.DELIVERED is touch_now(container, touch.id).status


@pytest.mark.parametrize(
    ("signature", "signed_path"),
    [
        (None, None),
        ("", None),
        ("bm90IGEgc2lnbmF0dXJl", None),
        ("sign", "/webhooks/twilio/{store}/status"),
        ("sign", "/webhooks/twilio/{store}/status?touch=tch_other"),
    ],
)
def test_a_forged_or_missing_signature_is_refused_and_stores_nothing(
    client: TestClient,
    container: Container,
    sms_store: CreatedStore,
    signature: str | None,
    signed_path: str | None,
) -> None:
    """
    No signature, a wrong one, or one over another URL (the `?touch=` query is signed): 401,
    no event, the touch as it was.
    """
    # given
    touch = sms_touch(container, sms_store.store.id, provider_id=SID)
    path = signed_path.format(store=sms_store.store.id) if signed_path else None

    # when
    response = _post(
        client,
        sms_store,
        _params("delivered"),
        touch=touch.id,
        signature=signature,
        signed_path=path,
    )

    # then
    assert_problem(response, 401)
    assert 0 == _count(container)
    assert TouchStatus.SENT is touch_now(container, touch.id).status


def _without(name: str) -> dict[str, str]:
    params = _params("delivered")
    params.pop(name)
    return params


@pytest.mark.parametrize(
    ("params", "touch_id"),
    [
        (_without("MessageSid"), None),
        (_without("MessageStatus"), None),
        (_params("delivered", sid="SM123"), None),
        (_params("received"), None),
        (_params("bogus"), None),
        (_params("failed", ErrorCode="30003; DROP"), None),
        (_params("delivered"), "tch_<script>"),
    ],
)
def test_bad_input_is_a_400_and_stores_nothing(
    client: TestClient,
    container: Container,
    sms_store: CreatedStore,
    params: dict[str, str],
    touch_id: str | None,
) -> None:
    """
    Correctly signed but not a valid callback: no SID, a malformed SID, an inbound or
    unknown status, a malformed error code or touch id.
    """
    # given
    touch = sms_touch(container, sms_store.store.id, provider_id=SID)

    # when
    response = _post(client, sms_store, params, touch=touch_id)

    # then
    assert_problem(response, 400)
    assert 0 == _count(container)
    assert TouchStatus.SENT is touch_now(container, touch.id).status


def test_a_body_that_is_not_utf8_is_a_400(
    client: TestClient, container: Container, sms_store: CreatedStore
) -> None:
    """
    Bytes that are not UTF-8 form data are refused before anything else.
    """
    # when
    response = _post(client, sms_store, {}, signature="x", body=b"MessageSid=\xff\xfe")

    # then
    assert_problem(response, 400)
    assert 0 == _count(container)


def test_an_unknown_store_is_refused(client: TestClient, container: Container) -> None:
    """
    A callback for a store that does not exist: 404, nothing stored.
    """
    # when
    response = client.post(
        "/webhooks/twilio/st_nope/status",
        content=urlencode(_params("delivered")),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"},
    )

    # then
    assert_problem(response, 404)
    assert 0 == _count(container)
