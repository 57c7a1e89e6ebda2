"""
Offers through the real API and worker on the simulated clock (issue #7): a step with an offer
gives the enrollment one code, the same in every channel; a cart the rules exclude gets none
and the touch says why; a platform's code is created before the message that shows it, and a
refusal sends the message without it; unused codes are revoked after they expire; an order
that used a code marks it redeemed with its cost; `GET /v1/offers/{code}` answers custom sites.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from test_recovery_engine import post, shop, worker

from cartback.bootstrap import Container
from cartback.domain.discounts import DiscountError, DiscountSpec, OfferStatus
from cartback.domain.flows import OfferKind
from cartback.domain.ports import OfferRecord
from cartback.engine.clock import SimulatedClock
from cartback.engine.worker import Worker
from cartback.services.offers import OfferPlatforms, create_pending_offers, revoke_offers
from cartback.services.partners import create_program
from cartback.services.stores import CreatedStore
from cartback.store.tables import audience_members, offers
from helpers import assert_problem, auth, enrolled_touch, identify, track

__all__ = ["shop", "worker"]

OFFER_FLOWS = """
flows:
  - name: cart-recovery
    trigger: {stages: [cart, checkout], inactive_for: 30m}
    steps:
      - {wait: 1h, channel: email, template: reminder}
      - wait: 1h
        channel: email
        template: resolution
        offer: {kind: percent, value: 10, expires_in: 48h, min_total: 40}
      - wait: 1h
        channel: email
        template: resolution
        offer: {kind: percent, value: 10, expires_in: 48h, min_total: 40}
defaults:
  frequency_cap: {messages: 5, per: 24h}
