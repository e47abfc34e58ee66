"""The Database: a SQLAlchemy engine with transaction semantics govcx relies on.

SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE`` for every transaction, so two
writers (threads or processes) serialise instead of failing on lock upgrades; that is
what keeps the audit chain a single chain and an approval decided once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from govcx.errors import ConfigError
from govcx.store.schema import metadata


def resolve_url(url: str, state_dir: Path) -> str:
    """Relative SQLite paths are relative to the state dir; other URLs pass through."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not Path(database).is_absolute():
            return str(parsed.set(database=str(state_dir / database)))
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        return str(parsed.set(drivername="postgresql+psycopg"))
    return url


class Database:
    """Connections and transactions on the govcx database."""

    def __init__(self, url: str) -> None:
        try:
            parsed = make_url(url)
        except Exception:
            raise ConfigError(
                "storage.url",
                f"{url!r} is not a database URL; "
                "use sqlite:///path/to/govcx.db or postgresql://...",
            ) from None
        self.url = url
        self.backend = parsed.get_backend_name()
        if self.backend not in ("sqlite", "postgresql"):
            raise ConfigError(
                "storage.url", f"unsupported database {self.backend!r}; use sqlite or postgresql"
            )
        self.engine: Engine
        self.read_engine: Engine
        self._write_lock: threading.Lock | None = None
        if self.backend == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                from govcx.paths import private_file

                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
                # Created 0600 here: SQLite gives its -wal and -shm the database's mode.
                private_file(Path(parsed.database))
            args = {"check_same_thread": False, "timeout": 30}
            # Pooled connections: closing the last connection to a WAL database checkpoints
            # and removes the WAL file, which costs milliseconds on every transaction.
            memory = not parsed.database or parsed.database == ":memory:"
            pool: dict[str, Any] = (
                {"poolclass": NullPool} if memory else {"pool_size": 8, "max_overflow": 16}
            )
            self.engine = create_engine(url, connect_args=args, **pool)
            _sqlite_semantics(self.engine, immediate=True)
            self._write_lock = threading.Lock()
            # Reads take a deferred transaction: in WAL mode they never wait for writers.
            self.read_engine = create_engine(url, connect_args=args, **pool)
            _sqlite_semantics(self.read_engine, immediate=False)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
            self.read_engine = self.engine

    def create_schema(self) -> None:
        metadata.create_all(self.engine)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite).

        On SQLite, writers in this process queue on a lock first: SQLite itself makes a
        waiting writer sleep and retry, which under load costs far more than the write.
        """
        if self._write_lock is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.read_engine.connect() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()


def _sqlite_semantics(engine: Engine, *, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide where transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        # Deleted and overwritten rows (pruned transcripts, replaced values) are zeroed,
        # not left readable in free pages.
        cur.execute("PRAGMA secure_delete=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def dumps(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 kept. Same value, same bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
