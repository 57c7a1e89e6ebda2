"""
The suppression list API (`/v1/suppressions`, server key): add with normalised addresses
(idempotent), list newest first by channel, lift; bad input is a problem and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cartback.domain.consent import Channel
from cartback.engine.clock import SimulatedClock
from cartback.services.stores import CreatedStore
from helpers import assert_problem, auth

PATH = "/v1/suppressions"


def _add(client: TestClient, store: CreatedStore, **body: Any) -> Any:
    return client.post(PATH, json=body, headers=auth(store.secret_key))


def _listed(client: TestClient, store: CreatedStore, query: str = "") -> list[tuple[str, str, str]]:
    response = client.get(PATH + query, headers=auth(store.secret_key))
    assert 200 == response.status_code, response.text
    return [(r["channel"], r["address"], r["reason"]) for r in response.json()["data"]]


def test_addresses_are_normalised_and_listed_newest_first(
    client: TestClient, store: CreatedStore, clock: SimulatedClock
) -> None:
    """
    An email is lower-cased, a number written in E.164; the newest entry comes first.
    """
    # when
    first = _add(client, store, channel="email", address=" Jane@Example.COM ", reason="hard_bounce")
    clock.advance(timedelta(seconds=1))
    second = _add(client, store, channel="sms", address="+1 (415) 555-0123", reason="complaint")
    # then
    assert (201, 201) == (first.status_code, second.status_code)
    assert ("email", "jane@example.com", "hard_bounce", "api") == (
        first.json()["channel"],
        first.json()["address"],
        first.json()["reason"],
        first.json()["source"],
    )
    assert [
        ("sms", "+14155550123", "complaint"),
        ("email", "jane@example.com", "hard_bounce"),
    ] == _listed(client, store)
    assert [("email", "jane@example.com", "hard_bounce")] == _listed(
        client, store, "?channel=email"
    )
    assert [("sms", "+14155550123", "complaint")] == _listed(client, store, "?limit=1")


def test_adding_an_address_twice_keeps_the_first_entry(
    client: TestClient, store: CreatedStore
) -> None:
    """
    The second add answers 200 with the existing entry and its original reason.
    """
    # given
    _add(client, store, channel="email", address="a@example.com", reason="complaint")
    # when
    again = _add(client, store, channel="email", address="A@example.com", reason="manual")
    # then
    assert (200, "complaint") == (again.status_code, again.json()["reason"])
    assert [("email", "a@example.com", "complaint")] == _listed(client, store)


def test_a_suppression_can_be_lifted_as_it_was_written(
    client: TestClient, store: CreatedStore
) -> None:
    """
    DELETE with the address in any accepted spelling: 204, then gone; again: 404.
    """
    # given
    _add(client, store, channel="sms", address="+14155550123", reason="manual")
    # when
    lifted = client.delete(f"{PATH}/sms/+1 415 555 0123", headers=auth(store.secret_key))
    again = client.delete(f"{PATH}/sms/+14155550123", headers=auth(store.secret_key))
    # then
    assert (204, []) == (lifted.status_code, _listed(client, store))
    assert_problem(again, 404)


def test_an_erased_entry_can_be_lifted_by_its_hashed_form(
    client: TestClient, store: CreatedStore, container: Any
) -> None:
    """
    After erasure the list shows `sha256:…`; that form is accepted by DELETE.
    """
    # given
    _add(client, store, channel="email", address="gone@example.com", reason="complaint")
    with container.uow_factory() as uow:
        uow.suppressions.hash_addresses(store.store.id, ["gone@example.com"])
        uow.commit()
    [(_, hashed, _)] = _listed(client, store)
    # when
    lifted = client.delete(f"{PATH}/email/{hashed}", headers=auth(store.secret_key))
    # then
    assert (True, 204, []) == (
        hashed.startswith("sha256:"),
        lifted.status_code,
        _listed(client, store),
    )


@pytest.mark.parametrize(
    "body",
    [
        {"channel": "email", "address": "not an email", "reason": "manual"},
        {"channel": "sms", "address": "12", "reason": "manual"},
        {"channel": "fax", "address": "a@example.com", "reason": "manual"},
        {"channel": "email", "address": "a@example.com", "reason": "unsubscribed"},
        {"channel": "email", "address": "a@example.com"},
        {"channel": "email", "address": "", "reason": "manual"},
        {"channel": "email", "address": "a@example.com", "reason": "manual", "extra": 1},
        {"channel": "email", "address": "x" * 321, "reason": "manual"},
        {"channel": "email", "address": 7, "reason": "manual"},
    ],
    ids=[
        "bad-email",
        "bad-phone",
        "bad-channel",
        "reserved-reason",
        "no-reason",
        "empty",
        "unknown-field",
        "too-long",
        "not-a-string",
    ],
)
def test_bad_additions_are_400_and_change_nothing(
    client: TestClient, store: CreatedStore, body: dict[str, Any]
) -> None:
    """
    Each invalid body: a 400 problem naming the field; the list stays empty.
    """
    # when
    response = client.post(PATH, json=body, headers=auth(store.secret_key))
    # then
    problem = assert_problem(response, 400)
    assert problem.get("errors")
    assert [] == _listed(client, store)


def test_bad_requests_on_every_operation_are_problems(
    client: TestClient, store: CreatedStore
) -> None:
    """
    No key 401, a public key 403, a bad channel or limit 400, a bad address 400, a missing one 404.
    """
    # given
    key, public = auth(store.secret_key), auth(store.public_key)
    # when
    answers = [
        (client.get(PATH), 401),
        (client.post(PATH, json={}), 401),
        (client.delete(f"{PATH}/email/a@example.com"), 401),
        (client.get(PATH, headers=public), 403),
        (client.post(PATH, json={}, headers=public), 403),
        (client.delete(f"{PATH}/email/a@example.com", headers=public), 403),
        (client.get(f"{PATH}?channel=fax", headers=key), 400),
        (client.get(f"{PATH}?limit=0", headers=key), 400),
        (client.get(f"{PATH}?limit=501", headers=key), 400),
        (client.post(PATH, content=b"{not json", headers=key), 400),
        (client.delete(f"{PATH}/fax/a@example.com", headers=key), 400),
        (client.delete(f"{PATH}/email/not-an-email", headers=key), 400),
        (client.delete(f"{PATH}/email/nobody@example.com", headers=key), 404),
    ]
    # then
    for response, status in answers:
        assert_problem(response, status)


def test_suppressions_belong_to_one_store(
    client: TestClient,
    store: CreatedStore,
    store_factory: Callable[..., CreatedStore],
    container: Any,
) -> None:
    """
    Another store neither sees nor lifts this store's entries, and its contacts are not
    suppressed by them.
    """
    # given
    other = store_factory()
    _add(client, store, channel="email", address="a@example.com", reason="manual")
    # when
    listed = _listed(client, other)
    lifted = client.delete(f"{PATH}/email/a@example.com", headers=auth(other.secret_key))
    # then
    assert [] == listed
    assert_problem(lifted, 404)
    with container.uow_factory(read_only=True) as uow:
        assert (True, False) == (
            uow.suppressions.is_suppressed(store.store.id, Channel.EMAIL, "a@example.com"),
            uow.suppressions.is_suppressed(other.store.id, Channel.EMAIL, "a@example.com"),
        )
