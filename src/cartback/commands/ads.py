"""
`cartback ads …`: a store's ad-network accounts and its audience pushes.

    cartback ads configure --store ID --meta-token T --meta-ad-account act_1 \
        --audience viewed-cart=2385…
    cartback ads configure --store ID --google-developer-token D --google-access-token A \
        --google-customer 123-456-7890 --google-audience viewed-cart=customers/…/userLists/…
    cartback ads sync --store ID

`configure` prints what is configured, as JSON, without any token.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cartback.commands._common import DatabaseOption, StoreOption, command_container
from cartback.domain.errors import FieldError, InvalidInput, NotFound

ads_app = typer.Typer(
    help="Configure a store's ad accounts (Meta, Google) and push its audiences.",
    no_args_is_help=True,
)


@ads_app.command("configure")
def configure(
    store: StoreOption,
    meta_token: Annotated[
        str | None,
        typer.Option(
            envvar="CARTBACK_META_ACCESS_TOKEN",
            help="Meta system user's token (sealed, never printed).",
        ),
    ] = None,
    meta_ad_account: Annotated[
        str | None, typer.Option(envvar="CARTBACK_META_AD_ACCOUNT", help="Meta ad account (act_…).")
    ] = None,
    meta_pixel: Annotated[
        str | None,
        typer.Option(envvar="CARTBACK_META_PIXEL", help="Meta pixel id (Conversions API)."),
    ] = None,
    google_developer_token: Annotated[
        str | None,
        typer.Option(
            envvar="CARTBACK_GOOGLE_DEVELOPER_TOKEN", help="Google Ads developer token (sealed)."
        ),
    ] = None,
    google_access_token: Annotated[
        str | None,
        typer.Option(
            envvar="CARTBACK_GOOGLE_ACCESS_TOKEN", help="Google OAuth access token (sealed)."
        ),
    ] = None,
    google_customer: Annotated[
        str | None,
        typer.Option(envvar="CARTBACK_GOOGLE_CUSTOMER", help="Google Ads customer (123-456-7890)."),
    ] = None,
    google_login_customer: Annotated[
        str | None,
        typer.Option(
            envvar="CARTBACK_GOOGLE_LOGIN_CUSTOMER",
            help="The manager account the access goes through.",
        ),
    ] = None,
    audience: Annotated[
        list[str] | None,
        typer.Option(
            "--audience",
            envvar="CARTBACK_META_AUDIENCES",
            help="NAME=CUSTOM_AUDIENCE_ID: push audience NAME to that Meta Custom Audience "
            "(repeat; an empty id stops pushing it).",
        ),
    ] = None,
    google_audience: Annotated[
        list[str] | None,
        typer.Option(
            "--google-audience",
            envvar="CARTBACK_GOOGLE_AUDIENCES",
            help="NAME=customers/…/userLists/…: push audience NAME to that Customer Match list "
            "(repeat; an empty list stops pushing it).",
        ),
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """
    Set the store's Meta and/or Google Ads account and which audiences go to which list; a
    value left out keeps the one set before. Prints the configuration (no token) as JSON.
    """
    from cartback.services.ads_config import ads_summary, configure_google, configure_meta

    meta_given = (meta_token, meta_ad_account, meta_pixel) != (None, None, None)
    google_given = (
        google_developer_token,
        google_access_token,
        google_customer,
        google_login_customer,
    ) != (None, None, None, None)
    with command_container(database_url, name="ads") as container:
        meta_lists = _mappings("audience", audience)
        google_lists = _mappings("google_audience", google_audience)
        saved = None
        if meta_given or meta_lists is not None:
            saved = configure_meta(
                uow=container.uow_factory(),
                clock=container.clock,
                box=container.box,
                store_id=store,
                access_token=meta_token,
                ad_account_id=meta_ad_account,
                pixel_id=meta_pixel,
                audiences=meta_lists,
            )
        if google_given or google_lists is not None:
            saved = configure_google(
                uow=container.uow_factory(),
                clock=container.clock,
                box=container.box,
                store_id=store,
                developer_token=google_developer_token,
                access_token=google_access_token,
                customer_id=google_customer,
                login_customer_id=google_login_customer,
                audiences=google_lists,
            )
        if saved is None:
            with container.uow_factory(read_only=True) as uow:
                saved = uow.stores.get(store)
            if saved is None:
                raise NotFound(f"no store {store!r}")
        summary = ads_summary(saved)
    typer.echo(json.dumps(summary, indent=2, sort_keys=True))


@ads_app.command("sync")
def sync(store: StoreOption, database_url: DatabaseOption = None) -> None:
    """
    Push what changed in the store's mapped audiences to Meta and Google now, and print the
    counts; a network that failed is named on stderr (exit 1), the others still go.
    """
    from cartback.services.audience_sync import sync_audiences

    with command_container(database_url, name="ads") as container:
        report = sync_audiences(
            uow_factory=container.uow_factory,
            clock=container.clock,
            box=container.box,
            pushers=container.audience_pushers(),
            store_id=store,
        )
    typer.echo(f"added {report.added}, removed {report.removed}, failed {len(report.failures)}")
    for failure in report.failures:
        typer.echo(f"cartback: {failure}", err=True)
    if report.failures:
        raise typer.Exit(1)


def _mappings(option: str, values: list[str] | None) -> dict[str, str] | None:
    """
    `NAME=LIST` pairs as a mapping (None when none was given).

    Raises:
        InvalidInput: a value without `=`.
    """
    if not values:
        return None
    found: dict[str, str] = {}
    for value in values:
        name, sep, list_id = value.partition("=")
        if not sep:
            raise InvalidInput(
                "invalid audience mapping",
                errors=[FieldError(path=option, message=f"{value!r} is not NAME=LIST")],
            )
        found[name.strip()] = list_id.strip()
    return found
