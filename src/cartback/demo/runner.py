"""
Plays the simulated shop through the real service: a custom store with the shipped flows,
Segment batches on `/v1/batch`, captures with consent on `/v1/capture`, restore-link clicks on
`/r/…` (links read from the outbox the worker wrote), orders; the real worker's due work at
every step of the simulated clock. The simulator keeps the truth (which orders a touch caused)
beside what the report measures.
"""

from __future__ import annotations

import heapq
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
from cartback.services.stores import CreatedStore, StoreSettings, create_store
from cartback.store.tables import carts, enrollments, outbox_messages

DOMAIN = "demo-shop.example"
ORIGIN = f"https://{DOMAIN}"
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
            for number in range(1, total + 1):
                now = self._options.start + self._options.step * number
                self._clock.set(now)
                self._play_until(now)
                self._flush()
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
                platform="custom",
                domains=[DOMAIN],
                currency="USD",
                timezone="America/New_York",
                country="US",
            ),
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
        for product, quantity in items:
            props = {**self._line(product, quantity), "cart_id": _cart(shopper)}
            self._track(shopper, at, "Product Added", props)
        if shopper.captures and shopper.email:
            self._capture(shopper)
        if shopper.kind is Kind.CART:
            self._plan_base_return(shopper, at)
            return
        self._identify(shopper, at, shopper.anonymous_id)
        self._track(shopper, at, "Checkout Started", self._cart_props(shopper, items))
        if shopper.kind is Kind.PAYMENT_FAILED:
            props = {"cart_id": _cart(shopper), "reason": shopper.reason}
            self._track(shopper, at, "Payment Failed", props)
        if shopper.kind is Kind.BUYER:
            self._order(shopper, at + timedelta(minutes=4), incremental=False)
        elif shopper.kind is not Kind.BOT:
            self._plan_base_return(shopper, at)

    def _plan_base_return(self, shopper: Shopper, at: datetime) -> None:
        if shopper.base_buys:
            self._plan(at + shopper.base_return, "order", shopper.index, False)

    def _order(self, shopper: Shopper, at: datetime, *, incremental: bool) -> None:
        items = [(i, q) for i, q in shopper.items if self._stock[i] > 0] or list(shopper.items)
        props = self._cart_props(shopper, items)
        anonymous_id = shopper.anonymous_id
        if shopper.other_device and shopper.kind is not Kind.BUYER and shopper.email:
            anonymous_id = f"{shopper.anonymous_id}-phone"  # back on another device
            self._identify(shopper, at, anonymous_id)
        props["order_id"] = f"order-{self._options.seed}-{shopper.index}"
        self._track(shopper, at, "Order Completed", props, anonymous_id=anonymous_id)
        for product, quantity in items:
            self._stock[product] = max(0, self._stock[product] - quantity)
        self._state.bought[shopper.index] = Decimal(str(props["total"]))
        if incremental:
            self._state.incremental.add(shopper.index)

    def _click(self, shopper: Shopper, at: datetime, data: tuple[str, bool]) -> None:
        path, buys = data
        if shopper.index in self._state.bought:
            return
        own = {shopper.anonymous_id, f"{shopper.anonymous_id}-phone"}
        if any(message["anonymousId"] in own for message in self._batch):
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
        self,
        shopper: Shopper,
        at: datetime,
        event: str,
        properties: dict[str, Any],
        *,
        anonymous_id: str | None = None,
    ) -> None:
        self._batch.append(
            {
                "type": "track",
                "event": event,
                "messageId": f"m-{self._options.seed}-{len(self._batch)}-{self._serial}-{event}",
                "anonymousId": anonymous_id or shopper.anonymous_id,
                "timestamp": at.isoformat(),
                "context": {"userAgent": shopper.agent},
                "properties": properties,
            }
        )
        self._serial += 1

    def _identify(self, shopper: Shopper, at: datetime, anonymous_id: str) -> None:
        self._serial += 1
        self._batch.append(
            {
                "type": "identify",
                "messageId": f"i-{self._options.seed}-{shopper.index}-{self._serial}",
                "anonymousId": anonymous_id,
                "timestamp": at.isoformat(),
                "context": {"userAgent": shopper.agent},
                "traits": {"email": shopper.email},
            }
        )

    def _flush(self) -> None:
        if not self._batch:
            return
        headers = {"Authorization": f"Bearer {self._created.secret_key}"}
        for start in range(0, len(self._batch), 100):
            chunk = self._batch[start : start + 100]
            self._client.post("/v1/batch", json={"batch": chunk}, headers=headers)
        self._batch = []

    def _line(self, index: int, quantity: int) -> dict[str, Any]:
        product = self._products[index]
        return {
            "product_id": product.id,
            "variant": product.variant,
            "sku": product.variant,
            "name": product.name,
            "category": product.category,
            "price": float(product.price),
            "quantity": quantity,
            "currency": "USD",
        }

    def _cart_props(self, shopper: Shopper, items: list[tuple[int, int]]) -> dict[str, Any]:
        lines = [self._line(i, q) for i, q in items]
        total = sum((self._products[i].price * q for i, q in items), Decimal(0))
        return {
            "cart_id": _cart(shopper),
            "products": lines,
            "total": float(total),
            "currency": "USD",
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
