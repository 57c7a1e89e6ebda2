"""
Short restore links (`/s/{code}`): one code per touch, drawn from an unambiguous alphabet; a
live code redirects (303) to the touch's signed restore link, on GET and HEAD, and counts a
person's click on its touch once; an unknown code gets a friendly 404 page, an expired one a
410 page linking to the store.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sms_touch import sms_touch

from cartback.bootstrap import Container
from cartback.engine.clock import SimulatedClock
from cartback.services.links import RestoreLinks
from cartback.services.short_links import ALPHABET, CODE_LENGTH, short_link
from cartback.services.stores import CreatedStore
from helpers import TEST_SECRET

WEEK = timedelta(days=7)
PHONE_BROWSER = {
    "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
}


def _code(container: Container, store: CreatedStore, touch_id: str) -> str:
    with container.uow_factory() as uow:
        code = short_link(
            uow=uow,
            store_id=store.store.id,
            touch_id=touch_id,
            now=container.clock.now(),
            ttl=WEEK,
        )
        uow.commit()
    return code


def test_a_touch_gets_one_code_from_the_unambiguous_alphabet(
    container: Container, store: CreatedStore
) -> None:
    """
    Nine characters without 0/O/1/I/L; asking again for the touch answers the same code.
    """
    # given
    touch = sms_touch(container, store.store.id)

    # when
    first = _code(container, store, touch.id)
    again = _code(container, store, touch.id)

    # then
    assert first == again
    assert CODE_LENGTH == len(first)
    assert set(first) <= set(ALPHABET)
    assert not set("0O1IL") & set(ALPHABET)


def test_a_short_link_is_written_only_with_its_callers_commit(
    container: Container, store: CreatedStore
) -> None:
    """
    The code is part of the caller's transaction: rolled back, it is gone.
    """
    # given
    touch = sms_touch(container, store.store.id)

    # when
    with container.uow_factory() as uow:
        short_link(
            uow=uow, store_id=store.store.id, touch_id=touch.id, now=container.clock.now(), ttl=WEEK
        )

    # then
    with container.uow_factory(read_only=True) as uow:
        assert uow.short_links.for_touch(touch.id) is None


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_live_code_redirects_to_the_touchs_restore_link(
    client: TestClient, container: Container, store: CreatedStore, method: str
) -> None:
    """
    303 to `/r/{token}` naming the store and the touch; lowercase typing works too.
    """
    # given
    touch = sms_touch(container, store.store.id)
    code = _code(container, store, touch.id)

    # when
    response = client.request(method, f"/s/{code.lower()}", follow_redirects=False)

    # then
    assert 303 == response.status_code
    location = response.headers["location"]
    assert location.startswith(container.settings.base_url.rstrip("/") + "/r/")
    links = RestoreLinks(secret_keys=[TEST_SECRET], base_url=container.settings.base_url)
    token = urlsplit(location).path.rsplit("/", 1)[1]
    target = links.read(token)
    assert (store.store.id, touch.id) == (target.store_id, target.touch_id)
    assert "no-store" == response.headers["cache-control"]


@pytest.mark.parametrize(
    "code",
    ["ABCDEFGHJ", "ABCDE", "ABCDEFGHJK", "0OIL1ABCD", "ABC%00DEFG", "%F0%9F%91%8D", "a" * 500],
)
def test_an_unknown_or_malformed_code_gets_a_friendly_404_page(
    client: TestClient, container: Container, store: CreatedStore, code: str
) -> None:
    """
    A code that is not stored, or cannot be one: a page for people, not a problem document,
    that names no code.
    """
    # given: some other touch has a live link
    _code(container, store, sms_touch(container, store.store.id).id)

    # when
    response = client.get(f"/s/{code}", follow_redirects=False)

    # then
    assert 404 == response.status_code
    assert response.headers["content-type"].startswith("text/html")
    assert "This link doesn&#39;t work" in response.text
    assert code not in response.text


def test_an_expired_code_gets_a_410_page_linking_to_the_store(
    client: TestClient, container: Container, store: CreatedStore, clock: SimulatedClock
) -> None:
    """
    Past its time the link no longer restores the cart; the page offers the store's site.
    """
    # given
    touch = sms_touch(container, store.store.id)
    code = _code(container, store, touch.id)
    clock.advance(WEEK)

    # when
    response = client.get(f"/s/{code}", follow_redirects=False)
    head = client.head(f"/s/{code}", follow_redirects=False)

    # then
    assert (410, 410) == (response.status_code, head.status_code)
    assert "This link has expired" in response.text
    assert 'href="https://shop.example.com"' in response.text
    assert "location" not in response.headers


def test_the_page_speaks_the_browsers_language(
    client: TestClient, container: Container, store: CreatedStore
) -> None:
    """
    `Accept-Language: de` gets the German page.
    """
    # when
    response = client.get("/s/ABCDEFGHJ", headers={"Accept-Language": "de-DE,de;q=0.9"})

    # then
    assert 404 == response.status_code
    assert "Dieser Link funktioniert nicht" in response.text


def test_other_methods_are_not_allowed(client: TestClient) -> None:
    """
    A short link is only followed, never posted to.
    """
    # when
    response = client.post("/s/ABCDEFGHJ")

    # then
    assert 405 == response.status_code


def _clicked_at(container: Container, touch_id: str) -> datetime | None:
    with container.uow_factory(read_only=True) as uow:
        touch = uow.touches.get(touch_id)
    assert touch is not None
    return touch.clicked_at


def test_following_a_short_link_counts_the_click_once(
    client: TestClient, container: Container, store: CreatedStore, clock: SimulatedClock
) -> None:
    """
    Two taps on the text's link: the touch keeps the first one's time.
    """
    # given
    touch = sms_touch(container, store.store.id)
    code = _code(container, store, touch.id)
    first = clock.now()

    # when
    client.get(f"/s/{code}", headers=PHONE_BROWSER, follow_redirects=False)
    clock.advance(timedelta(minutes=5))
    client.get(f"/s/{code}", headers=PHONE_BROWSER, follow_redirects=False)

    # then
    assert first == _clicked_at(container, touch.id)


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        pytest.param("HEAD", PHONE_BROWSER, id="head"),
        pytest.param("GET", {"User-Agent": "WhatsApp/2.23.20.0 A"}, id="whatsapp"),
        pytest.param("GET", {"User-Agent": "TelegramBot (like TwitterBot)"}, id="telegram"),
        pytest.param("GET", {**PHONE_BROWSER, "Sec-Purpose": "prefetch"}, id="prefetch"),
    ],
)
def test_a_link_preview_of_a_short_link_is_not_a_click(
    client: TestClient,
    container: Container,
    store: CreatedStore,
    method: str,
    headers: dict[str, str],
) -> None:
    """
    A messenger drawing its preview card gets the redirect, and the touch stays unclicked.
    """
    # given
    touch = sms_touch(container, store.store.id)
    code = _code(container, store, touch.id)

    # when
    response = client.request(method, f"/s/{code}", headers=headers, follow_redirects=False)

    # then
    assert 303 == response.status_code
    assert _clicked_at(container, touch.id) is None
