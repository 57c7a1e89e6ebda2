"""
`cartback operator create|list|disable`: the people who sign in to the dashboard (`/admin`).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from cartback.commands._common import DatabaseOption, JsonOption, command_container, fail

operator_app = typer.Typer(help="Dashboard operators (who may sign in to /admin).")

EmailOption = Annotated[str, typer.Option("--email", help="The operator's email (sign-in name).")]


def _password(from_stdin: bool) -> str:
    """
    The new password: the first line of standard input, or typed twice without echo.
    """
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        fail("no terminal to ask for the password; pipe it with --password-stdin", 2)
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@operator_app.command("create")
def operator_create(
    email: EmailOption,
    all_stores: Annotated[
        bool, typer.Option("--all-stores", help="May see every store, present and future.")
    ] = False,
    store: Annotated[
        list[str] | None,
        typer.Option("--store", help="A store the operator may see (repeat for more)."),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from standard input."),
    ] = False,
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
) -> None:
    """
    Create an operator. The password (at least 12 characters) is asked for twice without
    echo, or read from standard input with --password-stdin; only its argon2 hash is kept.
    """
    from cartback.kit.passwords import Argon2Hasher
    from cartback.services.operators import create_operator

    password = _password(password_stdin)
    with command_container(database_url, name="operator") as container:
        operator = create_operator(
            uow=container.uow_factory(),
            hasher=Argon2Hasher.for_profile(container.settings.password_hash_profile),
            now=container.clock.now(),
            email=email,
            password=password,
            all_stores=all_stores,
            store_ids=store or (),
        )
    if as_json:
        typer.echo(json.dumps(_operator_json(operator)))
        return
    stores = "all stores" if operator.all_stores else ", ".join(sorted(operator.store_ids))
    typer.echo(f"created operator {operator.email} ({operator.id}): {stores}")


@operator_app.command("list")
def operator_list(as_json: JsonOption = False, database_url: DatabaseOption = None) -> None:
    """
    List the operators with the stores they may see.
    """
    from cartback.services.operators import list_operators

    with command_container(database_url, name="operator") as container:
        operators = list_operators(uow=container.uow_factory(read_only=True))
    if as_json:
        typer.echo(json.dumps([_operator_json(o) for o in operators]))
        return
    for operator in operators:
        stores = "all stores" if operator.all_stores else ", ".join(sorted(operator.store_ids))
        state = "disabled" if operator.disabled_at else "active"
        typer.echo(f"{operator.email}\t{operator.id}\t{state}\t{stores}")


@operator_app.command("disable")
def operator_disable(email: EmailOption, database_url: DatabaseOption = None) -> None:
    """
    Disable an operator: no more sign-ins, and every open session ends at once.
    """
    from cartback.services.operators import disable_operator

    with command_container(database_url, name="operator") as container:
        operator = disable_operator(
            uow=container.uow_factory(), now=container.clock.now(), email=email
        )
    typer.echo(f"disabled operator {operator.email}")


def _operator_json(operator: Any) -> dict[str, Any]:
    return {
        "id": operator.id,
        "email": operator.email,
        "all_stores": operator.all_stores,
        "stores": sorted(operator.store_ids),
        "created_at": operator.created_at.isoformat(),
        "last_login_at": operator.last_login_at.isoformat() if operator.last_login_at else None,
        "disabled_at": operator.disabled_at.isoformat() if operator.disabled_at else None,
    }
