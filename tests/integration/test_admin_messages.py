"""
The dashboard's messages pages (`/admin/stores/{store}/messages`, `.../previews`) through the
real app and database: the outbox's messages newest first with their cart, touch status and
reason, filters and keyset pages, one message with its recipient and text, its HTML from its
own route under a sandboxing CSP (framed only by the dashboard), every flow step rendered
for an example cart, and another store's messages answering 404 like a missing one.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher as Argon2
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import update

from cartback.bootstrap import Container
from cartback.domain.operators import Operator
from cartback.domain.ports import MessageFilters, OutboxMessage
from cartback.engine.clock import SimulatedClock
from cartback.kit.passwords import Argon2Hasher
from cartback.services.dashboard_messages import list_messages
from cartback.services.flows import apply_flows
from cartback.services.operators import create_operator
from cartback.services.stores import CreatedStore
from cartback.store.tables import touches
from helpers import auth, identify, track

PASSWORD = "correct horse battery staple"
FLOWS = """
flows:
  - name: cart-recovery
    trigger: {stages: [cart, checkout], inactive_for: 30m}
    steps:
      - {wait: 1h, channel: email, template: reminder}
      - wait: 23h
        channel: email
        template: resolution
        offer: {kind: percent, value: 10, expires_in: 48h}
