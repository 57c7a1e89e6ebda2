"""
`cartback sources shopify …`: connect a store to its Shopify shop.

`connect` registers a webhook subscription for every topic Cartback uses through the Admin
GraphQL API, idempotently (it lists the app's subscriptions first and creates only the missing
ones), then remembers the shop and the app's API secret on the store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from cartback.commands._common import command_container, fail
from cartback.sources._shopify_admin import API_VERSION, ShopifyAdmin, topic_enum
from cartback.sources.shopify import HANDLED_TOPICS, shop_domain

shopify_app = typer.Typer(
    help="Shopify: register the webhooks Cartback needs.", no_args_is_help=True
)

#: What `connect` subscribes to. The privacy topics (customers/data_request, customers/redact,
#: shop/redact) cannot be subscribed through the API: they are set in the app's configuration.
SUBSCRIBED_TOPICS: tuple[str, ...] = (*sorted(HANDLED_TOPICS), "app/uninstalled")
PRIVACY_NOTE = (
    "note: Shopify's privacy topics (customers/data_request, customers/redact, shop/redact) are "
    "set in the app's configuration (Partner Dashboard or shopify.app.toml), not through the API; "
    "point them at {callback}"
)


@dataclass(kw_only=True)
class _Report:
    callback: str
    created: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    signing: str = "none"  # was the API secret added, already known, or not given

    def as_json(self) -> dict[str, Any]:
        return {
            "callback": self.callback,
            "created": self.created,
            "present": self.present,
            "secret": self.signing,
        }


@shopify_app.command("connect")
def connect(
    store: Annotated[
        str, typer.Option("--store", envvar="CARTBACK_STORE_ID", help="The store's id (st_…).")
    ],
    shop: Annotated[
        str,
        typer.Option(envvar="CARTBACK_SHOPIFY_SHOP", help="The shop, e.g. my-shop.myshopify.com."),
    ],
    token: Annotated[
        str,
        typer.Option(
            envvar="CARTBACK_SHOPIFY_TOKEN",
            help="The app's Admin API access token (shpat_…); prefer the variable to the option.",
        ),
    ],
    api_secret: Annotated[
        str | None,
        typer.Option(
            envvar="CARTBACK_SHOPIFY_API_SECRET",
            help="The app's API secret, which signs its webhooks; added as a webhook secret.",
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            envvar="CARTBACK_BASE_URL", help="Cartback's public https URL that Shopify calls."
        ),
    ] = None,
    keep_token: Annotated[
        bool,
        typer.Option(
            "--keep-token",
            envvar="CARTBACK_SHOPIFY_KEEP_TOKEN",
            help="Keep the access token (sealed) so Cartback can create discount codes; the app "
            "then needs the write_discounts access scope.",
        ),
    ] = False,
    api_version: Annotated[
        str, typer.Option(envvar="CARTBACK_SHOPIFY_API_VERSION", help="Admin API version.")
    ] = API_VERSION,
    admin_url: Annotated[
        str | None, typer.Option(envvar="CARTBACK_SHOPIFY_ADMIN_URL", hidden=True)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", envvar="CARTBACK_DATABASE_URL", help="SQLAlchemy URL."),
    ] = None,
) -> None:
    """
    Subscribe Cartback to the shop's cart, checkout and order webhooks (only the missing ones),
    and remember the shop and the app's API secret on the store (and, with --keep-token, the
    access token, for discount codes).
    """
    from cartback.services.shopify_connect import record_connection
    from cartback.services.stores import get_store

    try:
        host = shop_domain(shop)
    except ValueError as error:
        fail(f"--shop: {error}", 2)
    with command_container(database_url, name="shopify") as container:
        callback = _callback(base_url or container.settings.base_url, store)
        get_store(uow=container.uow_factory(read_only=True), store_id=store)
        report = _Report(callback=callback)
        with ShopifyAdmin(
            shop=host, token=token, api_version=api_version, admin_url=admin_url
        ) as admin:
            _subscribe(admin, report)
        connection = record_connection(
            uow=container.uow_factory(),
            clock=container.clock,
            box=container.box,
            store_id=store,
            shop=host,
            api_secret=api_secret,
            access_token=token if keep_token else None,
        )
    if api_secret:
        report.signing = "added" if connection.secret_added else "known"
    _print(report, as_json)


def _subscribe(admin: ShopifyAdmin, report: _Report) -> None:
    existing = {(s.topic, s.uri) for s in admin.subscriptions()}
    for topic in SUBSCRIBED_TOPICS:
        enum = topic_enum(topic)
        if (enum, report.callback) in existing:
            report.present.append(enum)
            continue
        admin.create_subscription(enum, report.callback)
        report.created.append(enum)


def _callback(base_url: str, store_id: str) -> str:
    base = base_url.strip().rstrip("/")
    if not base.lower().startswith("https://"):
        fail(f"--base-url: Shopify delivers only to https URLs, not {base!r}", 2)
    return f"{base}/webhooks/shopify/{store_id}"


def _print(report: _Report, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.as_json()))
    else:
        for enum in report.created:
            typer.echo(f"created  {enum}")
        for enum in report.present:
            typer.echo(f"present  {enum}")
        typer.echo(
            f"{len(report.created)} subscriptions created, {len(report.present)} already "
            f"present, for {report.callback}"
        )
        secret = {
            "added": "the API secret was added to the store's webhook secrets",
            "known": "the API secret was already one of the store's webhook secrets",
            "none": "no --api-secret: add the app's API secret, which signs Shopify's webhooks, "
            "with --api-secret or `cartback store update ID --webhook-secret`",
        }[report.signing]
        typer.echo(secret)
    typer.echo(PRIVACY_NOTE.format(callback=report.callback), err=True)
