"""Schema migrations with Alembic, run programmatically (``govcx db upgrade``).

A fresh, empty database is brought to the current schema automatically on start-up; a
database at an older revision is refused with a clear error until someone runs
``govcx db upgrade`` (an upgrade of shared production data is a deliberate act).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from govcx.errors import GovcxError
from govcx.store.db import Database

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class SchemaBehind(GovcxError):
    """The database schema is older than this version of govcx."""

    code = "schema_behind"

    def __init__(self, current: str | None, head: str) -> None:
        super().__init__(f"the database schema is at revision {current or 'none'} but this "
                         f"govcx needs {head}; run `govcx db upgrade` (back up first)",
                         details={"current": current, "head": head})


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database, revision: str = "head") -> str:
    """Apply migrations up to ``revision``; returns the revision now current."""
    config = _config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    return current_revision(db) or ""


def prepare(db: Database, *, auto_upgrade: bool = False) -> None:
    """Check the schema at start-up: create it on an empty database, refuse an old one."""
    head = head_revision()
    current = current_revision(db)
    if current == head:
        return
    with db.engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
    if current is None and not tables & {"conversations", "audit_events"}:
        upgrade(db)
        return
    if auto_upgrade:
        upgrade(db)
        return
    raise SchemaBehind(current, head)
