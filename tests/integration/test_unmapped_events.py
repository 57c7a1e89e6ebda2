"""
Unmapped events: track event names nothing translates are counted per store and name as they
are ingested (in the batch's own transaction), and listed by `GET /v1/sources/unmapped`, most
recently seen first, so a misnamed storefront event is found the day it first arrives.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cartback.bootstrap import Container
from cartback.domain.ingest import Inbound, MessageKind
from cartback.engine.clock import SimulatedClock
from cartback.services.ingest import ingest
from cartback.services.sources import list_unmapped
from cartback.services.stores import CreatedStore
from cartback.store.uow import SqlUnitOfWork
from helpers import assert_problem, auth, identify, track

PATH = "/v1/sources/unmapped"
SHOP = "https://shop.example.com"


def _send(client: TestClient, store: CreatedStore, *messages: dict[str, Any]) -> None:
    response = client.post(
        "/v1/batch", json={"batch": list(messages)}, headers=auth(store.secret_key)
    )
    assert 200 == response.status_code, response.text


def _unmapped(client: TestClient, store: CreatedStore, **params: Any) -> dict[str, Any]:
    response = client.get(PATH, headers=auth(store.secret_key), params=params)
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


def _counts(body: dict[str, Any]) -> list[tuple[str, int]]:
    return [(row["name"], row["count"]) for row in body["data"]]


def test_an_unknown_event_name_is_listed_with_its_count_and_times(
    client: TestClient, store: CreatedStore, clock: SimulatedClock
) -> None:
    """
    A misspelt name sent three times in one batch shows once, counted three, seen now.
    """
    # given
    misspelt = [track("Prodct Added", cart_id="c-1", product_id="p-1") for _ in range(3)]
    # when
    _send(client, store, *misspelt)
    body = _unmapped(client, store)
    # then
    now = clock.now().isoformat().replace("+00:00", "Z")
    expected = {
        "data": [{"name": "Prodct Added", "count": 3, "first_seen_at": now, "last_seen_at": now}],
        "count": 1,
    }
    assert expected == body


def test_later_batches_add_to_the_count_and_move_last_seen(
    client: TestClient, store: CreatedStore, clock: SimulatedClock
) -> None:
    """
    The count grows batch after batch; first seen stays, last seen follows the newest batch.
    """
    # given
    first = clock.now()
    _send(client, store, track("addToBasket"))
    clock.advance(timedelta(hours=2))
    # when
    _send(client, store, track("addToBasket"), track("addToBasket"))
    row = _unmapped(client, store)["data"][0]
    # then
    expected = ("addToBasket", 3, first, clock.now())
    assert expected == (
        row["name"],
        row["count"],
        _parse(row["first_seen_at"]),
        _parse(row["last_seen_at"]),
    )


def test_a_replayed_message_is_not_counted_again(client: TestClient, store: CreatedStore) -> None:
    """
    The same messageId sent twice (a client's retry) counts once, as it is stored once.
    """
    # given
    message = track("Wishlist Shared", message_id="m-unmapped-1")
    _send(client, store, message)
    # when
    _send(client, store, message)
    # then
    assert [("Wishlist Shared", 1)] == _counts(_unmapped(client, store))


def test_known_names_and_other_message_types_are_not_listed(
    client: TestClient, store: CreatedStore
) -> None:
    """
    E-commerce names the cart model uses (in any case or with underscores), identify and page
    calls are not unmapped.
    """
    # given
    messages = [
        track("Product Added", cart_id="c-1", product_id="p-1"),
        track("product_viewed", product_id="p-1"),
        track("CHECKOUT STARTED", cart_id="c-1"),
        track("Order Cancelled", order_id="o-404"),
        identify(email="ada@example.com"),
        {"type": "page", "anonymousId": "anon-1", "name": "Home", "properties": {}},
    ]
    # when
    _send(client, store, *messages)
    # then
    assert {"data": [], "count": 0} == _unmapped(client, store)


def test_the_list_is_newest_first_and_limited(
    client: TestClient, store: CreatedStore, clock: SimulatedClock
) -> None:
    """
    Names come most recently seen first (ties by name), and `limit` cuts the list.
    """
    # given
    _send(client, store, track("Old Event"))
    clock.advance(timedelta(minutes=5))
    _send(client, store, track("b_tie"), track("a_tie"))
    # when
    everything = _unmapped(client, store)
    first_two = _unmapped(client, store, limit=2)
    # then
    assert ["a_tie", "b_tie", "Old Event"] == [row["name"] for row in everything["data"]]
    assert (["a_tie", "b_tie"], 2) == ([r["name"] for r in first_two["data"]], first_two["count"])


def test_browser_events_are_counted_too(client: TestClient, store: CreatedStore) -> None:
    """
    What the storefront snippet sends to `/v1/t` (public key, shop origin) is counted alike.
    """
    # given
    body = {"batch": [track("add_to_basket", cart_id="c-9")], "writeKey": store.public_key}
    # when
    response = client.post(
        "/v1/t", content=orjson.dumps(body), headers={"Origin": SHOP, "Content-Type": "text/plain"}
    )
    # then
    assert 200 == response.status_code, response.text
    assert [("add_to_basket", 1)] == _counts(_unmapped(client, store))


def test_a_batch_refused_as_a_whole_counts_nothing(client: TestClient, store: CreatedStore) -> None:
    """
    An invalid message is not stored, so its name is not counted; its valid neighbour is.
    """
    # given
    invalid = {"type": "track", "event": "Never Stored"}  # no anonymousId nor userId
    valid = track("Stored Anyway")
    # when
    response = client.post(
        "/v1/batch", json={"batch": [invalid, valid]}, headers=auth(store.secret_key)
    )
    # then
    assert 400 == response.status_code
    assert [("Stored Anyway", 1)] == _counts(_unmapped(client, store))


def test_each_store_sees_only_its_own_names(
    client: TestClient, store_factory: Callable[..., CreatedStore]
) -> None:
    """
    Another store's server key lists that store's names, never this store's.
    """
    # given
    mine, theirs = store_factory(), store_factory(name="Other Shop")
    _send(client, mine, track("Mine Only"))
    _send(client, theirs, track("Theirs Only"))
    # when
    seen_by_theirs = _unmapped(client, theirs)
    # then
    assert [("Theirs Only", 1)] == _counts(seen_by_theirs)


def test_the_same_name_in_two_stores_is_two_rows(
    client: TestClient, store_factory: Callable[..., CreatedStore]
) -> None:
    """
    Counts are per store: one store's traffic does not grow another's count.
    """
    # given
    mine, theirs = store_factory(), store_factory(name="Other Shop")
    _send(client, mine, track("Shared Name"), track("Shared Name"))
    # when
    _send(client, theirs, track("Shared Name"))
    # then
    assert ([("Shared Name", 2)], [("Shared Name", 1)]) == (
        _counts(_unmapped(client, mine)),
        _counts(_unmapped(client, theirs)),
    )


def test_a_public_key_is_refused(client: TestClient, store: CreatedStore) -> None:
    """
    The browser key may send events but not read what the store received (403).
    """
    # given
    headers = auth(store.public_key)
    # when
    response = client.get(PATH, headers=headers)
    # then
    assert_problem(response, 403)


@pytest.mark.parametrize("headers", [{}, auth("cb_sk_not-a-real-key"), {"Authorization": "Bearer"}])
def test_a_missing_or_unknown_key_is_401(client: TestClient, headers: dict[str, str]) -> None:
    """
    Without a valid server key nothing is listed.
    """
    # given
    # when
    response = client.get(PATH, headers=headers)
    # then
    assert_problem(response, 401)


@pytest.mark.parametrize("limit", ["0", "-1", "501", "ten", "1.5", ""])
def test_a_bad_limit_is_400_naming_the_parameter(
    client: TestClient, store: CreatedStore, limit: str
) -> None:
    """
    `limit` must be a whole number from 1 to 500; anything else is a 400 about `limit`.
    """
    # given
    headers = auth(store.secret_key)
    # when
    response = client.get(PATH, headers=headers, params={"limit": limit})
    # then
    body = assert_problem(response, 400)
    assert any("limit" in error["field"] for error in body["errors"]), body


class _CommitFails(SqlUnitOfWork):
    """
    The real unit of work, whose commit fails as a lost connection would.
    """

    def commit(self) -> None:
        raise RuntimeError("the connection was lost")


def test_a_failed_batch_leaves_no_count(
    container: Container, store: CreatedStore, clock: SimulatedClock
) -> None:
    """
    The count is written in the ingest transaction: a batch that does not commit counts nothing.
    """
    # given
    message = Inbound(
        source="segment",
        message_id="m-roll-1",
        kind=MessageKind.TRACK,
        name="Rolled Back",
        occurred_at=clock.now(),
        anonymous_id="anon-roll",
    )
    # when
    with pytest.raises(RuntimeError, match="connection was lost"):
        ingest(
            uow=_CommitFails(container.engine),
            clock=clock,
            store_id=store.store.id,
            messages=[message],
        )
    # then
    listed = list_unmapped(uow=container.uow_factory(read_only=True), store_id=store.store.id)
    assert [] == listed


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
