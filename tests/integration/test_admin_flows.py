"""
The dashboard's flows page (`/admin/stores/{store}/flows`) through the real app and database:
the installed flows and their source (or the built-in defaults), a check that shows every
error with its line or the dry run's numbers on carts left through the API on the simulated
clock, an apply only of the very text checked, CSRF and foreign origins refused, too large
texts refused, another store 404; nothing is written but by a checked apply.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from argon2 import PasswordHasher as Argon2
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cartback.bootstrap import Container
from cartback.domain.operators import Operator
from cartback.engine.clock import SimulatedClock
from cartback.services.dashboard_flows import checked_digest
from cartback.services.flows import apply_flows, list_flows, shipped_source
from cartback.services.operators import create_operator
from cartback.services.stores import CreatedStore
from cartback.store.tables import metadata
from helpers import auth, identify, track

PASSWORD = "correct horse battery staple"
#: Cheap argon2 parameters for test operators.
CHEAP = Argon2(time_cost=1, memory_cost=1024, parallelism=1)
INSTALLED = """flows:
  - name: cart-recovery
    trigger: {stages: [cart, checkout], inactive_for: 30m}
    steps:
      - {wait: 1h, channel: email, template: reminder}
      - {wait: 23h, channel: email, template: support}
defaults:
  frequency_cap: {messages: 5, per: 24h}
"""
TRIED = """flows:
  - name: tried
    trigger: {stages: [cart, checkout]}
    steps:
      - {wait: 1h, channel: email, template: reminder}
      - {wait: 23h, channel: email, template: support}
      - wait: 48h
        channel: email
        template: resolution
        offer: {kind: percent, value: 10, expires_in: 48h, when: "cart.total >= 30"}
defaults:
  frequency_cap: {messages: 5, per: 24h}
