"""
`cartback purge`: run the retention purge now for one store (the worker does it every few
minutes for all of them); `--dry-run` only counts.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cartback.commands._common import DatabaseOption, JsonOption, StoreOption, command_container


def purge(
    store: StoreOption,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be purged; change nothing.")
    ] = False,
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
) -> None:
    """
    Purge a store's anonymous carts and raw events older than its retention (`store update
    --retention`), 500 rows per transaction.
    """
    from cartback.services.retention import purge_expired

    with command_container(database_url, name="purge") as container:
        report = purge_expired(
            uow_factory=container.uow_factory,
            clock=container.clock,
            store_id=store,
            dry_run=dry_run,
        )
    if as_json:
        typer.echo(json.dumps({"dry_run": dry_run, **report.purged}))
        return
    verb = "would purge" if dry_run else "purged"
    typer.echo(f"{verb} {report.purged['carts']} carts, {report.purged['raw_events']} raw events")
