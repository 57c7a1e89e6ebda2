"""
`cartback report` and `cartback attribution configure` as a merchant runs them, on a shop
whose carts were abandoned, messaged and ordered through the real API and worker (in this
process, on the simulated clock); the CLI reads the same database as a subprocess.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from harness import Cli

from cartback.bootstrap import Container
from cartback.engine.clock import SimulatedClock
from cartback.services import enrollment
from cartback.services.stores import CreatedStore
from helpers import auth, identify, track

pytestmark = pytest.mark.e2e

#: The simulated clock starts on 2026-11-27 at 10:00 UTC: the period is that day.
SINCE, UNTIL = "2026-11-27", "2026-11-28"


@pytest.fixture
def shop(
    client: TestClient,
    store_factory: Callable[..., CreatedStore],
    container: Container,
    clock: SimulatedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> CreatedStore:
    """
    A US store (default flows, nobody held out) with two carts left: ada gets the first email
    and orders 40 after it (recovered); bob orders 25 before any email (converted).
    """
    monkeypatch.setattr(enrollment, "is_withheld", lambda _flow, _contact: False)
    store = store_factory(country="US", timezone="UTC")
    for name, price in (("ada", 40), ("bob", 25)):
        anonymous = f"anon-{name}"
        _post(
            client,
            store,
            identify(anonymous_id=anonymous, at=clock.now(), email=f"{name}@example.com"),
            track(
                "Product Added",
                anonymous_id=anonymous,
                at=clock.now(),
                cart_id=f"c-{name}",
                product_id="p-1",
                name="Mug",
                price=price,
                quantity=1,
            ),
        )
    worker = container.new_worker(name="e2e-report")
    clock.advance(timedelta(minutes=31))
    worker.run_pass()
    _order(client, store, clock, "bob", 25)
    clock.advance(timedelta(hours=3))
    worker.dispatch_pass()
    clock.advance(timedelta(hours=1))
    _order(client, store, clock, "ada", 40)
    return store


def _post(client: TestClient, store: CreatedStore, *messages: dict[str, object]) -> None:
    response = client.post(
        "/v1/batch", json={"batch": list(messages)}, headers=auth(store.secret_key)
    )
    assert 200 == response.status_code, response.text


def _order(
    client: TestClient, store: CreatedStore, clock: SimulatedClock, name: str, total: int
) -> None:
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


def test_json_is_the_api_document(cli: Cli, client: TestClient, shop: CreatedStore) -> None:
    """
    `--json` prints the same document `GET /v1/reports/summary` answers for the period.
    """
    # when
    result = cli.run(
        "report", "--store", shop.store.id, "--since", SINCE, "--until", UNTIL, "--json"
    )
    api = client.get(
        "/v1/reports/summary",
        params={"from": "2026-11-27T00:00:00+00:00", "to": "2026-11-28T00:00:00+00:00"},
        headers=auth(shop.secret_key),
    )
    # then
    assert 0 == result.returncode, result.stderr
    document = json.loads(result.stdout)
    assert (2, 1, "40.00", 1) == (
        document["abandoned_carts"],
        document["recovered_carts"],
        document["recovered_revenue"],
        document["converted_carts"],
    )
    assert api.json() == document
    assert {"restore_link": 0, "offer": 0, "stock_claim": 0} == document["quality"]


def test_tables_are_printed(cli: Cli, shop: CreatedStore) -> None:
    """
    Without `--json`, tables: the summary, the funnel, the holdout, the steps.
    """
    # when
    result = cli.run("report", "--store", shop.store.id, "--since", SINCE, "--until", UNTIL)
    # then
    assert 0 == result.returncode, result.stderr
    for title in ("Summary", "Funnel", "Holdout", "By step", "Recovered revenue", "40.00"):
        assert title in result.stdout
    for title in ("By stage", "By abandonment reason", "By device", "By country"):
        assert title in result.stdout
    assert "Quality checks (messages not sent)" in result.stdout


class _Page(HTMLParser):
    """
    Collects tags and every URL-valued attribute.
    """

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "data") and value:
                self.urls.append(value)


def test_html_is_self_contained_with_charts(cli: Cli, shop: CreatedStore, tmp_path: Path) -> None:
    """
    `--html FILE` writes one file with inline SVG charts and no URL to another host; the
    command prints its path.
    """
    # given
    target = tmp_path / "report.html"
    # when
    result = cli.run(
        "report",
        "--store",
        shop.store.id,
        "--since",
        SINCE,
        "--until",
        UNTIL,
        "--html",
        str(target),
    )
    # then
    assert 0 == result.returncode, result.stderr
    assert str(target) == result.stdout.strip().splitlines()[-1]
    page = _Page()
    text = target.read_text(encoding="utf-8")
    page.feed(text)
    for title in ("By stage", "By abandonment reason", "By device", "By country"):
        assert f"<h2>{title}</h2>" in text
    assert 3 <= page.tags.count("svg")
    assert {"rect", "style"} <= set(page.tags)
    assert "script" not in page.tags
    assert "link" not in page.tags
    assert [] == [u for u in page.urls if urlsplit(u).scheme or u.startswith("//")]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--since", "last week"), "--since"),
        (("--until", "2026-11-27T10:00:00"), "--until"),
        (("--since", "2026-11-28", "--until", "2026-11-27"), "--since"),
        (("--since", "2024-01-01", "--until", "2026-11-27"), "366 days"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    cli: Cli, shop: CreatedStore, args: tuple[str, ...], expected: str
) -> None:
    """
    Not a date, a time without a zone, since after until, too long a range.
    """
    # when
    result = cli.run("report", "--store", shop.store.id, *args)
    # then
    assert 2 == result.returncode, result.stdout
    assert 1 == len(result.stderr.strip().splitlines()), result.stderr
    assert expected in result.stderr


def test_an_unknown_store_is_one_line(cli: Cli) -> None:
    """
    A store id that does not exist: one line, non-zero exit, nothing on stdout.
    """
    # when
    result = cli.run("report", "--store", "st_nope")
    # then
    assert 0 != result.returncode
    assert "cartback: no store 'st_nope'" == result.stderr.strip()
    assert "" == result.stdout


def test_attribution_windows_are_set_and_used(cli: Cli, shop: CreatedStore) -> None:
    """
    `attribution configure` prints the windows; the report shows them; bad values are one
    line with exit 2 and change nothing.
    """
    # when
    configured = cli.run(
        "attribution",
        "configure",
        "--store",
        shop.store.id,
        "--click-window",
        "3d",
        "--send-window",
        "12h",
    )
    bad = cli.run("attribution", "configure", "--store", shop.store.id, "--send-window", "90d")
    report = cli.run(
        "report", "--store", shop.store.id, "--since", SINCE, "--until", UNTIL, "--json"
    )
    # then
    assert 0 == configured.returncode, configured.stderr
    assert {
        "click_window": 259200,
        "click_window_text": "3d",
        "send_window": 43200,
        "send_window_text": "12h",
    } == json.loads(configured.stdout)
    assert 2 == bad.returncode
    assert 1 == len(bad.stderr.strip().splitlines())
    assert "send_window" in bad.stderr
    assert 43200 == json.loads(report.stdout)["attribution"]["send_window"]
