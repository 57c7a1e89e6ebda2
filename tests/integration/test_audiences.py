"""
Audiences on both databases, through the real API, ingest and worker: definitions applied and
listed over HTTP; people entering at abandonment (a contact, else the visitor) and at the
hand-over to ads; leaving at once on a purchase (in the order's own transaction), on an
opt-out, and at the end of the window; erased contacts' memberships go with them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import and_, func, select
from test_hand_to_ads import HAND_OFF
from test_recovery_engine import EMAIL_FLOWS, leave_cart, post, run, shop, worker

from cartback.bootstrap import Container
from cartback.domain.consent import Channel
from cartback.engine.clock import SimulatedClock
from cartback.engine.worker import Worker
from cartback.services.ingest import ingest
from cartback.services.stores import CreatedStore
from cartback.services.unsubscribe import LinkTarget, unsubscribe
from cartback.sources.segment import ParseContext, parse_messages
from cartback.store.tables import audience_members, audience_visitors, orders
from cartback.store.uow import SqlUnitOfWork
from helpers import assert_problem, auth, track

__all__ = ["shop", "worker"]  # fixtures shared with the recovery engine's tests

ORIGIN = "https://shop.example.com"
FILE = """
audiences:
  - name: any-cart
    stages: [cart, checkout]
    window: 3d
  - name: known-only
    stages: [cart]
    window: 10d
    anonymous: false
    offer: {kind: percent, value: 10, min_total: 20}
"""


def _rows(container: Container, table: Any) -> list[dict[str, Any]]:
    with container.engine.connect() as connection:
        query = select(table).order_by(table.c.audience, table.c.id)
        return [dict(row) for row in connection.execute(query).mappings()]


def _current(container: Container, table: Any) -> list[str]:
    return [r["audience"] for r in _rows(container, table) if r["left_at"] is None]


def _abandon(
    client: TestClient, store: CreatedStore, clock: SimulatedClock, worker: Worker, **traits: Any
) -> None:
    leave_cart(client, store, clock, **traits)
    clock.advance(timedelta(minutes=31))
    run(worker)


def _anonymous_cart(client: TestClient, store: CreatedStore, clock: SimulatedClock) -> None:
    post(
        client,
        store,
        track(
            "Product Added",
            anonymous_id="anon-9",
            at=clock.now(),
            cart_id="c-9",
            product_id="p-1",
            price=30,
        ),
    )


# --- definitions ---------------------------------------------------------------------------


def test_the_api_lists_the_built_ins_then_what_was_applied(
    client: TestClient, store: CreatedStore
) -> None:
    """
    Built-ins (version 0) until a PUT; YAML, then JSON, each replace the set and bump the version.
    """
    # given
    headers = auth(store.secret_key)
    # when
    before = client.get("/v1/audiences", headers=headers).json()
    first = client.put(
        "/v1/audiences", content=FILE.encode(), headers=headers | {"Content-Type": "text/yaml"}
    )
    client.put(
        "/v1/audiences",
        json={"yaml": "audiences:\n  - {name: only, stages: [checkout], window: 1d}\n"},
        headers=headers,
    )
    after = client.get("/v1/audiences", headers=headers).json()
    # then
    assert ("defaults", 0) == (before["origin"], before["version"])
    assert [
        "email-unengaged",
        "high-value",
        "payment-failed",
        "started-checkout",
        "viewed-cart",
    ] == [a["name"] for a in before["data"]]
    assert 200 == first.status_code, first.text
    assert (1, ["any-cart", "known-only"]) == (
        first.json()["version"],
        [a["name"] for a in first.json()["data"]],
    )
    assert {"kind": "percent", "value": "10", "min_total": "20"}.items() <= (
        first.json()["data"][1]["offer"].items()
    )
    assert ("applied", 2, ["only"], "1d") == (
        after["origin"],
        after["version"],
        [a["name"] for a in after["data"]],
        after["data"][0]["window"],
    )


def test_a_bad_file_answers_400_with_its_lines_and_changes_nothing(
    client: TestClient, store: CreatedStore
) -> None:
    """
    Every error with its line and column; the built-ins stay.
    """
    # given
    text = "audiences:\n  - name: a\n    stages: [basket]\n    window: 7d\n    colour: red\n"
    # when
    response = client.put(
        "/v1/audiences",
        content=text.encode(),
        headers=auth(store.secret_key) | {"Content-Type": "text/yaml"},
    )
    listed = client.get("/v1/audiences", headers=auth(store.secret_key)).json()
    # then
    body = assert_problem(response, 400)
    assert [(3, "audiences[0].stages[0]"), (5, "audiences[0].colour")] == [
        (e["line"], e["path"]) for e in body["errors"]
    ]
    assert ("invalid-audiences", "defaults") == (body["code"], listed["origin"])


def test_the_api_needs_the_server_key(client: TestClient, store: CreatedStore) -> None:
    """
    The public key cannot read or change audiences.
    """
    # when
    response = client.get("/v1/audiences", headers=auth(store.public_key))
    # then
    assert response.status_code in (401, 403)


# --- entering ------------------------------------------------------------------------------


def test_an_abandoned_cart_puts_its_contact_in_the_built_in_audience(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    A 25 USD cart left by Ada: she is in `viewed-cart` for 7 days (not `high-value`); no
    visitor row for her browser.
    """
    # given
    store = shop()
    # when
    _abandon(client, store, clock, worker)
    # then
    [member] = _rows(container, audience_members)
    assert ("viewed-cart", None) == (member["audience"], member["left_at"])
    assert timedelta(days=7) == member["expires_at"] - member["entered_at"]
    assert [] == _rows(container, audience_visitors)


