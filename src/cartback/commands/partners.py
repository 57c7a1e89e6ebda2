"""
`cartback partners …`: co-marketing partner programs (the same as `/v1/partners`).

    cartback partners create --store ID --name NAME --partner "Acme Socks" --segment "…" \
        [--when "…"] --kind percent --value 15 [--codes-from FILE | --joint] \
        [--expires-in 72h] [--starts 2026-12-01T00:00:00Z] [--ends …]
    cartback partners list --store ID [--json]
    cartback partners codes --store ID --name NAME --from FILE
    cartback partners disable|enable --store ID --name NAME
    cartback partners report --store ID --name NAME [--json]

A codes file holds one code per line (blank lines and lines starting with `#` are skipped). A
bad code is printed as `FILE:LINE: message` and nothing is written.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from cartback.commands._common import (
    DatabaseOption,
    JsonOption,
    StoreOption,
    command_container,
    fail,
)
from cartback.domain.durations import format_duration, parse_duration
from cartback.domain.errors import InvalidInput

partners_app = typer.Typer(help="Co-marketing partner programs.", no_args_is_help=True)

NameOption = Annotated[
    str, typer.Option("--name", envvar="CARTBACK_PARTNER_NAME", help="The program's name.")
]


def _option(help_text: str, env: str, *names: str) -> Any:
    return typer.Option(*names, envvar=f"CARTBACK_PARTNER_{env}", help=help_text)


def _read_codes(path: Path) -> list[tuple[int, str]]:
    """
    The file's codes with their line numbers.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        fail(f"cannot read {path}: {error}", 2)
    return [
        (number, line.strip())
        for number, line in enumerate(lines, start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _fail_on_codes(error: InvalidInput, path: Path, lines: list[tuple[int, str]]) -> NoReturn:
    """
    Print each bad code as FILE:LINE and exit 2; other problems go to the usual one line.
    """
    bad = [e for e in error.errors if e.path == "codes" and e.index is not None]
    if not bad:
        raise error
    for problem in bad:
        typer.echo(f"{path}:{lines[problem.index or 0][0]}: {problem.message}", err=True)
    others = [f"{e.path}: {e.message}" for e in error.errors if e not in bad]
    fail("; ".join([f"{path}: {len(bad)} bad codes; nothing written", *others]), 2)


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option}: {value!r} is not a date and time like 2026-12-01T00:00:00Z", 2)
    if parsed.utcoffset() is None:
        fail(f"{option}: give a time zone (2026-12-01T00:00:00+01:00 or …Z)", 2)
    return parsed


def _number(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        fail(f"--value: {value!r} is not a number", 2)


@partners_app.command("create")
def create(
    store: StoreOption,
    name: NameOption,
    partner: Annotated[str, _option("The partner brand (shown to the merchant).", "PARTNER")],
    segment: Annotated[str, _option("The carts it is for (an expression).", "SEGMENT")],
    kind: Annotated[str, _option("percent, fixed or free_shipping.", "KIND")],
    value: Annotated[
        str | None, _option("Percent, or an amount in the store's currency.", "VALUE")
    ] = None,
    when: Annotated[
        str | None, _option("Who is eligible among them (an expression).", "WHEN")
    ] = None,
    codes_from: Annotated[
        Path | None, _option("The partner's codes, one per line.", "CODES_FROM")
    ] = None,
    joint: Annotated[
        bool, _option("A joint discount created on the store's platform.", "JOINT")
    ] = False,
    expires_in: Annotated[str, _option("How long a given code lasts.", "EXPIRES_IN")] = "48h",
    starts: Annotated[str | None, _option("When it starts (ISO 8601).", "STARTS")] = None,
    ends: Annotated[str | None, _option("When it ends (ISO 8601).", "ENDS")] = None,
    database_url: DatabaseOption = None,
) -> None:
    """
    Create a partner program: a pool of the partner's codes (--codes-from, or added later
    with `codes`) or a joint discount (--joint).
    """
    from cartback.services.partners import create_program

    if joint and codes_from is not None:
        fail("--codes-from and --joint exclude each other", 2)
    try:
        lifetime = parse_duration(expires_in)
    except ValueError as error:
        fail(f"--expires-in: {error}", 2)
    lines = _read_codes(codes_from) if codes_from is not None else []
    with command_container(database_url, name="partners") as container:
        try:
            program = create_program(
                uow=container.uow_factory(),
                clock=container.clock,
                store_id=store,
                name=name,
                partner=partner,
                segment=segment,
                eligibility=when,
                kind=kind,
                value=_number(value),
                code_source="joint" if joint else "pool",
                expires_in=lifetime,
                starts_at=_when(starts, "--starts"),
                ends_at=_when(ends, "--ends"),
                codes=[code for _, code in lines],
            )
        except InvalidInput as error:
            _fail_on_codes(error, codes_from or Path("-"), lines)
    codes = f", {len(lines)} codes" if lines else ""
    typer.echo(f"created partner program {program.name} ({program.code_source.value}{codes})")


@partners_app.command("list")
def list_(
    store: StoreOption, as_json: JsonOption = False, database_url: DatabaseOption = None
) -> None:
    """
    The store's partner programs.
    """
    from cartback.services.partners import list_programs

    with command_container(database_url, name="partners") as container:
        found = list_programs(uow=container.uow_factory(read_only=True), store_id=store)
    if as_json:
        rows = [
            {
                "name": p.name,
                "partner": p.partner,
                "segment": p.segment,
                "eligibility": p.eligibility,
                "kind": p.kind.value,
                "value": str(p.value),
                "currency": p.currency,
                "code_source": p.code_source.value,
                "expires_in": format_duration(p.expires_in),
                "starts_at": p.starts_at.isoformat() if p.starts_at else None,
                "ends_at": p.ends_at.isoformat() if p.ends_at else None,
                "enabled": p.enabled,
            }
            for p in found
        ]
        typer.echo(json.dumps({"data": rows, "count": len(rows)}, ensure_ascii=False))
        return
    if not found:
        typer.echo("no partner programs")
    for p in found:
        state = "enabled" if p.enabled else "disabled"
        offer = f"{p.kind.value} {p.value.normalize():f}"
        typer.echo(f"{p.name:<24} {p.partner:<24} {offer:<20} {p.code_source.value:<6} {state}")


@partners_app.command("codes")
def codes(
    store: StoreOption,
    name: NameOption,
    from_file: Annotated[Path, _option("The codes, one per line.", "CODES_FROM", "--from")],
    database_url: DatabaseOption = None,
) -> None:
    """
    Add the partner's codes to a pool program.
    """
    from cartback.services.partners import add_codes

    lines = _read_codes(from_file)
    with command_container(database_url, name="partners") as container:
        try:
            added = add_codes(
                uow=container.uow_factory(),
                store_id=store,
                name=name,
                codes=[code for _, code in lines],
            )
        except InvalidInput as error:
            _fail_on_codes(error, from_file, lines)
    typer.echo(
        f"added {added.added} codes ({added.duplicates} duplicates); {added.available} available"
    )


def _set_enabled(store: str, name: str, enabled: bool, database_url: str | None) -> None:
    from cartback.services.partners import update_program

    with command_container(database_url, name="partners") as container:
        update_program(
            uow=container.uow_factory(),
            clock=container.clock,
            store_id=store,
            name=name,
            changes={"enabled": enabled},
        )
    typer.echo(f"{'enabled' if enabled else 'disabled'} partner program {name}")


@partners_app.command("disable")
def disable(store: StoreOption, name: NameOption, database_url: DatabaseOption = None) -> None:
    """
    Stop offering a program (codes already given stay valid).
    """
    _set_enabled(store, name, False, database_url)


@partners_app.command("enable")
def enable(store: StoreOption, name: NameOption, database_url: DatabaseOption = None) -> None:
    """
    Offer a disabled program again.
    """
    _set_enabled(store, name, True, database_url)


@partners_app.command("report")
def report(
    store: StoreOption,
    name: NameOption,
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
) -> None:
    """
    Codes given and redeemed, the discount on the orders that used them, codes left.
    """
    from cartback.services.partners import program_report

    with command_container(database_url, name="partners") as container:
        found = program_report(uow=container.uow_factory(read_only=True), store_id=store, name=name)
    body = {
        "name": found.name,
        "partner": found.partner,
        "given": found.given,
        "redeemed": found.redeemed,
        "discount_total": str(found.discount_total),
        "currency": found.currency,
        "codes_available": found.codes_available,
    }
    if as_json:
        typer.echo(json.dumps(body, ensure_ascii=False))
        return
    left = "" if found.codes_available is None else f"; {found.codes_available} codes left"
    typer.echo(
        f"{found.name} ({found.partner}): {found.given} given, {found.redeemed} redeemed, "
        f"{found.discount_total} {found.currency} discount{left}"
    )
