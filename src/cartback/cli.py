"""
The `cartback` command (`contract.md` §3). Every command builds `Settings` once, wires through
`bootstrap`, and turns any error into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated, Any

import typer

from cartback.commands import register as register_sources
from cartback.commands._common import cli_errors, fail
from cartback.commands.ads import ads_app
from cartback.commands.attribution import attribution_app
from cartback.commands.audiences import audiences_app
from cartback.commands.capture import capture_app
from cartback.commands.demo import demo as demo_command
from cartback.commands.email import email_app
from cartback.commands.flows import flows_app
from cartback.commands.messages import messages_app, templates_app
from cartback.commands.messages import preview as preview_command
from cartback.commands.offers import offers_app
from cartback.commands.operators import operator_app
from cartback.commands.partners import partners_app
from cartback.commands.purge import purge as purge_command
from cartback.commands.report import report as report_command
from cartback.commands.sms import sms_app
from cartback.commands.webhooks import webhooks_app
from cartback.domain.durations import format_duration, parse_duration

app = typer.Typer(
    name="cartback",
    help="Cartback: self-hosted abandoned-cart recovery.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
store_app = typer.Typer(help="Create, change and show stores.", no_args_is_help=True)
app.add_typer(store_app, name="store")
app.add_typer(register_sources(), name="sources")
app.command()(purge_command)
app.add_typer(capture_app, name="capture")
app.add_typer(sms_app, name="sms")
app.add_typer(email_app, name="email")
app.add_typer(flows_app, name="flows")
app.add_typer(audiences_app, name="audiences")
app.add_typer(messages_app, name="messages")
app.add_typer(templates_app, name="templates")
app.add_typer(offers_app, name="offers")
app.add_typer(partners_app, name="partners")
app.add_typer(ads_app, name="ads")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(operator_app, name="operator")
app.command("preview")(preview_command)
app.add_typer(attribution_app, name="attribution")
app.command("report")(report_command)
app.command("demo")(demo_command)

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", envvar="CARTBACK_DATABASE_URL", help="SQLAlchemy URL."),
]


def _settings(database_url: str | None = None) -> Any:
    from cartback.settings import Settings

    if database_url:
        return Settings(database_url=database_url)
    return Settings()


def _container(database_url: str | None, name: str) -> Any:
    from cartback._logging import configure_logging
    from cartback.bootstrap import bootstrap

    settings = _settings(database_url)
    configure_logging(level=settings.log_level, json_logs=settings.json_logs)
    return bootstrap(settings, application_name=name)


def _duration(value: str | None, option: str) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as error:
        fail(f"{option}: {error}", 2)


def _store_settings(**options: Any) -> Any:
    """
    StoreSettings from command-line options, durations parsed (None leaves a setting alone).
    """
    from cartback.services.stores import StoreSettings

    options["abandon_after"] = _duration(options["abandon_after"], "--abandon-after")
    options["recovery_window"] = _duration(options["recovery_window"], "--recovery-window")
    if "retention" in options:
        options["retention"] = _duration(options["retention"], "--retention")
    options["domains"] = options.pop("domain")
    return StoreSettings(**options)


@contextmanager
def _migrated(database_url: str | None) -> Iterator[Any]:
    """
    A container on a migrated database, closed afterwards; errors become one line.
    """
    from cartback.store.migrate import ensure_migrated

    with cli_errors():
        container = _container(database_url, "cartback-cli")
        try:
            ensure_migrated(container.engine)
            yield container
        finally:
            container.close()


@app.command()
def migrate(database_url: DatabaseUrl = None) -> None:
    """
    Apply database migrations (Alembic).
    """
    from cartback.store.migrate import current_revision, head_revision, upgrade

    with cli_errors():
        container = _container(database_url, "cartback-migrate")
        before = current_revision(container.engine)
        upgrade(container.engine)
        head = head_revision()
        state = "already at" if before == head else "migrated to"
        typer.echo(f"database {state} {head}")
        container.close()


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(envvar="CARTBACK_HOST", help="Address to bind.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="CARTBACK_PORT", min=1, max=65535)] = 8000,
    workers: Annotated[
        int, typer.Option(envvar="CARTBACK_WEB_WORKERS", min=1, max=64, help="HTTP processes.")
    ] = 1,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", envvar="CARTBACK_NO_WORKER", help="Run no worker.")
    ] = False,
    bench_routes: Annotated[
        bool, typer.Option("--bench-routes", envvar="CARTBACK_BENCH_ROUTES", hidden=True)
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """
    Run the API and the dashboard; the worker runs in-process unless --no-worker.
    """
    import uvicorn

    from cartback.api.app import create_app
    from cartback.kit.runtime import freeze_startup_objects
    from cartback.store.migrate import ensure_migrated

    with cli_errors():
        container = _container(database_url, "cartback-serve")
        # The committer thread gives up the GIL inside every database call; at the default
        # 5 ms switch interval it then waits behind the HTTP thread for up to 5 ms per call.
        sys.setswitchinterval(0.0005)
        _first_run(container, host, port)
        ensure_migrated(container.engine)
        worker_thread = None
        if not no_worker:
            worker = container.new_worker(name="serve")
            worker_thread = threading.Thread(target=worker.run, name="cartback-worker", daemon=True)
            worker_thread.start()
        typer.echo(f"cartback serving on http://{host}:{port}", err=True)
        try:
            if workers == 1:
                app = create_app(container, bench_routes=bench_routes)
                freeze_startup_objects()
                uvicorn.run(
                    app,
                    host=host,
                    port=port,
                    log_config=None,
                    access_log=False,
                    server_header=False,
                )
            else:
                uvicorn.run(
                    "cartback.api.asgi:create_app_from_environment"
                    if not bench_routes
                    else "cartback.api.asgi:create_bench_app_from_environment",
                    factory=True,
                    host=host,
                    port=port,
                    workers=workers,
                    log_config=None,
                    access_log=False,
                    server_header=False,
                )
        finally:
            container.close()
            if worker_thread is not None:
                worker_thread.join(timeout=10)


def _first_run(container: Any, host: str, port: int) -> None:
    """
    In development, a brand-new embedded database (no tables at all) is created and migrated,
    and a development store is made with its keys written to the data directory, so
    `pip install . && cartback serve` works with no configuration. Any other unmigrated
    database (PostgreSQL, production, an older schema) is refused by `ensure_migrated`.
    """
    from sqlalchemy import inspect

    from cartback.services.stores import StoreSettings, create_store
    from cartback.settings import Environment
    from cartback.store.migrate import upgrade

    settings = container.settings
    if settings.env is not Environment.DEVELOPMENT or not container.is_sqlite:
        return
    if inspect(container.engine).get_table_names():
        return
    upgrade(container.engine)
    created = create_store(
        uow=container.uow_factory(),
        clock=container.clock,
        box=container.box,
        settings=StoreSettings(name="Development store", platform="custom", domains=["localhost"]),
    )
    key_file = settings.data_dir / "dev-secret-key"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    for name, value in (
        ("dev-secret-key", created.secret_key),
        ("dev-public-key", created.public_key),
    ):
        path = settings.data_dir / name
        path.write_text(value + "\n")
        path.chmod(0o600)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - display only
    typer.echo(
        "\n".join(
            [
                f"cartback: created {container.engine.url.database} and a development store",
                f"  store id    {created.store.id}",
                f"  secret key  {created.secret_key}  (also in {key_file})",
                f"  public key  {created.public_key}",
                "  send an event:",
                f"    curl -X POST http://{shown_host}:{port}/v1/track "
                f'-H "Authorization: Bearer $(cat {key_file})" '
                "-H 'Content-Type: application/json' "
                """-d '{"anonymousId":"a1","event":"Product Added","properties":"""
                """{"cart_id":"c1","product_id":"p1","price":19.99,"quantity":1}}'""",
                f"    curl http://{shown_host}:{port}/v1/carts/c1 "
                f'-H "Authorization: Bearer $(cat {key_file})"',
            ]
        ),
        err=True,
    )


