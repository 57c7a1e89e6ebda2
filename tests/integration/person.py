"""
A person with data in every table Cartback has, built through the API and the repositories,
for the export and erasure tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from cartback.bootstrap import Container
from cartback.domain.consent import Channel, ConsentClaim, Purpose, changes
from cartback.domain.ports import InboundMessage, SmsConfirmation, Suppression
from cartback.kit.ids import new_id
from cartback.services.stores import CreatedStore
from cartback.store.tables import contacts
from helpers import auth, identify, track

EMAIL = "erin.erased@example.com"
PHONE = "+4915123456789"
#: The national forms a German source may have written (`01512 3456789`, `015123456789`).
PHONE_FORMS = (PHONE, "01512 3456789", "015123456789", "+49 1512 3456789")
USER_ID = "user-erin-4711"


@dataclass(frozen=True, kw_only=True, slots=True)
class Person:
    """
    The contact built, and the identifiers that must vanish with them.
    """

    contact_id: str
    needles: tuple[str, ...] = (EMAIL, *PHONE_FORMS, USER_ID)


def send(client: TestClient, store: CreatedStore, *messages: dict[str, Any]) -> None:
    """
    Posts a Segment batch and checks it was taken.
    """
    response = client.post(
        "/v1/batch", json={"batch": list(messages)}, headers=auth(store.secret_key)
    )
    assert 200 == response.status_code, response.text


def contact_id_of(container: Container, store: CreatedStore, email: str) -> str:
    """
    The id of the store's contact with this email.
    """
    query = select(contacts.c.id).where(
        contacts.c.store_id == store.store.id, contacts.c.email == email
    )
    with container.engine.connect() as connection:
        found: str = connection.execute(query).scalar_one()
    return found


def build_person(client: TestClient, container: Container, store: CreatedStore) -> Person:
    """
    Erin: tracked with her email in event properties, identified with a national phone number
    and an account id, named by phone in the events of a device never identified; two carts
    and an order; consent granted and (for SMS) withdrawn with its evidence; an SMS reply, an
    unsubscribe, and a pending SMS confirmation.
    """
    send(
        client,
        store,
        track("Product Added", anonymous_id="anon-erin", cart_id="cart-erin", product_id="mug",
              price=12, quantity=1, email=EMAIL.upper()),
        identify(anonymous_id="anon-erin", user_id=USER_ID, email="Erin.Erased@Example.com",
                 phone="01512 3456789"),
        track("Product Added", anonymous_id="anon-erin", cart_id="cart-erin-2", product_id="cup",
              price=3),
        track("Order Completed", anonymous_id="anon-erin", user_id=USER_ID, cart_id="cart-erin-2",
              order_id="order-erin", total=3, currency="EUR"),
        # From another device, never identified: only the payload names her.
        track("Form Submitted", anonymous_id="anon-erin-laptop", phone="015123456789",
              billing={"phone": "+49 1512 3456789"}),
    )  # fmt: skip
    contact_id = contact_id_of(container, store, EMAIL)
    _add_opt_outs(container, store, contact_id)
    return Person(contact_id=contact_id)


def _add_opt_outs(container: Container, store: CreatedStore, contact_id: str) -> None:
    now = container.clock.now()
    store_id = store.store.id
    evidence = {"client_ip": "203.0.113.7", "user_agent": "Mozilla/5.0 (Erin's phone)"}
    claims = [
        ConsentClaim(channel=Channel.EMAIL, purpose=Purpose.RECOVERY, granted=True,
                     text=f"Email me about my cart at {EMAIL}", source="cart_drawer",
                     occurred_at=now - timedelta(minutes=5), **evidence),
        ConsentClaim(channel=Channel.SMS, purpose=Purpose.MARKETING, granted=True,
                     text=f"Texts to {PHONE}", source="checkout",
                     occurred_at=now - timedelta(minutes=4), **evidence),
        ConsentClaim(channel=Channel.SMS, purpose=Purpose.MARKETING, granted=False,
                     text="STOP", source="sms_reply", occurred_at=now - timedelta(minutes=3)),
    ]  # fmt: skip
    with container.uow_factory() as uow:
        uow.consents.record(store_id, contact_id, changes({}, claims), now=now)
        uow.suppressions.add(
            Suppression(store_id=store_id, channel=Channel.EMAIL, address=EMAIL,
                        reason="unsubscribed", source="unsubscribe_link", created_at=now)
        )  # fmt: skip
        uow.inbound_messages.add(
            InboundMessage(id=new_id("im"), store_id=store_id, channel=Channel.SMS,
                           provider_id="SM-erin-1", sender=PHONE,
                           body=f"This is Erin ({EMAIL}), call me on 01512 3456789",
                           keyword=None, contact_id=contact_id, received_at=now)
        )  # fmt: skip
        uow.sms_confirmations.add(
            SmsConfirmation(id=None, store_id=store_id, contact_id=contact_id, phone=PHONE,
                            purpose=Purpose.RECOVERY, text=f"Reply YES to get texts at {PHONE}",
                            text_version="sms-v1", source="cart_drawer", requested_at=now,
                            **evidence)
        )  # fmt: skip
        uow.commit()