"""
EMAIL_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; sandbox; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'self'"
)
#: Cheap argon2 parameters for test operators.
CHEAP = Argon2Hasher(Argon2(time_cost=1, memory_cost=1024, parallelism=1))


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
    form = client.get("/admin/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    response = client.post(
        "/admin/login",
        data={"csrf_token": token.group(1), "email": email, "password": PASSWORD},
        follow_redirects=False,
    )
    assert 303 == response.status_code, response.text


def _cart(client: TestClient, store: CreatedStore, clock: SimulatedClock, key: str) -> None:
    anonymous_id = f"anon-{key}"
    batch: list[dict[str, Any]] = [
        identify(anonymous_id=anonymous_id, at=clock.now(), email=f"{key}@example.com"),
        track(
            "Product Added",
            anonymous_id=anonymous_id,
            at=clock.now(),
            cart_id=key,
            product_id="p-1",
            name="Blue mug",
            price=25,
            quantity=2,
        ),
    ]
    response = client.post("/v1/batch", json={"batch": batch}, headers=auth(store.secret_key))
    assert 200 == response.status_code, response.text


def _run(container: Container) -> None:
    worker = container.new_worker(name="messages-test")
    for _ in range(10):
        timers = worker.run_pass()
        dispatched = worker.dispatch_pass()
        if not timers.processed and not dispatched.processed:
            return


def _messages(container: Container, store: CreatedStore) -> dict[str, OutboxMessage]:
    """
    The store's kept messages by the recipient's local part (the cart key).
    """
    with container.uow_factory(read_only=True) as uow:
        found = uow.outbox.list_for_store(store.store.id, cart_key=None, channel=None, limit=100)
    return {m.to.split("@")[0]: m for m in found}


def _cart_id(container: Container, store: CreatedStore, key: str) -> str:
    with container.uow_factory(read_only=True) as uow:
        record = uow.carts.get(store.store.id, key)
    assert record is not None
    return record.id


def _with_messages(
    client: TestClient, container: Container, clock: SimulatedClock, store: CreatedStore
) -> None:
    """
    Carts `older` and `newer` (20 minutes apart) abandoned, each first step sent 30 minutes
    apart, so `newer`'s message is the newest.
    """
    apply_flows(uow=container.uow_factory(), clock=clock, store_id=store.store.id, text=FLOWS)
    _cart(client, store, clock, "older")
    clock.advance(timedelta(minutes=20))
    _cart(client, store, clock, "newer")
    clock.advance(timedelta(minutes=11))
    _run(container)  # `older` abandoned
    clock.advance(timedelta(hours=1))
    _run(container)  # `older`'s first step sent, `newer` abandoned
    clock.advance(timedelta(minutes=30))
    _run(container)  # `newer`'s first step sent


@pytest.fixture
def shop(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    store_factory: Callable[..., CreatedStore],
    operator_factory: Callable[..., Operator],
) -> CreatedStore:
    """
    A US store with two kept emails (`older`, `newer`) and an operator of every store signed in.
    """
    store = store_factory(name="Shop", country="US", timezone="America/New_York")
    _with_messages(client, container, clock, store)
    assert {"older", "newer"} == set(_messages(container, store))
    operator_factory()
    _sign_in(client)
    return store


def _rows(page: str) -> list[str]:
    """
    The cart keys of the list's rows, top to bottom.
    """
    return re.findall(r'/carts/[^"]+">([^<]+)</a>', page)


def _escaped(text: str) -> str:
    """
    The text as the dashboard's templates escape it.
    """
    return str(escape(text))


def _urls(page: str) -> list[str]:
    return re.findall(r'(?:href|src|action)="([^"]*)"', page)


# --- the list -----------------------------------------------------------------------------


def test_the_list_shows_the_stores_messages_newest_first_with_cart_status_and_subject(
    client: TestClient, container: Container, shop: CreatedStore
) -> None:
    """
    Each row links the message and its cart's page, and shows channel, flow, step and the
    touch's status; recipients' addresses never appear in a URL.
    """
    # given
    kept = _messages(container, shop)
    # when
    page = client.get(f"/admin/stores/{shop.store.id}/messages")
    # then
    assert 200 == page.status_code
    assert ["newer", "older"] == _rows(page.text)
    sid = shop.store.id
    for key in ("newer", "older"):
        assert f'href="/admin/stores/{sid}/messages/{kept[key].id}"' in page.text
        assert f'href="/admin/stores/{sid}/carts/{_cart_id(container, shop, key)}"' in page.text
        assert _escaped(kept[key].subject or "") in page.text
    assert ["sent", "sent"] == re.findall(r'class="status status-(\w+)"', page.text)
    assert "cart-recovery" in page.text
    assert not [url for url in _urls(page.text) if "@" in url]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"channel": "email"}, ["newer", "older"]),
        ({"channel": "sms"}, []),
        ({"status": "sent"}, ["older"]),
        ({"status": "failed"}, ["newer"]),
        ({"status": "failed", "channel": "email"}, ["newer"]),
        ({"status": "skipped"}, []),
        ({"channel": "", "status": ""}, ["newer", "older"]),
    ],
)
def test_the_list_filters_by_channel_and_touch_status(
    client: TestClient,
    container: Container,
    shop: CreatedStore,
    query: dict[str, str],
    expected: list[str],
) -> None:
    """
    Channel and the touch's status narrow the list; a failed touch shows its reason.
    """
    # given: the provider later reported `newer`'s email as failed
    failed = _messages(container, shop)["newer"].touch_id
    with container.engine.begin() as connection:
        connection.execute(
            update(touches).where(touches.c.id == failed).values(status="failed", reason="bounced")
        )
    # when
    page = client.get(f"/admin/stores/{shop.store.id}/messages", params=query)
    # then
    assert 200 == page.status_code
    assert expected == _rows(page.text)
    assert ("bounced" in page.text) == ("newer" in expected)


@pytest.mark.parametrize(
    "query",
    [{"channel": "fax"}, {"status": "nonsense"}, {"cursor": "not-a-cursor"}, {"cursor": "W10"}],
)
def test_a_bad_filter_is_a_400_page(
    client: TestClient, shop: CreatedStore, query: dict[str, str]
) -> None:
    """
    Unknown values and foreign cursors get a page saying what is wrong, never a trace.
    """
    page = client.get(f"/admin/stores/{shop.store.id}/messages", params=query)
    assert 400 == page.status_code
    assert "text/html" in page.headers["content-type"]
    assert "Invalid filter" in page.text


def test_the_list_pages_with_a_cursor(
    client: TestClient, container: Container, shop: CreatedStore
) -> None:
    """
    Keyset pages: a page of one ends with a cursor that the page's URL continues from, and
    the last page has none.
    """
    # given
    operator = next(iter(_operators(container)))
    first = list_messages(
        uow=container.uow_factory(read_only=True),
        operator=operator,
        store_id=shop.store.id,
        filters=MessageFilters(),
        limit=1,
    )
    assert first.next_cursor is not None
    # when
    second = client.get(
        f"/admin/stores/{shop.store.id}/messages", params={"cursor": first.next_cursor}
    )
    # then
    assert ["newer"] == [s.cart_key for s in first.summaries]
    assert ["older"] == _rows(second.text)
    assert 'rel="next"' not in second.text


def _operators(container: Container) -> list[Operator]:
    with container.uow_factory(read_only=True) as uow:
        return uow.operators.list_all()


def test_the_next_link_keeps_the_filters(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    store_factory: Callable[..., CreatedStore],
    operator_factory: Callable[..., Operator],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    With more messages than a page holds, the page links the next one, filters kept.
    """
    # given
    from cartback.services import dashboard_messages

    store = store_factory(country="US", timezone="America/New_York")
    _with_messages(client, container, clock, store)
    operator_factory()
    _sign_in(client)
    monkeypatch.setattr(dashboard_messages, "PAGE_SIZE", 1)
    # when
    first = client.get(f"/admin/stores/{store.store.id}/messages", params={"channel": "email"})
    found = re.search(r'href="\?([^"]+)" rel="next"', first.text)
    assert found, first.text
    second = client.get(f"/admin/stores/{store.store.id}/messages?{html.unescape(found[1])}")
    # then
    assert "channel=email" in html.unescape(found[1])
    assert ["newer"] == _rows(first.text)
    assert ["older"] == _rows(second.text)


