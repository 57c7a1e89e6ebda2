"""
`cartback sources poll` as an operator runs it (the real CLI as a subprocess) against a local
WooCommerce REST API: configure checks and seals the credentials, a poll stores the orders and
prints its summary, the next poll stores nothing new, and failures are one line and a non-zero
exit.
"""

from __future__ import annotations

import base64
import json
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from harness import Cli

pytestmark = pytest.mark.e2e

FIXTURE = Path(__file__).parents[1] / "fixtures" / "woocommerce" / "order_retrieve_v3_docs.json"
KEY, SECRET = "ck_e2e_key", "cs_e2e_secret"


@dataclass
class Shop:
    """
    WooCommerce's `GET /wp-json/wc/v3/orders` on 127.0.0.1, strict `modified_after`, oldest change
    first, paged with `X-WP-TotalPages`; `status` replaces every answer when set.
    """

    orders: list[dict[str, Any]] = field(default_factory=list)
    status: int | None = None
    url: str = ""

    def answer(
        self, path: str, query: dict[str, str], authorization: str
    ) -> tuple[int, dict[str, str], Any]:
        if self.status is not None:
            return self.status, {}, {"code": "internal_server_error"}
        if authorization != "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode():
            return 401, {}, {"code": "woocommerce_rest_cannot_view"}
        if path != "/wp-json/wc/v3/orders":
            return 404, {}, {"code": "rest_no_route"}
        found = sorted(
            (o for o in self.orders if o["date_modified_gmt"] > query["modified_after"]),
            key=lambda o: (o["date_modified_gmt"], o["id"]),
        )
        size, page = int(query["per_page"]), int(query["page"])
        headers = {"X-WP-TotalPages": str(math.ceil(len(found) / size))}
        return 200, headers, found[(page - 1) * size : page * size]


@pytest.fixture
def shop() -> Iterator[Shop]:
    """
    The local shop with three orders changed in the last hour, served by a thread.
    """
    served = Shop()
    document = json.loads(FIXTURE.read_text())
    recent = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    for n, status in enumerate(["pending", "processing", "failed"], start=1):
        changed = (recent + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%S")
        served.orders.append(
            document
            | {
                "id": 900 + n,
                "status": status,
                "cart_hash": f"e2e-{n}",
                "date_modified_gmt": changed,
            }
        )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            status, headers, body = served.answer(
                parts.path, dict(parse_qsl(parts.query)), self.headers.get("Authorization", "")
            )
            encoded = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(encoded)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(encoded)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield served
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def store_id(cli: Cli) -> str:
    """
    A WooCommerce store made with the CLI.
    """
    result = cli.run(
        "store",
        "create",
        "--name",
        "Woo",
        "--platform",
        "woocommerce",
        "--domain",
        "shop.example.com",
        "--json",
    )
    assert 0 == result.returncode, result.stderr
    created: dict[str, str] = json.loads(result.stdout)
    return created["id"]


def test_configure_then_poll_stores_the_orders_once(cli: Cli, shop: Shop, store_id: str) -> None:
    """
    Configure checks the credentials against the shop and keeps them; the poll stores the three
    orders (the failed one as two messages) and a second poll stores nothing new.
    """
    # given
    configured = cli.run(
        "sources",
        "poll",
        "configure",
        "--store",
        store_id,
        "--url",
        shop.url,
        "--key",
        KEY,
        CARTBACK_WOOCOMMERCE_SECRET=SECRET,
    )
    # when
    first = cli.run("sources", "poll", "--store", store_id, "--json")
    second = cli.run("sources", "poll", "--store", store_id, "--json")
    # then
    assert (0, f"store {store_id} polls woocommerce at {shop.url}") == (
        configured.returncode,
        configured.stdout.strip(),
    )
    assert SECRET not in configured.stdout + configured.stderr
    assert (0, 0) == (first.returncode, second.returncode), first.stderr + second.stderr
    (before,) = json.loads(first.stdout)["feeds"]
    (after,) = json.loads(second.stdout)["feeds"]
    assert ("orders", 3, 4) == (before["feed"], before["read"], before["stored"])
    assert 0 == after["stored"]
    assert shop.orders[-1]["date_modified_gmt"] == before["cursor"][:19]


def test_the_text_summary_names_what_was_read(cli: Cli, shop: Shop, store_id: str) -> None:
    """
    Without --json, the poll prints one line per feed.
    """
    # given
    cli.run(
        "sources",
        "poll",
        "configure",
        "--store",
        store_id,
        "--url",
        shop.url,
        "--key",
        KEY,
        "--secret",
        SECRET,
    )
    # when
    result = cli.run("sources", "poll", "--store", store_id)
    # then
    assert 0 == result.returncode, result.stderr
    assert result.stdout.startswith(
        "woocommerce orders: 3 read, 4 events stored, 0 already stored, 0 invalid, 1 page;"
    )


@pytest.mark.parametrize(
    ("status", "secret", "expected"),
    [
        (500, SECRET, "cartback: WooCommerce answered HTTP 500 at "),
        (None, "cs_wrong", "cartback: WooCommerce refused the credentials (HTTP 401) at "),
    ],
    ids=["500", "401"],
)
def test_a_failing_shop_is_one_line_and_a_non_zero_exit(
    cli: Cli, shop: Shop, store_id: str, status: int | None, secret: str, expected: str
) -> None:
    """
    A shop that fails or refuses the key ends the poll with one line saying so, no traceback.
    """
    # given
    cli.run(
        "sources",
        "poll",
        "configure",
        "--store",
        store_id,
        "--url",
        shop.url,
        "--key",
        KEY,
        "--secret",
        secret,
        "--no-check",
    )
    shop.status = status
    # when
    result = cli.run("sources", "poll", "--store", store_id)
    # then
    last = result.stderr.strip().splitlines()[-1]
    assert (1, True) == (result.returncode, last.startswith(expected)), result.stderr
    assert "Traceback" not in result.stderr


def test_configure_refuses_credentials_the_shop_refuses(
    cli: Cli, shop: Shop, store_id: str
) -> None:
    """
    With the check on (the default), a wrong key is reported at once and nothing is kept.
    """
    # when
    configured = cli.run(
        "sources",
        "poll",
        "configure",
        "--store",
        store_id,
        "--url",
        shop.url,
        "--key",
        KEY,
        "--secret",
        "cs_wrong",
    )
    polled = cli.run("sources", "poll", "--store", store_id)
    # then
    assert 1 == configured.returncode
    assert "refused the credentials" in configured.stderr.strip().splitlines()[-1]
    assert (
        polled.stderr.strip()
        .splitlines()[-1]
        .startswith(f"cartback: store {store_id} has no API access configured")
    )


def test_poll_needs_a_store(cli: Cli) -> None:
    """
    `cartback sources poll` without --store says so and exits 2.
    """
    # when
    result = cli.run("sources", "poll")
    # then
    assert (2, "cartback: --store is required (or see `cartback sources poll --help`)") == (
        result.returncode,
        result.stderr.strip().splitlines()[-1],
    )
