"""
`cartback ads configure` and `cartback ads sync` as an operator runs them: the accounts are
stored with the tokens sealed and printed without them; bad input is one line; a sync pushes a
member to the local Meta and Google (`tests/ads_networks.py`) and prints the counts, and a
network that refuses is named on stderr with a non-zero exit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from harness import Cli
from sqlalchemy import create_engine, insert, select

from ads_networks import (
    GOOGLE_ACCESS,
    GOOGLE_CUSTOMER,
    GOOGLE_DEVELOPER,
    META_TOKEN,
    SECRETS,
    FakeAdNetworks,
    serving,
)
from cartback.domain.ad_hashing import Network, hashed
from cartback.kit.ids import new_id
from cartback.store.tables import audience_members, contacts, stores

pytestmark = pytest.mark.e2e

META_LIST = "23851234567890"
GOOGLE_LIST = f"customers/{GOOGLE_CUSTOMER}/userLists/555"
EMAIL = "grace@example.com"


@pytest.fixture
def networks() -> Iterator[FakeAdNetworks]:
    fake = FakeAdNetworks(login_customer=None)
    with serving(fake) as running:
        yield running


def configure(cli: Cli, store: str) -> None:
    result = cli.run(
        "ads",
        "configure",
        "--store",
        store,
        "--meta-token",
        META_TOKEN,
        "--meta-ad-account",
        "act_1",
        "--audience",
        f"viewed-cart={META_LIST}",
        "--google-developer-token",
        GOOGLE_DEVELOPER,
        "--google-access-token",
        GOOGLE_ACCESS,
        "--google-customer",
        "123-456-7890",
        "--google-audience",
        f"viewed-cart={GOOGLE_LIST}",
    )
    assert 0 == result.returncode, result.stderr


def test_configure_prints_the_accounts_without_tokens(cli: Cli, database_url: str) -> None:
    """
    The printed JSON names the ad account, the customer and each mapping; no token is printed
    or stored in the clear.
    """
    # given
    store = cli.create_store()["id"]
    # when
    result = cli.run(
        "ads",
        "configure",
        "--store",
        store,
        "--meta-token",
        META_TOKEN,
        "--meta-ad-account",
        "act_1",
        "--audience",
        f"viewed-cart={META_LIST}",
    )
    # then
    assert 0 == result.returncode, result.stderr
    assert {
        "meta": {"ad_account_id": "act_1", "audiences": {"viewed-cart": META_LIST}}
    } == json.loads(result.stdout)
    engine = create_engine(database_url)
    with engine.connect() as connection:
        stored = connection.execute(select(stores.c.settings)).scalar_one()
    engine.dispose()
    assert META_TOKEN not in str(stored)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--meta-token", META_TOKEN, "--meta-ad-account", "123"], "must look like act_123"),
        (["--audience", "viewed-cart"], "is not NAME=LIST"),
        (["--google-customer", "123"], "must be 10 digits"),
    ],
)
def test_bad_input_is_one_line(cli: Cli, options: list[str], message: str) -> None:
    """
    A malformed account or mapping exits 2 with one line naming the field.
    """
    # given
    store = cli.create_store()["id"]
    # when
    result = cli.run("ads", "configure", "--store", store, *options)
    # then
    assert 2 == result.returncode
    assert 1 == len(result.stderr.strip().splitlines()), result.stderr
    assert message in result.stderr


def test_sync_pushes_a_member_to_both_networks(
    cli: Cli, database_url: str, networks: FakeAdNetworks
) -> None:
    """
    One reachable member: `ads sync` adds her email's hash to Meta's and Google's lists and
    prints the counts; a second sync adds nothing; a refusing Meta is named, exit 1.
    """
    # given
    store = cli.create_store("--country", "US", "--timezone", "America/New_York")["id"]
    configure(cli, store)
    _member(database_url, store)
    urls = {
        "CARTBACK_META_API_URL": f"{networks.url}/meta",
        "CARTBACK_GOOGLE_ADS_API_URL": f"{networks.url}/google",
    }
    # when
    first = cli.run("ads", "sync", "--store", store, **urls)
    second = cli.run("ads", "sync", "--store", store, **urls)
    # then
    assert 0 == first.returncode, first.stderr
    assert "added 2, removed 0, failed 0" == first.stdout.strip()
    assert "added 0, removed 0, failed 0" == second.stdout.strip()
    assert [] == networks.problems
    assert {dict(hashed(Network.META, EMAIL, None))["email"]} == networks.meta_lists[META_LIST]
    assert {dict(hashed(Network.GOOGLE, EMAIL, None))["email"]} == (
        networks.google_lists[GOOGLE_LIST]
    )
    assert not any(secret in first.stdout + first.stderr for secret in SECRETS)


def test_sync_names_a_refusing_network(
    cli: Cli, database_url: str, networks: FakeAdNetworks
) -> None:
    """
    Meta refuses: the line names the store, audience and Meta's reason; Google still syncs.
    """
    # given
    store = cli.create_store("--country", "US", "--timezone", "America/New_York")["id"]
    configure(cli, store)
    _member(database_url, store)
    refusal = {"error": {"message": "Audience Upload Blocked", "code": 100}}
    networks.plan("meta", (400, {}, refusal))
    # when
    result = cli.run(
        "ads",
        "sync",
        "--store",
        store,
        CARTBACK_META_API_URL=f"{networks.url}/meta",
        CARTBACK_GOOGLE_ADS_API_URL=f"{networks.url}/google",
    )
    # then
    assert 1 == result.returncode
    assert "added 1, removed 0, failed 1" == result.stdout.strip()
    line = f"cartback: {store}/viewed-cart/meta: meta_100: Audience Upload Blocked"
    assert line in result.stderr.splitlines()


def _member(database_url: str, store: str) -> None:
    """
    A contact with an email in `viewed-cart` since an hour ago, written with SQL.
    """
    now = datetime.now(UTC)
    contact_id = new_id("co")
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            insert(contacts).values(
                id=contact_id,
                store_id=store,
                email=EMAIL,
                is_bot=False,
                created_at=now - timedelta(days=1),
                updated_at=now - timedelta(days=1),
            )
        )
        connection.execute(
            insert(audience_members).values(
                store_id=store,
                audience="viewed-cart",
                contact_id=contact_id,
                entered_at=now - timedelta(hours=1),
                expires_at=now + timedelta(days=7),
            )
        )
    engine.dispose()
