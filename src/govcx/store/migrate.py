"""Schema migrations with Alembic, run programmatically (``govcx db upgrade``).

A fresh, empty database is brought to the current schema automatically on start-up; a
database at an older revision is refused with a clear error until someone runs
``govcx db upgrade`` (an upgrade of shared production data is a deliberate act).
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from govcx.errors import SchemaBehind
from govcx.store.db import Database

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Alembic logs every step of every upgrade at INFO ("Context impl SQLiteImpl", "Running
# upgrade"), and some dependency configures the root logger at INFO: hundreds of lines in
# an eval run. govcx reports what matters (SchemaBehind, `govcx db upgrade`) itself.
logging.getLogger("alembic").setLevel(logging.WARNING)


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


def upgrade(db: Database, revision: str = "head", *, audit_key: bytes | None = None) -> str:
    """Apply migrations up to ``revision``; returns the revision now current.

    ``audit_key`` lets the migration that introduces the keyed audit chain seal its key
    boundary in the same transaction (without it, ``govcx audit seal`` must do it)."""
    config = _config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        config.attributes["audit_key"] = audit_key
        command.upgrade(config, revision)
    return current_revision(db) or ""


def wait_for_advisory_lock(conn: object, key: int) -> None:
    """Take a session advisory lock by polling, not by a blocking ``pg_advisory_lock``: a
    statement left waiting holds a snapshot, and LangGraph's ``CREATE INDEX
    CONCURRENTLY`` in another worker's set-up waits for every such snapshot, while that
    worker holds the lock: a deadlock PostgreSQL does not detect. Between polls this
    connection runs nothing."""
    import time

    delay = 0.01
    while True:
        if hasattr(conn, "exec_driver_sql"):
            got = conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({int(key)})").scalar()
        else:
            row = conn.execute(f"SELECT pg_try_advisory_lock({int(key)})").fetchone()  # type: ignore[attr-defined]
            got = next(iter(row.values())) if isinstance(row, dict) else row[0]
        if got:
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


@contextmanager
def _exclusive(db: Database) -> Iterator[None]:
    """One process at a time prepares the schema (N workers start at once)."""
    if db.backend == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            wait_for_advisory_lock(conn, 7355608)
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(7355608)"))
        return
    database = make_url(db.url).database
    if not database or database == ":memory:":
        yield
        return
    fd = os.open(f"{database}.migrate.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def prepare(db: Database, *, auto_upgrade: bool = False, audit_key: bytes | None = None) -> None:
    """Check the schema at start-up: create it on an empty database, refuse an old one."""
    head = head_revision()
    if current_revision(db) == head:
        return
    with _exclusive(db):
        _prepare(db, head, auto_upgrade=auto_upgrade, audit_key=audit_key)


def _prepare(
    db: Database, head: str, *, auto_upgrade: bool, audit_key: bytes | None = None
) -> None:
    current = current_revision(db)
    if current == head:
        return
    with db.engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
    if current is None and not tables & {"conversations", "audit_events"}:
        upgrade(db, audit_key=audit_key)
        return
    if auto_upgrade:
        upgrade(db, audit_key=audit_key)
        return
    raise SchemaBehind(current, head)