def test_an_anonymous_visitor_enters_only_the_anonymous_audiences(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    With the file applied, a visitor who left no contact enters `any-cart`, not `known-only`.
    """
    # given
    store = shop()
    client.put("/v1/audiences", json={"yaml": FILE}, headers=auth(store.secret_key))
    _anonymous_cart(client, store, clock)
    # when
    clock.advance(timedelta(minutes=31))
    run(worker)
    # then
    assert (["any-cart"], []) == (
        _current(container, audience_visitors),
        _rows(container, audience_members),
    )


def test_a_contact_enters_with_the_offer_judged_by_the_email_rules(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    The 25 USD cart passes `min_total: 20`: `known-only` holds her as offer-eligible;
    `any-cart`, without an offer, records no eligibility.
    """
    # given
    store = shop()
    client.put("/v1/audiences", json={"yaml": FILE}, headers=auth(store.secret_key))
    # when
    _abandon(client, store, clock, worker)
    # then
    assert [("any-cart", None), ("known-only", True)] == [
        (r["audience"], r["offer_eligible"]) for r in _rows(container, audience_members)
    ]


def test_a_second_abandonment_extends_the_membership(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    Another cart left two days later: still one row, now expiring 7 days after the second.
    """
    # given
    store = shop()
    _abandon(client, store, clock, worker)
    [first] = _rows(container, audience_members)
    clock.advance(timedelta(days=2))
    # when
    _abandon(client, store, clock, worker, cart_id="c-2")
    # then
    [member] = _rows(container, audience_members)
    assert (first["entered_at"], clock.now() + timedelta(days=7)) == (
        member["entered_at"],
        member["expires_at"],
    )
    assert first["cart_id"] != member["cart_id"]


@pytest.mark.parametrize(
    ("email", "gpc"),
    [("shopper@storebotmail.joonix.net", False), ("ada@example.com", True)],
    ids=["bot", "opted_out"],
)
def test_robots_and_people_who_said_no_to_ads_never_enter(
    email: str,
    gpc: bool,
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    A robot's cart, and a browser that sent Global Privacy Control, enter nothing.
    """
    # given
    store = shop()
    if gpc:
        body = {"writeKey": store.public_key, "batch": [track("Cart Viewed", anonymous_id="a-1")]}
        response = client.post("/v1/t", json=body, headers={"Origin": ORIGIN, "Sec-GPC": "1"})
        assert 200 == response.status_code, response.text
    # when
    _abandon(client, store, clock, worker, email=email)
    # then
    assert ([], []) == (_rows(container, audience_members), _rows(container, audience_visitors))


def test_a_hand_over_to_ads_enters_email_unengaged(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    Two unanswered emails, the third skipped `handed_to_ads` by a real dispatch: she is now in
    `email-unengaged` too, for 30 days from the hand-over.
    """
    # given
    store = shop(HAND_OFF)
    _abandon(client, store, clock, worker)
    # when
    for hours in (1, 23, 48):
        clock.advance(timedelta(hours=hours))
        run(worker)
    # then
    assert ["email-unengaged", "viewed-cart"] == _current(container, audience_members)
    handed = _rows(container, audience_members)[0]
    assert (clock.now(), clock.now() + timedelta(days=30)) == (
        handed["entered_at"],
        handed["expires_at"],
    )


def test_no_hand_over_without_the_flows_setting(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    The same three emails without `hand_to_ads_after`: all go, nobody is handed over.
    """
    # given
    store = shop(EMAIL_FLOWS)
    _abandon(client, store, clock, worker)
    # when
    for hours in (1, 23, 48):
        clock.advance(timedelta(hours=hours))
        run(worker)
    # then
    assert ["viewed-cart"] == _current(container, audience_members)


# --- leaving -------------------------------------------------------------------------------


def _order(store: CreatedStore) -> list[Any]:
    parsed = parse_messages(
        [track("Order Completed", anonymous_id="a-1", cart_id="c-1", order_id="o-1", total=25)],
        context=ParseContext(now=datetime.now(UTC)),
    )
    assert [] == parsed.errors
    return list(parsed.messages)


def _order_and_membership(container: Container) -> tuple[int, int]:
    """
    Orders and current memberships, read in one statement (one snapshot of the database).
    """
    placed = select(func.count()).select_from(orders).scalar_subquery()
    current = (
        select(func.count())
        .select_from(audience_members)
        .where(and_(audience_members.c.left_at.is_(None)))
        .scalar_subquery()
    )
    with container.engine.connect() as connection:
        row = connection.execute(select(placed, current)).one()
    return int(row[0]), int(row[1])


class _CommitFails(SqlUnitOfWork):
    """
    A unit of work whose commit never happens (the database went away at that moment).
    """

    def commit(self) -> None:
        raise ConnectionError("the database went away")


def test_a_purchase_ends_membership_in_the_orders_own_transaction(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    An ingest whose commit fails leaves neither the order nor the exit; the same ingest that
    commits leaves both, `purchased`: never an order beside a current member.
    """
    # given
    store = shop()
    _abandon(client, store, clock, worker)
    assert (0, 1) == _order_and_membership(container)
    # when: the commit fails
    with pytest.raises(ConnectionError):
        ingest(
            uow=_CommitFails(container.engine),
            clock=clock,
            store_id=store.store.id,
            messages=_order(store),
        )
    failed = _order_and_membership(container)
    # when: it commits
    ingest(
        uow=container.uow_factory(), clock=clock, store_id=store.store.id, messages=_order(store)
    )
    # then
    assert ((0, 1), (1, 0)) == (failed, _order_and_membership(container))
    [member] = _rows(container, audience_members)
    assert ("purchased", clock.now()) == (member["left_reason"], member["left_at"])


def test_a_purchase_takes_the_visitor_out_too(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    An anonymous visitor's order ends the visitor's membership.
    """
    # given
    store = shop()
    _anonymous_cart(client, store, clock)
    clock.advance(timedelta(minutes=31))
    run(worker)
    # when
    post(
        client,
        store,
        track("Order Completed", anonymous_id="anon-9", cart_id="c-9", order_id="o-9"),
    )
    # then
    [visitor] = _rows(container, audience_visitors)
    assert "purchased" == visitor["left_reason"]


def test_gpc_takes_a_member_out_at_once(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    A later batch from her browser with `Sec-GPC: 1`: every membership ends, `opted_out`.
    """
    # given
    store = shop()
    _abandon(client, store, clock, worker)
    body = {"writeKey": store.public_key, "batch": [track("Cart Viewed", anonymous_id="a-1")]}
    # when
    response = client.post("/v1/t", json=body, headers={"Origin": ORIGIN, "Sec-GPC": "1"})
    # then
    assert response.status_code < 300, response.text
    [member] = _rows(container, audience_members)
    assert ("opted_out", clock.now()) == (member["left_reason"], member["left_at"])


def test_withdrawing_email_marketing_takes_a_member_out(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    A capture that says no to email marketing ends her memberships, `opted_out`.
    """
    # given
    store = shop()
    _abandon(client, store, clock, worker)
    consent = {
        "channel": "email",
        "purpose": "marketing",
        "granted": False,
        "text": "Send me news and offers.",
    }
    body = {
        "writeKey": store.public_key,
        "anonymous_id": "a-1",
        "email": "ada@example.com",
        "action": "submitted",
        "widget": "cart_page",
        "consents": [consent],
        "website": "",
    }
    # when
    response = client.post(
        "/v1/capture",
        json=body,
        headers={"Origin": ORIGIN, "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"},
    )
    # then
    assert 200 == response.status_code, response.text
    [member] = _rows(container, audience_members)
    assert "opted_out" == member["left_reason"]


def test_the_worker_ends_memberships_at_the_end_of_their_window(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    Eight days on, the worker's pass ends the 7-day membership as of its expiry.
    """
    # given
    store = shop()
    _abandon(client, store, clock, worker)
    # when
    clock.advance(timedelta(days=8))
    ran = worker.expire_memberships_if_due()
    # then
    [member] = _rows(container, audience_members)
    assert (True, "window_ended", member["expires_at"]) == (
        ran,
        member["left_reason"],
        member["left_at"],
    )


def test_an_erased_contacts_memberships_go(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    `DELETE /v1/contacts/{id}` removes her membership rows with her.
    """
    # given
    store = shop()
    _abandon(client, store, clock, worker)
    contact_id = _rows(container, audience_members)[0]["contact_id"]
    # when
    response = client.delete(f"/v1/contacts/{contact_id}", headers=auth(store.secret_key))
    # then
    assert (204, []) == (response.status_code, _rows(container, audience_members))


def test_a_one_click_unsubscribe_takes_a_member_out(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    The email's one-click unsubscribe withdraws marketing too: her memberships end at once,
    `opted_out`.
    """
    # given
    store = shop()
    _abandon(client, store, clock, worker)
    [member] = _rows(container, audience_members)
    # when
    unsubscribe(
        uow=container.uow_factory(),
        clock=clock,
        target=LinkTarget(
            store_id=store.store.id, contact_id=member["contact_id"], channel=Channel.EMAIL
        ),
    )
    # then
    [after] = _rows(container, audience_members)
    assert ("opted_out", clock.now()) == (after["left_reason"], after["left_at"])
