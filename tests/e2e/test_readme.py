"""
The README's first command on a fresh directory: `cartback serve` with no configuration, then
the copy-paste `curl` it prints.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest
from harness import Cli, free_port

pytestmark = pytest.mark.e2e


def test_serve_with_no_configuration_creates_a_store_and_accepts_the_readme_event(
    tmp_path: Path,
) -> None:
    """
    In an empty directory, `cartback serve` creates the embedded database and a development
    store, writes its key to .cartback/dev-secret-key, and the README's event is accepted.
    """
    # given
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARTBACK_")}
    cli = Cli(env=env, cwd=tmp_path)
    port = free_port()
    process = cli.start("serve", "--port", str(port), log=tmp_path / "serve.log")
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        key = (tmp_path / ".cartback" / "dev-secret-key").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        # when
        sent = httpx.post(
            f"{base}/v1/track",
            headers=headers,
            json={
                "anonymousId": "a1",
                "event": "Product Added",
                "properties": {"cart_id": "c1", "product_id": "p1", "price": 19.99, "quantity": 1},
            },
        )
        cart = httpx.get(f"{base}/v1/carts/c1", headers=headers).json()
    finally:
        process.terminate()
        process.wait(timeout=20)
    # then
    assert (tmp_path / "cartback.db").exists()
    assert {"success": True} == sent.json()
    assert ("19.99", "cart") == (cart["total"], cart["stage"])
    assert "send an event:" in (tmp_path / "serve.log").read_text()