# --- one message ------------------------------------------------------------------------


def test_a_message_page_shows_subject_recipient_text_and_frames_the_html(
    client: TestClient, container: Container, shop: CreatedStore
) -> None:
    """
    The recipient is shown (operators are trusted) but in no URL; the text is shown escaped;
    the HTML is only in a sandboxed frame without scripts, from its own route.
    """
    # given
    message = _messages(container, shop)["older"]
    sid = shop.store.id
    # when
    page = client.get(f"/admin/stores/{sid}/messages/{message.id}")
    # then
    assert 200 == page.status_code
    assert "older@example.com" in page.text
    assert _escaped(message.subject or "") in page.text
    text = re.search(r'<pre class="message-text" id="message-text">(.*?)</pre>', page.text, re.S)
    assert text is not None
    assert _escaped(message.text) == text[1]
    frames = re.findall(r"<iframe[^>]*>", page.text)
    assert 1 == len(frames)
    assert " sandbox " in frames[0]
    assert "allow-" not in frames[0]
    assert f'src="/admin/stores/{sid}/messages/{message.id}/html"' in frames[0]
    assert f'href="/admin/stores/{sid}/carts/{_cart_id(container, shop, "older")}"' in page.text
    assert message.html is not None
    assert message.html not in page.text
    assert not [url for url in _urls(page.text) if "@" in url]


def test_the_dashboard_may_frame_only_its_own_pages(client: TestClient, shop: CreatedStore) -> None:
    """
    The message page's CSP allows frames from the dashboard's origin, and still forbids
    anyone from framing the page itself.
    """
    page = client.get(f"/admin/stores/{shop.store.id}/messages")
    policy = page.headers["content-security-policy"]
    assert "frame-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "DENY" == page.headers["x-frame-options"]


def test_the_html_route_serves_the_email_under_its_own_sandboxing_policy(
    client: TestClient, container: Container, shop: CreatedStore
) -> None:
    """
    The email's own HTML (inline styles and all), with a CSP that runs no script, loads only
    https and data images, sandboxes the document and lets only the dashboard frame it.
    """
    # given
    message = _messages(container, shop)["newer"]
    # when
    response = client.get(f"/admin/stores/{shop.store.id}/messages/{message.id}/html")
    # then
    assert 200 == response.status_code
    assert response.headers["content-type"].startswith("text/html")
    assert message.html == response.text
    assert EMAIL_CSP == response.headers["content-security-policy"]
    assert 1 == len(response.headers.get_list("content-security-policy"))
    assert "SAMEORIGIN" == response.headers["x-frame-options"]
    assert "nosniff" == response.headers["x-content-type-options"]
    assert "no-store" == response.headers["cache-control"]


def test_the_html_route_needs_a_session(client: TestClient, store: CreatedStore) -> None:
    """
    Without a session the HTML route sends to the sign-in page, like every other page.
    """
    response = client.get(
        f"/admin/stores/{store.store.id}/messages/ms_x/html", follow_redirects=False
    )
    assert 303 == response.status_code
    assert "/admin/login" == response.headers["location"]


def test_an_unknown_message_of_a_visible_store_is_404(
    client: TestClient, shop: CreatedStore
) -> None:
    """
    A message id that is not the store's answers the 404 page, on both routes.
    """
    sid = shop.store.id
    assert 404 == client.get(f"/admin/stores/{sid}/messages/ms_nope").status_code
    assert 404 == client.get(f"/admin/stores/{sid}/messages/ms_nope/html").status_code


# --- scoping ------------------------------------------------------------------------------


