"""
Report snapshots through the real app, worker and database: a worker pass stores a store's
overview report (exactly `build_report`'s), the overview page reads it without computing one,
"Refresh now" recomputes it (and is refused without the CSRF token), the worker recomputes a
stale one, oldest first, and one store's snapshot never shows on another's page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher as Argon2
from fastapi.testclient import TestClient

from cartback.bootstrap import Container
from cartback.domain.report_snapshots import OVERVIEW_PERIOD, ReportSnapshot
from cartback.engine.clock import SimulatedClock
from cartback.services import report_snapshots
from cartback.services.report_snapshots import default_days, stored_snapshot
from cartback.services.reports import build_report
from cartback.services.stores import CreatedStore
from helpers import auth, identify, track

PASSWORD = "correct horse battery staple"
CHEAP = Argon2(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def reports_built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """
    The store ids of every report the snapshot service computes (it still computes them).
    """
    calls: list[str] = []

    def counting(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs["store_id"])
        return build_report(**kwargs)

    monkeypatch.setattr(report_snapshots, "build_report", counting)
    return calls


@pytest.fixture
def sign_in(client: TestClient, container: Container) -> Callable[..., None]:
    """
    Creates an operator of the given stores and signs them in on the client.
    """
    from cartback.kit.passwords import Argon2Hasher
    from cartback.services.operators import create_operator

    def make(*stores: str) -> None:
        create_operator(
            uow=container.uow_factory(),
            hasher=Argon2Hasher(CHEAP),
            now=container.clock.now(),
            email="ops@example.com",
            password=PASSWORD,
            all_stores=False,
            store_ids=stores,
        )
        form = client.get("/admin/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token, form.text
        answer = client.post(
            "/admin/login",
            data={"csrf_token": token.group(1), "email": "ops@example.com", "password": PASSWORD},
            follow_redirects=False,
        )
        assert 303 == answer.status_code, answer.text

    return make


def _abandon(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    store: CreatedStore,
    name: str,
    *,
    wait: bool = True,
) -> None:
    """
    A known shopper's cart, left until it is abandoned (the worker's timers fire 31 minutes
    later), or with `wait=False` just left.
    """
    anonymous = f"anon-{name}"
    batch = [
        identify(anonymous_id=anonymous, at=clock.now(), email=f"{name}@x.io"),
        track(
            "Product Added",
            anonymous_id=anonymous,
            at=clock.now(),
            cart_id=f"c-{name}",
            product_id="p-1",
            name="Mug",
            price=30,
            quantity=1,
        ),
    ]
    answer = client.post("/v1/batch", json={"batch": batch}, headers=auth(store.secret_key))
    assert 200 == answer.status_code, answer.text
    if wait:
        _fire_timers(container, clock)


def _fire_timers(container: Container, clock: SimulatedClock) -> None:
    clock.advance(timedelta(minutes=31))
    container.new_worker(name="timers").run_pass()


def _abandoned_kpi(html: str) -> str:
    found = re.search(r'id="kpi-abandoned">.*?<b class="value">([^<]*)</b>', html)
    assert found, html
    return found.group(1)


def _csrf(html: str) -> str:
    found = re.search(r'id="snapshot".*?name="csrf_token" value="([^"]+)"', html, re.S)
    assert found, html
    return found.group(1)


def _snapshot(container: Container, store: CreatedStore) -> ReportSnapshot:
    found = stored_snapshot(uow_factory=container.uow_factory, store_id=store.store.id)
    assert found is not None
    return found


def test_a_worker_pass_stores_exactly_the_report_and_the_page_reads_it_without_computing(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    store_factory: Callable[..., CreatedStore],
    sign_in: Callable[..., None],
    reports_built: list[str],
) -> None:
    """
    The worker stores the last 30 days' report; the page shows its numbers and when it was
    computed, and computes nothing itself.
    """
    # given
    shop = store_factory(name="Shop", timezone="UTC")
    _abandon(client, container, clock, shop, "ada")
    sign_in(shop.store.id)
    # when
    ran = container.new_worker(name="snapshots").refresh_report_snapshot_if_due()
    page = client.get(f"/admin/stores/{shop.store.id}")
    # then
    assert ran
    assert [shop.store.id] == reports_built
    snapshot = _snapshot(container, shop)
    first, last = default_days(shop.store, clock.now())
    live = build_report(
        uow=container.uow_factory(read_only=True),
        clock=clock,
        store_id=shop.store.id,
        start=first,
        end=last + timedelta(days=1),
    )
    assert live == snapshot.report
    assert 1 == snapshot.report["abandoned_carts"]
    assert 200 == page.status_code
    assert "1" == _abandoned_kpi(page.text)
    assert f"As of {snapshot.computed_at:%Y-%m-%d %H:%M:%S} UTC" in page.text
    assert "refreshed every 10 minutes" in page.text
    assert [shop.store.id] == reports_built  # the page computed nothing


def test_without_a_snapshot_the_page_computes_it_once_and_stores_it(
    client: TestClient,
    store_factory: Callable[..., CreatedStore],
    container: Container,
    sign_in: Callable[..., None],
    reports_built: list[str],
) -> None:
    """
    The first view computes the snapshot; the second reads it.
    """
    # given
    shop = store_factory(name="Shop")
    sign_in(shop.store.id)
    # when
    pages = [client.get(f"/admin/stores/{shop.store.id}") for _ in range(2)]
    # then
    assert [200, 200] == [p.status_code for p in pages]
    assert [shop.store.id] == reports_built
    assert OVERVIEW_PERIOD == _snapshot(container, shop).period


def test_refresh_now_recomputes_the_snapshot(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    store_factory: Callable[..., CreatedStore],
    sign_in: Callable[..., None],
    reports_built: list[str],
) -> None:
    """
    A cart abandoned after the snapshot shows only once "Refresh now" recomputed it.
    """
    # given
    shop = store_factory(name="Shop", timezone="UTC")
    container.new_worker(name="snapshots").refresh_report_snapshot_if_due()
    _abandon(client, container, clock, shop, "bob")
    sign_in(shop.store.id)
    stale = client.get(f"/admin/stores/{shop.store.id}")
    # when
    answer = client.post(
        f"/admin/stores/{shop.store.id}/refresh",
        data={"csrf_token": _csrf(stale.text)},
        follow_redirects=False,
    )
    after = client.get(f"/admin/stores/{shop.store.id}")
    # then
    assert "0" == _abandoned_kpi(stale.text)
    assert 303 == answer.status_code
    assert f"/admin/stores/{shop.store.id}" == answer.headers["location"]
    assert "1" == _abandoned_kpi(after.text)
    assert [shop.store.id] * 2 == reports_built
    assert clock.now() == _snapshot(container, shop).computed_at


def test_refresh_without_the_csrf_token_is_refused_and_changes_nothing(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    store_factory: Callable[..., CreatedStore],
    sign_in: Callable[..., None],
    reports_built: list[str],
) -> None:
    """
    A missing or wrong token is a 403 page; the snapshot stays as it was.
    """
    # given
    shop = store_factory(name="Shop")
    sign_in(shop.store.id)
    client.get(f"/admin/stores/{shop.store.id}")
    computed_at = _snapshot(container, shop).computed_at
    clock.advance(timedelta(minutes=1))
    # when
    answers = [
        client.post(f"/admin/stores/{shop.store.id}/refresh", data=data, follow_redirects=False)
        for data in ({}, {"csrf_token": "forged"})
    ]
    # then
    assert [403, 403] == [a.status_code for a in answers]
    assert [shop.store.id] == reports_built
    assert computed_at == _snapshot(container, shop).computed_at


def test_the_worker_refreshes_a_stale_snapshot_and_leaves_a_fresh_one(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    store_factory: Callable[..., CreatedStore],
    reports_built: list[str],
) -> None:
    """
    Within `CARTBACK_REPORT_SNAPSHOT_EVERY` (10 minutes) the worker leaves a snapshot alone;
    past it, it recomputes it with the carts abandoned since.
    """
    # given
    shop = store_factory(name="Shop", timezone="UTC")
    _abandon(client, container, clock, shop, "cy", wait=False)
    worker = container.new_worker(name="snapshots")
    worker.refresh_report_snapshot_if_due()
    computed_at = clock.now()
    # when
    clock.advance(timedelta(minutes=5))
    fresh = worker.refresh_report_snapshot_if_due()  # looked: still fresh
    fresh_snapshot = _snapshot(container, shop)
    _fire_timers(container, clock)  # 36 minutes after: stale, and the cart abandoned
    stale = worker.refresh_report_snapshot_if_due()
    # then
    assert (True, True) == (fresh, stale)
    assert [shop.store.id] * 2 == reports_built
    assert (computed_at, 0) == (
        fresh_snapshot.computed_at,
        fresh_snapshot.report["abandoned_carts"],
    )
    assert 1 == _snapshot(container, shop).report["abandoned_carts"]
    assert clock.now() == _snapshot(container, shop).computed_at


def test_the_worker_refreshes_one_store_per_pass_missing_first_then_oldest(
    container: Container,
    clock: SimulatedClock,
    store_factory: Callable[..., CreatedStore],
    reports_built: list[str],
) -> None:
    """
    A store without a snapshot comes first, then the oldest; each pass refreshes one.
    """
    # given
    old, newer = store_factory(name="Old"), store_factory(name="Newer")
    worker = container.new_worker(name="snapshots")
    for store in (old, newer):
        report_snapshots.refresh_snapshot(
            uow_factory=container.uow_factory, clock=clock, store=store.store
        )
        clock.advance(timedelta(minutes=1))
    missing = store_factory(name="Missing")
    clock.advance(timedelta(minutes=30))
    reports_built.clear()
    # when
    for _ in range(4):
        worker.refresh_report_snapshot_if_due()
        clock.advance(timedelta(seconds=5))
    # then
    assert [missing.store.id, old.store.id, newer.store.id] == reports_built


def test_another_stores_snapshot_is_never_shown_nor_refreshed(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    store_factory: Callable[..., CreatedStore],
    sign_in: Callable[..., None],
    reports_built: list[str],
) -> None:
    """
    With both stores' snapshots stored, an operator of one sees only its own: the other's
    page and its refresh answer 404 and compute nothing.
    """
    # given
    mine = store_factory(name="Mine", timezone="UTC")
    theirs = store_factory(name="Theirs", timezone="UTC")
    _abandon(client, container, clock, theirs, "victim")
    worker = container.new_worker(name="snapshots")
    for _ in range(2):
        worker.refresh_report_snapshot_if_due()
        clock.advance(timedelta(seconds=5))
    assert {mine.store.id, theirs.store.id} == set(reports_built)
    sign_in(mine.store.id)
    page = client.get(f"/admin/stores/{mine.store.id}")
    # when
    answers = [
        client.get(f"/admin/stores/{theirs.store.id}"),
        client.post(
            f"/admin/stores/{theirs.store.id}/refresh",
            data={"csrf_token": _csrf(page.text)},
            follow_redirects=False,
        ),
    ]
    # then
    assert [404, 404] == [a.status_code for a in answers]
    for answer in answers:
        assert "Theirs" not in answer.text
    assert "0" == _abandoned_kpi(page.text)
    assert "Theirs" not in page.text
    assert 2 == len(reports_built)
