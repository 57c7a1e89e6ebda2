"""
The dashboard's settings page (`/admin/stores/{id}/settings`) through the real app and
database: store settings and the peak-season calendar, attribution windows, quiet hours
(read-only, from the flows), API keys and their rotation. Every change is visible afterwards;
bad input is a 400 page that changes nothing; a POST without the CSRF token or from another
origin is refused; another operator's store is 404; a rotated key stops working at once.
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

from cartback.bootstrap import Container
from cartback.domain.operators import Operator
from cartback.domain.reports import AttributionWindows
from cartback.domain.stores import Store
from cartback.engine.clock import SimulatedClock
from cartback.kit.keys import digest_key
from cartback.kit.passwords import Argon2Hasher
from cartback.services.api_keys import list_keys
from cartback.services.attribution_settings import read_attribution_settings
from cartback.services.flows import apply_flows
from cartback.services.operators import create_operator
from cartback.services.stores import CreatedStore, get_store
from helpers import auth

PASSWORD = "correct horse battery staple"
#: Cheap argon2 parameters for test operators.
CHEAP = Argon2Hasher(Argon2(time_cost=1, memory_cost=1024, parallelism=1))
VALID_STORE_FORM = {
    "name": "Renamed Shop",
    "abandon_after": "45m",
    "recovery_window": "5d",
    "timezone": "America/New_York",
    "country": "us",
    "consent_region": "strict",
    "peak_periods": "2026-11-27..2026-12-01",
    "peak_delay_factor": "2",
    "peak_max_touches": "1",
    "peak_pause_discounts": "on",
}


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


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def _signed_in(client: TestClient) -> str:
    """
    Sign in as ops@example.com and return the session's CSRF token.
    """
    form = client.get("/admin/login")
    response = client.post(
        "/admin/login",
        data={"csrf_token": _token(form.text), "email": "ops@example.com", "password": PASSWORD},
        follow_redirects=False,
    )
    assert 303 == response.status_code, response.text
    return _token(client.get("/admin/stores").text)


def _store(container: Container, created: CreatedStore) -> Store:
    return get_store(uow=container.uow_factory(read_only=True), store_id=created.store.id)


def _windows(container: Container, created: CreatedStore) -> AttributionWindows:
    return read_attribution_settings(
        uow=container.uow_factory(read_only=True), store_id=created.store.id
    )


def _keys(container: Container, created: CreatedStore) -> list[Any]:
    return list_keys(uow=container.uow_factory(read_only=True), store_id=created.store.id)


def _settings(created: CreatedStore, part: str = "") -> str:
    return f"/admin/stores/{created.store.id}/settings{part}"


def _snapshot(container: Container, created: CreatedStore) -> tuple[Any, ...]:
    """
    Everything the page's forms could change.
    """
    return _store(container, created), _windows(container, created), _keys(container, created)


@pytest.fixture
def signed_in(
    client: TestClient, store: CreatedStore, operator_factory: Callable[..., Operator]
) -> str:
    """
    An operator of the test's store, signed in; the session's CSRF token.
    """
    operator_factory("ops@example.com", store.store.id)
    return _signed_in(client)


# --- the page -------------------------------------------------------------------------------


def test_the_page_shows_the_settings_windows_quiet_hours_and_key_prefixes_never_keys(
    client: TestClient, store: CreatedStore, signed_in: str
) -> None:
    """
    The store's values fill the forms; the keys appear as prefixes, never whole or hashed.
    """
    response = client.get(_settings(store))
    assert 200 == response.status_code
    html = response.text
    assert 'value="Test Shop"' in html
    assert 'value="Europe/Berlin"' in html
    assert 'value="30m"' in html
    assert 'name="click_window" type="text" value="7d"' in html
    assert 'name="send_window" type="text" value="1d"' in html
    assert "<td>sms</td><td>09:00-20:00</td>" in html
    assert f"/admin/stores/{store.store.id}/flows" in html
    for key in (store.secret_key, store.public_key):
        assert key[:12] in html
        assert key not in html
        assert digest_key(key) not in html
    assert html.count('method="post"') == html.count('name="csrf_token"')


def test_the_page_shows_the_quiet_hours_of_the_applied_flow_file(
    client: TestClient, container: Container, clock: SimulatedClock, store: CreatedStore
) -> None:
    """
    A flow file's `defaults.quiet_hours` is what the page shows.
    """
    flows = """