def test_another_stores_messages_answer_404_with_no_data(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    store_factory: Callable[..., CreatedStore],
    operator_factory: Callable[..., Operator],
) -> None:
    """
    An operator of store A asking for B's list, B's message or its HTML through B's URL or
    through A's gets the same 404 as for a store that does not exist.
    """
    # given
    mine = store_factory(name="Mine")
    theirs = store_factory(name="Theirs", country="US", timezone="America/New_York")
    _with_messages(client, container, clock, theirs)
    secret = _messages(container, theirs)["older"]
    operator_factory("ops@example.com", mine.store.id)
    _sign_in(client)
    # when
    answers = [
        client.get(f"/admin/stores/{theirs.store.id}/messages"),
        client.get(f"/admin/stores/{theirs.store.id}/messages/{secret.id}"),
        client.get(f"/admin/stores/{theirs.store.id}/messages/{secret.id}/html"),
        client.get(f"/admin/stores/{mine.store.id}/messages/{secret.id}"),
        client.get(f"/admin/stores/{mine.store.id}/messages/{secret.id}/html"),
        client.get(f"/admin/stores/{theirs.store.id}/previews"),
        client.get(f"/admin/stores/{theirs.store.id}/previews/cart-recovery/0/html"),
        client.get("/admin/stores/st_does_not_exist/messages"),
    ]
    # then
    assert [404] * len(answers) == [a.status_code for a in answers]
    assert 1 == len({a.text for a in answers})
    for answer in answers:
        assert "older@example.com" not in answer.text
        assert "Theirs" not in answer.text
        assert (secret.subject or "-") not in answer.text


# --- step previews ------------------------------------------------------------------------


def test_the_previews_page_renders_every_step_of_every_flow_in_sandboxed_frames(
    client: TestClient, container: Container, clock: SimulatedClock, shop: CreatedStore
) -> None:
    """
    Each step shows its channel, template, subject and text, and frames its HTML from the
    step's own route; nothing is written.
    """
    # given
    before = _messages(container, shop)
    sid = shop.store.id
    # when
    page = client.get(f"/admin/stores/{sid}/previews")
    # then
    assert 200 == page.status_code
    assert 'id="preview-cart-recovery-0"' in page.text
    assert 'id="preview-cart-recovery-1"' in page.text
    assert "template <code>reminder</code>" in page.text
    assert "template <code>resolution</code>" in page.text
    assert "PREVIEW10" in page.text  # the second step's example offer, in its text
    frames = re.findall(r"<iframe[^>]*>", page.text)
    expected = [f"/admin/stores/{sid}/previews/cart-recovery/{step}/html" for step in (0, 1)]
    assert expected == re.findall(r'<iframe[^>]* src="([^"]+)"', page.text)
    assert all(" sandbox " in f and "allow-" not in f for f in frames)
    assert before == _messages(container, shop)


def test_a_steps_preview_html_has_the_sandboxing_policy(
    client: TestClient, shop: CreatedStore
) -> None:
    """
    A step's rendered email comes from its own route with the email CSP, like a message's.
    """
    response = client.get(f"/admin/stores/{shop.store.id}/previews/cart-recovery/1/html")
    assert 200 == response.status_code
    assert "PREVIEW10" in response.text
    assert "<html" in response.text.lower()
    assert EMAIL_CSP == response.headers["content-security-policy"]
    assert "SAMEORIGIN" == response.headers["x-frame-options"]


@pytest.mark.parametrize(
    "path",
    [
        "no-such-flow/0/html",
        "cart-recovery/2/html",
        "cart-recovery/x/html",
        "cart-recovery/-1/html",
    ],
)
def test_an_unknown_flow_or_step_preview_is_404(
    client: TestClient, shop: CreatedStore, path: str
) -> None:
    """
    A flow the store does not have, a step past its last, or not a number: the 404 page.
    """
    response = client.get(f"/admin/stores/{shop.store.id}/previews/{path}")
    assert 404 == response.status_code
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_a_store_without_flows_files_previews_the_shipped_flows(
    client: TestClient, store: CreatedStore, operator_factory: Callable[..., Operator]
) -> None:
    """
    A store that applied no flow file previews the flows it runs: the shipped defaults.
    """
    operator_factory()
    _sign_in(client)
    page = client.get(f"/admin/stores/{store.store.id}/previews")
    assert 200 == page.status_code
    assert 'class="preview"' in page.text


# --- the strict CSP -----------------------------------------------------------------------


def test_the_pages_load_no_inline_script_or_style(
    client: TestClient, container: Container, shop: CreatedStore
) -> None:
    """
    The list, a message and the previews carry no inline style or script: the emails' own
    styles stay inside their frames.
    """
    sid = shop.store.id
    message = _messages(container, shop)["older"]
    for path in ("messages", f"messages/{message.id}", "previews"):
        page = client.get(f"/admin/stores/{sid}/{path}")
        assert 200 == page.status_code, path
        assert "<style" not in page.text
        assert " style=" not in page.text
        assert re.findall(r"<script[^>]*>", page.text) == [
            '<script src="/admin/static/htmx.min.js" defer>'
        ]
