"""
The dashboard's consent log, audiences and feeds health pages through the real app and
database: what each shows for data built through the API and the services, the consent log's
filters and keyset pages, bad filter values as a 400 page, another store's pages as the same
404 as a store that does not exist, no inline style or script, and the sign-in redirect.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from argon2 import PasswordHasher as Argon2
from fastapi.testclient import TestClient
from person import EMAIL, PHONE, Person, build_person, contact_id_of
from test_recovery_engine import leave_cart, post, run, shop, worker

from cartback.bootstrap import Container
from cartback.domain.cart import CartStatus, new_cart
from cartback.domain.consent import Channel, ConsentClaim, Purpose, changes
from cartback.domain.events import LineItem, Stage
from cartback.domain.operators import Operator
from cartback.domain.ports import CartRecord, SyncedIdentifier
from cartback.engine.clock import SimulatedClock
from cartback.engine.worker import Worker
from cartback.kit.ids import new_id
from cartback.kit.passwords import Argon2Hasher
from cartback.services import store_pages
from cartback.services.operators import create_operator
from cartback.services.stores import CreatedStore
from helpers import auth, identify, track

__all__ = ["shop", "worker"]  # fixtures shared with the recovery engine's tests

PASSWORD = "correct horse battery staple"
#: Cheap argon2 parameters for test operators (the app's own hasher uses the defaults).
CHEAP = Argon2Hasher(Argon2(time_cost=1, memory_cost=1024, parallelism=1))
PAGES = ("consent", "audiences", "feeds")
AUDIENCES_FILE = """
audiences:
  - name: any-cart
    stages: [cart, checkout]
    window: 3d
  - name: known-only
    stages: [cart]
    window: 10d
    anonymous: false
