"""
`cartback store rotate-key`, the real command line against a running `cartback serve`: the
new key is the one line on stdout, the server refuses the old key and accepts the new one; a
bad kind or an unknown store is one line on stderr, a non-zero exit and no new key.
"""

from __future__ import annotations

import httpx
import pytest
from harness import Cli, Server

pytestmark = pytest.mark.e2e


def _status(server: Server, key: str) -> int:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        return client.get("/v1/carts/x", headers={"Authorization": f"Bearer {key}"}).status_code


def test_rotate_key_prints_the_new_key_and_the_server_refuses_the_old_one(
    cli: Cli, server: Server
) -> None:
    """
    Rotating the secret key: stdout is the new key alone; the old key gets 401, the new one
    reaches the API (404: no cart `x`), the public key is untouched (403 on a server route).
    """
    # when
    result = cli.run("store", "rotate-key", server.keys["id"], "--kind", "secret")
    # then
    assert 0 == result.returncode, result.stderr
    lines = result.stdout.splitlines()
    assert 1 == len(lines)
    new_key = lines[0]
    assert new_key.startswith("cb_sk_")
    assert new_key != server.keys["secret_key"]
    assert 401 == _status(server, server.keys["secret_key"])
    assert 404 == _status(server, new_key)
    assert 403 == _status(server, server.keys["public_key"])


def test_rotate_key_refuses_a_bad_kind_and_an_unknown_store(cli: Cli, server: Server) -> None:
    """
    `--kind private` exits 2, an unknown store 1, each with one line on stderr; the store's
    secret key keeps working.
    """
    bad_kind = cli.run("store", "rotate-key", server.keys["id"], "--kind", "private")
    unknown = cli.run("store", "rotate-key", "st_nope", "--kind", "public")
    assert (2, 1) == (bad_kind.returncode, unknown.returncode)
    assert "" == bad_kind.stdout + unknown.stdout
    assert "kind: must be secret or public" in bad_kind.stderr
    assert "no store 'st_nope'" in unknown.stderr
    assert 404 == _status(server, server.keys["secret_key"])