"""


class RecordingPlatform:
    """
    A platform's discount API as the worker sees it: records what it was asked, and answers
    as told (`refuse` with a final error, `busy` with a rate limit).
    """

    name = "shopify"

    def __init__(self) -> None:
        self.created: list[DiscountSpec] = []
        self.revoked: list[str] = []
        self.refuse: str | None = None
        self.busy = False

    def create(self, spec: DiscountSpec) -> str:
        if self.busy:
            raise DiscountError("rate limited", transient=True, retry_after=5)
        if self.refuse is not None:
            raise DiscountError(self.refuse)
        self.created.append(spec)
        return f"gid://shopify/DiscountCodeNode/{len(self.created)}"

    def revoke(self, reference: str) -> None:
        self.revoked.append(reference)


def _leave(client: TestClient, store: CreatedStore, clock: SimulatedClock, price: int) -> None:
    post(
        client,
        store,
        identify(anonymous_id="a-1", at=clock.now(), email="ada@example.com"),
        track(
            "Product Added",
            anonymous_id="a-1",
            at=clock.now(),
            cart_id="c-1",
            product_id="p-1",
            name="Lamp",
            price=price,
            quantity=2,
        ),
    )


def _drive(worker: Worker, clock: SimulatedClock, hours: float) -> None:
    """
    Move the clock on in small steps, running the worker's passes (offers first) each time.
    """
    steps = int(hours * 12)
    for _ in range(steps):
        clock.advance(timedelta(minutes=5))
        for _ in range(10):
            timers = worker.run_pass()
            created = worker.offer_pass()
            dispatched = worker.dispatch_pass()
            if not (timers.processed or created or dispatched.processed):
                break


def _messages(client: TestClient, store: CreatedStore) -> list[dict[str, Any]]:
    body = client.get("/v1/messages", headers=auth(store.secret_key)).json()
    return list(body["data"])


def _touches(client: TestClient, store: CreatedStore) -> list[dict[str, Any]]:
    body = client.get("/v1/carts/c-1", headers=auth(store.secret_key)).json()
    return list(body["touches"])


def _offers(container: Container, store: CreatedStore) -> list[OfferRecord]:
    """
    The store's offers, read straight from the table.
    """
    query = select(offers.c.id).where(offers.c.store_id == store.store.id)
    with container.engine.connect() as connection:
        ids = list(connection.execute(query).scalars())
    with container.uow_factory(read_only=True) as uow:
        return [found for i in ids if (found := uow.offers.get(i)) is not None]


def test_both_offer_steps_show_the_same_code_that_a_custom_site_can_check(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    shop: Callable[..., CreatedStore],
    worker: Worker,
) -> None:
    """
    A custom store (no platform API): the two resolution emails carry one and the same code,
    `GET /v1/offers/{code}` says it is valid with its kind, value and cart, and the reminder
    before them carries none.
    """
    # given
    store = shop(flows=OFFER_FLOWS)
    _leave(client, store, clock, price=30)

    # when
    _drive(worker, clock, hours=4)

    # then
    messages = _messages(client, store)
    assert 3 == len(messages)
    codes = [re.findall(r"\b[A-HJ-NP-Z2-9]{10}\b", m["text"]) for m in messages]
    assert [] == codes[0]
    assert codes[1]
    assert codes[1] == codes[2]
    answer = client.get(f"/v1/offers/{codes[1][0].lower()}", headers=auth(store.secret_key))
    assert 200 == answer.status_code
    assert {
        "code": codes[1][0],
        "valid": True,
        "kind": "percent",
        "value": "10",
        "currency": "USD",
        "status": "active",
        "cart_id": "c-1",
    }.items() <= answer.json().items()


def test_a_cart_under_the_minimum_gets_no_code_and_the_touch_says_why(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    shop: Callable[..., CreatedStore],
    worker: Worker,
) -> None:
    """
    `min_total: 40` and a 2 x 15 USD cart: the resolution emails go without a code, their
    touches are `sent` with reason `offer_ineligible`, and no offer was written.
    """
    # given
    store = shop(flows=OFFER_FLOWS)
    _leave(client, store, clock, price=15)

    # when
    _drive(worker, clock, hours=4)

    # then
    touches = _touches(client, store)
    assert ["sent", "sent", "sent"] == [t["status"] for t in touches]
    assert [None, "offer_ineligible", "offer_ineligible"] == [t.get("reason") for t in touches]
    assert [] == _offers(container, store)


@pytest.fixture
def platform(container: Container) -> RecordingPlatform:
    """
    The stores' discount API, put in the container before its worker is built.
    """
    recording = RecordingPlatform()
    container.offer_platforms = OfferPlatforms(lambda _store: recording)
    return recording


def test_a_platform_code_is_created_before_the_email_that_shows_it(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    shop: Callable[..., CreatedStore],
    platform: RecordingPlatform,
) -> None:
    """
    With a platform API the code is created there (single use, expiring with the offer) before
    the email goes, and the email shows exactly that code.
    """
    # given
    store = shop(flows=OFFER_FLOWS)
    worker = container.new_worker(name="offers")
    _leave(client, store, clock, price=30)

    # when
    _drive(worker, clock, hours=3)

    # then
    assert 1 == len(platform.created)
    spec = platform.created[0]
    assert ("percent", Decimal(10), "USD", 1) == (
        spec.kind.value,
        spec.value,
        spec.currency,
        spec.usage_limit,
    )
    assert Decimal(40) == spec.minimum_subtotal
    assert timedelta(hours=48) >= spec.expires_at - spec.starts_at
    resolution = _messages(client, store)[1]
    assert spec.code in resolution["text"]
    (offer,) = _offers(container, store)
    assert (OfferStatus.ACTIVE, "gid://shopify/DiscountCodeNode/1") == (
        offer.status,
        offer.platform_ref,
    )


def test_a_refused_code_sends_the_message_without_it(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    shop: Callable[..., CreatedStore],
    platform: RecordingPlatform,
) -> None:
    """
    The platform refuses the code: the offer is `failed` with the platform's reason and the
    resolution email goes without any code, its touch `sent` with reason `offer_failed`.
    """
    # given
    platform.refuse = "Code must be unique"
    store = shop(flows=OFFER_FLOWS)
    worker = container.new_worker(name="offers")
    _leave(client, store, clock, price=30)

    # when
    _drive(worker, clock, hours=3)

    # then
    (offer,) = _offers(container, store)
    assert (OfferStatus.FAILED, "Code must be unique") == (offer.status, offer.reason)
    resolution = _messages(client, store)[1]
    assert offer.code not in resolution["text"]
    resolution_touch = _touches(client, store)[1]
    assert ("sent", "offer_failed") == (resolution_touch["status"], resolution_touch["reason"])


def test_a_rate_limited_platform_is_asked_again_after_retry_after(
    container: Container,
    clock: SimulatedClock,
    store: CreatedStore,
    platform: RecordingPlatform,
) -> None:
    """
    A 429 leaves the offer pending with `retry_at` at the platform's Retry-After; the next
    pass before then asks nothing, the one after creates it.
    """
    # given
    offer = _stored_offer(container, clock, store, status=OfferStatus.PENDING)
    platforms = OfferPlatforms(lambda _store: platform)
    platform.busy = True

    # when
    first = create_pending_offers(
        uow_factory=container.uow_factory, clock=clock, platforms=platforms
    )
    platform.busy = False
    clock.advance(timedelta(seconds=2))
    early = create_pending_offers(
        uow_factory=container.uow_factory, clock=clock, platforms=platforms
    )
    clock.advance(timedelta(seconds=4))
    late = create_pending_offers(
        uow_factory=container.uow_factory, clock=clock, platforms=platforms
    )

    # then
    assert ({"retry": 1}, {}, {"active": 1}) == (first.outcomes, early.outcomes, late.outcomes)
    with container.uow_factory(read_only=True) as uow:
        stored = uow.offers.get(offer.id)
    assert stored is not None
    assert OfferStatus.ACTIVE is stored.status


class RacingPlatform(RecordingPlatform):
    """
    A platform still making a code when its message stops waiting: during the create call
    `meanwhile` runs (what the dispatcher and the revoke pass do in the meantime).
    """

    def __init__(self, meanwhile: Callable[[], None]) -> None:
        super().__init__()
        self.meanwhile = meanwhile

    def create(self, spec: DiscountSpec) -> str:
        self.meanwhile()
        return super().create(spec)


def test_a_message_that_stopped_waiting_supersedes_its_pending_code(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    shop: Callable[..., CreatedStore],
    platform: RecordingPlatform,
    worker: Worker,
) -> None:
    """
    No offer pass runs: after 2 minutes the resolution email goes without the code
    (`offer_failed`), the code is superseded at once, and no later pass asks the platform for it.
    """
    # given
    store = shop(flows=OFFER_FLOWS)
    _leave(client, store, clock, price=30)

    # when
    for _ in range(4 * 12):
        clock.advance(timedelta(minutes=5))
        worker.run_pass()
        worker.dispatch_pass()
    asked = create_pending_offers(
        uow_factory=container.uow_factory, clock=clock, platforms=container.offer_platforms
    )

    # then
    resolution = _touches(client, store)[1]
    assert ("sent", "offer_failed") == (resolution["status"], resolution["reason"])
    (offer,) = _offers(container, store)
    assert OfferStatus.SUPERSEDED is offer.status
    assert ({}, []) == (asked.outcomes, platform.created)


def test_a_code_the_platform_makes_after_it_was_revoked_is_revoked_too(
    container: Container, clock: SimulatedClock, store: CreatedStore
) -> None:
    """
    While the platform makes the code, its message stops waiting and the revoke pass runs
    (nothing on the platform yet): the code made after that is revoked on the platform.
    """
    # given
    offer = _stored_offer(container, clock, store, status=OfferStatus.PENDING)

    def meanwhile() -> None:
        with container.uow_factory() as uow:
            current = uow.offers.get(offer.id)
            assert current is not None
            uow.offers.save(replace(current, status=OfferStatus.SUPERSEDED))
            uow.commit()
        revoke_offers(uow_factory=container.uow_factory, clock=clock, platforms=platforms)

    racing = RacingPlatform(meanwhile)
    platforms = OfferPlatforms(lambda _store: racing)

    # when
    create_pending_offers(uow_factory=container.uow_factory, clock=clock, platforms=platforms)
    revoked = revoke_offers(uow_factory=container.uow_factory, clock=clock, platforms=platforms)

    # then
    assert {"revoked": 1} == revoked.outcomes
    assert ["gid://shopify/DiscountCodeNode/1"] == racing.revoked
    with container.uow_factory(read_only=True) as uow:
        stored = uow.offers.get(offer.id)
    assert stored is not None
    assert OfferStatus.REVOKED is stored.status


def test_expired_unused_codes_are_revoked_on_the_platform_and_redeemed_ones_kept(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    store_factory: Callable[..., CreatedStore],
    platform: RecordingPlatform,
) -> None:
    """
    Past its expiry an unused code is removed from the platform and ends `revoked`; a code an
    order used stays `redeemed` with the order and what the discount took off.
    """
    # given
    store = store_factory()
    unused = _stored_offer(container, clock, store, status=OfferStatus.ACTIVE, cart_key="c-unused")
    used = _stored_offer(
        container, clock, store, status=OfferStatus.ACTIVE, cart_key="c-used", code="USEDCODE2B"
    )
    post_order = client.post(
        "/v1/track",
        json={
            "event": "Order Completed",
            "anonymousId": "buyer",
            "messageId": "order-1",
            "timestamp": clock.now().isoformat(),
            "properties": {
                "order_id": "o-1",
                "cart_id": "c-used",
                "total": 90,
                "currency": "USD",
                "coupon": used.code.lower(),
                "discount": 10,
            },
        },
        headers=auth(store.secret_key),
    )
    assert 200 == post_order.status_code, post_order.text
    clock.advance(timedelta(hours=49))

    # when
    report = revoke_offers(
        uow_factory=container.uow_factory,
        clock=clock,
        platforms=OfferPlatforms(lambda _store: platform),
    )

    # then
    assert {"revoked": 1} == report.outcomes
    assert [unused.platform_ref] == platform.revoked
    with container.uow_factory(read_only=True) as uow:
        after_unused = uow.offers.get(unused.id)
        after_used = uow.offers.get(used.id)
    assert after_unused is not None
    assert after_used is not None
    assert OfferStatus.REVOKED is after_unused.status
    assert (OfferStatus.REDEEMED, "o-1", Decimal(10)) == (
        after_used.status,
        after_used.order_key,
        after_used.discount_amount,
    )


def test_an_offer_lookup_rejects_bad_codes_and_other_stores_codes(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    store_factory: Callable[..., CreatedStore],
) -> None:
    """
    An unknown code is 404, a malformed one 400, both as problems; another store's code is
    404 for this store; without a server key 401.
    """
    # given
    offer = _stored_offer(container, clock, store_factory(), status=OfferStatus.ACTIVE)
    other = store_factory(name="Other")

    # when
    unknown = client.get("/v1/offers/NOPE2345XY", headers=auth(other.secret_key))
    malformed = client.get("/v1/offers/bad%20code!", headers=auth(other.secret_key))
    foreign = client.get(f"/v1/offers/{offer.code}", headers=auth(other.secret_key))
    anonymous = client.get(f"/v1/offers/{offer.code}")

    # then
    assert_problem(unknown, 404)
    assert_problem(malformed, 400)
    assert_problem(foreign, 404)
    assert_problem(anonymous, 401)


def _stored_offer(
    container: Container,
    clock: SimulatedClock,
    store: CreatedStore,
    *,
    status: OfferStatus,
    cart_key: str = "c-9",
    code: str = "TESTCODE2A",
) -> OfferRecord:
    """
    An enrolled cart with a code already given (on the platform, `ref-<cart>`, when active).
    """
    now = clock.now()
    with container.uow_factory() as uow:
        contact = uow.contacts.create(
            store.store.id, fields={"email": f"{cart_key}@example.com"}, is_bot=False, now=now
        )
        record, enrollment, touch = enrolled_touch(
            store_id=store.store.id, contact_id=contact.id, key=cart_key, now=now, due_at=now
        )
        uow.carts.add([record], now=now)
        uow.enrollments.add(enrollment)
        uow.touches.add([touch])
        stored = uow.offers.add(
            OfferRecord(
                id=f"of_{cart_key}",
                store_id=store.store.id,
                code=code,
                kind=OfferKind.PERCENT,
                value=Decimal(10),
                currency="USD",
                source="store",
                offer_key="percent:10",
                enrollment_id=enrollment.id,
                contact_id=contact.id,
                cart_id=record.id,
                flow=enrollment.flow,
                step=0,
                status=status,
                platform_ref=f"ref-{cart_key}" if status is OfferStatus.ACTIVE else None,
                expires_at=now + timedelta(hours=48),
                created_at=now,
                updated_at=now,
            )
        )
        uow.commit()
    assert stored is not None
    return stored


PARTNER_FLOWS = """
flows:
  - name: cart-recovery
    trigger: {stages: [cart, checkout], inactive_for: 30m}
    steps:
      - wait: 1h
        channel: email
        template: resolution
        offer: {kind: percent, value: 10, expires_in: 48h}
      - {wait: 1h, channel: email, template: resolution, partner_offer: socks}