"""


@pytest.fixture
def operator_factory(container: Container) -> Callable[..., Operator]:
    """
    Creates operators (cheap hashes) for every store or the given ones.
    """

    def make(email: str = "ops@example.com", *stores: str) -> Operator:
        return create_operator(
            uow=container.uow_factory(),
            hasher=CHEAP,
            now=container.clock.now(),
            email=email,
            password=PASSWORD,
            all_stores=not stores,
            store_ids=stores,
        )

    return make


def _sign_in(client: TestClient, email: str = "ops@example.com") -> None:
    form = client.get("/admin/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token, form
    response = client.post(
        "/admin/login",
        data={"csrf_token": token.group(1), "email": email, "password": PASSWORD},
        follow_redirects=False,
    )
    assert 303 == response.status_code, response.text


@pytest.fixture
def signed_in(
    client: TestClient, operator_factory: Callable[..., Operator]
) -> Callable[..., TestClient]:
    """
    Signs an operator of the given stores (every store when none) in; returns the client.
    """

    def sign(*stores: str) -> TestClient:
        operator_factory("ops@example.com", *stores)
        _sign_in(client)
        return client

    return sign


def _cells(html: str, row_id: str) -> list[str]:
    """
    The text of each cell of the row with this id (tags removed).
    """
    row = re.search(rf'<tr id="{row_id}">(.*?)</tr>', html, re.DOTALL)
    assert row, row_id
    return _texts(row.group(1))


def _body_rows(html: str) -> list[list[str]]:
    """
    The cell texts of each plain `<tr>` with `<td>` cells (no header or group rows).
    """
    rows = [_texts(row) for row in re.findall(r"<tr>(.*?)</tr>", html, re.DOTALL)]
    return [row for row in rows if row]


def _texts(row: str) -> list[str]:
    """
    The text of each `<td>` in this piece of a row (tags removed).
    """
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in cells]


# --- consent log ---------------------------------------------------------------------------


@pytest.fixture
def store(store_factory: Callable[..., CreatedStore]) -> CreatedStore:
    """
    A German store, so Erin's national phone number is read as German.
    """
    return store_factory(country="DE")


@pytest.fixture
def erin(client: TestClient, container: Container, store: CreatedStore) -> Person:
    """
    Erin, whose ledger holds an email grant and an SMS grant then withdrawal, with evidence.
    """
    return build_person(client, container, store)


def _entries(html: str) -> list[list[str]]:
    ids = re.findall(r'<tr id="(entry-\d+)">', html)
    return [_cells(html, row_id) for row_id in ids]


def test_the_consent_log_lists_the_ledger_newest_first_with_its_evidence(
    signed_in: Callable[..., TestClient], store: CreatedStore, erin: Person
) -> None:
    """
    Each entry: its time, the contact's id, channel, purpose, kind, source, the words shown
    and the client's address and browser; the latest (the SMS withdrawal) first.
    """
    # given
    client = signed_in()
    # when
    page = client.get(f"/admin/stores/{store.store.id}/consent")
    # then
    assert 200 == page.status_code
    rows = _entries(page.text)
    who = erin.contact_id
    assert [
        (who, "sms", "marketing", "withdrawal", "sms_reply", "STOP"),
        (who, "sms", "marketing", "grant", "checkout", f"Texts to {PHONE}"),
        (who, "email", "recovery", "grant", "cart_drawer", f"Email me about my cart at {EMAIL}"),
    ] == [tuple(r[1:7]) for r in rows]
    assert rows[1][7].startswith("203.0.113.7")
    assert "Mozilla/5.0 (Erin&#39;s phone)" in page.text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"channel": "sms"}, ["STOP", f"Texts to {PHONE}"]),
        ({"channel": "email"}, [f"Email me about my cart at {EMAIL}"]),
        ({"kind": "withdraw"}, ["STOP"]),
        ({"kind": "grant", "channel": "sms"}, [f"Texts to {PHONE}"]),
        ({"contact": "co_someone_else"}, []),
    ],
)
def test_the_consent_log_filters(
    signed_in: Callable[..., TestClient],
    store: CreatedStore,
    erin: Person,
    query: dict[str, str],
    expected: list[str],
) -> None:
    """
    Channel, kind (grant or withdrawal) and contact id narrow the log.
    """
    page = signed_in().get(f"/admin/stores/{store.store.id}/consent", params=query)
    assert 200 == page.status_code
    assert expected == [row[6] for row in _entries(page.text)]


def test_a_withdrawal_shows_no_contact_details(
    signed_in: Callable[..., TestClient], store: CreatedStore, erin: Person
) -> None:
    """
    The log names contacts by id only: the STOP entry's page holds neither her email nor her
    phone number (only the words a ledger entry shows could name them).
    """
    page = signed_in().get(
        f"/admin/stores/{store.store.id}/consent",
        params={"kind": "withdraw", "contact": erin.contact_id},
    )
    assert 200 == page.status_code
    assert erin.contact_id in page.text
    assert EMAIL not in page.text.lower()
    assert PHONE not in page.text


def _record_choices(
    client: TestClient, container: Container, store: CreatedStore, count: int
) -> None:
    """
    Two contacts (identified through the API) each grant and withdraw email marketing in
    turn, `count` times, at the same instants (so every time is shared by two entries).
    """
    now = container.clock.now()
    for name in ("a", "b"):
        post(client, store, identify(anonymous_id=f"anon-{name}", email=f"{name}@example.com"))
    contacts = {name: contact_id_of(container, store, f"{name}@example.com") for name in "ab"}
    with container.uow_factory() as uow:
        for name, contact_id in contacts.items():
            claims = [
                ConsentClaim(
                    channel=Channel.EMAIL,
                    purpose=Purpose.MARKETING,
                    granted=n % 2 == 0,
                    text=f"{name}-{n:02d}",
                    source="footer_form",
                    occurred_at=now - timedelta(minutes=count - n),
                )
                for n in range(count)
            ]
            uow.consents.record(store.store.id, contact_id, changes({}, claims), now=now)
        uow.commit()


def test_the_consent_log_pages_by_fifty_without_losing_ties(
    client: TestClient,
    signed_in: Callable[..., TestClient],
    container: Container,
    store: CreatedStore,
) -> None:
    """
    56 entries, two at each instant: the first page holds 50, the next the other 6, newest
    first, none twice, with the filters kept in the next link.
    """
    # given
    _record_choices(client, container, store, 28)
    signed_in()
    url = f"/admin/stores/{store.store.id}/consent"
    # when
    first = client.get(url, params={"channel": "email"})
    found = re.search(r'href="\?([^"]+)" rel="next"', first.text)
    assert found
    second = client.get(f"{url}?{found.group(1).replace('&amp;', '&')}")
    # then
    words = [row[6] for row in _entries(first.text) + _entries(second.text)]
    assert (50, 6) == (len(_entries(first.text)), len(_entries(second.text)))
    assert "channel=email" in found.group(1)
    assert sorted(words) == sorted(set(words))
    assert [n for n in range(27, -1, -1) for _ in "ab"] == [int(w[2:]) for w in words]
    assert 'rel="next"' not in second.text


@pytest.mark.parametrize(
    "query",
    [
        {"channel": "fax"},
        {"kind": "maybe"},
        {"contact": "<script>alert(1)</script>"},
        {"contact": "x" * 40},
        {"cursor": "not-a-cursor"},
        {"cursor": "WyIyMDI2LTExLTI3VDEwOjAwOjAwIiwxXQ"},  # a naive time
    ],
)
def test_a_bad_consent_filter_is_a_400_page(
    signed_in: Callable[..., TestClient], store: CreatedStore, query: dict[str, str]
) -> None:
    """
    Unknown values get a page saying what is wrong, never a trace.
    """
    page = signed_in().get(f"/admin/stores/{store.store.id}/consent", params=query)
    assert 400 == page.status_code
    assert "text/html" in page.headers["content-type"]
    assert "<script>alert" not in page.text


# --- audiences -----------------------------------------------------------------------------


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


def _synced(container: Container, store: CreatedStore) -> None:
    """
    Meta holds two of `viewed-cart` and let one go; Google holds one; an audience the store
    no longer defines is still held by Meta.
    """
    now = container.clock.now()
    ids = [SyncedIdentifier(kind="email", identifier=f"h{n}", contact_id=None) for n in range(3)]
    with container.uow_factory() as uow:
        uow.audience_syncs.mark_added(store.store.id, "viewed-cart", "meta", ids, at=now)
        uow.audience_syncs.mark_removed(
            store.store.id, "viewed-cart", "meta", [("email", "h0")], at=now + timedelta(hours=1)
        )
        uow.audience_syncs.mark_added(store.store.id, "viewed-cart", "google", ids[:1], at=now)
        uow.audience_syncs.mark_added(store.store.id, "old-audience", "meta", ids[:1], at=now)
        uow.commit()


def test_the_audiences_page_counts_contacts_and_visitors_and_shows_the_syncs(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    worker: Worker,
    shop: Callable[..., CreatedStore],
    signed_in: Callable[..., TestClient],
) -> None:
    """
    The built-ins: Ada's abandoned cart puts her in `viewed-cart`, an anonymous visitor's
    too; the other built-ins are empty; Meta holds 2 (1 removed), Google 1, and a retired
    audience's sync is listed apart.
    """
    # given
    store = shop()
    leave_cart(client, store, clock)
    _anonymous_cart(client, store, clock)
    clock.advance(timedelta(minutes=31))
    run(worker)
    _synced(container, store)
    # when
    page = signed_in().get(f"/admin/stores/{store.store.id}/audiences")
    # then
    assert 200 == page.status_code
    assert "built-in audiences" in page.text
    assert ["viewed-cart", "cart", "7d", "contacts and visitors", "yes", "1", "1"] == _cells(
        page.text, "audience-viewed-cart"
    )
    assert ["0", "0"] == _cells(page.text, "audience-started-checkout")[-2:]
    assert "handed over" in " ".join(_cells(page.text, "audience-email-unengaged"))
    syncs = page.text.split('id="syncs"')[1]
    rows = [row[:3] for row in _body_rows(syncs)]
    assert [["google", "1", "0"], ["meta", "2", "1"], ["meta", "1", "0"]] == rows
    assert "old-audience" in syncs
    assert "no longer defined" in syncs


def test_the_audiences_page_shows_the_applied_file(
    client: TestClient, store: CreatedStore, signed_in: Callable[..., TestClient]
) -> None:
    """
    After `PUT /v1/audiences`, its audiences with their version; nobody synced yet.
    """
    # given
    applied = client.put(
        "/v1/audiences", json={"yaml": AUDIENCES_FILE}, headers=auth(store.secret_key)
    )
    assert 200 == applied.status_code, applied.text
    # when
    page = signed_in().get(f"/admin/stores/{store.store.id}/audiences")
    # then
    assert 200 == page.status_code
    assert "own audiences file, version 1" in page.text
    assert ["any-cart", "cart, checkout", "3d", "contacts and visitors", "yes", "0", "0"] == (
        _cells(page.text, "audience-any-cart")
    )
    assert "contacts only" in _cells(page.text, "audience-known-only")
    assert 'id="audience-viewed-cart"' not in page.text
    assert "No audience was synced" in page.text


# --- feeds health --------------------------------------------------------------------------


def _put(client: TestClient, store: CreatedStore, *items: dict[str, Any]) -> None:
    response = client.put("/v1/catalog/items", json=list(items), headers=auth(store.secret_key))
    assert 200 == response.status_code, response.text


def _mug(**fields: Any) -> dict[str, Any]:
    return {
        "product_id": "p-1",
        "variant_id": "v-1",
        "title": "Mug - Blue",
        "available": True,
        "price": "15",
        "currency": "USD",
        "url": "https://shop.example.com/products/mug",
        "image_url": "https://cdn.example.com/mug.jpg",
        **fields,
    }


def _abandon(
    container: Container, store: CreatedStore, key: str, *lines: LineItem, days_ago: int = 0
) -> None:
    now = container.clock.now()
    at = now - timedelta(days=days_ago)
    cart = replace(
        new_cart(key=key, currency="USD"),
        lines=lines,
        stage=Stage.CART,
        status=CartStatus.ABANDONED,
        last_activity_at=at - timedelta(hours=1),
        abandoned_at=at,
    )
    record = CartRecord(id=new_id("ca"), store_id=store.store.id, cart=cart, created_at=at)
    with container.uow_factory() as uow:
        uow.carts.add([record], now=now)
        uow.commit()


@pytest.fixture
def catalog(client: TestClient, container: Container, store: CreatedStore) -> None:
    """
    Four items (one listed, one without a price, one without an image, one titled
    differently) and two abandoned carts: one of today, one of 8 days ago.
    """
    _put(
        client,
        store,
        _mug(),
        _mug(variant_id="v-2", title="Plate"),
        _mug(variant_id="v-4", price=None, currency=None),
        _mug(variant_id="v-5", image_url=None),
    )
    _abandon(
        container,
        store,
        "cart-1",
        LineItem(product_id="p-1", variant_id="v-1", name="Mug", variant_name="Blue"),
        LineItem(product_id="p-9", name="Bowl"),
        LineItem(product_id="p-1", variant_id="v-2", name="Mug"),
        LineItem(product_id="p-1", variant_id="v-4", name="Mug - Blue"),
    )
    _abandon(container, store, "cart-old", LineItem(product_id="p-8", name="Jug"), days_ago=8)


def _mismatches(html: str) -> list[list[str]]:
    table = html.split('id="mismatches"')[1].split("</table>", maxsplit=1)[0]
    return _body_rows(table)


@pytest.mark.usefixtures("catalog")
def test_the_feeds_page_shows_urls_counts_reasons_and_the_last_weeks_mismatches(
    signed_in: Callable[..., TestClient], store: CreatedStore
) -> None:
    """
    The feed URLs on the base URL; 4 items, 2 left out (no price, no image); this week's
    cart's three differing lines as `GET /v1/feeds/check` lists them, not the old cart's.
    """
    # when
    page = signed_in().get(f"/admin/stores/{store.store.id}/feeds")
    # then
    assert 200 == page.status_code
    html = page.text
    assert f"/feeds/{store.store.id}/google.xml" in html
    assert f"/feeds/{store.store.id}/meta.csv" in html
    facts = re.findall(r'<dd id="(items|listed|left-out)">(\d+)</dd>', html)
    assert [("items", "4"), ("listed", "2"), ("left-out", "2")] == facts
    assert ["no image", "1"] == _cells(html, "reason-no_image")
    assert ["no price", "1"] == _cells(html, "reason-no_price")
    assert "v:v-4" in html.split('id="left-out-items"')[1]
    assert [
        ["cart-1", "1", "p-9", "missing", "", ""],
        ["cart-1", "2", "v-2", "title", "Mug", "Plate"],
        ["cart-1", "3", "v-4", "not in feed", "", "no_price"],
    ] == _mismatches(html)
    assert "cart-old" not in html
    assert 'id="more-mismatches"' not in html


@pytest.mark.usefixtures("catalog")
def test_the_feeds_page_caps_the_mismatches_with_a_note(
    signed_in: Callable[..., TestClient], store: CreatedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    Past the cap, the first mismatches and how many more were found.
    """
    monkeypatch.setattr(store_pages, "MISMATCHES_SHOWN", 2)
    page = signed_in().get(f"/admin/stores/{store.store.id}/feeds")
    assert 200 == page.status_code
    assert 2 == len(_mismatches(page.text))
    assert "1 more not listed (3 in all)" in page.text