@app.command()
def worker(
    once: Annotated[
        bool, typer.Option("--once", help="Process what is due now, then exit.")
    ] = False,
    concurrency: Annotated[
        int,
        typer.Option(
            envvar="CARTBACK_WORKER_CONCURRENCY",
            min=1,
            max=32,
            help="Claim loops in this process (PostgreSQL).",
        ),
    ] = 1,
    database_url: DatabaseUrl = None,
) -> None:
    """
    Run the worker alone; many may run against one PostgreSQL.
    """
    from cartback.engine.worker import run_workers
    from cartback.kit.runtime import freeze_startup_objects
    from cartback.store.migrate import ensure_migrated

    with cli_errors():
        container = _container(database_url, "cartback-worker")
        ensure_migrated(container.engine)
        if container.is_sqlite and concurrency > 1:
            typer.echo("cartback: SQLite runs one claim loop; --concurrency ignored", err=True)
            concurrency = 1
        loops = [container.new_worker(name=f"worker-{n}") for n in range(concurrency)]
        _on_signals(lambda: [w.stop() for w in loops])
        freeze_startup_objects()
        processed = run_workers(loops, once=once)
        if once:
            typer.echo(f"processed {processed} due carts")
        container.close()


def _on_signals(stop: Callable[[], object]) -> None:
    def handler(signum: int, _frame: object) -> None:
        typer.echo(f"cartback: {signal.Signals(signum).name}, finishing the current pass", err=True)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _store_json(store: Any) -> dict[str, Any]:
    return {
        "id": store.id,
        "name": store.name,
        "platform": store.platform.value,
        "domains": list(store.domains),
        "currency": store.currency,
        "timezone": store.timezone,
        "country": store.country,
        "abandon_after": format_duration(store.abandon_after),
        "recovery_window": format_duration(store.recovery_window),
        "consent_region": store.consent_policy.region.value,
        "soft_opt_in": store.consent_policy.soft_opt_in,
        "sms_double_opt_in": store.consent_policy.sms_double_opt_in,
        "retention": format_duration(store.retention),
        "peak_season": store.settings.get("peak_season"),
    }