defaults:
  quiet_hours: {sms: "10:00-18:00", email: "07:00-22:00"}
flows:
  - name: cart-recovery
    trigger: {stages: [cart, checkout], inactive_for: 30m}
    steps:
      - {wait: 1h, channel: email, template: reminder}
"""
    apply_flows(uow=container.uow_factory(), clock=clock, store_id=store.store.id, text=flows)
    create_operator(
        uow=container.uow_factory(),
        hasher=CHEAP,
        now=clock.now(),
        email="ops@example.com",
        password=PASSWORD,
        all_stores=True,
        store_ids=(),
    )
    _signed_in(client)
    html = client.get(_settings(store)).text
    assert "<td>email</td><td>07:00-22:00</td>" in html
    assert "<td>sms</td><td>10:00-18:00</td>" in html
    assert "runs the shipped flows" not in html


def test_the_page_redirects_to_sign_in_without_a_session(
    client: TestClient, store: CreatedStore
) -> None:
    """
    No session: the page and its forms lead to the sign-in page, and nothing changes.
    """
    page = client.get(_settings(store), follow_redirects=False)
    post = client.post(_settings(store, "/keys"), data={"kind": "secret"}, follow_redirects=False)
    assert [303, 303] == [page.status_code, post.status_code]
    assert "/admin/login" == post.headers["location"]


# --- store settings -------------------------------------------------------------------------


def test_a_valid_store_form_is_saved_and_shown_with_a_notice(
    client: TestClient, container: Container, store: CreatedStore, signed_in: str
) -> None:
    """
    Name, timing, zone, country, consent region and peak season change through
    `update_store`; the page afterwards shows them and says they were saved.
    """
    # when
    response = client.post(
        _settings(store, "/store"),
        data={"csrf_token": signed_in, **VALID_STORE_FORM},
        follow_redirects=False,
    )
    # then
    assert 303 == response.status_code, response.text
    assert _settings(store, "?saved=store") == response.headers["location"]
    saved = _store(container, store)
    assert ("Renamed Shop", timedelta(minutes=45), timedelta(days=5)) == (
        saved.name,
        saved.abandon_after,
        saved.recovery_window,
    )
    assert ("America/New_York", "US", "strict") == (
        saved.timezone,
        saved.country,
        saved.consent_policy.region.value,
    )
    season = saved.peak_season
    assert season is not None
    assert (2.0, 1, True) == (season.delay_factor, season.max_touches, season.pause_discounts)
    page = client.get(response.headers["location"]).text
    assert "Store settings saved." in page
    assert 'value="Renamed Shop"' in page
    assert 'value="2026-11-27..2026-12-01"' in page
    assert '<option value="strict" selected>' in page


def test_an_empty_peak_calendar_turns_peak_season_off(
    client: TestClient, container: Container, store: CreatedStore, signed_in: str
) -> None:
    """
    Clearing the peak days removes the calendar (its options are ignored then).
    """
    client.post(
        _settings(store, "/store"), data={"csrf_token": signed_in, **VALID_STORE_FORM}
    ).raise_for_status()
    form = {**VALID_STORE_FORM, "peak_periods": "", "peak_delay_factor": "nonsense"}
    response = client.post(
        _settings(store, "/store"), data={"csrf_token": signed_in, **form}, follow_redirects=False
    )
    assert 303 == response.status_code, response.text
    assert _store(container, store).peak_season is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "must be 1 to 200 characters"),
        ("abandon_after", "soon", "is not a duration"),
        ("abandon_after", "40d", "must be between 1m and 30d"),
        ("recovery_window", "10m", "must be between 1h and 90d"),
        ("timezone", "Mars/Olympus", "is not an IANA time zone"),
        ("country", "USA", "two-letter ISO 3166"),
        ("consent_region", "moon", "must be one of"),
        ("peak_periods", "2026-12-01..2026-11-27", "cannot end before"),
        ("peak_delay_factor", "20", "between 1 and 10"),
        ("peak_max_touches", "many", "whole number"),
    ],
)
def test_a_bad_store_value_is_a_400_page_with_the_fields_error_and_nothing_changes(
    client: TestClient,
    container: Container,
    store: CreatedStore,
    signed_in: str,
    field: str,
    value: str,
    message: str,
) -> None:
    """
    One bad field among good ones: the form again, 400, the error next to that field, the
    submitted values kept, and the store as it was.
    """
    # given
    before = _snapshot(container, store)
    # when
    form = {**VALID_STORE_FORM, field: value}
    response = client.post(_settings(store, "/store"), data={"csrf_token": signed_in, **form})
    # then
    assert 400 == response.status_code
    found = re.search(
        rf'<span class="field-error" id="error-{field}">([^<]*)</span>', response.text
    )
    assert found, response.text
    assert message in found.group(1)
    assert 1 == response.text.count('class="field-error"')
    assert "Nothing was changed." in response.text
    assert before == _snapshot(container, store)


def test_several_bad_store_values_are_all_reported(
    client: TestClient, container: Container, store: CreatedStore, signed_in: str
) -> None:
    """
    Every invalid field gets its own error in the one answer.
    """
    form = {**VALID_STORE_FORM, "timezone": "Nowhere", "country": "123", "recovery_window": "1m"}
    response = client.post(_settings(store, "/store"), data={"csrf_token": signed_in, **form})
    assert 400 == response.status_code
    for field in ("timezone", "country", "recovery_window"):
        assert f'id="error-{field}"' in response.text


# --- attribution windows ----------------------------------------------------------------------


def test_attribution_windows_are_saved_and_an_empty_field_is_the_default(
    client: TestClient, container: Container, store: CreatedStore, signed_in: str
) -> None:
    """
    3 days after a click, 12 hours after a send; then an empty click window is 7 days again.
    """
    response = client.post(
        _settings(store, "/attribution"),
        data={"csrf_token": signed_in, "click_window": "3d", "send_window": "12h"},
        follow_redirects=False,
    )
    assert 303 == response.status_code, response.text
    assert AttributionWindows(click=timedelta(days=3), send=timedelta(hours=12)) == _windows(
        container, store
    )
    page = client.get(response.headers["location"]).text
    assert "Attribution windows saved." in page
    assert 'name="click_window" type="text" value="3d"' in page
    client.post(
        _settings(store, "/attribution"),
        data={"csrf_token": signed_in, "click_window": "", "send_window": "12h"},
    ).raise_for_status()
    assert AttributionWindows(send=timedelta(hours=12)) == _windows(container, store)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"click_window": "45d", "send_window": "1d"}, "click_window"),
        ({"click_window": "7d", "send_window": "10m"}, "send_window"),
        ({"click_window": "7d", "send_window": "a while"}, "send_window"),
    ],
)
def test_a_bad_attribution_window_is_a_400_page_and_nothing_changes(
    client: TestClient,
    container: Container,
    store: CreatedStore,
    signed_in: str,
    data: dict[str, str],
    field: str,
) -> None:
    """
    Out of range or not a duration: the field's error, the windows as they were.
    """
    before = _snapshot(container, store)
    response = client.post(_settings(store, "/attribution"), data={"csrf_token": signed_in, **data})
    assert 400 == response.status_code
    assert f'id="error-{field}"' in response.text
    assert before == _snapshot(container, store)


# --- API keys ---------------------------------------------------------------------------------


def test_rotating_the_secret_key_shows_it_once_and_the_old_one_is_refused(
    client: TestClient, container: Container, store: CreatedStore, signed_in: str
) -> None:
    """
    The answer shows the new key with `Cache-Control: no-store`; the old key, accepted (and
    cached) just before, is refused on `/v1/carts/x` right after; the new one is accepted;
    the settings page lists the old one as revoked and never shows the new key again.
    """
    # given: the old key works (and is in the key cache)
    assert 404 == client.get("/v1/carts/x", headers=auth(store.secret_key)).status_code
    # when
    response = client.post(
        _settings(store, "/keys"), data={"csrf_token": signed_in, "kind": "secret"}
    )
    # then
    assert 200 == response.status_code, response.text
    assert "no-store" == response.headers["cache-control"]
    found = re.search(r'<code id="new-key">(cb_sk_[^<]+)</code>', response.text)
    assert found, response.text
    new_key = found.group(1)
    assert 401 == client.get("/v1/carts/x", headers=auth(store.secret_key)).status_code
    assert 404 == client.get("/v1/carts/x", headers=auth(new_key)).status_code
    page = client.get(_settings(store)).text
    assert new_key not in page
    assert new_key[:12] in page
    assert 1 == page.count("revoked ")
    assert [("public", True), ("secret", False), ("secret", True)] == sorted(
        (k.kind.value, k.revoked_at is None) for k in _keys(container, store)
    )


def test_rotating_the_public_key_leaves_the_secret_key_working(
    client: TestClient, store: CreatedStore, signed_in: str
) -> None:
    """
    The old public key is unknown afterwards (401); the new one is a public key (403 on a
    server endpoint); the secret key still reads.
    """
    assert 403 == client.get("/v1/carts/x", headers=auth(store.public_key)).status_code
    response = client.post(
        _settings(store, "/keys"), data={"csrf_token": signed_in, "kind": "public"}
    )
    assert 200 == response.status_code, response.text
    found = re.search(r'<code id="new-key">(cb_pk_[^<]+)</code>', response.text)
    assert found, response.text
    assert 401 == client.get("/v1/carts/x", headers=auth(store.public_key)).status_code
    assert 403 == client.get("/v1/carts/x", headers=auth(found.group(1))).status_code
    assert 404 == client.get("/v1/carts/x", headers=auth(store.secret_key)).status_code


@pytest.mark.parametrize("kind", ["", "private", "all"])
def test_an_unknown_key_kind_is_a_400_page_and_no_key_changes(
    client: TestClient, container: Container, store: CreatedStore, signed_in: str, kind: str
) -> None:
    """
    Only secret and public rotate.
    """
    before = _snapshot(container, store)
    response = client.post(_settings(store, "/keys"), data={"csrf_token": signed_in, "kind": kind})
    assert 400 == response.status_code
    assert 'id="error-kind"' in response.text
    assert before == _snapshot(container, store)


# --- CSRF and scoping ---------------------------------------------------------------------------

POSTS = [
    ("/store", VALID_STORE_FORM),
    ("/attribution", {"click_window": "2d", "send_window": "2h"}),
    ("/keys", {"kind": "secret"}),
]


@pytest.mark.parametrize(("part", "data"), POSTS, ids=["store", "attribution", "keys"])
@pytest.mark.parametrize(
    ("token", "headers"),
    [
        (None, {}),
        ("wrong", {}),
        ("session", {"Origin": "https://evil.example"}),
        ("session", {"Referer": "https://evil.example/page"}),
    ],
    ids=["missing", "wrong", "foreign-origin", "foreign-referer"],
)
def test_a_post_without_the_token_or_from_another_site_is_refused_and_changes_nothing(
    client: TestClient,
    container: Container,
    store: CreatedStore,
    signed_in: str,
    part: str,
    data: dict[str, str],
    token: str | None,
    headers: dict[str, str],
) -> None:
    """
    Each form refuses a missing or wrong CSRF token and a foreign origin with a 403 page.
    """
    before = _snapshot(container, store)
    posted = dict(data)
    if token is not None:
        posted["csrf_token"] = signed_in if token == "session" else token
    response = client.post(
        _settings(store, part), data=posted, headers=headers, follow_redirects=False
    )
    assert 403 == response.status_code
    assert "text/html" in response.headers["content-type"]
    assert before == _snapshot(container, store)


def test_another_stores_settings_answer_404_and_change_nothing(
    client: TestClient,
    container: Container,
    store_factory: Callable[..., CreatedStore],
    operator_factory: Callable[..., Operator],
) -> None:
    """
    An operator of store A gets, for store B's page and each of its forms (with a valid
    token), the same 404 as for a store that does not exist; B stays as it was.
    """
    # given
    mine = store_factory(name="Mine")
    theirs = store_factory(name="Theirs")
    operator_factory("ops@example.com", mine.store.id)
    token = _signed_in(client)
    before = _snapshot(container, theirs)
    # when
    answers: list[httpx.Response] = [client.get(_settings(theirs))]
    for part, data in POSTS:
        answers.append(client.post(_settings(theirs, part), data={"csrf_token": token, **data}))
    answers.append(client.get("/admin/stores/st_does_not_exist/settings"))
    answers.append(
        client.post(
            "/admin/stores/st_does_not_exist/settings/keys",
            data={"csrf_token": token, "kind": "secret"},
        )
    )
    # then
    assert [404] * 6 == [a.status_code for a in answers]
    assert 1 == len({a.text for a in answers})
    for answer in answers:
        assert "Theirs" not in answer.text
        assert "cb_sk_" not in answer.text
    assert before == _snapshot(container, theirs)
    assert 404 == client.get("/v1/carts/x", headers=auth(theirs.secret_key)).status_code
