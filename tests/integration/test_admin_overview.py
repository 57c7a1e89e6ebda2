"""
The dashboard's overview (`/admin/stores/{store}`) through the real app and database: its
numbers are those of `GET /v1/reports/summary` for the same period, its charts parse as SVG,
another store answers 404, a bad period 400, an open health alert shows as a banner, and the
page holds no inline style or script (the CSP forbids them).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from argon2 import PasswordHasher as Argon2
from fastapi.testclient import TestClient

from cartback.bootstrap import Container
from cartback.domain.health import AlertKind, StoreAlert
from cartback.domain.operators import Operator
from cartback.engine.clock import SimulatedClock
from cartback.kit.charts import percent
from cartback.services import enrollment
from cartback.services.flows import apply_flows
from cartback.services.operators import create_operator
from cartback.services.stores import CreatedStore
from helpers import auth, identify, track

PASSWORD = "correct horse battery staple"
FLOWS = """
flows:
  - name: cart-recovery
    trigger: {stages: [cart, checkout], inactive_for: 30m}
    holdout: 0.5
    steps:
      - {wait: 1h, channel: email, template: reminder}
      - {wait: 23h, channel: email, template: support}
"""
#: The simulated clock starts on 2026-11-27 at 10:00 UTC; the carts are abandoned that day.
DAY = "2026-11-27"
#: Cheap argon2 parameters for test operators.
CHEAP = Argon2(time_cost=1, memory_cost=1024, parallelism=1)
SVG = "{http://www.w3.org/2000/svg}"


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


def _post(client: TestClient, store: CreatedStore, *messages: dict[str, Any]) -> None:
    response = client.post(
        "/v1/batch", json={"batch": list(messages)}, headers=auth(store.secret_key)
    )
    assert 200 == response.status_code, response.text


def _leave(
    client: TestClient, store: CreatedStore, clock: SimulatedClock, name: str | None, price: int
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
    if name is not None:
        messages.insert(0, identify(anonymous_id=anonymous, at=clock.now(), email=f"{name}@x.io"))
    _post(client, store, *messages)


def _run(container: Container) -> None:
    worker = container.new_worker(name="overview-test")
    for _ in range(10):
        timers = worker.run_pass()
        dispatched = worker.dispatch_pass()
        if not timers.processed and not dispatched.processed:
            return


@pytest.fixture
def shop(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    store_factory: Callable[..., CreatedStore],
    operator_factory: Callable[..., Operator],
    monkeypatch: pytest.MonkeyPatch,
) -> CreatedStore:
    """
    A US store (UTC) whose flow holds out dan: ada, bob and dan leave carts (40, 25, 30) and an
    anonymous shopper one (20); ada and bob get the first email, ada orders 40 after it
    (recovered; her second email is cancelled `ordered`), dan orders 30 with nothing sent
    (converted). An operator of the store is signed in.
    """
    monkeypatch.setattr(enrollment, "is_withheld", lambda _flow, contact_id: contact_id in held)
    held: set[str] = set()
    store = store_factory(name="Shop", country="US", timezone="UTC")
    apply_flows(uow=container.uow_factory(), clock=clock, store_id=store.store.id, text=FLOWS)
    for name, price in (("ada", 40), ("bob", 25), ("dan", 30), (None, 20)):
        _leave(client, store, clock, name, price)
    dan = client.get("/v1/carts/c-dan", headers=auth(store.secret_key)).json()
    held.add(dan["contact"]["id"])
    clock.advance(timedelta(minutes=31))
    _run(container)
    clock.advance(timedelta(hours=1))
    _run(container)
    clock.advance(timedelta(hours=1))
    for name, total in (("ada", 40), ("dan", 30)):
        _post(
            client,
            store,
            track(
                "Order Completed",
                anonymous_id=f"anon-{name}",
                at=clock.now(),
                cart_id=f"c-{name}",
                order_id=f"o-{name}",
                total=total,
                currency="USD",
            ),
        )
    _run(container)
    operator_factory("ops@example.com", store.store.id)
    _sign_in(client)
    return store


#: Elements without an end tag here (HTML void elements, and the charts' self-closed ones).
_VOID = frozenset({"input", "meta", "link", "br", "img", "rect", "line", "circle"})


class _Page(HTMLParser):
    """
    Every tag with its attributes, and the text inside elements with an id (nested ones too).
    """

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: dict[str, str] = {}
        self._open: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if tag not in _VOID:
            self._open.append(found.get("id"))
            if found.get("id"):
                self.texts.setdefault(str(found["id"]), "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag not in _VOID and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for name in self._open:
            if name:
                self.texts[name] += data


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _kpi(html: str, name: str) -> str:
    found = re.search(rf'id="kpi-{name}">.*?<b class="value">([^<]*)</b>', html)
    assert found, name
    return found.group(1)


def _svg(html: str, name: str) -> ET.Element:
    found = re.search(rf'<figure class="chart" id="{name}">(.*?)</figure>', html, re.S)
    assert found, name
    return ET.fromstring(found.group(1))  # noqa: S314 (our own page's chart)


def _points(value: float) -> str:
    return f"{value * 100:+.1f} pts"


def _summary(client: TestClient, store: CreatedStore, start: str, end: str) -> dict[str, Any]:
    response = client.get(
        "/v1/reports/summary",
        params={"from": f"{start}T00:00:00+00:00", "to": f"{end}T00:00:00+00:00"},
        headers=auth(store.secret_key),
    )
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_overview_shows_the_apis_numbers_for_the_same_period(
    client: TestClient, shop: CreatedStore
) -> None:
    """
    Every KPI tile, the lift and its interval, the funnel's counts and the reasons equal
    `GET /v1/reports/summary` for the same days (to included on the page, excluded in the API).
    """
    # when
    page = client.get(f"/admin/stores/{shop.store.id}", params={"from": DAY, "to": DAY})
    api = _summary(client, shop, DAY, "2026-11-28")
    # then: the hand-computed answer first (4 abandoned, 3 reachable, ada recovered, dan not)
    assert 200 == page.status_code, page.text
    html = page.text
    assert (4, 3, 1, "40.00", 1, "30.00") == (
        api["abandoned_carts"],
        api["reachable_carts"],
        api["recovered_carts"],
        api["recovered_revenue"],
        api["converted_carts"],
        api["converted_revenue"],
    )
    # then: the page says the same
    assert {
        "abandoned": str(api["abandoned_carts"]),
        "reachable": str(api["reachable_carts"]),
        "recovered": str(api["recovered_carts"]),
        "recovery-rate": percent(api["recovery_rate"]),
        "recovered-revenue": f"{api['recovered_revenue']} USD",
        "attributed-revenue": f"{api['attributed_revenue']} USD",
        "net-revenue": f"{api['net_recovered_revenue']} USD",
        "lift": _points(api["holdout"]["lift"]),
    } == {
        name: _kpi(html, name)
        for name in (
            "abandoned",
            "reachable",
            "recovered",
            "recovery-rate",
            "recovered-revenue",
            "attributed-revenue",
            "net-revenue",
            "lift",
        )
    }
    texts = _parse(html).texts
    holdout = api["holdout"]
    assert (
        f"95 % interval {_points(holdout['ci_low'])} to {_points(holdout['ci_high'])}"
        in (texts["kpi-lift"])
    )
    assert holdout["warning"]
    assert holdout["warning"] == texts["holdout-warning"]
    # then: the funnel chart's counts, and the reasons table
    counts = [t.text for t in _svg(html, "funnel").iter(f"{SVG}text") if (t.text or "").isdigit()]
    assert [str(stage["count"]) for stage in api["funnel"]] == counts
    assert {"ordered": 1} == api["cancelled"]
    assert re.search(r"cancelled</span></td><td>ordered</td><td class=\"num\">1<", html)
    assert "Carts abandoned from 2026-11-27 to 2026-11-27" in texts["period"]


def test_the_charts_are_svg_and_the_holdout_has_a_row_per_flow(
    client: TestClient, shop: CreatedStore
) -> None:
    """
    The funnel, the revenue per day (one bar per day of the period) and the holdout (all flows
    and each flow) are well-formed SVG; the holdout table names the flow.
    """
    # when
    html = client.get(f"/admin/stores/{shop.store.id}", params={"from": DAY, "to": DAY}).text
    # then
    assert 7 == len(list(_svg(html, "funnel").iter(f"{SVG}rect")))
    revenue = _svg(html, "revenue")
    bars = list(revenue.iter(f"{SVG}rect"))
    assert ["2026-11-27: 40.00"] == [bar.findtext(f"{SVG}title") for bar in bars]
    holdout = _svg(html, "holdout")
    assert ["all flows", "cart-recovery"] == [
        t.text for t in holdout.iter(f"{SVG}text") if t.get("x") == "0" and t.text != ""
    ][:2]
    assert 2 == len(list(holdout.iter(f"{SVG}circle")))
    assert "cart-recovery" in _parse(html).texts["holdout-table"]


def test_the_default_period_is_the_last_30_days_in_the_stores_time_zone(
    client: TestClient, shop: CreatedStore
) -> None:
    """
    No dates: today and the 29 days before, both in the form and in the numbers.
    """
    # when
    page = client.get(f"/admin/stores/{shop.store.id}")
    api = _summary(client, shop, "2026-10-29", "2026-11-28")
    # then
    assert 200 == page.status_code
    assert 'name="from" value="2026-10-29"' in page.text
    assert 'name="to" value="2026-11-27"' in page.text
    assert str(api["abandoned_carts"]) == _kpi(page.text, "abandoned")
    assert "4" == _kpi(page.text, "abandoned")


def test_the_store_picker_links_to_the_overview_and_the_overview_to_the_carts(
    client: TestClient, shop: CreatedStore
) -> None:
    """
    The picker's store name opens the overview; the overview links the carts page, and the
    carts page links back.
    """
    # when
    picker = client.get("/admin/stores").text
    overview = client.get(f"/admin/stores/{shop.store.id}").text
    carts = client.get(f"/admin/stores/{shop.store.id}/carts").text
    # then
    assert f'<a href="/admin/stores/{shop.store.id}">Shop</a>' in picker
    assert f'href="/admin/stores/{shop.store.id}/carts"' in overview
    assert f'href="/admin/stores/{shop.store.id}"' in carts


def test_the_page_has_no_inline_style_or_script(client: TestClient, shop: CreatedStore) -> None:
    """
    Parsed: no `<style>` element, no `style` or `on…` attribute anywhere (charts included),
    and the only script is the vendored htmx file.
    """
    # when
    page = _parse(client.get(f"/admin/stores/{shop.store.id}").text)
    # then
    assert [] == [tag for tag, _ in page.tags if tag == "style"]
    assert [] == [
        (tag, name)
        for tag, attrs in page.tags
        for name in attrs
        if name == "style" or name.startswith("on")
    ]
    assert [{"src": "/admin/static/htmx.min.js", "defer": None}] == [
        attrs for tag, attrs in page.tags if tag == "script"
    ]
    assert 3 == sum(1 for tag, _ in page.tags if tag == "svg")


def test_another_stores_overview_answers_404_with_no_data(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    store_factory: Callable[..., CreatedStore],
    operator_factory: Callable[..., Operator],
) -> None:
    """
    An operator of store A asking for store B's overview gets the page a store that does not
    exist gets, naming nothing of B.
    """
    # given
    mine = store_factory(name="Mine")
    theirs = store_factory(name="Theirs")
    _leave(client, theirs, clock, "victim", 99)
    operator_factory("ops@example.com", mine.store.id)
    _sign_in(client)
    # when
    answers = [
        client.get(f"/admin/stores/{theirs.store.id}"),
        client.get(f"/admin/stores/{theirs.store.id}", params={"from": DAY, "to": DAY}),
        client.get("/admin/stores/st_does_not_exist"),
    ]
    # then
    assert [404] * 3 == [a.status_code for a in answers]
    assert 1 == len({a.text for a in answers})
    for answer in answers:
        assert "Theirs" not in answer.text
        assert "kpi" not in answer.text
    assert 200 == client.get(f"/admin/stores/{mine.store.id}").status_code


def test_without_a_session_the_overview_sends_to_sign_in(
    client: TestClient, store_factory: Callable[..., CreatedStore]
) -> None:
    """
    No cookie: a redirect to the sign-in page, no data.
    """
    store = store_factory()
    response = client.get(f"/admin/stores/{store.store.id}", follow_redirects=False)
    assert 303 == response.status_code
    assert "/admin/login" == response.headers["location"]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"from": "last week"}, "from must be a date (YYYY-MM-DD)"),
        ({"to": "2026-13-01"}, "to must be a date (YYYY-MM-DD)"),
        ({"from": "2026-11-28", "to": "2026-11-27"}, "from must not be after to"),
        ({"from": "2024-01-01", "to": "2026-11-27"}, "at most 366 days"),
        ({"to": "9999-12-31"}, "to is out of range (1970 to 9000)"),
        ({"from": "0001-01-01", "to": "0001-01-02"}, "from is out of range (1970 to 9000)"),
    ],
)
def test_a_bad_period_is_a_400_page_with_the_reason(
    client: TestClient, shop: CreatedStore, params: dict[str, str], reason: str
) -> None:
    """
    Not a date, from after to, longer than a report covers, far out of range: 400, the
    reason, and no numbers.
    """
    # when
    response = client.get(f"/admin/stores/{shop.store.id}", params=params)
    # then
    assert 400 == response.status_code
    assert reason in response.text
    assert "Invalid period" in response.text
    assert "kpi" not in response.text
    assert "<svg" not in response.text


def test_an_open_health_alert_is_a_banner(
    client: TestClient, container: Container, shop: CreatedStore
) -> None:
    """
    A store whose events stopped shows the alert above the numbers; a resolved one does not.
    """
    # given
    started = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    with container.uow_factory() as uow:
        opened = uow.alerts.open(
            StoreAlert(
                id=None,
                store_id=shop.store.id,
                kind=AlertKind.EVENTS_STOPPED,
                detail="no events for 6h (usually at most 1h)",
                started_at=started,
            )
        )
        uow.commit()
    assert opened is not None
    assert opened.id is not None
    # when
    banner = _parse(client.get(f"/admin/stores/{shop.store.id}").text).texts
    with container.uow_factory() as uow:
        uow.alerts.resolve(opened.id, at=started + timedelta(hours=7))
        uow.commit()
    after = client.get(f"/admin/stores/{shop.store.id}").text
    # then
    assert "No events arriving" in banner["alert-events_stopped"]
    assert "no events for 6h (usually at most 1h)" in banner["alert-events_stopped"]
    assert 'role="alert"' not in after


def test_recovery_by_device_and_country_are_small_tables_of_the_apis_rows(
    client: TestClient, shop: CreatedStore
) -> None:
    """
    One row per device and per country, with the API's counts; these shoppers' events named
    no browser and no country, so all four carts (ada recovered, 40) are `unknown`.
    """
    # when
    page = client.get(f"/admin/stores/{shop.store.id}", params={"from": DAY, "to": DAY})
    api = _summary(client, shop, DAY, "2026-11-28")
    # then
    assert 200 == page.status_code, page.text
    texts = _parse(page.text).texts
    for key, label in (("by-device", "device"), ("by-country", "country")):
        (row,) = api[key.replace("-", "_")]
        assert ("unknown", 4, 3, 1, "40.00") == (
            row[label],
            row["abandoned"],
            row["reachable"],
            row["recovered"],
            row["recovered_revenue"],
        )
        cells = [row[label], "4", "3", "1", percent(row["recovery_rate"]), "40.00"]
        assert "".join(cells) in texts[key].replace("\n", "")