@store_app.command("create")
def store_create(
    name: Annotated[str, typer.Option(help="The shop's name.")],
    platform: Annotated[str, typer.Option(help="shopify, woocommerce, magento or custom.")],
    domain: Annotated[
        list[str], typer.Option(help="The shop's domain (repeat or comma-separate for several).")
    ],
    currency: Annotated[str, typer.Option(help="ISO 4217 code.")] = "USD",
    timezone: Annotated[str, typer.Option(help="IANA time zone, e.g. Europe/Berlin.")] = "UTC",
    country: Annotated[
        str | None, typer.Option(help="ISO country code; reads phone numbers without +.")
    ] = None,
    abandon_after: Annotated[
        str, typer.Option(help="Inactivity before a cart counts as abandoned.")
    ] = "30m",
    recovery_window: Annotated[
        str, typer.Option(help="How long an abandoned cart stays recoverable.")
    ] = "7d",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """
    Create a store and print its id and keys (shown once; only digests are kept).
    """
    from cartback.services.stores import create_store

    settings = _store_settings(
        name=name,
        platform=platform,
        domain=domain,
        currency=currency,
        timezone=timezone,
        country=country,
        abandon_after=abandon_after,
        recovery_window=recovery_window,
    )
    with _migrated(database_url) as container:
        created = create_store(
            uow=container.uow_factory(),
            clock=container.clock,
            box=container.box,
            settings=settings,
        )
    keys = {
        "id": created.store.id,
        "secret_key": created.secret_key,
        "public_key": created.public_key,
        "webhook_secret": created.webhook_secret,
    }
    if as_json:
        typer.echo(json.dumps(keys))
        return
    for label, value in keys.items():
        typer.echo(f"{label:<15}{value}")
    typer.echo("Keep the keys now: they are stored only as digests and cannot be shown again.")


@store_app.command("update")
def store_update(
    store_id: Annotated[str, typer.Argument(help="The store's id (st_…).")],
    name: Annotated[str | None, typer.Option()] = None,
    platform: Annotated[str | None, typer.Option()] = None,
    domain: Annotated[list[str] | None, typer.Option(help="Replaces the domains.")] = None,
    currency: Annotated[str | None, typer.Option()] = None,
    timezone: Annotated[str | None, typer.Option()] = None,
    country: Annotated[str | None, typer.Option()] = None,
    abandon_after: Annotated[str | None, typer.Option()] = None,
    recovery_window: Annotated[str | None, typer.Option()] = None,
    consent_region: Annotated[
        str | None,
        typer.Option(help="eu, us or strict (default: from --country; strict without one)."),
    ] = None,
    soft_opt_in: Annotated[
        bool | None,
        typer.Option(
            "--soft-opt-in/--no-soft-opt-in",
            help="EU: existing customers may get recovery email without a fresh opt-in.",
        ),
    ] = None,
    sms_double_opt_in: Annotated[
        bool | None,
        typer.Option(
            "--sms-double-opt-in/--no-sms-double-opt-in",
            help="SMS consent counts only after the shopper replies YES to a confirmation text.",
        ),
    ] = None,
    retention: Annotated[
        str | None,
        typer.Option(help="How long anonymous carts and raw events are kept (default 90d)."),
    ] = None,
    peak_season: Annotated[
        str | None,
        typer.Option(
            help="Peak days in the store's time zone, FIRST..LAST ISO dates, comma-separated "
            "(e.g. 2026-11-27..2026-12-01); 'none' turns peak-season mode off.",
        ),
    ] = None,
    peak_delay_factor: Annotated[
        float | None,
        typer.Option(help="On peak days, waits between steps are multiplied by this (1 to 10)."),
    ] = None,
    peak_max_touches: Annotated[
        int | None,
        typer.Option(
            help="On peak days, at most this many sent touches per enrollment (-1: none)."
        ),
    ] = None,
    peak_pause_discounts: Annotated[
        bool | None,
        typer.Option(
            "--peak-pause-discounts/--no-peak-pause-discounts",
            help="On peak days, steps with an offer go without it (default: pause).",
        ),
    ] = None,
    webhook_secret: Annotated[
        str | None,
        typer.Option(
            envvar="CARTBACK_WEBHOOK_SECRET",
            help="Add a secret platforms sign webhooks with (e.g. the Shopify app's secret); "
            "earlier ones keep working, for rotation.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """
    Change a store's settings; a new --abandon-after reschedules its active carts.
    """
    from cartback.services.stores import (
        StoreSettings,
        add_webhook_secret,
        get_store,
        update_store,
    )

    settings = _store_settings(
        name=name,
        platform=platform,
        domain=domain,
        currency=currency,
        timezone=timezone,
        country=country,
        abandon_after=abandon_after,
        recovery_window=recovery_window,
        consent_region=consent_region,
        soft_opt_in=soft_opt_in,
        sms_double_opt_in=sms_double_opt_in,
        retention=retention,
        peak_periods=peak_season,
        peak_delay_factor=peak_delay_factor,
        peak_max_touches=peak_max_touches,
        peak_pause_discounts=peak_pause_discounts,
    )
    if settings == StoreSettings() and webhook_secret is None:
        fail("nothing to change; pass at least one option (see --help)", 2)
    with _migrated(database_url) as container:
        if webhook_secret is not None:
            add_webhook_secret(
                uow=container.uow_factory(),
                clock=container.clock,
                box=container.box,
                store_id=store_id,
                secret=webhook_secret,
            )
        if settings != StoreSettings():
            update_store(
                uow=container.uow_factory(),
                clock=container.clock,
                store_id=store_id,
                settings=settings,
            )
        store = get_store(uow=container.uow_factory(read_only=True), store_id=store_id)
    _print_store(store, as_json)


@store_app.command("show")
def store_show(
    store_id: Annotated[str, typer.Argument(help="The store's id (st_…).")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """
    Show a store's settings (never its keys).
    """
    from cartback.services.stores import get_store

    with _migrated(database_url) as container:
        store = get_store(uow=container.uow_factory(read_only=True), store_id=store_id)
    _print_store(store, as_json)


@store_app.command("rotate-key")
def store_rotate_key(
    store_id: Annotated[str, typer.Argument(help="The store's id (st_…).")],
    kind: Annotated[str, typer.Option(help="secret (servers) or public (storefront snippet).")],
    database_url: DatabaseUrl = None,
) -> None:
    """
    Make a new key of KIND, print it (one line, shown once) and revoke the old one at once.
    """
    from cartback.services.api_keys import key_kind, rotate_key

    with cli_errors():
        chosen = key_kind(kind)
    with _migrated(database_url) as container:
        rotated = rotate_key(
            uow=container.uow_factory(), clock=container.clock, store_id=store_id, kind=chosen
        )
    typer.echo(rotated.key)
    typer.echo(
        f"cartback: new {chosen.value} key (shown once); {rotated.revoked} old one(s) revoked",
        err=True,
    )


def _print_store(store: Any, as_json: bool) -> None:
    data = _store_json(store)
    if as_json:
        typer.echo(json.dumps(data))
        return
    for label, value in data.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        typer.echo(f"{label:<19}{shown if shown is not None else '-'}")


def main() -> None:
    """
    Entry point of the `cartback` script.
    """
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
