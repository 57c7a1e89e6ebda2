"""
`cartback webhooks …`: a store's outbound webhook endpoints (the same as `/v1/webhooks`).

    cartback webhooks add --store ID --url URL [--event cart.abandoned --event …] [--json]
    cartback webhooks list --store ID [--json]
    cartback webhooks remove --store ID ENDPOINT_ID

`add` prints the endpoint's id and its signing secret, shown this once.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from cartback.commands._common import DatabaseOption, JsonOption, StoreOption, command_container
from cartback.domain.webhooks import EventType, WebhookEndpoint

webhooks_app = typer.Typer(help="Outbound webhook endpoints.", no_args_is_help=True)


def _row(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "event_types": [t.value for t in endpoint.event_types],
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "created_at": endpoint.created_at.isoformat(),
    }


@webhooks_app.command("add")
def add(
    store: StoreOption,
    url: Annotated[
        str,
        typer.Option("--url", envvar="CARTBACK_WEBHOOK_URL", help="Where to POST (https)."),
    ],
    event: Annotated[
        list[str] | None,
        typer.Option(
            "--event",
            help=f"An event type to send (repeat; all when left out): "
            f"{', '.join(t.value for t in EventType)}.",
        ),
    ] = None,
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
) -> None:
    """
    Add an endpoint; prints its id and its signing secret (shown this once).
    """
    from cartback.services.webhooks import add_endpoint

    with command_container(database_url, name="webhooks") as container:
        created = add_endpoint(
            uow=container.uow_factory(),
            clock=container.clock,
            box=container.box,
            policy=container.destination_policy(),
            store_id=store,
            url=url,
            types=event,
        )
    if as_json:
        typer.echo(json.dumps({**_row(created.endpoint), "secret": created.secret}))
        return
    typer.echo(f"id: {created.endpoint.id}")
    typer.echo(f"secret: {created.secret}")
    typer.echo(f"events: {', '.join(t.value for t in created.endpoint.event_types)}")


@webhooks_app.command("list")
def list_(
    store: StoreOption, as_json: JsonOption = False, database_url: DatabaseOption = None
) -> None:
    """
    The store's endpoints (never their secrets).
    """
    from cartback.services.webhooks import list_endpoints

    with command_container(database_url, name="webhooks") as container:
        found = list_endpoints(uow=container.uow_factory(read_only=True), store_id=store)
    if as_json:
        rows = [_row(e) for e in found]
        typer.echo(json.dumps({"data": rows, "count": len(rows)}))
        return
    if not found:
        typer.echo("no webhook endpoints")
    for e in found:
        state = "enabled" if e.enabled else f"disabled ({e.disabled_reason})"
        typer.echo(f"{e.id}  {e.url}  {','.join(t.value for t in e.event_types)}  {state}")


@webhooks_app.command("remove")
def remove(
    store: StoreOption,
    endpoint_id: Annotated[str, typer.Argument(help="The endpoint's id (we_…).")],
    database_url: DatabaseOption = None,
) -> None:
    """
    Remove an endpoint and its pending deliveries.
    """
    from cartback.services.webhooks import remove_endpoint

    with command_container(database_url, name="webhooks") as container:
        remove_endpoint(uow=container.uow_factory(), store_id=store, endpoint_id=endpoint_id)
    typer.echo(f"removed {endpoint_id}")
