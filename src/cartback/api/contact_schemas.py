"""
The export of one person's data (`GET /v1/contacts/{id}`): a stable, versioned document with
one section per kind of data, each row with the fields listed here and no others. Money is a
decimal string, as in the read API; times are ISO 8601 in UTC. See docs/privacy.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel

from cartback.api.schemas import money
from cartback.domain.ports import PersonalData

#: The export's format name; a change that removes or renames a field gets a new one.
EXPORT_FORMAT = "cartback.contact-export.v1"


class ExportedContact(BaseModel):
    """
    The person's identifiers as stored.
    """

    id: str
    email: str | None
    phone: str | None
    user_id: str | None
    created_at: datetime
    updated_at: datetime
    ads_opt_out_at: datetime | None = None


class ExportedVisitor(BaseModel):
    """
    A browser (anonymous id) linked to the person.
    """

    anonymous_id: str
    user_agent: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    ads_opt_out_at: datetime | None = None


class ExportedLine(BaseModel):
    """
    One line of a cart.
    """

    product_id: str | None
    variant_id: str | None
    variant: str | None
    sku: str | None
    name: str | None
    quantity: int
    unit_price: str | None
    image_url: str | None
    url: str | None
    category: str | None


class ExportedCart(BaseModel):
    """
    A cart of the person, by the platform's cart id, with its lines.
    """

    cart_id: str
    status: str
    stage: str
    currency: str
    total: str | None
    item_count: int
    checkout_id: str | None
    order_id: str | None
    payment_failure_reason: str | None
    created_at: datetime
    last_activity_at: datetime | None
    abandoned_at: datetime | None
    lost_at: datetime | None
    ordered_at: datetime | None
    items: list[ExportedLine]


class ExportedOrder(BaseModel):
    """
    An order of the person.
    """

    order_id: str
    cart_id: str | None
    status: str
    total: str | None
    currency: str
    placed_at: datetime
    updated_at: datetime


class ExportedConsent(BaseModel):
    """
    One consent ledger entry: the words shown and the evidence of the grant or withdrawal.
    """

    channel: str
    purpose: str
    granted: bool
    text: str
    text_version: str | None = None
    locale: str | None = None
    source: str
    client_ip: str | None
    user_agent: str | None
    occurred_at: datetime
    recorded_at: datetime
    confirmed_at: datetime


class ExportedSuppression(BaseModel):
    """
    An address of the person that no flow may message.
    """

    channel: str
    address: str
    reason: str
    source: str
    created_at: datetime


class ExportedInboundMessage(BaseModel):
    """
    Something the person sent back (an SMS reply).
    """

    channel: str
    sender: str
    body: str
    keyword: str | None
    received_at: datetime


class ExportedSmsConfirmation(BaseModel):
    """
    An SMS double opt-in request to the person, confirmed or still pending.
    """

    phone: str
    purpose: str
    text: str
    text_version: str | None
    source: str
    client_ip: str | None
    user_agent: str | None
    requested_at: datetime
    confirmed_at: datetime | None


class ExportedRawEvent(BaseModel):
    """
    A message a source sent about the person, as received.
    """

    source: str
    kind: str
    name: str | None
    occurred_at: datetime
    received_at: datetime
    payload: dict[str, Any]


class ExportedOffer(BaseModel):
    """
    A discount code given to the person for a cart, and what became of it.
    """

    code: str
    kind: str
    value: Decimal
    currency: str
    status: str
    flow: str
    step: int
    created_at: datetime
    expires_at: datetime
    redeemed_at: datetime | None
    order_key: str | None


class ExportedAudienceMembership(BaseModel):
    """
    An ad audience the person was in (as a contact or as one of their browsers).
    """

    audience: str
    entered_at: datetime
    expires_at: datetime
    left_at: datetime | None
    left_reason: str | None


class ContactExport(BaseModel):
    """
    Everything Cartback holds about one person in one store.
    """

    format: Literal["cartback.contact-export.v1"]
    exported_at: datetime
    store_id: str
    contact: ExportedContact
    visitors: list[ExportedVisitor]
    carts: list[ExportedCart]
    orders: list[ExportedOrder]
    consents: list[ExportedConsent]
    suppressions: list[ExportedSuppression]
    inbound_messages: list[ExportedInboundMessage]
    sms_confirmations: list[ExportedSmsConfirmation]
    raw_events: list[ExportedRawEvent]
    offers: list[ExportedOffer]
    audiences: list[ExportedAudienceMembership]


def contact_export(data: PersonalData, *, store_id: str, now: datetime) -> ContactExport:
    """
    The export document for a person's data.
    """
    return ContactExport(
        format=EXPORT_FORMAT,
        exported_at=now,
        store_id=store_id,
        contact=ExportedContact.model_validate(dict(data.contact)),
        visitors=[ExportedVisitor.model_validate(dict(v)) for v in data.visitors],
        carts=[_cart(c) for c in data.carts],
        orders=[_order(o) for o in data.orders],
        consents=[ExportedConsent.model_validate(dict(c)) for c in data.consents],
        suppressions=[ExportedSuppression.model_validate(dict(s)) for s in data.suppressions],
        inbound_messages=[
            ExportedInboundMessage.model_validate(dict(m)) for m in data.inbound_messages
        ],
        sms_confirmations=[
            ExportedSmsConfirmation.model_validate(dict(c)) for c in data.sms_confirmations
        ],
        raw_events=[ExportedRawEvent.model_validate(dict(e)) for e in data.raw_events],
        offers=[ExportedOffer.model_validate(dict(o)) for o in data.offers],
        audiences=[ExportedAudienceMembership.model_validate(dict(a)) for a in data.audiences],
    )


def _cart(row: Mapping[str, Any]) -> ExportedCart:
    currency = row["currency"]
    lines = [
        ExportedLine.model_validate(
            {
                **line,
                "variant": line["variant_name"],
                "unit_price": money(line["unit_price"], currency),
            }
        )
        for line in row["lines"]
    ]
    return ExportedCart.model_validate(
        {
            **row,
            "cart_id": row["cart_key"],
            "total": money(row["total"], currency),
            "items": lines,
        }
    )


def _order(row: Mapping[str, Any]) -> ExportedOrder:
    return ExportedOrder.model_validate(
        {
            **row,
            "order_id": row["order_key"],
            "cart_id": row.get("cart_key"),
            "total": money(row["total"], row["currency"]),
        }
    )
