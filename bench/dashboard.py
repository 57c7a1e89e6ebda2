"""
The dashboard (issue #9): every page of a store with 1 M carts, served by a real
`cartback serve` process and timed over HTTP by a signed-in operator, against a baseline in the
same run: the same pages of a store with 1,000 carts in the same database, on the same server.

One database holds two stores seeded alike (the large one with `carts` carts, the baseline with
1,000): carts over the last year (active, abandoned, lost, converted, recovered) with one to
three lines each; a contact for about 40 % of them; for the abandoned carts with a contact an
email consent grant, an enrollment in `cart-recovery` (one in ten in the control group) and its
touches (sent with their outbox messages, skipped, cancelled, or scheduled for recent carts);
orders for converted and recovered carts; raw events for one cart in ten; the shipped flows;
and one operator who may see every store.

Each page is requested `requests` times one after the other (after two unmeasured requests):
median and p95 in milliseconds, and the ratio of the large store's median to the baseline's.
`/healthz` is measured too, for the cost of the server alone.
"""

from __future__ import annotations

import html
import random
import re
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from argon2 import PasswordHasher as Argon2
from sqlalchemy import Engine, text

from bench._env import fresh_database, machine, server, settings
from cartback.bootstrap import bootstrap
from cartback.kit.passwords import Argon2Hasher
from cartback.services.flows import apply_flows, shipped_source
from cartback.services.operators import create_operator
from cartback.services.stores import StoreSettings, create_store
from cartback.store._bulk import BulkWriter
from cartback.store.database import create_database_engine
from cartback.store.tables import (
    cart_lines,
    carts,
    consent_ledger,
    contacts,
    enrollments,
    orders,
    outbox_messages,
    raw_events,
    touches,
)