defaults:
  frequency_cap: {messages: 5, per: 24h}
"""


def _socks(
    container: Container,
    clock: SimulatedClock,
    store: CreatedStore,
    *,
    segment: str,
    codes: list[str],
) -> None:
    """
    Acme Socks' 15 % program `socks` for the carts `segment` selects, with a pool of codes.
    """
    create_program(
        uow=container.uow_factory(),
        clock=clock,
        store_id=store.store.id,
        name="socks",
        partner="Acme Socks",
        segment=segment,
        eligibility=None,
        kind="percent",
        value=Decimal(15),
        code_source="pool",
        expires_in=timedelta(hours=72),
        codes=codes,
    )


def test_a_partner_code_comes_from_its_pool_and_replaces_the_stores_own(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    shop: Callable[..., CreatedStore],
    worker: Worker,
) -> None:
    """
    Step 0 gives the store's code; step 1 gives the partner's pooled code for a cart in its
    segment, names the partner, and supersedes the store's code (offers never stack).
    """
    # given
    store = shop(flows=PARTNER_FLOWS)
    _socks(container, clock, store, segment="cart.total >= 50", codes=["ACME-0001", "ACME-0002"])
    _leave(client, store, clock, price=30)

    # when
    _drive(worker, clock, hours=3)

    # then
    own, partners = sorted(_offers(container, store), key=lambda o: o.step)
    assert (OfferStatus.SUPERSEDED, "store") == (own.status, own.source)
    assert (OfferStatus.ACTIVE, "partner:socks", "ACME-0001") == (
        partners.status,
        partners.source,
        partners.code,
    )
    second = _messages(client, store)[1]
    assert "Acme Socks" in second["text"]
    assert "ACME-0001" in second["text"]
    assert own.code not in second["text"]
    report = client.get("/v1/partners/socks/report", headers=auth(store.secret_key)).json()
    assert (1, 1) == (report["given"], report["codes_available"])


def test_a_cart_outside_the_partners_segment_gets_no_partner_code(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    shop: Callable[..., CreatedStore],
    worker: Worker,
) -> None:
    """
    A cart under the program's segment: the partner step goes without a code, its touch
    `sent` with reason `offer_ineligible`, and the pool keeps its codes.
    """
    # given
    store = shop(flows=PARTNER_FLOWS)
    _socks(container, clock, store, segment="cart.total >= 500", codes=["ACME-0001"])
    _leave(client, store, clock, price=30)

    # when
    _drive(worker, clock, hours=3)

    # then
    touches = _touches(client, store)
    assert ("sent", "offer_ineligible") == (touches[1]["status"], touches[1]["reason"])
    assert "Acme Socks" not in _messages(client, store)[1]["text"]
    report = client.get("/v1/partners/socks/report", headers=auth(store.secret_key)).json()
    assert (0, 1) == (report["given"], report["codes_available"])


def test_a_persons_export_lists_their_codes_and_audiences(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    store: CreatedStore,
) -> None:
    """
    `GET /v1/contacts/{id}` shows the codes given to the person and the ad audiences they
    were in, with when they left.
    """
    # given
    offer = _stored_offer(container, clock, store, status=OfferStatus.ACTIVE)
    with container.engine.begin() as connection:
        connection.execute(
            audience_members.insert().values(
                store_id=store.store.id,
                audience="viewed-cart",
                contact_id=offer.contact_id,
                entered_at=clock.now(),
                expires_at=clock.now() + timedelta(days=7),
                left_at=clock.now(),
                left_reason="purchased",
            )
        )

    # when
    body = client.get(f"/v1/contacts/{offer.contact_id}", headers=auth(store.secret_key)).json()

    # then
    assert [(offer.code, "percent", "active")] == [
        (o["code"], o["kind"], o["status"]) for o in body["offers"]
    ]
    assert [("viewed-cart", "purchased")] == [
        (a["audience"], a["left_reason"]) for a in body["audiences"]
    ]
