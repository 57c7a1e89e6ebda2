"""
`cartback sms configure` as an operator runs it: the Twilio account is stored with the token
sealed, and a signed STOP to the printed webhook URL is then accepted; bad input is one line.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from harness import Cli
from sqlalchemy import select

from cartback.api.app import create_app
from cartback.bootstrap import bootstrap
from cartback.settings import Environment, Settings
from cartback.store.tables import stores
from helpers import TEST_SECRET
from twilio_signing import twilio_signature

pytestmark = pytest.mark.e2e

ACCOUNT = "AC" + "1" * 32
TOKEN = "e2e-auth-token-0123456789abcdef"


def test_configure_then_a_signed_stop_is_accepted(cli: Cli, database_url: str) -> None:
    """
    The command prints the account, the webhook URL and the HELP answer; the database holds
    the token only sealed; a STOP signed with the token over that URL is a 200.
    """
    # given
    store = cli.create_store()["id"]
    # when
    result = cli.run(
        "sms",
        "configure",
        "--store",
        store,
        "--account-sid",
        ACCOUNT,
        "--auth-token",
        TOKEN,
        "--from",
        "+14155550100",
        "--help-text",
        "E2E Shop: reply STOP to opt out.",
        CARTBACK_BASE_URL="https://cb.example.com",
    )
    # then
    assert 0 == result.returncode, result.stderr
    webhook = f"https://cb.example.com/webhooks/twilio/{store}/inbound"
    assert [
        f"store {store} uses Twilio account {ACCOUNT}",
        f"inbound webhook: {webhook}",
        "HELP answer: E2E Shop: reply STOP to opt out.",
    ] == result.stdout.strip().splitlines()
    settings = Settings(
        database_url=database_url,
        env=Environment.TEST,
        secret_key=TEST_SECRET,
        base_url="https://cb.example.com",
        ingest_writer="thread",
    )
    container = bootstrap(settings)
    try:
        with container.engine.connect() as connection:
            stored = connection.execute(select(stores.c.settings)).scalar_one()
        assert TOKEN not in str(stored)
        params = {"MessageSid": "SM-e2e", "From": "+14155550123", "Body": "STOP"}
        with TestClient(create_app(container)) as client:
            response = client.post(
                f"/webhooks/twilio/{store}/inbound",
                content=urlencode(params),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": twilio_signature(TOKEN, webhook, params),
                },
            )
        assert 200 == response.status_code, response.text
    finally:
        container.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--account-sid", "XX1", "--auth-token", TOKEN), "account_sid: must be AC"),
        (("--account-sid", ACCOUNT, "--auth-token", "short"), "auth_token: must be 16"),
        (
            ("--account-sid", ACCOUNT, "--auth-token", TOKEN, "--from", "call me"),
            "from: not a phone number",
        ),
        (
            ("--account-sid", ACCOUNT, "--auth-token", TOKEN, "--sender-kind", "pager"),
            "sender_kind: must be one of long_code, toll_free, short_code",
        ),
        (
            ("--account-sid", ACCOUNT, "--auth-token", TOKEN, "--sender-rate", "0"),
            "sender_rate: must be 1 to 1000 segments per second",
        ),
    ],
)
def test_bad_input_is_one_line_with_exit_2(cli: Cli, args: tuple[str, ...], message: str) -> None:
    """
    A malformed SID, token or sender: exit 2, one line naming the field.
    """
    # given
    store = cli.create_store()["id"]
    # when
    result = cli.run("sms", "configure", "--store", store, *args)
    # then
    assert (2, 1, True) == (
        result.returncode,
        len(result.stderr.strip().splitlines()),
        message in result.stderr,
    )


def test_an_unknown_store_is_one_line(cli: Cli) -> None:
    """
    Configuring a store that does not exist fails without a trace.
    """
    result = cli.run(
        "sms", "configure", "--store", "st_nope", "--account-sid", ACCOUNT, "--auth-token", TOKEN
    )
    assert (1, ["cartback: no store 'st_nope'"]) == (
        result.returncode,
        result.stderr.strip().splitlines(),
    )
