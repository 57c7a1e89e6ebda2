"""
`cartback preview`, `cartback messages configure` and `cartback templates …` as a merchant runs
them: a step's email written to HTML and text (and PNG through Chromium), for an example cart or
a real one, with the store's settings and own template; bad input is one line.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from harness import Cli

from cartback.api.app import create_app
from cartback.bootstrap import bootstrap
from cartback.settings import Environment, Settings
from helpers import TEST_SECRET, auth, track

pytestmark = pytest.mark.e2e

BASE_URL = "https://cb.example.com"


def _preview(cli: Cli, store: str, *args: str) -> tuple[int, str, str]:
    result = cli.run("preview", "--store", store, *args, CARTBACK_BASE_URL=BASE_URL)
    return result.returncode, result.stdout, result.stderr


def test_an_example_cart_previews_to_html_and_text(cli: Cli, tmp_path: Path) -> None:
    """
    The first step of the shipped cart flow, for the example cart: two files, their paths
    printed, preview links with UTM, the store's settings shown.
    """
    # given
    store = cli.create_store("--currency", "EUR")["id"]
    configured = cli.run(
        "messages",
        "configure",
        "--store",
        store,
        "--locale",
        "de-DE",
        "--postal-address",
        "E2E GmbH\\nHauptstr. 1\\n10115 Berlin",
        "--shipping",
        "*:4.90 free over 50:2-4",
        "--payment-option",
        "Klarna",
    )
    assert 0 == configured.returncode, configured.stderr
    # when
    code, out, err = _preview(
        cli, store, "--flow", "cart-recovery", "--step", "1", "--out", str(tmp_path / "p")
    )
    # then
    assert 0 == code, err
    html_path, text_path = (Path(line) for line in out.strip().splitlines())
    assert (tmp_path / "p" / "cart-recovery-1.html", tmp_path / "p" / "cart-recovery-1.txt") == (
        html_path,
        text_path,
    )
    html, text = html_path.read_text(), text_path.read_text()
    assert text.startswith("Subject: Noch Fragen vor der Bestellung?")
    assert "Merino wool sweater" in text
    assert "173,00\xa0€" in text
    assert "Wir akzeptieren Klarna." in text
    assert "10115 Berlin" in html
    assert f"{BASE_URL}/r/preview?utm_source=cartback" in text
    assert f'href="{BASE_URL}/u/preview"' in html


def test_a_real_cart_previews_with_its_items(cli: Cli, database_url: str, tmp_path: Path) -> None:
    """
    `--cart` renders that cart's lines, in the locale asked for.
    """
    # given
    keys = cli.create_store()
    settings = Settings(
        database_url=database_url,
        env=Environment.TEST,
        secret_key=TEST_SECRET,
        ingest_writer="thread",
    )
    container = bootstrap(settings)
    try:
        with TestClient(create_app(container)) as client:
            response = client.post(
                "/v1/track",
                json=track(
                    "Product Added",
                    cart_id="cart-e2e",
                    product_id="p-1",
                    name="Handmade <b>bold</b> teapot",
                    price=42,
                    quantity=2,
                    currency="USD",
                ),
                headers=auth(keys["secret_key"]),
            )
            assert 200 == response.status_code, response.text
    finally:
        container.close()
    # when
    code, out, err = _preview(
        cli,
        keys["id"],
        "--flow",
        "cart-recovery",
        "--step",
        "0",
        "--cart",
        "cart-e2e",
        "--out",
        str(tmp_path),
    )
    # then
    assert 0 == code, err
    html = Path(out.splitlines()[0]).read_text()
    text = Path(out.splitlines()[1]).read_text()
    assert "Handmade &lt;b&gt;bold&lt;/b&gt; teapot" in html
    assert "Handmade <b>bold</b> teapot, Qty 2: $84.00" in text


def test_a_store_template_is_set_used_and_deleted(cli: Cli, tmp_path: Path) -> None:
    """
    `templates set` saves a template the preview then uses; `templates delete` removes it; a
    template that does not render is refused with its line.
    """
    # given
    store = cli.create_store()["id"]
    body = tmp_path / "body.txt"
    body.write_text("Dear {{ shopper.first_name or 'shopper' }},\n{{ total }} waits.\n")
    broken = tmp_path / "broken.html"
    broken.write_text("<p>\n{{ nope }}</p>")
    # when
    refused = cli.run(
        "templates", "set", "cart-reminder", "--store", store, "--html-file", str(broken)
    )
    saved = cli.run(
        "templates",
        "set",
        "cart-reminder",
        "--store",
        store,
        "--subject",
        "A note from {{ store.name }}",
        "--text-file",
        str(body),
    )
    listed = cli.run("templates", "list", "--store", store, "--json")
    code, out, err = _preview(
        cli, store, "--flow", "cart-recovery", "--step", "0", "--out", str(tmp_path)
    )
    deleted = cli.run("templates", "delete", "cart-reminder", "--store", store)
    # then
    assert 2 == refused.returncode
    assert "html: line 2: 'nope' is undefined" in refused.stderr
    assert 0 == saved.returncode, saved.stderr
    assert ["cart-reminder"] == [t["name"] for t in json.loads(listed.stdout)["data"]]
    assert 0 == code, err
    text = Path(out.splitlines()[1]).read_text()
    assert text.startswith("Subject: A note from E2E Shop\n\nDear shopper,\n$173.00 waits.")
    assert 0 == deleted.returncode, deleted.stderr
    assert "deleted 1 template" == deleted.stdout.strip()


def test_png_screenshots_at_phone_and_desktop_width(cli: Cli, tmp_path: Path) -> None:
    """
    `--png` writes two full-page screenshots through Chromium, 375 and 1200 px wide.
    """
    # given
    store = cli.create_store()["id"]
    # when
    code, out, err = _preview(
        cli,
        store,
        "--flow",
        "checkout-recovery",
        "--step",
        "2",
        "--out",
        str(tmp_path),
        "--png",
    )
    # then
    assert 0 == code, err
    pngs = [Path(p) for p in out.split() if p.endswith(".png")]
    widths = []
    for png in pngs:
        data = png.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        widths.append(struct.unpack(">I", data[16:20])[0])
    assert [375, 1200] == widths


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--flow", "nope", "--step", "0"), "no flow 'nope'"),
        (("--flow", "cart-recovery", "--step", "7"), "has steps 0 to 2, not 7"),
        (("--flow", "cart-recovery", "--step", "0", "--cart", "nope"), "no cart 'nope'"),
    ],
)
def test_bad_preview_input_is_one_line(cli: Cli, args: tuple[str, ...], message: str) -> None:
    """
    An unknown flow, step or cart is one line on stderr and a non-zero exit.
    """
    # given
    store = cli.create_store()["id"]
    # when
    code, _out, err = _preview(cli, store, *args)
    # then
    assert code != 0
    assert 1 == len(err.strip().splitlines())
    assert message in err


def test_an_unknown_store_is_one_line(cli: Cli) -> None:
    """
    A store id that does not exist is one line.
    """
    code, _out, err = _preview(cli, "st_missing", "--flow", "cart-recovery", "--step", "0")
    assert code != 0
    assert "cartback: no store 'st_missing'" == err.strip()


def test_bad_message_settings_are_one_line_and_change_nothing(cli: Cli) -> None:
    """
    Every bad setting is named on one line, exit 2.
    """
    # given
    store = cli.create_store()["id"]
    # when
    result = cli.run(
        "messages", "configure", "--store", store, "--brand-color", "blue", "--locale", "zz-ZZ"
    )
    # then
    assert 2 == result.returncode
    [line] = result.stderr.strip().splitlines()
    assert "brand_color: must be a colour as #rrggbb" in line
    assert "locale:" in line
