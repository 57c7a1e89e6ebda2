"""
Event aliases (`/v1/sources/aliases`): a store maps its own event names to Cartback's, so an
event listed as unmapped starts counting as a cart event from the next request, whoever sent it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cartback.services.stores import CreatedStore
from helpers import assert_problem, auth, track

PATH = "/v1/sources/aliases"


def _put(client: TestClient, store: CreatedStore, name: str, event: Any) -> Any:
    return client.put(f"{PATH}/{name}", json={"event": event}, headers=auth(store.secret_key))


def _send(client: TestClient, store: CreatedStore, *messages: dict[str, Any]) -> None:
    response = client.post(
        "/v1/batch", json={"batch": list(messages)}, headers=auth(store.secret_key)
    )
    assert 200 == response.status_code, response.text


def _unmapped(client: TestClient, store: CreatedStore) -> list[tuple[str, int]]:
    body = client.get("/v1/sources/unmapped", headers=auth(store.secret_key)).json()
    return [(row["name"], row["count"]) for row in body["data"]]


def test_an_aliased_name_fills_the_cart_and_stops_counting_as_unmapped(
    client: TestClient, store: CreatedStore
) -> None:
    """
    `addToBasket` is unmapped; aliased to `Product Added`, the next one adds its line.
    """
    # given
    _send(client, store, track("addToBasket", cart_id="c-1", product_id="mug", price=5))
    # when
    response = _put(client, store, "addToBasket", "Product Added")
    _send(client, store, track("addToBasket", cart_id="c-1", product_id="mug", price=5))
    # then
    assert {"data": [{"name": "addtobasket", "event": "product added"}], "count": 1} == (
        response.json()
    )
    cart = client.get("/v1/carts/c-1", headers=auth(store.secret_key)).json()
    assert ([("mug", 1)], [("addToBasket", 1)]) == (
        [(i["product_id"], i["quantity"]) for i in cart["items"]],
        _unmapped(client, store),
    )


def test_names_match_in_any_case_and_with_underscores(
    client: TestClient, store: CreatedStore
) -> None:
    """
    An alias for `checkout_go` also reads `Checkout Go` and `CHECKOUT_GO`.
    """
    # given
    _put(client, store, "checkout_go", "Checkout Started")
    # when
    _send(
        client,
        store,
        track("Product Added", cart_id="c-2", product_id="mug", price=5),
        track("CHECKOUT_GO", cart_id="c-2"),
    )
    # then
    cart = client.get("/v1/carts/c-2", headers=auth(store.secret_key)).json()
    assert ("checkout", []) == (cart["stage"], _unmapped(client, store))


def test_removing_an_alias_makes_the_name_unmapped_again(
    client: TestClient, store: CreatedStore
) -> None:
    """
    DELETE answers 204; the list is empty and the name is counted as unmapped again.
    """
    # given
    _put(client, store, "addToBasket", "Product Added")
    # when
    deleted = client.delete(f"{PATH}/addToBasket", headers=auth(store.secret_key))
    _send(client, store, track("addToBasket", cart_id="c-3", product_id="mug"))
    # then
    listed = client.get(PATH, headers=auth(store.secret_key)).json()
    assert (204, {"data": [], "count": 0}, [("addToBasket", 1)]) == (
        deleted.status_code,
        listed,
        _unmapped(client, store),
    )


def test_aliases_belong_to_one_store(
    client: TestClient, store_factory: Callable[..., CreatedStore]
) -> None:
    """
    Another store's alias changes nothing here.
    """
    # given
    mine, theirs = store_factory(), store_factory()
    _put(client, theirs, "addToBasket", "Product Added")
    # when
    _send(client, mine, track("addToBasket", cart_id="c-4", product_id="mug"))
    # then
    assert [("addToBasket", 1)] == _unmapped(client, mine)


@pytest.mark.parametrize(
    ("event", "status"),
    [("Product Addded", 400), ("", 400), (7, 400), ("x" * 201, 400)],
)
def test_an_alias_to_an_unknown_event_is_refused_and_nothing_changes(
    client: TestClient, store: CreatedStore, event: Any, status: int
) -> None:
    """
    A target that is not a Cartback event (misspelt, empty, not a string, too long) is a
    problem, and the aliases stay as they were.
    """
    # when
    response = _put(client, store, "addToBasket", event)
    # then
    assert_problem(response, status)
    assert {"data": [], "count": 0} == client.get(PATH, headers=auth(store.secret_key)).json()


def test_bad_alias_requests_are_problems(client: TestClient, store: CreatedStore) -> None:
    """
    Unknown fields, a blank or overlong name, a missing alias, a public key, no key.
    """
    # given
    key = auth(store.secret_key)
    # when
    statuses = [
        client.put(f"{PATH}/a", json={"event": "Cart Viewed", "x": 1}, headers=key),
        client.put(f"{PATH}/%20_%20", json={"event": "Cart Viewed"}, headers=key),
        client.put(f"{PATH}/{'n' * 201}", json={"event": "Cart Viewed"}, headers=key),
        client.put(f"{PATH}/a", content=b"{not json", headers=key),
        client.delete(f"{PATH}/never", headers=key),
        client.get(PATH, headers=auth(store.public_key)),
        client.get(PATH),
    ]
    # then
    assert [400, 400, 400, 400, 404, 403, 401] == [
        assert_problem(r, r.status_code)["status"] for r in statuses
    ]
