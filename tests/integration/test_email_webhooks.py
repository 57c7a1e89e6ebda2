"""
The email provider's webhook (`POST /webhooks/email/{store_id}`), signed by Resend with Svix:
a delivery moves the touch to delivered, a hard bounce fails it and suppresses the address, a
complaint suppresses it, a replayed event is stored once; forged, missing or stale signatures
are 401 and bad bodies 400, with nothing stored.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sms_touch import sms_touch, touch_now
from sqlalchemy import func, select

from cartback.bootstrap import Container
from cartback.domain.consent import Channel
from cartback.domain.ports import TouchRecord
from cartback.domain.touches import TouchStatus
from cartback.services.email_config import configure_email
from cartback.services.stores import CreatedStore
from cartback.store.tables import delivery_events
from email_support import WEBHOOK_SECRET, resend_event, svix_headers
from helpers import assert_problem

EMAIL_ID = "4ef9a417-02e9-4d39-ad75-9611e0fcc33c"
ADDRESS = "shopper@example.org"


@pytest.fixture
def email_store(store: CreatedStore, container: Container) -> CreatedStore:
    """
    The store, with Resend's webhook secret configured.
    """
    configure_email(
        uow=container.uow_factory(),
        clock=container.clock,
        box=container.box,
        store_id=store.store.id,
        webhook_secret=WEBHOOK_SECRET,
    )
    return store


@pytest.fixture
def email_touch(email_store: CreatedStore, container: Container) -> TouchRecord:
    """
    A sent email touch whose provider id is Resend's email id.
    """
    return sms_touch(container, email_store.store.id, channel=Channel.EMAIL, provider_id=EMAIL_ID)


def _post(
    client: TestClient, store: CreatedStore, body: bytes, headers: dict[str, str] | None = None
) -> Any:
    return client.post(
        f"/webhooks/email/{store.store.id}",
        content=body,
        headers=svix_headers(body) if headers is None else headers,
    )


def _stored(container: Container, store: CreatedStore) -> int:
    query = select(func.count()).select_from(delivery_events)
    with container.engine.connect() as connection:
        count: int = connection.execute(
            query.where(delivery_events.c.store_id == store.store.id)
        ).scalar_one()
    return count


def _suppression(container: Container, store: CreatedStore) -> str | None:
    with container.uow_factory(read_only=True) as uow:
        found = uow.suppressions.get(store.store.id, Channel.EMAIL, ADDRESS)
    return found.reason if found is not None else None


def test_a_delivered_event_marks_the_touch_delivered(
    client: TestClient, container: Container, email_store: CreatedStore, email_touch: TouchRecord
) -> None:
    """
    `email.delivered` for the touch's Resend id: delivered, with the time.
    """
    # when
    response = _post(client, email_store, resend_event("email.delivered"))

    # then
    assert 200 == response.status_code, response.text
    assert {"success": True} == response.json()
    touch = touch_now(container, email_touch.id)
    assert TouchStatus.DELIVERED == touch.status
    assert container.clock.now() == touch.delivered_at
    assert 1 == _stored(container, email_store)


def test_a_hard_bounce_fails_the_touch_and_suppresses_the_address(
    client: TestClient, container: Container, email_store: CreatedStore, email_touch: TouchRecord
) -> None:
    """
    A permanent bounce: the touch fails with the server's words; the address is suppressed.
    """
    # given
    body = resend_event(
        "email.bounced",
        bounce={
            "type": "Permanent",
            "subType": "General",
            "message": "The recipient's email address does not exist.",
        },
    )

    # when
    response = _post(client, email_store, body)

    # then
    assert 200 == response.status_code, response.text
    touch = touch_now(container, email_touch.id)
    assert (TouchStatus.FAILED, "bounced") == (touch.status, touch.reason)
    assert "does not exist" in (touch.provider_error or "")
    assert "hard_bounce" == _suppression(container, email_store)


def test_a_soft_bounce_is_recorded_and_changes_nothing(
    client: TestClient, container: Container, email_store: CreatedStore, email_touch: TouchRecord
) -> None:
    """
    A transient bounce (full mailbox): stored, the touch stays sent, nobody is suppressed.
    """
    # given
    body = resend_event(
        "email.bounced",
        bounce={"type": "Transient", "subType": "MailboxFull", "message": "Mailbox full."},
    )

    # when
    response = _post(client, email_store, body)

    # then
    assert 200 == response.status_code, response.text
    assert TouchStatus.SENT == touch_now(container, email_touch.id).status
    assert _suppression(container, email_store) is None
    assert 1 == _stored(container, email_store)


def test_a_complaint_suppresses_the_address(
    client: TestClient, container: Container, email_store: CreatedStore, email_touch: TouchRecord
) -> None:
    """
    `email.complained`: on the suppression list as `complaint`; the touch keeps its status.
    """
    # when
    response = _post(client, email_store, resend_event("email.complained"))

    # then
    assert 200 == response.status_code, response.text
    assert "complaint" == _suppression(container, email_store)
    assert TouchStatus.SENT == touch_now(container, email_touch.id).status


def test_the_touch_is_found_by_its_tag_when_the_provider_id_is_not_ours(
    client: TestClient, container: Container, email_store: CreatedStore
) -> None:
    """
    A touch recorded under `resend-idempotent:<key>` is found by the touch tag Resend echoes.
    """
    # given
    touch = sms_touch(
        container,
        email_store.store.id,
        channel=Channel.EMAIL,
        provider_id="resend-idempotent:whatever",
    )
    body = resend_event("email.delivered", tags={"cartback_touch": touch.id})

    # when
    response = _post(client, email_store, body)

    # then
    assert 200 == response.status_code, response.text
    assert TouchStatus.DELIVERED == touch_now(container, touch.id).status


def test_a_replayed_event_is_stored_once(
    client: TestClient, container: Container, email_store: CreatedStore, email_touch: TouchRecord
) -> None:
    """
    Svix retries with the same `svix-id`: the second delivery answers 200 and adds nothing.
    """
    # given
    body = resend_event("email.complained")
    assert 200 == _post(client, email_store, body).status_code

    # when
    response = _post(client, email_store, body)

    # then
    assert 200 == response.status_code, response.text
    assert 1 == _stored(container, email_store)


@pytest.mark.parametrize(
    "kind", ["email.delivery_delayed", "email.opened", "email.clicked", "contact.created"]
)
def test_events_cartback_does_not_use_are_acknowledged_and_not_stored(
    client: TestClient,
    container: Container,
    email_store: CreatedStore,
    email_touch: TouchRecord,
    kind: str,
) -> None:
    """
    200, so Resend does not retry them, and nothing changes.
    """
    # when
    response = _post(client, email_store, resend_event(kind))

    # then
    assert 200 == response.status_code, response.text
    assert 0 == _stored(container, email_store)
    assert TouchStatus.SENT == touch_now(container, email_touch.id).status


def test_a_sent_event_is_recorded_and_leaves_a_sent_touch_alone(
    client: TestClient, container: Container, email_store: CreatedStore, email_touch: TouchRecord
) -> None:
    """
    `email.sent` means Resend took it: stored, the touch is already sent.
    """
    # when
    response = _post(client, email_store, resend_event("email.sent"))

    # then
    assert 200 == response.status_code, response.text
    assert 1 == _stored(container, email_store)
    assert TouchStatus.SENT == touch_now(container, email_touch.id).status


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"svix-id": "msg_1", "svix-timestamp": "1795780800"},
        {"svix-id": "msg_1", "svix-timestamp": "1795780800", "svix-signature": "v1,Zm9yZ2Vk"},
    ],
    ids=["no-headers", "no-signature", "forged"],
)
def test_a_missing_or_forged_signature_is_401_and_stores_nothing(
    client: TestClient,
    container: Container,
    email_store: CreatedStore,
    email_touch: TouchRecord,
    headers: dict[str, str],
) -> None:
    """
    Nothing unsigned reaches the suppression list.
    """
    # when
    response = _post(client, email_store, resend_event("email.complained"), headers)

    # then
    assert_problem(response, 401)
    assert 0 == _stored(container, email_store)
    assert _suppression(container, email_store) is None


def test_a_signature_with_another_secret_is_401(
    client: TestClient, container: Container, email_store: CreatedStore, email_touch: TouchRecord
) -> None:
    """
    Signed, but not with the store's secret.
    """
    # given
    body = resend_event("email.complained")
    other = "whsec_" + "b3RoZXItc2VjcmV0LW9mLXNvbWVvbmUtZWxzZQ=="

    # when
    response = _post(client, email_store, body, svix_headers(body, secret=other))

    # then
    assert_problem(response, 401)
    assert _suppression(container, email_store) is None


def test_a_tampered_body_is_401(
    client: TestClient, container: Container, email_store: CreatedStore, email_touch: TouchRecord
) -> None:
    """
    The signature covers the exact bytes: another address in the body fails it.
    """
    # given
    headers = svix_headers(resend_event("email.complained"))
    tampered = resend_event("email.complained", to=["someone-else@example.org"])

    # when
    response = _post(client, email_store, tampered, headers)

    # then
    assert_problem(response, 401)
    assert 0 == _stored(container, email_store)


def test_a_stale_timestamp_is_401(
    client: TestClient, container: Container, email_store: CreatedStore, email_touch: TouchRecord
) -> None:
    """
    A correctly signed event from ten minutes ago is a replay: refused.
    """
    # given
    body = resend_event("email.complained")
    headers = svix_headers(body, at=container.clock.now() - timedelta(minutes=10))

    # when
    response = _post(client, email_store, body, headers)

    # then
    assert_problem(response, 401)
    assert 0 == _stored(container, email_store)


def test_standard_webhooks_header_names_are_accepted(
    client: TestClient, container: Container, email_store: CreatedStore, email_touch: TouchRecord
) -> None:
    """
    `webhook-id`/`-timestamp`/`-signature` are Svix's other names for the same headers.
    """
    # given
    body = resend_event("email.complained")
    headers = {k.replace("svix-", "webhook-"): v for k, v in svix_headers(body).items()}

    # when
    response = _post(client, email_store, body, headers)

    # then
    assert 200 == response.status_code, response.text
    assert "complaint" == _suppression(container, email_store)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"type": "email.bounced"}', b'{"type": 5, "data": {}}', b"{}"],
    ids=["not-json", "array", "no-data", "type-not-text", "empty"],
)
def test_a_signed_body_that_is_no_event_is_400(
    client: TestClient,
    container: Container,
    email_store: CreatedStore,
    email_touch: TouchRecord,
    body: bytes,
) -> None:
    """
    Verified first, then read: a malformed event is a problem and stores nothing.
    """
    # when
    response = _post(client, email_store, body)

    # then
    assert_problem(response, 400)
    assert 0 == _stored(container, email_store)


def test_an_unknown_store_is_404(client: TestClient) -> None:
    """
    No such store: not found, whatever the signature.
    """
    # given
    body = resend_event("email.complained")

    # when
    response = client.post("/webhooks/email/st_unknown", content=body, headers=svix_headers(body))

    # then
    assert_problem(response, 404)


def test_a_store_without_a_webhook_secret_refuses_every_event(
    client: TestClient, container: Container, store: CreatedStore
) -> None:
    """
    Nothing can be verified, so nothing is accepted: 401.
    """
    # given
    body = resend_event("email.complained")

    # when
    response = client.post(
        f"/webhooks/email/{store.store.id}", content=body, headers=svix_headers(body)
    )

    # then
    assert_problem(response, 401)
    assert 0 == _stored(container, store)


def test_an_oversized_body_is_413(client: TestClient, email_store: CreatedStore) -> None:
    """
    Resend's events are small; a megabyte is refused before it is read whole.
    """
    # given
    body = b'{"type": "email.sent", "data": {"x": "' + b"a" * (1024 * 1024) + b'"}}'

    # when
    response = _post(client, email_store, body)

    # then
    assert_problem(response, 413)