#: The dashboard's target: every page under this at 1 M carts.
TARGET_MS = 300.0
#: Carts per seeding transaction.
_CHUNK = 20_000
_BASELINE_CARTS = 1_000
_EMAIL = "bench@operator.example"
_PASSWORD = "bench-operator-password-1"
_DAYS = 365
_STATUS_ROLLS = (
    (0.05, "active"),
    (0.60, "abandoned"),
    (0.75, "lost"),
    (0.95, "converted"),
    (1.00, "recovered"),
)
_PRODUCTS = (
    ("p-1", "TEE-M", "Organic cotton tee", Decimal("24.50")),
    ("p-2", "CAP", "Canvas cap", Decimal("35.50")),
    ("p-3", "MUG", "Stoneware mug", Decimal("12.00")),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Seeded:
    """
    What the pages need to know about a seeded store.
    """

    store_id: str
    carts: int
    rows: dict[str, int]
    sample_cart_id: str
    seconds: float


def bench_dashboard(
    backend: str, *, cart_count: int = 1_000_000, requests: int = 20
) -> dict[str, Any]:
    """
    Seed a large and a baseline store in one fresh database, start `cartback serve`, sign in,
    and time every dashboard page of both stores.
    """
    with fresh_database(backend) as url:
        engine = create_database_engine(url)
        try:
            baseline = seed_store(engine, url, "Baseline", _BASELINE_CARTS, prefix="b")
            large = seed_store(engine, url, "Large", cart_count, prefix="L")
            _analyze(engine)
        finally:
            engine.dispose()
        _operator(url)
        with server(url) as running, httpx.Client(base_url=running.url, timeout=120) as client:
            _sign_in(client)
            health = _time(client, "/healthz", requests)
            small_pages = _measure_store(client, baseline, requests)
            large_pages = _measure_store(client, large, requests)
    pages = []
    for name, big in large_pages.items():
        small = small_pages[name]
        pages.append(
            {
                "page": name,
                "median_ms": big["median_ms"],
                "p95_ms": big["p95_ms"],
                "baseline_median_ms": small["median_ms"],
                "baseline_p95_ms": small["p95_ms"],
                "ratio": round(big["median_ms"] / small["median_ms"], 2),
                "under_target": big["p95_ms"] < TARGET_MS,
            }
        )
    return {
        "backend": backend,
        "carts": cart_count,
        "baseline_carts": _BASELINE_CARTS,
        "requests_per_page": requests,
        "seeded_rows": large.rows,
        "seed_seconds": round(large.seconds, 1),
        "healthz": health,
        "pages": pages,
        "slowest_p95_ms": max(page["p95_ms"] for page in pages),
        "machine": machine(),
    }


def seed_store(engine: Engine, url: str, name: str, count: int, *, prefix: str) -> Seeded:
    """
    A store with `count` carts and their related rows (see the module's docstring); ids and
    keys start with `prefix`.
    """
    container = bootstrap(settings(url))
    try:
        created = create_store(
            uow=container.uow_factory(),
            clock=container.clock,
            box=container.box,
            settings=StoreSettings(
                name=name, platform="custom", domains=[f"{name.lower()}.example"], country="US"
            ),
        )
        store_id = created.store.id
        apply_flows(
            uow=container.uow_factory(),
            clock=container.clock,
            store_id=store_id,
            text=shipped_source(),
        )
    finally:
        container.close()
    started = time.perf_counter()
    now = datetime.now(UTC)
    rows: dict[str, int] = {}
    random_ = random.Random(f"{prefix}{count}")
    for start in range(0, count, _CHUNK):
        batch = _Batch(store_id, prefix, now)
        for n in range(start, min(start + _CHUNK, count)):
            batch.cart(n, count, random_)
        with engine.begin() as connection:
            batch.write(BulkWriter(connection), connection)
        for table, found in batch.counts().items():
            rows[table] = rows.get(table, 0) + found
    sample = _sample_cart(prefix, count)
    return Seeded(
        store_id=store_id,
        carts=count,
        rows=rows,
        sample_cart_id=sample,
        seconds=time.perf_counter() - started,
    )


def _sample_cart(prefix: str, count: int) -> str:
    """
    A recovered cart with a contact, touches, an order and raw events (see `_Batch.cart`):
    the latest such cart, so its timeline has everything.
    """
    for n in range(count - 1, -1, -1):
        if _kind_of(n) == ("recovered", True, True):
            return f"ca_{prefix}{n:09d}"
    raise RuntimeError("no sample cart")


def _kind_of(n: int) -> tuple[str, bool, bool]:
    """
    The cart's status, whether it has a contact, whether its raw events were kept: derived
    from its number alone (a hash), so the sample cart can be found again.
    """
    roll = ((n * 2654435761) % 2**32) / 2**32
    status = next(name for bound, name in _STATUS_ROLLS if roll < bound)
    return status, (n * 40503) % 100 < 40, n % 10 == 0


class _Batch:
    """
    The rows of one seeding transaction.
    """

    def __init__(self, store_id: str, prefix: str, now: datetime) -> None:
        self.store_id, self.prefix, self.now = store_id, prefix, now
        self.tables: dict[str, list[dict[str, Any]]] = {
            "contacts": [],
            "carts": [],
            "cart_lines": [],
            "consent_ledger": [],
            "enrollments": [],
            "touches": [],
            "outbox_messages": [],
            "orders": [],
            "raw_events": [],
        }

    def counts(self) -> dict[str, int]:
        return {name: len(found) for name, found in self.tables.items()}

    def write(self, writer: BulkWriter, connection: Any) -> None:
        for table in (contacts, carts, cart_lines, consent_ledger):
            writer.insert(table, self.tables[table.name])
        # `group` is a reserved word, which the bulk writer does not quote.
        if self.tables["enrollments"]:
            connection.execute(enrollments.insert(), self.tables["enrollments"])
        for table in (touches, outbox_messages, orders, raw_events):
            writer.insert(table, self.tables[table.name])

    def cart(self, n: int, count: int, random_: random.Random) -> None:
        status, with_contact, with_events = _kind_of(n)
        age = timedelta(days=_DAYS) * (count - n) / count
        created = self.now - age - timedelta(seconds=random_.randrange(60))
        last = created + timedelta(minutes=random_.randrange(1, 20))
        recent = age < timedelta(days=3)
        if status == "active" and not recent:
            status = "abandoned"
        cart_id, key = f"ca_{self.prefix}{n:09d}", f"{self.prefix}-{n}"
        contact_id = f"co_{self.prefix}{n:09d}" if with_contact else None
        abandoned = last + timedelta(minutes=30) if status != "active" else None
        if status == "converted":
            abandoned = None
        lost = abandoned + timedelta(days=7) if status == "lost" and abandoned else None
        ordered = None
        if status == "converted":
            ordered = last + timedelta(minutes=5)
        elif status == "recovered":
            ordered = min(last + timedelta(hours=random_.randrange(2, 48)), self.now)
        stage = (
            "ordered"
            if ordered
            else random_.choice(("cart", "cart", "checkout"))
            if contact_id
            else "cart"
        )
        lines: list[dict[str, Any]] = [
            {
                "cart_id": cart_id,
                "position": position,
                "product_id": product,
                "sku": sku,
                "name": title,
                "quantity": 1 + (n + position) % 2,
                "unit_price": price,
            }
            for position, (product, sku, title, price) in enumerate(_PRODUCTS[: 1 + n % 3])
        ]
        total = sum((line["unit_price"] * line["quantity"] for line in lines), Decimal(0))
        if contact_id:
            self.tables["contacts"].append(
                {
                    "id": contact_id,
                    "store_id": self.store_id,
                    "email": f"{self.prefix}{n}@shopper.example",
                    "is_bot": False,
                    "created_at": created,
                    "updated_at": last,
                }
            )
        self.tables["carts"].append(
            {
                "id": cart_id,
                "store_id": self.store_id,
                "cart_key": key,
                "contact_id": contact_id,
                "status": status,
                "stage": stage,
                "currency": "USD",
                "total": total,
                "item_count": sum(line["quantity"] for line in lines),
                "is_bot": n % 50 == 7,
                "last_activity_at": last,
                "abandoned_at": abandoned,
                "lost_at": lost,
                "ordered_at": ordered,
                "touched_at": None,
                "signals": {},
                "created_at": created,
                "updated_at": ordered or abandoned or last,
            }
        )
        self.tables["cart_lines"].extend(lines)
        if ordered:
            self.tables["orders"].append(
                {
                    "store_id": self.store_id,
                    "order_key": f"o-{key}",
                    "cart_id": cart_id,
                    "contact_id": contact_id,
                    "status": "placed",
                    "total": total,
                    "currency": "USD",
                    "placed_at": ordered,
                    "updated_at": ordered,
                }
            )
        if with_events:
            self._events(n, key, created, last, ordered)
        if contact_id and abandoned:
            self._recovery(n, cart_id, contact_id, key, abandoned, ordered, status)

    def _events(
        self, n: int, key: str, created: datetime, last: datetime, ordered: datetime | None
    ) -> None:
        names = ["Product Added", "Product Added", "Checkout Started"]
        moments = [created, last - timedelta(minutes=1), last]
        if ordered:
            names.append("Order Completed")
            moments.append(ordered)
        for position, (name, moment) in enumerate(zip(names, moments, strict=True)):
            self.tables["raw_events"].append(
                {
                    "store_id": self.store_id,
                    "source": "segment",
                    "idempotency_key": f"m-{self.prefix}{n}-{position}",
                    "kind": "track",
                    "name": name,
                    "anonymous_id": f"anon-{self.prefix}{n}",
                    "user_id": None,
                    "cart_key": key,
                    "occurred_at": moment,
                    "received_at": moment,
                    "outcome": "applied",
                    "payload": {"event": name, "properties": {"cart_id": key}},
                }
            )

    def _recovery(
        self,
        n: int,
        cart_id: str,
        contact_id: str,
        key: str,
        abandoned: datetime,
        ordered: datetime | None,
        status: str,
    ) -> None:
        self.tables["consent_ledger"].append(
            {
                "store_id": self.store_id,
                "contact_id": contact_id,
                "channel": "email",
                "purpose": "recovery",
                "granted": True,
                "text": "Email me about my cart",
                "source": "checkout",
                "occurred_at": abandoned - timedelta(minutes=31),
                "recorded_at": abandoned - timedelta(minutes=31),
                "confirmed_at": abandoned - timedelta(minutes=31),
            }
        )
        enrollment_id = f"en_{self.prefix}{n:09d}"
        recent = self.now - abandoned < timedelta(days=1)
        group = "control" if n % 10 == 3 else "treated"
        self.tables["enrollments"].append(
            {
                "id": enrollment_id,
                "store_id": self.store_id,
                "contact_id": contact_id,
                "cart_id": cart_id,
                "flow": "cart-recovery",
                "flow_version": 1,
                "group": group,
                "status": "active" if recent and not ordered else "completed",
                "reason": "ordered" if ordered else None,
                "stage": "cart",
                "triggered_at": abandoned,
                "started_at": abandoned,
                "ended_at": None if recent and not ordered else (ordered or abandoned),
            }
        )
        if group == "control":
            return
        steps = (("cart-reminder", timedelta(hours=1)), ("cart-support", timedelta(hours=24)))
        for step, (template, wait) in enumerate(steps):
            due = abandoned + wait
            touch_id = f"tc_{self.prefix}{n:09d}_{step}"
            if due > self.now:
                state, reason, sent = "scheduled", None, None
            elif ordered and ordered < due:
                state, reason, sent = "cancelled", "ordered", None
            elif status == "lost" and step == 1 and n % 4 == 0:
                state, reason, sent = "skipped", "frequency_cap", None
            else:
                state, reason, sent = "sent", None, due
            self.tables["touches"].append(
                {
                    "id": touch_id,
                    "store_id": self.store_id,
                    "enrollment_id": enrollment_id,
                    "cart_id": cart_id,
                    "step": step,
                    "channel": "email",
                    "template": template,
                    "status": state,
                    "reason": reason,
                    "due_at": due,
                    "attempts": 1 if sent else 0,
                    "sent_at": sent,
                    "provider_id": f"pm-{touch_id}" if sent else None,
                    "clicked_at": sent + timedelta(minutes=9) if sent and n % 7 == 0 else None,
                    "created_at": abandoned,
                    "updated_at": sent or abandoned,
                }
            )
            if sent:
                self.tables["outbox_messages"].append(
                    {
                        "id": f"om_{self.prefix}{n:09d}_{step}",
                        "store_id": self.store_id,
                        "touch_id": touch_id,
                        "channel": "email",
                        "to_address": f"{self.prefix}{n}@shopper.example",
                        "subject": "You left something in your cart",
                        "body": f"Your cart {key} is waiting.",
                        "created_at": sent,
                    }
                )


def _analyze(engine: Engine) -> None:
    """
    Fresh planner statistics on PostgreSQL (what autovacuum does after a large load). SQLite
    is left as the application leaves it: it never runs ANALYZE.
    """
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))


