"""
`cartback sources poll …`: read WooCommerce orders, and Magento quotes and orders, over the
shop's REST API from the stored cursor, for what webhooks miss (WooCommerce never retries a
delivery; Magento Open Source sends none). Run it from cron every few minutes.

    cartback sources poll configure --store ID --url https://shop.example --key ck_… --secret cs_…
    cartback sources poll configure --store ID --url https://shop.example --token …
    cartback sources poll --store ID [--since 2026-11-01 | --since 2d] [--json]
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cartback.commands._common import command_container, fail
from cartback.domain.durations import parse_duration
from cartback.domain.stores import Platform

if TYPE_CHECKING:
    from cartback.domain.ingest import Inbound, IngestReport
    from cartback.domain.ports import UnitOfWorkFactory
    from cartback.domain.time import Clock
    from cartback.services.polling import Feed, FeedSummary, PollTarget
    from cartback.sources._rest import RestClient

    Reader = Callable[[PollTarget, int], tuple[RestClient, list[Feed]]]

poll_app = typer.Typer(help="Poll WooCommerce and Magento for what webhooks miss.")

StoreId = Annotated[
    str, typer.Option("--store", envvar="CARTBACK_STORE_ID", help="The store's id (st_…).")
]
#: Attempts at one page when it races a webhook for the same shopper.
_ATTEMPTS = 3
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", envvar="CARTBACK_DATABASE_URL", help="SQLAlchemy URL."),
]


@poll_app.callback(invoke_without_command=True)
def poll(
    context: typer.Context,
    store: Annotated[
        str | None,
        typer.Option("--store", envvar="CARTBACK_STORE_ID", help="The store's id (st_…)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            envvar="CARTBACK_POLL_SINCE",
            help="Read changes from this moment instead of the stored cursor: an ISO date or "
            "time (UTC unless it has an offset) or a duration back from now (2d, 6h).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """
    Read what changed since the last poll and feed it to the cart model (orders, and Magento's
    active quotes); the cursor moves only after each page is stored.
    """
    if context.invoked_subcommand is not None:
        return
    if store is None:
        fail("--store is required (or see `cartback sources poll --help`)", 2)
    from cartback.services.polling import poll_store, polling_target

    with command_container(database_url, name="poll") as container:
        start = _since(since, container.clock.now())
        target = polling_target(uow=container.uow_factory(), box=container.box, store_id=store)
        rest, feeds = _READERS[target.store.platform](target, 0)
        try:
            summaries = poll_store(
                uow_factory=container.uow_factory,
                clock=container.clock,
                store_id=store,
                feeds=feeds,
                since=start,
                ingest_messages=_ingest_with_retries,
            )
        finally:
            rest.close()
    _print(target, summaries, as_json)


@poll_app.command("configure")
def configure(
    store: StoreId,
    url: Annotated[
        str,
        typer.Option(
            envvar="CARTBACK_POLL_URL",
            help="The shop's URL: WordPress's home URL (with any sub-folder), or Magento's base "
            "URL (or its REST root, …/rest/<store code>).",
        ),
    ],
    key: Annotated[
        str | None,
        typer.Option(envvar="CARTBACK_WOOCOMMERCE_KEY", help="WooCommerce consumer key (ck_…)."),
    ] = None,
    secret: Annotated[
        str | None,
        typer.Option(
            envvar="CARTBACK_WOOCOMMERCE_SECRET",
            help="WooCommerce consumer secret (cs_…); prefer the variable to the option.",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="CARTBACK_MAGENTO_TOKEN",
            help="Magento integration access token; prefer the variable to the option.",
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check/--no-check",
            envvar="CARTBACK_POLL_CHECK",
            help="Read one page first, so a wrong URL or key is reported now.",
        ),
    ] = True,
    database_url: DatabaseUrl = None,
) -> None:
    """
    Set the shop's API URL and credentials (sealed at rest, never printed) for a store.
    """
    from cartback.services.polling import PollTarget, configure_polling
    from cartback.services.stores import get_store

    credentials = {"consumer_key": key, "consumer_secret": secret, "token": token}
    with command_container(database_url, name="poll") as container:
        found = get_store(uow=container.uow_factory(read_only=True), store_id=store)
        if check and found.platform in _READERS:
            given = {name: value for name, value in credentials.items() if value}
            target = PollTarget(store=found, url=url.strip().rstrip("/"), credentials=given)
            _check(target, container.clock.now())
        saved = configure_polling(
            uow=container.uow_factory(),
            clock=container.clock,
            box=container.box,
            store_id=store,
            url=url,
            credentials=credentials,
        )
    section = saved.settings.get(saved.platform.value)
    shown = section.get("url") if isinstance(section, dict) else url
    typer.echo(f"store {saved.id} polls {saved.platform.value} at {shown}")


def _ingest_with_retries(
    *,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    store_id: str,
    messages: Sequence[Inbound],
) -> IngestReport:
    """
    Ingest a page, retrying a unique-key race or a lock timeout with a webhook for the same
    shopper (the retry sees the other transaction's rows), as the HTTP writer does.
    """
    from sqlalchemy.exc import IntegrityError, OperationalError

    from cartback.services.polling import ingest_page

    for _ in range(_ATTEMPTS - 1):
        try:
            return ingest_page(
                uow_factory=uow_factory, clock=clock, store_id=store_id, messages=messages
            )
        except (IntegrityError, OperationalError):
            continue
    return ingest_page(uow_factory=uow_factory, clock=clock, store_id=store_id, messages=messages)


def _check(target: PollTarget, now: datetime) -> None:
    from cartback.services.polling import CREDENTIALS

    needed = CREDENTIALS[target.store.platform]
    if not all(target.credentials.get(name) for name in needed):
        return  # configure_polling names what is missing
    rest, feeds = _READERS[target.store.platform](target, 1)
    try:
        for feed in feeds:
            feed.read(after=now, page=1, now=now)
    finally:
        rest.close()


def _woocommerce(target: PollTarget, page_size: int) -> tuple[RestClient, list[Feed]]:
    from cartback.sources import _woocommerce_api

    rest = _woocommerce_api.client(
        url=target.url,
        consumer_key=target.credentials["consumer_key"],
        consumer_secret=target.credentials["consumer_secret"],
    )
    store = target.store
    orders = _woocommerce_api.WooCommerceOrders(
        rest,
        default_region=store.country,
        currency=store.currency,
        per_page=page_size or _woocommerce_api.PER_PAGE,
    )
    return rest, [orders]


def _magento(target: PollTarget, page_size: int) -> tuple[RestClient, list[Feed]]:
    from cartback.sources import _magento_api

    rest = _magento_api.client(url=target.url, token=target.credentials["token"])
    options: dict[str, Any] = {
        "default_region": target.store.country,
        "currency": target.store.currency,
        "page_size": page_size or _magento_api.PAGE_SIZE,
    }
    # Quotes first: an order read in the same run then closes the cart its quote just updated.
    return rest, [
        _magento_api.MagentoQuotes(rest, **options),
        _magento_api.MagentoOrders(rest, **options),
    ]


_READERS: dict[Platform, Reader] = {
    Platform.WOOCOMMERCE: _woocommerce,
    Platform.MAGENTO: _magento,
}


def _since(value: str | None, now: datetime) -> datetime | None:
    if value is None:
        return None
    text = value.strip()
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--since: {value!r} is neither an ISO date or time nor a duration such as 2d", 2)
    return moment.replace(tzinfo=UTC) if moment.utcoffset() is None else moment


def _print(target: PollTarget, summaries: list[FeedSummary], as_json: bool) -> None:
    rows = [
        {
            "feed": s.name,
            "read": s.read,
            "stored": s.stored,
            "duplicates": s.duplicates,
            "invalid": s.invalid,
            "pages": s.pages,
            "cursor": s.cursor.isoformat() if s.cursor else None,
        }
        for s in summaries
    ]
    if as_json:
        typer.echo(
            json.dumps(
                {"store": target.store.id, "platform": target.store.platform.value, "feeds": rows}
            )
        )
        return
    for row in rows:
        pages = f"{row['pages']} page" + ("" if row["pages"] == 1 else "s")
        typer.echo(
            f"{target.store.platform.value} {row['feed']}: {row['read']} read, "
            f"{row['stored']} events stored, {row['duplicates']} already stored, "
            f"{row['invalid']} invalid, {pages}; cursor {row['cursor'] or '-'}"
        )
