"""
`cartback sources …`: commands that talk to the platforms (connect webhooks, poll for changes).
Each platform's commands live in a module of their own and are registered here.
"""

from __future__ import annotations

import typer

sources_app = typer.Typer(help="Connect and poll the shop platforms.", no_args_is_help=True)


def register() -> typer.Typer:
    """
    The `sources` command group with every platform's commands attached.
    """
    from cartback.commands.aliases import alias_app
    from cartback.commands.poll import poll_app
    from cartback.commands.shopify import shopify_app

    sources_app.add_typer(shopify_app, name="shopify")
    sources_app.add_typer(poll_app, name="poll")
    sources_app.add_typer(alias_app, name="alias")
    return sources_app
