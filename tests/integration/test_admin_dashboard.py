"""
The dashboard (`/admin`) through the real app and database: sign-in (one answer for every
refusal, throttled, rehashed), server-side sessions (sign-out, idle and absolute expiry),
CSRF refusals that change nothing, security headers, and pages scoped to the operator's
stores (another store answers 404, never data).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher as Argon2
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cartback.bootstrap import Container
from cartback.domain.operators import Operator
from cartback.engine.clock import SimulatedClock
from cartback.kit.passwords import Argon2Hasher
from cartback.services.flows import apply_flows
from cartback.services.operators import create_operator, disable_operator
from cartback.services.stores import CreatedStore
from cartback.store.tables import operator_sessions, operators
from helpers import auth, identify, track

PASSWORD = "correct horse battery staple"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
FLOWS = """
flows:
  - name: cart-recovery
    trigger: {stages: [cart, checkout], inactive_for: 30m}
    steps:
      - {wait: 1h, channel: email, template: reminder}
      - {wait: 23h, channel: email, template: support}
"""
#: Argon2 parameters for test operators, other than the app's (the suite's `cheapest`).
CHEAP = Argon2Hasher(Argon2(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def operator_factory(container: Container) -> Callable[..., Operator]:
    """
    Creates operators (cheap hashes) for every store or the given ones.
    """

    def make(email: str = "ops@example.com", *stores: str, password: str = PASSWORD) -> Operator:
        return create_operator(
            uow=container.uow_factory(),
            hasher=CHEAP,
            now=container.clock.now(),
            email=email,
            password=password,
            all_stores=not stores,
            store_ids=stores,
        )

    return make


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def _sign_in(client: TestClient, email: str, password: str = PASSWORD) -> httpx.Response:
    form = client.get("/admin/login")
    assert 200 == form.status_code
    return client.post(
        "/admin/login",
        data={"csrf_token": _token(form.text), "email": email, "password": password},
        follow_redirects=False,
    )


def _signed_in(client: TestClient, email: str = "ops@example.com") -> str:
    """
    Sign in and return the page's CSRF token.
    """
    response = _sign_in(client, email)
    assert 303 == response.status_code, response.text
    assert "/admin/stores" == response.headers["location"]
    return _token(client.get("/admin/stores").text)


def _sessions(container: Container) -> int:
    with container.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(operator_sessions)).scalar())


def _post(client: TestClient, store: CreatedStore, *messages: dict[str, Any]) -> None:
    response = client.post(
        "/v1/batch", json={"batch": list(messages)}, headers=auth(store.secret_key)
    )
    assert 200 == response.status_code, response.text


def _cart(
    client: TestClient, store: CreatedStore, clock: SimulatedClock, key: str, **traits: Any
) -> None:
    anonymous_id = f"anon-{key}"
    messages = [identify(anonymous_id=anonymous_id, at=clock.now(), **traits)] if traits else []
    messages.append(
        track(
            "Product Added",
            anonymous_id=anonymous_id,
            at=clock.now(),
            cart_id=key,
            product_id="p-1",
            name="Blue mug",
            price=25,
            quantity=2,
        )
    )
    _post(client, store, *messages)


def _cart_id(container: Container, store: CreatedStore, key: str) -> str:
    with container.uow_factory(read_only=True) as uow:
        record = uow.carts.get(store.store.id, key)
    assert record is not None
    return record.id


# --- sign-in ----------------------------------------------------------------------------


def test_signing_in_sets_a_strict_http_only_session_cookie_and_shows_the_stores(
    client: TestClient,
    operator_factory: Callable[..., Operator],
    store_factory: Callable[..., CreatedStore],
) -> None:
    """
    The cookie is HttpOnly, SameSite=Strict, Path=/admin (not Secure over plain http), and
    the store picker lists only the operator's stores.
    """
    # given
    mine = store_factory(name="Mine")
    store_factory(name="Theirs")
    operator_factory("ops@example.com", mine.store.id)
    # when
    response = _sign_in(client, "OPS@example.com")
    # then
    assert 303 == response.status_code
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and "session" in v
    )
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Path=/admin" in cookie
    assert "Secure" not in cookie
    page = client.get("/admin/stores")
    assert 200 == page.status_code
    assert "Mine" in page.text
    assert "Theirs" not in page.text


def test_the_session_cookie_is_secure_over_https(
    container: Container, operator_factory: Callable[..., Operator]
) -> None:
    """
    Over https the cookie gets `Secure` as well.
    """
    from cartback.api.app import create_app

    operator_factory()
    with TestClient(create_app(container), base_url="https://testserver") as secure_client:
        response = _sign_in(secure_client, "ops@example.com")
    assert 303 == response.status_code
    assert "Secure" in response.headers["set-cookie"]


def test_wrong_password_unknown_email_and_disabled_operator_get_the_same_answer(
    client: TestClient, container: Container, operator_factory: Callable[..., Operator]
) -> None:
    """
    The three refusals are the same status and the same page (but for the fresh form token),
    and open no session.
    """
    # given
    operator_factory("ops@example.com")
    operator_factory("gone@example.com")
    disable_operator(
        uow=container.uow_factory(), now=container.clock.now(), email="gone@example.com"
    )
    # when
    answers = [
        _sign_in(client, "ops@example.com", "wrong password, long enough"),
        _sign_in(client, "nobody@example.com"),
        _sign_in(client, "gone@example.com"),
        _sign_in(client, "not an email"),
    ]
    # then
    assert {401} == {a.status_code for a in answers}
    bodies = {re.sub(r'value="[^"]{20,}"', "", a.text) for a in answers}
    assert 1 == len(bodies)
    assert "Wrong email or password." in answers[0].text
    assert 0 == _sessions(container)


def test_repeated_failures_are_throttled_even_with_the_right_password_afterwards(
    client: TestClient, container: Container, operator_factory: Callable[..., Operator]
) -> None:
    """
    Five wrong passwords in a row, then the sixth attempt is refused with 429 and Retry-After
    before the password is even checked.
    """
    operator_factory()
    for _ in range(5):
        assert 401 == _sign_in(client, "ops@example.com", "wrong password, long enough").status_code
    response = _sign_in(client, "ops@example.com")
    assert 429 == response.status_code
    assert int(response.headers["retry-after"]) > 0
    assert 0 == _sessions(container)


def test_a_hash_with_old_parameters_is_replaced_at_sign_in(
    client: TestClient, container: Container, operator_factory: Callable[..., Operator]
) -> None:
    """
    The operator was hashed with other parameters; signing in stores a hash with the
    configured profile's (the suite's `cheapest`).
    """
    configured = Argon2Hasher.for_profile(container.settings.password_hash_profile)
    operator = operator_factory()
    assert configured.needs_rehash(operator.password_hash)
    _signed_in(client)
    with container.engine.connect() as connection:
        stored = connection.execute(select(operators.c.password_hash)).scalar_one()
    assert not configured.needs_rehash(stored)
    assert configured.verify(stored, PASSWORD)


def test_pages_redirect_to_sign_in_without_a_session(
    client: TestClient, store: CreatedStore
) -> None:
    """
    Every page asks for a session first (and tells nothing about the store).
    """
    for path in ("/admin", "/admin/stores", f"/admin/stores/{store.store.id}/carts"):
        response = client.get(path, follow_redirects=True)
        assert 200 == response.status_code
        assert response.url.path == "/admin/login"


# --- sessions ---------------------------------------------------------------------------


def test_signing_out_ends_the_session_on_the_server(
    client: TestClient, container: Container, operator_factory: Callable[..., Operator]
) -> None:
    """
    After sign-out the old cookie opens nothing, even when a client replays it.
    """
    operator_factory()
    csrf = _signed_in(client)
    token = client.cookies.get("cartback_session")
    assert token
    # when
    response = client.post("/admin/logout", data={"csrf_token": csrf}, follow_redirects=False)
    # then
    assert 303 == response.status_code
    assert 0 == _sessions(container)
    client.cookies.set("cartback_session", token, path="/admin")
    replay = client.get("/admin/stores", follow_redirects=False)
    assert 303 == replay.status_code
    assert "/admin/login" == replay.headers["location"]


def test_an_idle_session_expires(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    operator_factory: Callable[..., Operator],
) -> None:
    """
    Thirty minutes without a request end the session, and its row is deleted.
    """
    operator_factory()
    _signed_in(client)
    clock.advance(timedelta(minutes=29))
    assert 200 == client.get("/admin/stores", follow_redirects=False).status_code
    clock.advance(timedelta(minutes=31))
    assert 303 == client.get("/admin/stores", follow_redirects=False).status_code
    assert 0 == _sessions(container)


def test_a_busy_session_still_ends_at_its_absolute_expiry(
    client: TestClient, clock: SimulatedClock, operator_factory: Callable[..., Operator]
) -> None:
    """
    A request every 20 minutes keeps the session alive until 12 hours after sign-in.
    """
    operator_factory()
    _signed_in(client)
    for _ in range(35):  # 11 h 40 min
        clock.advance(timedelta(minutes=20))
        assert 200 == client.get("/admin/stores", follow_redirects=False).status_code
    clock.advance(timedelta(minutes=20))
    assert 303 == client.get("/admin/stores", follow_redirects=False).status_code


def test_disabling_an_operator_ends_their_sessions(
    client: TestClient, container: Container, operator_factory: Callable[..., Operator]
) -> None:
    """
    `operator disable` deletes the sessions at once.
    """
    operator_factory()
    _signed_in(client)
    disable_operator(
        uow=container.uow_factory(), now=container.clock.now(), email="ops@example.com"
    )
    assert 303 == client.get("/admin/stores", follow_redirects=False).status_code


# --- CSRF -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "headers"),
    [
        ({}, {}),
        ({"csrf_token": "not-the-token"}, {}),
        ({"csrf_token": ""}, {}),
    ],
    ids=["missing", "wrong", "empty"],
)
def test_a_post_without_the_sessions_csrf_token_is_refused_and_changes_nothing(
    client: TestClient,
    container: Container,
    operator_factory: Callable[..., Operator],
    data: dict[str, str],
    headers: dict[str, str],
) -> None:
    """
    Sign-out without the right token: 403 page, the session lives on.
    """
    operator_factory()
    _signed_in(client)
    response = client.post("/admin/logout", data=data, headers=headers, follow_redirects=False)
    assert 403 == response.status_code
    assert "text/html" in response.headers["content-type"]
    assert 1 == _sessions(container)
    assert 200 == client.get("/admin/stores", follow_redirects=False).status_code


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
    ],
    ids=["origin", "null-origin", "referer"],
)
def test_a_post_from_another_origin_is_refused_even_with_the_token(
    client: TestClient,
    container: Container,
    operator_factory: Callable[..., Operator],
    headers: dict[str, str],
) -> None:
    """
    A foreign Origin (or Referer, without an Origin) is refused although the token is right.
    """
    operator_factory()
    csrf = _signed_in(client)
    response = client.post(
        "/admin/logout", data={"csrf_token": csrf}, headers=headers, follow_redirects=False
    )
    assert 403 == response.status_code
    assert 1 == _sessions(container)


def test_a_post_from_our_own_origin_is_accepted(
    client: TestClient, container: Container, operator_factory: Callable[..., Operator]
) -> None:
    """
    The browser's own Origin passes.
    """
    operator_factory()
    csrf = _signed_in(client)
    response = client.post(
        "/admin/logout",
        data={"csrf_token": csrf},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert 303 == response.status_code
    assert 0 == _sessions(container)


def test_a_sign_in_without_the_forms_token_is_refused(
    client: TestClient, container: Container, operator_factory: Callable[..., Operator]
) -> None:
    """
    The sign-in form's token must match its cookie (login CSRF); a bare POST opens nothing.
    """
    operator_factory()
    client.get("/admin/login")
    for data in (
        {"email": "ops@example.com", "password": PASSWORD},
        {"email": "ops@example.com", "password": PASSWORD, "csrf_token": "forged"},
    ):
        response = client.post("/admin/login", data=data, follow_redirects=False)
        assert 403 == response.status_code
    assert 0 == _sessions(container)


def test_an_oversized_form_is_refused(
    client: TestClient, container: Container, operator_factory: Callable[..., Operator]
) -> None:
    """
    A body larger than any of our forms is refused without reading it all.
    """
    operator_factory()
    response = client.post(
        "/admin/login", data={"email": "x" * 40_000, "password": "p"}, follow_redirects=False
    )
    assert 403 == response.status_code
    assert 0 == _sessions(container)


# --- headers and static files -----------------------------------------------------------


def test_every_admin_response_has_the_security_headers(
    client: TestClient, store: CreatedStore, operator_factory: Callable[..., Operator]
) -> None:
    """
    Pages, redirects and 404s under /admin carry the strict CSP, nosniff, same-origin
    referrers and no-store.
    """
    operator_factory()
    responses = [client.get("/admin/login"), client.get("/admin/stores", follow_redirects=False)]
    _signed_in(client)
    responses += [
        client.get("/admin/stores"),
        client.get(f"/admin/stores/{store.store.id}/carts"),
        client.get("/admin/stores/st_nope/carts"),
    ]
    for response in responses:
        assert CSP == response.headers["content-security-policy"], response.url
        assert "nosniff" == response.headers["x-content-type-options"]
        assert "same-origin" == response.headers["referrer-policy"]
        assert "no-store" == response.headers["cache-control"]
    assert "content-security-policy" not in client.get("/healthz").headers


def test_pages_load_no_inline_script_or_style(
    client: TestClient, store: CreatedStore, operator_factory: Callable[..., Operator]
) -> None:
    """
    Scripts and styles come only from files under /admin/static/ (the CSP allows nothing
    else), and those files are served from the package.
    """
    operator_factory()
    _signed_in(client)
    html = client.get(f"/admin/stores/{store.store.id}/carts").text
    assert "<style" not in html
    assert " style=" not in html
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/admin/static/htmx.min.js" defer>']
    for name, media in (("htmx.min.js", "text/javascript"), ("admin.css", "text/css")):
        served = client.get(f"/admin/static/{name}")
        assert 200 == served.status_code
        assert served.headers["content-type"].startswith(media)
        assert "no-store" not in served.headers["cache-control"]
    assert 404 == client.get("/admin/static/..%2Fpage.css").status_code
    assert 404 == client.get("/admin/static/cartback.js").status_code


# --- scoping ----------------------------------------------------------------------------


def test_another_stores_carts_and_cart_pages_answer_404_with_no_data(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    store_factory: Callable[..., CreatedStore],
    operator_factory: Callable[..., Operator],
) -> None:
    """
    An operator of store A asking for store B's carts, for B's cart through B's URL, or
    for B's cart through A's URL, gets the same 404 as for a store that does not exist.
    """
    # given
    mine = store_factory(name="Mine")
    theirs = store_factory(name="Theirs")
    _cart(client, theirs, clock, "secret-cart", email="victim@example.com")
    their_cart = _cart_id(container, theirs, "secret-cart")
    operator_factory("ops@example.com", mine.store.id)
    _signed_in(client)
    # when
    answers = [
        client.get(f"/admin/stores/{theirs.store.id}/carts"),
        client.get(f"/admin/stores/{theirs.store.id}/carts/{their_cart}"),
        client.get(f"/admin/stores/{mine.store.id}/carts/{their_cart}"),
        client.get("/admin/stores/st_does_not_exist/carts"),
    ]
    # then
    assert [404] * 4 == [a.status_code for a in answers]
    assert 1 == len({a.text for a in answers})
    for answer in answers:
        assert "secret-cart" not in answer.text
        assert "victim" not in answer.text
        assert "Theirs" not in answer.text


# --- carts list and timeline ------------------------------------------------------------


@pytest.fixture
def shop(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    store_factory: Callable[..., CreatedStore],
    operator_factory: Callable[..., Operator],
) -> CreatedStore:
    """
    A US store with a recovery flow: `with-contact` abandoned (and enrolled, first touch sent),
    `anonymous` abandoned, `fresh` still active; an operator signed in.
    """
    store = store_factory(name="Shop", country="US", timezone="America/New_York")
    apply_flows(uow=container.uow_factory(), clock=clock, store_id=store.store.id, text=FLOWS)
    _cart(client, store, clock, "with-contact", email="ada@example.com")
    _cart(client, store, clock, "anonymous")
    worker = container.new_worker(name="test")
    clock.advance(timedelta(minutes=31))
    for _ in range(5):
        worker.run_pass()
        worker.dispatch_pass()
    clock.advance(timedelta(hours=1))
    for _ in range(5):
        worker.run_pass()
        worker.dispatch_pass()
    _cart(client, store, clock, "fresh")
    operator_factory()
    _signed_in(client)
    return store


def _keys(html: str) -> list[str]:
    return re.findall(r'/carts/[^"]+">([^<]+)</a>', html)


def test_the_carts_list_shows_a_stores_carts_newest_first(
    client: TestClient, shop: CreatedStore
) -> None:
    """
    Every cart of the store, newest first, with its status and total.
    """
    page = client.get(f"/admin/stores/{shop.store.id}/carts")
    assert 200 == page.status_code
    assert ["fresh", "anonymous", "with-contact"] == _keys(page.text)
    assert "50.00 USD" in page.text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "abandoned"}, ["anonymous", "with-contact"]),
        ({"status": "active"}, ["fresh"]),
        ({"stage": "checkout"}, []),
        ({"contact": "yes"}, ["with-contact"]),
        ({"contact": "no"}, ["fresh", "anonymous"]),
        (
            {"abandoned_from": "2026-11-27", "abandoned_to": "2026-11-27"},
            ["anonymous", "with-contact"],
        ),
        ({"abandoned_from": "2026-11-28"}, []),
        ({"abandoned_to": "2026-11-26"}, []),
    ],
)
def test_the_carts_list_filters(
    client: TestClient, shop: CreatedStore, query: dict[str, str], expected: list[str]
) -> None:
    """
    Status, stage, contact and abandonment days (both included) narrow the list.
    """
    page = client.get(f"/admin/stores/{shop.store.id}/carts", params=query)
    assert 200 == page.status_code
    assert sorted(expected) == sorted(_keys(page.text))


def test_the_carts_list_pages_with_a_cursor(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    store_factory: Callable[..., CreatedStore],
    operator_factory: Callable[..., Operator],
) -> None:
    """
    Keyset pages of 50: the second page continues where the first ended, with the filters kept.
    """
    store = store_factory()
    for n in range(55):
        clock.advance(timedelta(seconds=1))
        _cart(client, store, clock, f"cart-{n:02d}")
    operator_factory()
    _signed_in(client)
    first = client.get(f"/admin/stores/{store.store.id}/carts", params={"status": "active"})
    found = re.search(r'href="\?([^"]+)" rel="next"', first.text)
    assert found
    second = client.get(
        f"/admin/stores/{store.store.id}/carts?{found.group(1).replace('&amp;', '&')}"
    )
    assert 50 == len(_keys(first.text))
    assert [f"cart-{n:02d}" for n in range(4, -1, -1)] == _keys(second.text)
    assert 'rel="next"' not in second.text


@pytest.mark.parametrize(
    "query",
    [
        {"status": "nonsense"},
        {"stage": "x"},
        {"contact": "maybe"},
        {"abandoned_from": "yesterday"},
        {"cursor": "not-a-cursor"},
    ],
)
def test_a_bad_filter_is_a_400_page(
    client: TestClient, shop: CreatedStore, query: dict[str, str]
) -> None:
    """
    Unknown values get a page saying what is wrong, never a trace.
    """
    page = client.get(f"/admin/stores/{shop.store.id}/carts", params=query)
    assert 400 == page.status_code
    assert "text/html" in page.headers["content-type"]


def test_a_carts_timeline_shows_events_enrollment_touches_and_lines(
    client: TestClient, container: Container, shop: CreatedStore
) -> None:
    """
    The cart page: its lines, contact, raw events, the enrollment, each touch with its status
    (the first sent, the second scheduled), merged into one dated timeline.
    """
    cart_id = _cart_id(container, shop, "with-contact")
    page = client.get(f"/admin/stores/{shop.store.id}/carts/{cart_id}")
    assert 200 == page.status_code
    html = page.text
    assert "Blue mug" in html
    assert "ada@example.com" in html
    assert "Product Added" in html
    assert "enrolled in cart-recovery" in html
    assert "cart-recovery step 0 (email) sent" in html
    assert "cart-recovery step 1 (email) scheduled" in html
    assert "cart abandoned" in html
    touches = html.split('id="touches"')[1].split("</table>")[0]
    assert ["sent", "scheduled"] == re.findall(r'class="status status-(\w+)"', touches)


def test_an_unknown_cart_of_a_visible_store_is_404(client: TestClient, shop: CreatedStore) -> None:
    """
    A cart id that is not the store's answers the same 404 page.
    """
    assert 404 == client.get(f"/admin/stores/{shop.store.id}/carts/ca_nope").status_code