def test_the_feeds_page_checks_a_bounded_number_of_carts_oldest_first(
    signed_in: Callable[..., TestClient],
    container: Container,
    store: CreatedStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    The page checks at most `CHECKED_CARTS` carts of the week (the oldest first) and says so,
    so it stays fast at any number of carts; the newer cart past the bound is not read.
    """
    # given
    monkeypatch.setattr(store_pages, "CHECKED_CARTS", 1)
    _abandon(container, store, "cart-older", LineItem(product_id="p-7", name="Jug"), days_ago=3)
    _abandon(container, store, "cart-newer", LineItem(product_id="p-8", name="Bowl"), days_ago=1)
    # when
    page = signed_in().get(f"/admin/stores/{store.store.id}/feeds")
    # then
    assert 200 == page.status_code
    assert [["cart-older", "0", "p-7", "missing", "", ""]] == _mismatches(page.text)
    assert "cart-newer" not in page.text
    assert "the oldest 1 carts" in page.text


def test_an_empty_catalog_has_nothing_left_out_and_no_mismatch(
    signed_in: Callable[..., TestClient], store: CreatedStore
) -> None:
    """
    A store with no catalog yet: zero items, never updated, nothing to differ.
    """
    page = signed_in().get(f"/admin/stores/{store.store.id}/feeds")
    assert 200 == page.status_code
    assert '<dd id="items">0</dd>' in page.text
    assert "Every catalog item is in the feeds." in page.text
    assert 'id="no-mismatches"' in page.text


# --- scoping, sign-in, CSP ----------------------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
def test_another_stores_page_answers_404_with_no_data(
    client: TestClient,
    container: Container,
    store_factory: Callable[..., CreatedStore],
    signed_in: Callable[..., TestClient],
    name: str,
) -> None:
    """
    An operator of store A asking for store B's page gets the same 404 as for a store that
    does not exist, and none of B's ledger.
    """
    # given
    mine = store_factory(name="Mine")
    theirs = store_factory(name="Theirs", country="DE")
    victim = build_person(client, container, theirs)
    signed_in(mine.store.id)
    # when
    answers = [
        client.get(f"/admin/stores/{theirs.store.id}/{name}"),
        client.get(f"/admin/stores/st_does_not_exist/{name}"),
    ]
    # then
    assert [404, 404] == [a.status_code for a in answers]
    assert answers[0].text == answers[1].text
    assert victim.contact_id not in answers[0].text
    assert "Theirs" not in answers[0].text
    assert 200 == client.get(f"/admin/stores/{mine.store.id}/{name}").status_code


@pytest.mark.parametrize("name", PAGES)
def test_the_pages_redirect_to_sign_in_without_a_session(
    client: TestClient, store: CreatedStore, name: str
) -> None:
    """
    No session: the sign-in page, never data.
    """
    response = client.get(f"/admin/stores/{store.store.id}/{name}", follow_redirects=False)
    assert (303, "/admin/login") == (response.status_code, response.headers["location"])


class _InlineFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if "style" in names or tag == "style" or any(n.startswith("on") for n in names):
            self.found.append(tag)
        if tag == "script" and "src" not in names:
            self.found.append(tag)


@pytest.mark.usefixtures("erin", "catalog")
@pytest.mark.parametrize("name", PAGES)
def test_the_pages_hold_no_inline_style_or_script_and_link_each_other(
    signed_in: Callable[..., TestClient], store: CreatedStore, name: str
) -> None:
    """
    The CSP forbids inline style and script; each page links the overview and the other two,
    and the overview links all three.
    """
    client = signed_in()
    page = client.get(f"/admin/stores/{store.store.id}/{name}")
    finder = _InlineFinder()
    finder.feed(page.text)
    assert [] == finder.found
    others = [p for p in PAGES if p != name]
    for other in others:
        assert f'href="/admin/stores/{store.store.id}/{other}"' in page.text
    overview = client.get(f"/admin/stores/{store.store.id}").text
    assert f'href="/admin/stores/{store.store.id}/{name}"' in overview
