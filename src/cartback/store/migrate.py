"""
Running and checking migrations from code (`cartback migrate`, start-up checks, tests).
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from cartback.domain.errors import DatabaseNotMigrated


def alembic_config(engine: Engine | None = None) -> Config:
    """
    The Alembic configuration, with the scripts inside the installed package.
    """
    config = Config()
    config.set_main_option("script_location", "cartback.store:migrations")
    config.set_main_option("file_template", "%%(year)d-%%(month).2d-%%(day).2d_%%(slug)s")
    if engine is not None:
        config.set_main_option(
            "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
        )
    return config


def head_revision() -> str:
    """
    The newest migration this code ships.
    """
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations are packaged")
    return head


def current_revision(engine: Engine) -> str | None:
    """
    The migration the database is at, or None when it was never migrated.
    """
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """
    Apply migrations up to `revision`, in one transaction per migration run.
    """
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """
    Revert migrations down to `revision` (`base` empties the database).
    """
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def ensure_migrated(engine: Engine) -> None:
    """
    Refuse to run on a database that is not at the packaged head.

    Raises:
        DatabaseNotMigrated: with what to do about it.
    """
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    if current is None:
        raise DatabaseNotMigrated("the database is not migrated; run `cartback migrate` first")
    raise DatabaseNotMigrated(
        f"the database is at migration {current}, this version needs {head}; "
        "run `cartback migrate` first"
    )
