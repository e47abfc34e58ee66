"""PostgreSQL specifics: the LangGraph checkpointer and cross-process conversation locks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from govcx.errors import ConversationBusy
from govcx.store.db import Database
from govcx.store.locks import ProcessLocks


def psycopg_dsn(url: str) -> str:
    """The SQLAlchemy URL as a libpq connection string."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def open_postgres_saver(url: str, *, serde: Any = None) -> Any:
    """A PostgresSaver over a small psycopg pool, with its tables set up.

    With ``serde`` (an encrypting serializer) every string channel value goes through it
    too: PostgresSaver stores strings, numbers and booleans inline, in clear, in the
    ``checkpoints.checkpoint`` JSONB column, and the customer's message is a string.
    """
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    class SealedPostgresSaver(PostgresSaver):
        def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
            values = checkpoint["channel_values"]
            strings = {k: v for k, v in values.items() if isinstance(v, str)}
            versions = {k: v for k, v in checkpoint["channel_versions"].items() if k in strings}
            if strings and versions:
                # Written as blobs (through serde) at the channel's current version; the
                # insert is ON CONFLICT DO NOTHING, so rewriting one is free. Loading
                # joins blobs by channel version, exactly as for non-primitive values.
                configurable = config["configurable"]
                with self._cursor(pipeline=True) as cur:
                    cur.executemany(
                        self.UPSERT_CHECKPOINT_BLOBS_SQL,
                        self._dump_blobs(
                            configurable["thread_id"],
                            configurable.get("checkpoint_ns", ""),
                            {k: strings[k] for k in versions},
                            versions,
                        ),
                    )
                checkpoint = {
                    **checkpoint,
                    "channel_values": {k: v for k, v in values.items() if k not in versions},
                }
            return super().put(config, checkpoint, metadata, new_versions)

    pool = ConnectionPool(
        psycopg_dsn(url),
        min_size=1,
        max_size=10,
        open=True,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
    )
    saver = (
        SealedPostgresSaver(pool, serde=serde)  # type: ignore[arg-type]
        if serde is not None
        else PostgresSaver(pool)  # type: ignore[arg-type]
    )
    # Workers starting together would race on LangGraph's CREATE TABLEs (a duplicate
    # pg_type error): set up one at a time, under the lock the schema migrations take.
    from govcx.store.migrate import wait_for_advisory_lock

    with pool.connection() as conn:
        wait_for_advisory_lock(conn, 7355608)
        try:
            saver.setup()
        finally:
            conn.execute("SELECT pg_advisory_unlock(7355608)")
    saver.govcx_pool = pool  # type: ignore[attr-defined]
    return saver


class AdvisoryLocks(ProcessLocks):
    """Per-conversation locks across every worker on one PostgreSQL database.

    A session-level advisory lock is held on a dedicated connection for the whole run,
    so a worker that dies releases it with its connection.
    """

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db

    @contextmanager
    def _cross_process(self, conversation_id: str, timeout: float) -> Iterator[None]:
        key = {"k": conversation_id}
        with self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            deadline = time.monotonic() + timeout
            delay = 0.002
            while not conn.execute(
                text("SELECT pg_try_advisory_lock(hashtextextended(:k, 0))"), key
            ).scalar():
                if time.monotonic() >= deadline:
                    raise ConversationBusy(conversation_id, timeout)
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"), key)

    def is_held_elsewhere(self, conversation_id: str) -> bool:
        key = {"k": conversation_id}
        with self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(hashtextextended(:k, 0))"), key
            ).scalar()
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"), key)
            return not got
