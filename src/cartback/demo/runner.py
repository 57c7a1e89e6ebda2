"""
Plays the simulated shop through the real service: a Shopify store with the shipped flows, whose
platform sends signed webhooks (`products/create|update` for the catalog and its stock,
`carts/create`, `checkouts/create`, `orders/create`) and whose storefront snippet sends Segment
batches on `/v1/batch` (product views, payment failures) and captures with consent on
`/v1/capture`; restore-link clicks on `/r/…` (links read from the outbox the worker wrote); the
real worker's due work at every step of the simulated clock. The simulator keeps the truth
(which orders a touch caused) beside what the report measures.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import select

from cartback.api.app import create_app
from cartback.bootstrap import Container
from cartback.demo.model import Kind, Product, Shopper, catalog, population, respond
from cartback.engine.clock import SimulatedClock
from cartback.services.flows import apply_flows, shipped_source
from cartback.services.stores import (
    CreatedStore,
    StoreSettings,
    add_webhook_secret,
    create_store,
)
from cartback.store.tables import carts, enrollments, outbox_messages

DOMAIN = "demo-tea-shop.myshopify.com"
ORIGIN = f"https://{DOMAIN}"
#: The Shopify app's client secret, which signs its webhooks (`X-Shopify-Hmac-Sha256`).
APP_SECRET = "shpss_cartback_demo_app"  # noqa: S105 - a simulated app, not a credential
API_VERSION = "2025-10"
#: Where the simulated shop's Shopify ids start (products and variants are numeric there).
PRODUCT_IDS = 8_000_000_000
VARIANT_IDS = 44_000_000_000
EMAIL_CONSENT = "Save my cart and email me a link to come back."
SMS_CONSENT = "Text me my cart link. Msg & data rates may apply. Reply STOP to opt out."
_LINK = re.compile(r"https?://[^/\s\"']+(/r/[A-Za-z0-9_\-.~]+)")
#: A callback told (steps done, steps in all).
Progress = Callable[[int, int], None]


@dataclass(frozen=True, kw_only=True, slots=True)
class DemoOptions:
    """
    The run's size, seed, first instant and clock step.
    """

    shoppers: int = 2000
    days: int = 7
    seed: int = 1
    start: datetime
    step: timedelta = timedelta(minutes=15)
    #: Every shipped flow's holdout share, when not the shipped 10 % (calibration runs use a
    #: larger one so a small shop still gives an informative interval).
    holdout: float | None = None


@dataclass(kw_only=True, slots=True)
class _State:
    """
    What happened to each shopper so far (the simulator's truth).
    """

    bought: dict[int, Decimal] = field(default_factory=dict)
    incremental: set[int] = field(default_factory=set)
    touches: dict[int, int] = field(default_factory=dict)
    clicks: int = 0
    captures: int = 0
    out_of_stock: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class DemoResult:
    """
    The demo store and the simulator's truth about it.
    """

    store: CreatedStore
    truth: dict[str, Any]


def default_flows() -> str:
    """
    The shipped flows (`cartback/flows/defaults.yaml`).
    """
    return shipped_source()


class Simulation:
    """
    One run of the simulated shop against a container on a `SimulatedClock`.
    """

    def __init__(self, container: Container, clock: SimulatedClock, options: DemoOptions) -> None:
        self._container = container
        self._clock = clock
        self._options = options
        self._products: list[Product] = catalog(_rng(options.seed))
        self._stock = {i: p.stock for i, p in enumerate(self._products)}
        self._shoppers = population(
            options.seed, options.shoppers, options.days, len(self._products)
        )
        self._by_address = {s.email: s for s in self._shoppers if s.email}
        self._by_address.update({s.phone: s for s in self._shoppers if s.phone})
        self._agenda: list[tuple[datetime, int, str, int, Any]] = []
        self._serial = 0
        self._batch: list[dict[str, Any]] = []
        self._state = _State()
        self._seen: set[str] = set()
        self._deliveries = 0
        #: Products whose stock changed this step (one `products/update` each at its end).
        self._sold: set[str] = set()
        self._product_numbers = {
            key: number for number, key in enumerate(dict.fromkeys(p.id for p in self._products))
        }

    def run(self, progress: Progress | None = None) -> DemoResult:
        """
        Create the store, play every step, and return the store and the truth.
        """
        store = self._store()
        self._created = store
        for shopper in self._shoppers:
            self._plan(self._options.start + shopper.arrive, "arrive", shopper.index)
        end = self._options.start + timedelta(days=self._options.days)
        total = int((end - self._options.start) / self._options.step)
        worker = self._container.new_worker(name="demo")
        app = create_app(self._container)
        with TestClient(app, base_url="http://127.0.0.1:8000") as client:
            self._client = client
            for key in self._product_numbers:
                self._product_webhook("products/create", key, self._options.start)
            for number in range(1, total + 1):
                now = self._options.start + self._options.step * number
                self._clock.set(now)
                self._play_until(now)
                self._flush()
                self._send_stock(now)
                if self._drain(worker):
                    self._read_outbox()
                if progress is not None:
                    progress(number, total)
        return DemoResult(store=store, truth=self._truth(store))

    # -- set-up --------------------------------------------------------------------------

    def _store(self) -> CreatedStore:
        created = create_store(
            uow=self._container.uow_factory(),
            clock=self._clock,
            box=self._container.box,
            settings=StoreSettings(
                name="Demo Tea Shop",
                platform="shopify",
                domains=[DOMAIN],
                currency="USD",
                timezone="America/New_York",
                country="US",
            ),
        )
        add_webhook_secret(
            uow=self._container.uow_factory(),
            clock=self._clock,
            box=self._container.box,
            store_id=created.store.id,
            secret=APP_SECRET,
        )
        apply_flows(
            uow=self._container.uow_factory(),
            clock=self._clock,
            store_id=created.store.id,
            text=_with_holdout(default_flows(), self._options.holdout),
        )
        return created

    def _plan(self, at: datetime, action: str, shopper: int, data: Any = None) -> None:
        self._serial += 1
        heapq.heappush(self._agenda, (at, self._serial, action, shopper, data))

    def _play_until(self, now: datetime) -> None:
        while self._agenda and self._agenda[0][0] <= now:
            at, _, action, index, data = heapq.heappop(self._agenda)
            shopper = self._shoppers[index]
            if action == "arrive":
                self._arrive(shopper, at)
            elif action == "click":
                self._click(shopper, at, data)
            elif action == "order" and index not in self._state.bought:
                self._order(shopper, at, incremental=bool(data))

    # -- shoppers ------------------------------------------------------------------------

    def _arrive(self, shopper: Shopper, at: datetime) -> None:
        items = [(i, q) for i, q in shopper.items if self._stock[i] > 0]
        cart = {} if shopper.kind is Kind.BROWSER else {"cart_id": _cart(shopper)}
        for product, _ in shopper.items:
            self._track(shopper, at, "Product Viewed", {**self._line(product, 1), **cart})
        if shopper.kind is Kind.BROWSER:
            return
        if not items:
            self._state.out_of_stock += 1  # everything they wanted had sold out: they leave
            return
        # Shopify's own record of the cart; the snippet's view events above name the same cart
        # token, which is how the visitor (and a capture on the cart page) meets the cart.
        added = at + timedelta(minutes=1)
        self._webhook("carts/create", self._cart_document(shopper, items, added), added)
        if shopper.captures and shopper.email:
            self._capture(shopper)
        if shopper.kind is Kind.CART:
            self._plan_base_return(shopper, at)
            return
        started = at + timedelta(minutes=3)
        self._webhook("checkouts/create", self._checkout_document(shopper, items, started), started)
        if shopper.kind is Kind.PAYMENT_FAILED:
            props = {"cart_id": _cart(shopper), "reason": shopper.reason}
            self._track(shopper, started + timedelta(minutes=2), "Payment Failed", props)
        if shopper.kind is Kind.BUYER:
            self._order(shopper, at + timedelta(minutes=6), incremental=False)
        elif shopper.kind is not Kind.BOT:
            self._plan_base_return(shopper, at)

    def _plan_base_return(self, shopper: Shopper, at: datetime) -> None:
        if shopper.base_buys:
            self._plan(at + shopper.base_return, "order", shopper.index, False)

    def _order(self, shopper: Shopper, at: datetime, *, incremental: bool) -> None:
        items = [(i, q) for i, q in shopper.items if self._stock[i] > 0] or list(shopper.items)
        cart_token = _cart(shopper)
        if shopper.other_device and shopper.kind is not Kind.BUYER and shopper.email:
            # Back on another device: a new Shopify cart, known to be theirs by the email only.
            cart_token = f"{cart_token}-phone"
        document = {
            **self._resource(shopper, items, at),
            "id": 5_000_000_000 + shopper.index,
            "name": f"#{1000 + shopper.index}",
            "order_number": 1000 + shopper.index,
            "cart_token": cart_token,
            "checkout_token": f"ck-{_cart(shopper)}" if cart_token == _cart(shopper) else None,
            "financial_status": "paid",
            "processed_at": at.isoformat(),
        }
        self._webhook("orders/create", document, at)
        for product, quantity in items:
            if self._stock[product] > 0:
                self._sold.add(self._products[product].id)
            self._stock[product] = max(0, self._stock[product] - quantity)
        self._state.bought[shopper.index] = Decimal(document["total_price"])
        if incremental:
            self._state.incremental.add(shopper.index)

    def _click(self, shopper: Shopper, at: datetime, data: tuple[str, bool]) -> None:
        path, buys = data
        if shopper.index in self._state.bought:
            return
        if any(message["anonymousId"] == shopper.anonymous_id for message in self._batch):
            self._flush()  # their own events go first; others' may wait for the step's batch
        headers = {"User-Agent": shopper.agent}
        self._client.get(path, headers=headers, follow_redirects=False)
        self._state.clicks += 1
        if buys:
            # A click that ends in an order is incremental unless they would have bought anyway.
            self._plan(at + timedelta(minutes=12), "order", shopper.index, not shopper.base_buys)

    def _capture(self, shopper: Shopper) -> None:
        self._flush()
        consents = [_consent("email", EMAIL_CONSENT, "cart_page.email.v1")]
        body: dict[str, Any] = {
            "writeKey": self._created.public_key,
            "anonymous_id": shopper.anonymous_id,
            "email": shopper.email,
            "action": "submitted",
            "widget": "cart_page",
            "locale": "en-US",
            "website": "",
        }
        if shopper.phone:
            body["phone"] = shopper.phone
            consents.append(_consent("sms", SMS_CONSENT, "cart_page.sms.v1"))
        body["consents"] = consents
        headers = {"Origin": ORIGIN, "User-Agent": shopper.agent, "Content-Type": "text/plain"}
        self._client.post("/v1/capture", content=orjson.dumps(body), headers=headers)
        self._state.captures += 1

    # -- messages ------------------------------------------------------------------------

    def _track(
        self, shopper: Shopper, at: datetime, event: str, properties: dict[str, Any]
    ) -> None:
        self._batch.append(
            {
                "type": "track",
                "event": event,
                "messageId": f"m-{self._options.seed}-{len(self._batch)}-{self._serial}-{event}",
                "anonymousId": shopper.anonymous_id,
                "timestamp": at.isoformat(),
                "context": {"userAgent": shopper.agent},
                "properties": properties,
            }
        )
        self._serial += 1

    def _flush(self) -> None:
        if not self._batch:
            return
        headers = {"Authorization": f"Bearer {self._created.secret_key}"}
        for start in range(0, len(self._batch), 100):
            chunk = self._batch[start : start + 100]
            self._client.post("/v1/batch", json={"batch": chunk}, headers=headers)
        self._batch = []

    def _webhook(self, topic: str, document: dict[str, Any], at: datetime) -> None:
        """
        Deliver one webhook as Shopify does: the raw JSON body signed with the app's secret.
        """
        self._deliveries += 1
        body = orjson.dumps(document)
        digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).digest()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
            "X-Shopify-Shop-Domain": DOMAIN,
            "X-Shopify-API-Version": API_VERSION,
            "X-Shopify-Webhook-Id": f"wh-{self._options.seed}-{self._deliveries}",
            "X-Shopify-Event-Id": f"ev-{self._options.seed}-{self._deliveries}",
            "X-Shopify-Triggered-At": at.isoformat(),
        }
        url = f"/webhooks/shopify/{self._created.store.id}"
        response = self._client.post(url, content=body, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"{topic} was refused: {response.status_code} {response.text}")

    def _send_stock(self, now: datetime) -> None:
        for key in sorted(self._sold):
            self._product_webhook("products/update", key, now)
        self._sold.clear()

    def _product_webhook(self, topic: str, key: str, at: datetime) -> None:
        """
        A product with its three variants and their stock now (`inventory_policy: deny`, so
        Shopify stops selling at zero and Cartback keeps the count).
        """
        variants = [(i, p) for i, p in enumerate(self._products) if p.id == key]
        first = variants[0][1]
        number = self._product_numbers[key]
        document = {
            "id": PRODUCT_IDS + number,
            "title": first.name,
            "handle": _handle(first),
            "product_type": first.category,
            "vendor": "Demo Tea Co.",
            "status": "active",
            "tags": "sale" if first.on_sale else "",
            "updated_at": at.isoformat(),
            "variants": [
                {
                    "id": VARIANT_IDS + index,
                    "product_id": PRODUCT_IDS + number,
                    "sku": product.variant,
                    "title": product.variant.rsplit("-", 1)[-1],
                    "price": str(product.price),
                    "inventory_management": "shopify",
                    "inventory_policy": "deny",
                    "inventory_quantity": self._stock[index],
                }
                for index, product in variants
            ],
        }
        self._webhook(topic, document, at)

    def _line(self, index: int, quantity: int) -> dict[str, Any]:
        """
        A product as the storefront snippet describes it (Segment's ecommerce properties).
        """
        product = self._products[index]
        return {
            "product_id": str(PRODUCT_IDS + self._product_numbers[product.id]),
            "variant_id": str(VARIANT_IDS + index),
            "variant": product.variant.rsplit("-", 1)[-1],
            "sku": product.variant,
            "name": product.name,
            "category": product.category,
            "price": float(product.price),
            "quantity": quantity,
            "currency": "USD",
            "url": f"{ORIGIN}/products/{_handle(product)}",
        }

    def _resource(
        self, shopper: Shopper, items: list[tuple[int, int]], at: datetime
    ) -> dict[str, Any]:
        """
        What Shopify's carts, checkouts and orders share: the lines, the total, the times.
        """
        lines = [
            {
                "product_id": PRODUCT_IDS + self._product_numbers[self._products[i].id],
                "variant_id": VARIANT_IDS + i,
                "sku": self._products[i].variant,
                "title": self._products[i].name,
                "variant_title": self._products[i].variant.rsplit("-", 1)[-1],
                "quantity": q,
                "price": str(self._products[i].price),
            }
            for i, q in items
        ]
        total = sum((self._products[i].price * q for i, q in items), Decimal(0))
        return {
            "line_items": lines,
            "currency": "USD",
            "total_price": str(total),
            "created_at": at.isoformat(),
            "updated_at": at.isoformat(),
            "email": shopper.email,
            "phone": shopper.phone,
        }

    def _cart_document(
        self, shopper: Shopper, items: list[tuple[int, int]], at: datetime
    ) -> dict[str, Any]:
        document = self._resource(shopper, items, at)
        del document["email"], document["phone"], document["total_price"]
        return {**document, "id": _cart(shopper), "token": _cart(shopper)}

    def _checkout_document(
        self, shopper: Shopper, items: list[tuple[int, int]], at: datetime
    ) -> dict[str, Any]:
        """
        The checkout with what the shopper typed: their email (and phone), and Shopify's
        marketing boxes (an unticked box is recorded as a refusal, so those carts get no email).
        """
        return {
            **self._resource(shopper, items, at),
            "id": 6_000_000_000 + shopper.index,
            "token": f"ck-{_cart(shopper)}",
            "cart_token": _cart(shopper),
            "buyer_accepts_marketing": shopper.accepts_marketing,
            "buyer_accepts_sms_marketing": shopper.accepts_marketing and shopper.phone is not None,
            "completed_at": None,
        }

    def _read_outbox(self) -> None:
        query = (
            select(outbox_messages.c.id, outbox_messages.c.to_address, outbox_messages.c.body)
            .where(outbox_messages.c.store_id == self._created.store.id)
            .where(outbox_messages.c.created_at >= self._clock.now() - self._options.step)
            .order_by(outbox_messages.c.created_at, outbox_messages.c.id)
        )
        with self._container.engine.connect() as connection:
            rows = connection.execute(query).all()
        for message_id, address, body in rows:
            if message_id in self._seen:
                continue
            self._seen.add(message_id)
            self._received(address, body)

    def _received(self, address: str, body: str) -> None:
        shopper = self._by_address.get(address)
        link = _LINK.search(body)
        if shopper is None or link is None:
            return
        number = self._state.touches.get(shopper.index, 0)
        self._state.touches[shopper.index] = number + 1
        answer = respond(
            self._options.seed,
            shopper.index,
            number,
            channel="sms" if address.startswith("+") else "email",
            offer="code" in body.lower(),
            since_left=self._clock.now() - (self._options.start + shopper.arrive),
        )
        if answer.clicks:
            self._plan(
                self._clock.now() + answer.after, "click", shopper.index, (link[1], answer.buys)
            )

    def _drain(self, worker: Any) -> bool:
        """
        The worker's due work now: timers, offers and sends, until nothing more is due. Each
        pass runs only when the store says its kind of work is due (a pass over nothing costs
        about as much as a small one). True when a message may have been sent.
        """
        sent_any = False
        for _ in range(50):
            now = self._clock.now()
            with self._container.uow_factory(read_only=True) as uow:
                check_at = uow.carts.next_check_at()
            timers = worker.run_pass() if check_at is not None and check_at <= now else None
            with self._container.uow_factory(read_only=True) as uow:
                due_at = uow.touches.next_due_at()
            if due_at is None or due_at > now:
                if timers is None or not timers.processed:
                    return sent_any
                continue
            offers = worker.offer_pass()
            sent = worker.dispatch_pass()
            sent_any = sent_any or bool(sent.processed)
            if not (timers is not None and timers.processed) and not offers and not sent.processed:
                return sent_any
        return sent_any

    # -- truth ---------------------------------------------------------------------------

    def _truth(self, store: CreatedStore) -> dict[str, Any]:
        groups = _first_groups(self._container, store.store.id)
        treated = [key for key, group in groups.items() if group != "control"]
        index_of = {_cart(s): s.index for s in self._shoppers}
        gained = [index_of[k] for k in treated if index_of.get(k) in self._state.incremental]
        revenue = sum((self._state.bought[i] for i in self._state.incremental), Decimal(0))
        kinds: dict[str, int] = {}
        for shopper in self._shoppers:
            kinds[shopper.kind.value] = kinds.get(shopper.kind.value, 0) + 1
        return {
            "shoppers": len(self._shoppers),
            "kinds": dict(sorted(kinds.items())),
            "captures": self._state.captures,
            "clicks": self._state.clicks,
            "orders": len(self._state.bought),
            "sold_out_visits": self._state.out_of_stock,
            "treated_carts": len(treated),
            "incremental_carts": len(gained),
            "incremental_rate": round(len(gained) / len(treated), 4) if treated else None,
            "incremental_revenue": str(revenue.quantize(Decimal("0.01"))),
        }


def _first_groups(container: Container, store_id: str) -> dict[str, str]:
    """
    Each enrolled cart's group in its first flow (as the report's overall holdout counts it).
    """
    query = (
        select(carts.c.cart_key, enrollments.c.group)
        .join(carts, carts.c.id == enrollments.c.cart_id)
        .where(enrollments.c.store_id == store_id)
        .order_by(enrollments.c.started_at, enrollments.c.id)
    )
    groups: dict[str, str] = {}
    with container.engine.connect() as connection:
        for key, group in connection.execute(query):
            groups.setdefault(key, group)
    return groups


def _with_holdout(text: str, share: float | None) -> str:
    """
    The flows' text with every `holdout:` share set to `share` (unchanged when None).
    """
    if share is None:
        return text
    return re.sub(r"(?m)^(\s*holdout:)\s*[0-9.]+\s*$", rf"\g<1> {share}", text)


def _cart(shopper: Shopper) -> str:
    return f"cart-{shopper.anonymous_id}"


def _handle(product: Product) -> str:
    return f"{product.category}-{product.id}"


def _consent(channel: str, text: str, version: str) -> dict[str, Any]:
    return {
        "channel": channel,
        "purpose": "recovery",
        "granted": True,
        "text": text,
        "text_version": version,
    }


def _rng(seed: int) -> Any:
    import random

    return random.Random(f"{seed}:catalog")  # noqa: S311 - a simulation, not secrets
