"""
What every command shares: one line on stderr with a non-zero exit for every expected failure,
and (for `cartback sources …`) a container on a migrated database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from cartback.domain.errors import CartbackError, InvalidInput

#: Options most commands take.
StoreOption = Annotated[
    str, typer.Option("--store", envvar="CARTBACK_STORE_ID", help="The store's id (st_…).")
]
DatabaseOption = Annotated[
    str | None,
    typer.Option("--database-url", envvar="CARTBACK_DATABASE_URL", help="SQLAlchemy URL."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def fail(message: str, code: int = 1) -> NoReturn:
    """
    Print `cartback: message` on stderr and exit with `code` (2 for bad input).
    """
    typer.echo(f"cartback: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def cli_errors() -> Iterator[None]:
    """
    Turn every expected failure into one line and a non-zero exit; never a traceback.
    """
    try:
        yield
    except typer.Exit:
        raise
    except InvalidInput as error:
        details = "; ".join(f"{e.path}: {e.message}" for e in error.errors)
        fail(f"{error.detail}{': ' + details if details else ''}", 2)
    except CartbackError as error:
        fail(error.detail)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        fail(f"invalid configuration{' ' + where if where else ''}: {first['msg']}", 2)
    except DBAPIError as error:
        reason = str(error.orig or error).strip().splitlines()[0]
        fail(f"the database is unavailable: {reason}")
    except OSError as error:
        fail(str(error))


@contextmanager
def command_container(database_url: str | None, *, name: str) -> Iterator[Any]:
    """
    A container on a migrated database, closed afterwards, for the command `name`.
    """
    from cartback._logging import configure_logging
    from cartback.bootstrap import bootstrap
    from cartback.settings import Settings
    from cartback.store.migrate import ensure_migrated

    with cli_errors():
        settings = Settings(database_url=database_url) if database_url else Settings()
        configure_logging(level=settings.log_level, json_logs=settings.json_logs)
        # httpx narrates every request at INFO; the command reports what it did itself.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        container = bootstrap(settings, application_name=f"cartback-{name}")
        try:
            ensure_migrated(container.engine)
            yield container
        finally:
            container.close()
