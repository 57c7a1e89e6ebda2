"""
Incremental audience pushes (`services/audience_sync.py`) on a real database, through the
pushers `bootstrap` builds, against the local Meta and Google of `tests/ads_networks.py`.
Proved here: a first pass adds every reachable member to both networks, each hashed as that
network documents; a second pass pushes nothing; a member who left and a contact erased since
are removed; a network that refuses records nothing (the other still syncs) and the next pass
sends it again; the worker runs the pass at most every `audience_sync_interval`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from ads_networks import (
    GOOGLE_ACCESS,
    GOOGLE_CUSTOMER,
    GOOGLE_DEVELOPER,
    GOOGLE_LOGIN,
    META_TOKEN,
    FakeAdNetworks,
    serving,
)
from cartback.bootstrap import Container, bootstrap
from cartback.domain.ad_hashing import Network, hashed
from cartback.engine.clock import SimulatedClock
from cartback.kit.ids import new_id
from cartback.services.ads_config import configure_google, configure_meta
from cartback.services.audience_sync import SyncReport, sync_audiences
from cartback.services.stores import CreatedStore
from cartback.settings import Settings
from cartback.store.tables import audience_members, audience_syncs, contacts

AUDIENCE = "viewed-cart"
META_LIST = "23851234567890"
GOOGLE_LIST = f"customers/{GOOGLE_CUSTOMER}/userLists/555"
PEOPLE = {
    "ada": ("ada@example.com", "+44 20 7946 0958"),
    "grace": ("grace@example.com", None),
    "linus": ("linus@example.com", "+1 650 555 1212"),
}


@pytest.fixture
def networks() -> Iterator[FakeAdNetworks]:
    with serving() as fake:
        yield fake


@pytest.fixture
def container(
    database_url: str,
    clock: SimulatedClock,
    settings_factory: Callable[..., Settings],
    networks: FakeAdNetworks,
) -> Iterator[Container]:
    """
    The container, with both networks' API URLs on the local server.
    """
    settings = settings_factory(
        database_url,
        meta_api_url=f"{networks.url}/meta",
        google_ads_api_url=f"{networks.url}/google",
    )
    built = bootstrap(settings, clock=clock)
    yield built
    built.close()


@pytest.fixture
def shop(container: Container, store_factory: Callable[..., CreatedStore]) -> CreatedStore:
    """
    A US store (email marketing on the opt-out model) with both accounts and `viewed-cart`
    mapped to a list on each network.
    """
    created = store_factory(country="US", timezone="America/New_York")
    common: dict[str, Any] = {"clock": container.clock, "box": container.box}
    configure_meta(
        uow=container.uow_factory(),
        store_id=created.store.id,
        access_token=META_TOKEN,
        audiences={AUDIENCE: META_LIST},
        **common,
    )
    configure_google(
        uow=container.uow_factory(),
        store_id=created.store.id,
        developer_token=GOOGLE_DEVELOPER,
        access_token=GOOGLE_ACCESS,
        customer_id="123-456-7890",
        login_customer_id=GOOGLE_LOGIN,
        audiences={AUDIENCE: GOOGLE_LIST},
        **common,
    )
    return created


def member(container: Container, shop: CreatedStore, name: str) -> str:
    """
    A contact of `PEOPLE` who entered `viewed-cart` an hour ago, for 7 days; its id.
    """
    email, phone = PEOPLE[name]
    contact_id, now = new_id("co"), container.clock.now()
    with container.engine.begin() as connection:
        connection.execute(
            insert(contacts).values(
                id=contact_id,
                store_id=shop.store.id,
                email=email,
                phone=phone,
                is_bot=False,
                created_at=now - timedelta(days=1),
                updated_at=now - timedelta(days=1),
            )
        )
        connection.execute(
            insert(audience_members).values(
                store_id=shop.store.id,
                audience=AUDIENCE,
                contact_id=contact_id,
                entered_at=now - timedelta(hours=1),
                expires_at=now + timedelta(days=7),
            )
        )
    return contact_id


def sync(container: Container) -> SyncReport:
    return sync_audiences(
        uow_factory=container.uow_factory,
        clock=container.clock,
        box=container.box,
        pushers=container.audience_pushers(),
    )


def expected(network: Network, *names: str) -> set[str]:
    return {digest for name in names for _, digest in hashed(network, *PEOPLE[name])}


def held_rows(container: Container) -> list[tuple[str, str, str | None, bool]]:
    table = audience_syncs.c
    with container.engine.connect() as connection:
        rows = connection.execute(
            select(table.network, table.identifier, table.contact_id, table.removed_at)
        )
        return sorted((n, i, c, r is None) for n, i, c, r in rows)


def test_first_pass_adds_every_reachable_member_hashed_per_network(
    container: Container, shop: CreatedStore, networks: FakeAdNetworks
) -> None:
    """
    Both networks end holding exactly the members' hashes (Google's phones with `+`, Meta's
    without), and each identifier is recorded once per network with its contact.
    """
    # given
    ids = {name: member(container, shop, name) for name in PEOPLE}
    # when
    report = sync(container)
    # then
    assert [] == networks.problems
    assert (10, 0, []) == (report.added, report.removed, report.failures)
    assert expected(Network.META, *PEOPLE) == networks.meta_lists[META_LIST]
    assert expected(Network.GOOGLE, *PEOPLE) == networks.google_lists[GOOGLE_LIST]
    assert expected(Network.META, "ada") != expected(Network.GOOGLE, "ada")
    rows = held_rows(container)
    assert 10 == len(rows)
    assert all(held for *_, held in rows)
    assert {ids["ada"], ids["grace"], ids["linus"]} == {contact for _, _, contact, _ in rows}


def test_a_second_pass_pushes_nothing(
    container: Container, shop: CreatedStore, networks: FakeAdNetworks
) -> None:
    """
    With nothing changed, the next pass sends no request: nothing is pushed twice.
    """
    # given
    member(container, shop, "ada")
    sync(container)
    sent = len(networks.received)
    # when
    report = sync(container)
    # then
    assert (0, 0) == (report.added, report.removed)
    assert sent == len(networks.received)


def test_a_member_who_left_and_an_erased_contact_are_removed(
    container: Container, shop: CreatedStore, networks: FakeAdNetworks
) -> None:
    """
    Ada left the audience (a purchase) and Grace was erased (her contact row deleted: her
    membership goes with it, her sync rows keep their hash without a contact): the next pass
    removes both from both networks and records the removals; Linus stays.
    """
    # given
    ada, grace = member(container, shop, "ada"), member(container, shop, "grace")
    member(container, shop, "linus")
    sync(container)
    with container.engine.begin() as connection:
        connection.execute(
            update(audience_members)
            .where(audience_members.c.contact_id == ada)
            .values(left_at=container.clock.now(), left_reason="purchased")
        )
        connection.execute(delete(contacts).where(contacts.c.id == grace))
    # when
    report = sync(container)
    # then
    assert [] == networks.problems
    assert (0, 6) == (report.added, report.removed)
    assert expected(Network.META, "linus") == networks.meta_lists[META_LIST]
    assert expected(Network.GOOGLE, "linus") == networks.google_lists[GOOGLE_LIST]
    rows = held_rows(container)
    gone = {identifier for _, identifier, _, held in rows if not held}
    assert expected(Network.META, "ada", "grace") | expected(Network.GOOGLE, "ada", "grace") == gone
    assert 2 == sum(1 for _, _, contact, _ in rows if contact is None)


def test_a_refusing_network_records_nothing_and_is_retried_next_pass(
    container: Container, shop: CreatedStore, networks: FakeAdNetworks
) -> None:
    """
    Meta refuses the pass's push: no Meta row is recorded, Google still syncs, the failure is
    reported; the next pass pushes Meta again and records it.
    """
    # given
    member(container, shop, "grace")
    refusal = {"error": {"message": "Audience Upload Blocked", "code": 100}}
    networks.plan("meta", (400, {}, refusal))
    # when
    failed = sync(container)
    # then
    assert [f"{shop.store.id}/{AUDIENCE}/meta: meta_100: Audience Upload Blocked"] == (
        failed.failures
    )
    assert {"google"} == {network for network, *_ in held_rows(container)}
    assert expected(Network.GOOGLE, "grace") == networks.google_lists[GOOGLE_LIST]
    # when the network takes it again
    retried = sync(container)
    # then
    assert (1, []) == (retried.added, retried.failures)
    assert expected(Network.META, "grace") == networks.meta_lists[META_LIST]
    assert {"google", "meta"} == {network for network, *_ in held_rows(container)}


def test_someone_who_comes_back_is_added_again_on_the_same_row(
    container: Container, shop: CreatedStore, networks: FakeAdNetworks
) -> None:
    """
    Removed after leaving, then entering again: the identifier is pushed again and its row
    is held again (one row per identifier, never a duplicate).
    """
    # given
    grace = member(container, shop, "grace")
    sync(container)
    with container.engine.begin() as connection:
        connection.execute(
            update(audience_members)
            .where(audience_members.c.contact_id == grace)
            .values(left_at=container.clock.now(), left_reason="window_ended")
        )
    sync(container)
    with container.engine.begin() as connection:
        connection.execute(
            insert(audience_members).values(
                store_id=shop.store.id,
                audience=AUDIENCE,
                contact_id=grace,
                entered_at=container.clock.now(),
                expires_at=container.clock.now() + timedelta(days=7),
            )
        )
    # when
    report = sync(container)
    # then
    assert 2 == report.added
    assert expected(Network.META, "grace") == networks.meta_lists[META_LIST]
    assert [True, True] == [held for *_, held in held_rows(container)]


def test_the_worker_syncs_at_most_every_interval(
    container: Container, shop: CreatedStore, networks: FakeAdNetworks, clock: SimulatedClock
) -> None:
    """
    The worker's pass runs at once, not again within `audience_sync_interval` (10 minutes by
    default), and again after it.
    """
    # given
    worker = container.new_worker()
    member(container, shop, "grace")
    # when
    first, soon = worker.sync_audiences_if_due(), worker.sync_audiences_if_due()
    clock.advance(timedelta(minutes=10))
    later = worker.sync_audiences_if_due()
    # then
    assert (True, False, True) == (first, soon, later)
    assert expected(Network.META, "grace") == networks.meta_lists[META_LIST]