def _operator(url: str) -> None:
    container = bootstrap(settings(url))
    try:
        create_operator(
            uow=container.uow_factory(),
            hasher=Argon2Hasher(Argon2(time_cost=1, memory_cost=1024, parallelism=1)),
            now=container.clock.now(),
            email=_EMAIL,
            password=_PASSWORD,
            all_stores=True,
        )
    finally:
        container.close()


def _sign_in(client: httpx.Client) -> None:
    form = client.get("/admin/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if found is None:
        raise RuntimeError("no sign-in form")
    signed = client.post(
        "/admin/login",
        data={"csrf_token": found.group(1), "email": _EMAIL, "password": _PASSWORD},
    )
    if signed.status_code != 303:
        raise RuntimeError(f"sign-in refused: {signed.status_code}")


def _measure_store(client: httpx.Client, store: Seeded, requests: int) -> dict[str, Any]:
    base = f"/admin/stores/{store.store_id}"
    since = (datetime.now(UTC) - timedelta(days=60)).date().isoformat()
    later = _later_page(client, f"{base}/carts", pages=20)
    # The overview's first view computes its report snapshot (`build_report`) and stores it;
    # later views read the stored row: one request, timed apart, shows the computation's cost.
    first_view = _once(client, base)
    paths = {
        "store picker": "/admin/stores",
        "overview (last 30 days)": base,
        "carts, first page": f"{base}/carts",
        "carts, filtered (abandoned, with contact, 60 days)": (
            f"{base}/carts?status=abandoned&contact=yes&abandoned_from={since}"
        ),
        "carts, 21st page (cursor)": later,
        "cart timeline": f"{base}/carts/{store.sample_cart_id}",
        "flows": f"{base}/flows",
        "messages": f"{base}/messages",
        "consent log": f"{base}/consent",
        "audiences": f"{base}/audiences",
        "feeds health": f"{base}/feeds",
        "settings": f"{base}/settings",
    }
    timed = {name: _time(client, path, requests) for name, path in paths.items()}
    return {"overview, first view (computes the snapshot)": first_view, **timed}


def _once(client: httpx.Client, path: str) -> dict[str, Any]:
    started = time.perf_counter()
    _get(client, path)
    took = round((time.perf_counter() - started) * 1000, 1)
    return {"path": path, "median_ms": took, "p95_ms": took, "max_ms": took}


def _later_page(client: httpx.Client, path: str, *, pages: int) -> str:
    """
    The carts list `pages` pages on, by following each page's next link.
    """
    current = path
    for _ in range(pages):
        found = re.search(r'href="(\?[^"]*cursor=[^"]*)"', _get(client, current).text)
        if found is None:
            return current
        current = path + html.unescape(found.group(1))
    return current


def _get(client: httpx.Client, path: str) -> httpx.Response:
    response = client.get(path)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path}: {response.status_code}")
    return response


def _time(client: httpx.Client, path: str, requests: int) -> dict[str, Any]:
    for _ in range(2):
        _get(client, path)
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        _get(client, path)
        timings.append((time.perf_counter() - started) * 1000)
    return {
        "path": path,
        "median_ms": round(statistics.median(timings), 1),
        "p95_ms": round(_p95(timings), 1),
        "max_ms": round(max(timings), 1),
    }


def _p95(timings: list[float]) -> float:
    ordered = sorted(timings)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