"""
#: Two errors: an unknown stage on line 3 and a bad duration on line 5.
BAD = TRIED.replace("[cart, checkout]", "[cart, basket]").replace("wait: 1h", "wait: soon")


@pytest.fixture
def operator_factory(container: Container) -> Callable[..., Operator]:
    """
    Creates operators (cheap hashes) for every store or the given ones.
    """
    from cartback.kit.passwords import Argon2Hasher

    hasher = Argon2Hasher(CHEAP)

    def make(email: str = "ops@example.com", *stores: str) -> Operator:
        return create_operator(
            uow=container.uow_factory(),
            hasher=hasher,
            now=container.clock.now(),
            email=email,
            password=PASSWORD,
            all_stores=not stores,
            store_ids=stores,
        )

    return make


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def _sign_in(client: TestClient, email: str = "ops@example.com") -> str:
    """
    Sign in and return the session's CSRF token.
    """
    form = client.get("/admin/login")
    response = client.post(
        "/admin/login",
        data={"csrf_token": _token(form.text), "email": email, "password": PASSWORD},
        follow_redirects=False,
    )
    assert 303 == response.status_code, response.text
    return _token(client.get("/admin/stores").text)


def _post(client: TestClient, store: CreatedStore, *messages: dict[str, Any]) -> None:
    response = client.post(
        "/v1/batch", json={"batch": list(messages)}, headers=auth(store.secret_key)
    )
    assert 200 == response.status_code, response.text


def _leave(
    client: TestClient,
    store: CreatedStore,
    clock: SimulatedClock,
    name: str,
    price: int,
    *,
    email: bool = True,
) -> None:
    anonymous = f"anon-{name}"
    messages = [
        track(
            "Product Added",
            anonymous_id=anonymous,
            at=clock.now(),
            cart_id=f"c-{name}",
            product_id="p-1",
            name="Mug",
            price=price,
            quantity=1,
        )
    ]
    if email:
        messages.insert(0, identify(anonymous_id=anonymous, at=clock.now(), email=f"{name}@x.io"))
    _post(client, store, *messages)


def _run(container: Container) -> None:
    worker = container.new_worker(name="flows-page-test")
    for _ in range(20):
        timers = worker.run_pass()
        dispatched = worker.dispatch_pass()
        if not timers.processed and not dispatched.processed:
            return


def _row_counts(container: Container) -> dict[str, int]:
    with container.engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in metadata.sorted_tables
        }


def _installed_version(container: Container, store: CreatedStore) -> tuple[int, list[str]]:
    listing = list_flows(uow=container.uow_factory(read_only=True), store_id=store.store.id)
    return listing.version, [view.name for view in listing.flows]


@pytest.fixture
def shop(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    store_factory: Callable[..., CreatedStore],
    operator_factory: Callable[..., Operator],
) -> CreatedStore:
    """
    A US store (UTC) running INSTALLED (version 1): ada (40) and bob (25) leave carts with
    their email, cal (25) too and orders 2 h later, and an anonymous shopper leaves one (20);
    then 5 days pass. An operator of the store is signed in.
    """
    store = store_factory(name="Shop", country="US", timezone="UTC")
    apply_flows(uow=container.uow_factory(), clock=clock, store_id=store.store.id, text=INSTALLED)
    for name, price in (("ada", 40), ("bob", 25), ("cal", 25)):
        _leave(client, store, clock, name, price)
    _leave(client, store, clock, "anon", 20, email=False)
    clock.advance(timedelta(minutes=31))
    _run(container)
    clock.advance(timedelta(hours=2))
    _post(
        client,
        store,
        track(
            "Order Completed",
            anonymous_id="anon-cal",
            at=clock.now(),
            cart_id="c-cal",
            order_id="o-cal",
            total=25,
            currency="USD",
        ),
    )
    _run(container)
    clock.advance(timedelta(days=5))
    operator_factory("ops@example.com", store.store.id)
    return store


class _Tables(HTMLParser):
    """
    The text of every cell of every table with an id, row by row (header rows left out), and
    every tag with its attributes.
    """

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if tag == "table" and found.get("id"):
            self._table = str(found["id"])
            self.tables[self._table] = []
        elif tag == "thead":
            self._head = True
        elif tag == "tr" and self._table and not self._head:
            self.tables[self._table].append([])
        elif tag == "td" and self._table and not self._head:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == "thead":
            self._head = False
        elif tag == "td" and self._table and self._cell is not None:
            self.tables[self._table][-1].append(" ".join(" ".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _parse(html: str) -> _Tables:
    page = _Tables()
    page.feed(html)
    return page


def _page(client: TestClient, store: CreatedStore) -> str:
    response = client.get(f"/admin/stores/{store.store.id}/flows")
    assert 200 == response.status_code, response.text
    return response.text


def _check(client: TestClient, store: CreatedStore, text: str, **fields: str) -> Any:
    data = {"csrf_token": _token(_page(client, store)), "yaml": text} | fields
    return client.post(f"/admin/stores/{store.store.id}/flows/check", data=data)


def _apply(client: TestClient, store_id: str, data: dict[str, str], **kwargs: Any) -> Any:
    return client.post(
        f"/admin/stores/{store_id}/flows/apply", data=data, follow_redirects=False, **kwargs
    )


def _checked(html: str) -> str | None:
    found = re.search(r'name="checked" value="([^"]+)"', html)
    return found.group(1) if found else None


# --- view ----------------------------------------------------------------------------------


def test_the_page_shows_the_applied_flows_and_their_source(
    client: TestClient, shop: CreatedStore
) -> None:
    """
    Name, version, trigger and steps of each flow, and the file exactly as applied.
    """
    # given
    _sign_in(client)
    # when
    html = _page(client, shop)
    # then
    page = _parse(html)
    assert [
        [
            "cart-recovery",
            "1",
            "0",
            "cart/checkout after 30m idle",
            "every cart",
            "0.0%",
            "1h email reminder 23h email support",
        ]
    ] == page.tables["flows"]
    assert "Applied flow file, version 1." in html
    source = re.search(r'<pre id="source">(.*?)</pre>', html, re.S)
    assert source
    assert INSTALLED == source.group(1)
    assert re.search(r'<textarea id="yaml" name="yaml"[^>]*>\n' + re.escape(INSTALLED), html)


def test_a_store_that_applied_nothing_shows_the_builtin_defaults_labelled_so(
    client: TestClient,
    store_factory: Callable[..., CreatedStore],
    operator_factory: Callable[..., Operator],
) -> None:
    """
    The shipped flows, version 0, and the text of `cartback/flows/defaults.yaml`.
    """
    # given
    store = store_factory(name="Fresh")
    operator_factory("ops@example.com", store.store.id)
    _sign_in(client)
    # when
    html = _page(client, store)
    # then
    names = [row[0] for row in _parse(html).tables["flows"]]
    assert ["checkout-high-value", "checkout-recovery", "cart-recovery"] == names[:3]
    assert "built-in defaults" in html
    assert "cartback/flows/defaults.yaml" in html
    assert "checkout-high-value" in shipped_source()
    assert "Applied flow file" not in html


def test_the_page_holds_no_inline_script_or_style(client: TestClient, shop: CreatedStore) -> None:
    """
    The CSP forbids inline code: no `style` attribute or element, no script without `src`,
    after a check too.
    """
    # given
    _sign_in(client)
    # when
    pages = [_page(client, shop), _check(client, shop, TRIED).text, _check(client, shop, BAD).text]
    # then
    for html in pages:
        tags = _parse(html).tags
        assert not [t for t, attrs in tags if "style" in attrs or t == "style"]
        assert all(attrs.get("src") for t, attrs in tags if t == "script")


# --- check ---------------------------------------------------------------------------------


def test_a_valid_file_is_dry_run_on_the_last_7_days_and_nothing_is_written(
    client: TestClient, shop: CreatedStore, container: Container
) -> None:
    """
    ada, bob and cal enroll (the anonymous cart has no contact): each gets step 1, cal's
    later steps are cancelled by her order, ada and bob get steps 2 and 3; the offer (carts of
    30 or more) goes to ada and is left out for bob. Apply is offered; no row changes.
    """
    # given
    _sign_in(client)
    before = _row_counts(container)
    # when
    response = _check(client, shop, TRIED)
    # then
    assert 200 == response.status_code, response.text
    assert before == _row_counts(container)
    tables = _parse(response.text).tables
    assert [["tried", "3", "0"]] == tables["enrolled"]
    assert [["no_contact", "1"]] == tables["not-enrolled"]
    assert [
        ["tried", "1", "email", "-", "3"],
        ["tried", "2", "email", "-", "2"],
        ["tried", "3", "email", "-", "2"],
    ] == tables["sent"]
    assert [["tried", "3", "10% off", "1", "1"]] == tables["offers"]
    assert [["cancelled", "ordered", "2"]] == tables["held"]
    assert "4 carts went idle; 7 touches would have been sent" in response.text
    assert 'id="apply"' in response.text
    assert _checked(response.text)


def test_an_invalid_file_shows_every_error_with_its_line_and_no_apply(
    client: TestClient, shop: CreatedStore, container: Container
) -> None:
    """
    400, the unknown stage (line 3) and the bad duration (line 5) with their paths, the text
    kept in the form, no Apply button, nothing written.
    """
    # given
    _sign_in(client)
    before = _row_counts(container)
    # when
    response = _check(client, shop, BAD)
    # then
    assert 400 == response.status_code
    errors = re.findall(
        r'<li class="flow-error">line (\d+), column \d+: <code>([^<]+)</code>', response.text
    )
    assert [("3", "flows[0].trigger.stages[1]"), ("5", "flows[0].steps[0].wait")] == errors
    assert "The file has 2 errors" in response.text
    assert "wait: soon" in response.text
    assert 'id="apply"' not in response.text
    assert _checked(response.text) is None
    assert 'id="dry-run"' not in response.text
    assert before == _row_counts(container)


def test_crlf_line_endings_from_a_browser_give_the_same_lines(
    client: TestClient, shop: CreatedStore
) -> None:
    """
    Browsers post a textarea with CRLF: the errors' lines are the file's lines all the same.
    """
    # given
    _sign_in(client)
    # when
    response = _check(client, shop, BAD.replace("\n", "\r\n"))
    # then
    assert 400 == response.status_code
    assert ["3", "5"] == re.findall(r'<li class="flow-error">line (\d+),', response.text)


# --- apply ---------------------------------------------------------------------------------


def test_apply_after_a_check_installs_the_file_and_redirects_with_a_notice(
    client: TestClient, shop: CreatedStore, container: Container
) -> None:
    """
    The checked text with its digest: 303 to the page, version 2 runs `tried`, the page says so
    and shows the new source.
    """
    # given
    _sign_in(client)
    checked = _check(client, shop, TRIED)
    data = {"csrf_token": _token(checked.text), "yaml": TRIED, "checked": _checked(checked.text)}
    # when
    response = _apply(client, shop.store.id, data)
    # then
    assert 303 == response.status_code, response.text
    assert f"/admin/stores/{shop.store.id}/flows?applied=2" == response.headers["location"]
    assert (2, ["tried"]) == _installed_version(container, shop)
    page = client.get(response.headers["location"])
    assert "Applied: the store now runs version 2." in page.text
    assert "tried" == _parse(page.text).tables["flows"][0][0]


@pytest.mark.parametrize(
    "change",
    ["no digest", "text changed", "other text's digest", "other store's digest"],
)
def test_apply_of_a_text_not_checked_as_such_is_refused_and_changes_nothing(
    client: TestClient,
    shop: CreatedStore,
    container: Container,
    store_factory: Callable[..., CreatedStore],
    change: str,
) -> None:
    """
    400 with a refusal, the installed flows stay version 1.
    """
    # given
    _sign_in(client)
    csrf = _token(_page(client, shop))
    digest = _checked(_check(client, shop, TRIED).text) or ""
    other = store_factory(name="Other").store.id
    data = {
        "no digest": {"yaml": TRIED},
        "text changed": {"yaml": TRIED.replace("48h", "72h"), "checked": digest},
        "other text's digest": {
            "yaml": TRIED,
            "checked": checked_digest(secret=csrf, store_id=shop.store.id, text=INSTALLED),
        },
        "other store's digest": {
            "yaml": TRIED,
            "checked": checked_digest(secret=csrf, store_id=other, text=TRIED),
        },
    }[change]
    before = _row_counts(container)
    # when
    response = _apply(client, shop.store.id, {"csrf_token": csrf} | data)
    # then
    assert 400 == response.status_code
    assert 'id="refusal"' in response.text
    assert (1, ["cart-recovery"]) == _installed_version(container, shop)
    assert before == _row_counts(container)


def test_apply_of_invalid_yaml_is_a_400_page_with_its_errors(
    client: TestClient, shop: CreatedStore, container: Container
) -> None:
    """
    A digest made by hand for a bad file (the check never hands one out): the parser of
    `flows apply` still refuses it, with every error; nothing is applied.
    """
    # given
    _sign_in(client)
    csrf = _token(_page(client, shop))
    digest = checked_digest(secret=csrf, store_id=shop.store.id, text=BAD)
    # when
    response = _apply(client, shop.store.id, {"csrf_token": csrf, "yaml": BAD, "checked": digest})
    # then
    assert 400 == response.status_code
    assert ["3", "5"] == re.findall(r'<li class="flow-error">line (\d+),', response.text)
    assert (1, ["cart-recovery"]) == _installed_version(container, shop)


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["check", "apply"])
@pytest.mark.parametrize(
    ("token", "headers"),
    [
        (None, {}),
        ("not-the-token", {}),
        ("", {}),
        ("own", {"Origin": "https://evil.example"}),
        ("own", {"Referer": "https://evil.example/page"}),
    ],
    ids=["missing", "wrong", "empty", "foreign-origin", "foreign-referer"],
)
def test_a_post_without_the_sessions_csrf_token_or_from_elsewhere_is_refused(
    client: TestClient,
    shop: CreatedStore,
    container: Container,
    action: str,
    token: str | None,
    headers: dict[str, str],
) -> None:
    """
    403 page; nothing is checked or applied, even with a good digest.
    """
    # given
    csrf = _sign_in(client)
    data = {
        "yaml": TRIED,
        "checked": checked_digest(secret=csrf, store_id=shop.store.id, text=TRIED),
    }
    if token is not None:
        data["csrf_token"] = csrf if token == "own" else token
    before = _row_counts(container)
    # when
    response = client.post(
        f"/admin/stores/{shop.store.id}/flows/{action}",
        data=data,
        headers=headers,
        follow_redirects=False,
    )
    # then
    assert 403 == response.status_code
    assert 'id="dry-run"' not in response.text
    assert (1, ["cart-recovery"]) == _installed_version(container, shop)
    assert before == _row_counts(container)


@pytest.mark.parametrize("action", ["page", "check", "apply"])
def test_another_store_answers_404_like_no_store(
    client: TestClient,
    shop: CreatedStore,
    container: Container,
    store_factory: Callable[..., CreatedStore],
    action: str,
) -> None:
    """
    The operator sees only `shop`: another store and a made-up id are both 404, the same page,
    and the other store's flows stay as they were.
    """
    # given
    hidden = store_factory(name="Hidden")
    csrf = _sign_in(client)
    answers = []
    for store_id in (hidden.store.id, "st_nope"):
        data = {
            "csrf_token": csrf,
            "yaml": TRIED,
            "checked": checked_digest(secret=csrf, store_id=store_id, text=TRIED),
        }
        # when
        if action == "page":
            response = client.get(f"/admin/stores/{store_id}/flows")
        else:
            response = client.post(f"/admin/stores/{store_id}/flows/{action}", data=data)
        answers.append((response.status_code, "Hidden" in response.text))
    # then
    assert [(404, False), (404, False)] == answers
    assert (0, "defaults") == _hidden_origin(container, hidden)


def _hidden_origin(container: Container, store: CreatedStore) -> tuple[int, str]:
    listing = list_flows(uow=container.uow_factory(read_only=True), store_id=store.store.id)
    return listing.version, listing.origin


@pytest.mark.parametrize("action", ["check", "apply"])
@pytest.mark.parametrize("size", ["text", "body"])
def test_a_text_over_256_kb_is_refused_with_413(
    client: TestClient, shop: CreatedStore, container: Container, action: str, size: str
) -> None:
    """
    A text just over 256 KB (a comment), or a body larger than any such form: 413 page.
    """
    # given
    csrf = _sign_in(client)
    text = TRIED + "#" * (256 * 1024) if size == "text" else "%" * (900 * 1024)
    before = _row_counts(container)
    # when
    response = client.post(
        f"/admin/stores/{shop.store.id}/flows/{action}",
        data={"csrf_token": csrf, "yaml": text},
        follow_redirects=False,
    )
    # then
    assert 413 == response.status_code
    assert "larger than 256 KB" in response.text
    assert before == _row_counts(container)


@pytest.mark.parametrize("action", ["page", "check", "apply"])
def test_without_a_session_the_page_and_its_forms_send_to_the_sign_in(
    client: TestClient, shop: CreatedStore, container: Container, action: str
) -> None:
    """
    303 to /admin/login; nothing applied.
    """
    # when
    if action == "page":
        response = client.get(f"/admin/stores/{shop.store.id}/flows", follow_redirects=False)
    else:
        response = client.post(
            f"/admin/stores/{shop.store.id}/flows/{action}",
            data={"csrf_token": "x", "yaml": TRIED},
            follow_redirects=False,
        )
    # then
    assert 303 == response.status_code
    assert "/admin/login" == response.headers["location"]
    assert (1, ["cart-recovery"]) == _installed_version(container, shop)
