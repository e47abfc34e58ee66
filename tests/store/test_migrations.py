"""Upgrading older databases: conversations get owners (0005), the HTTP server's tables
join the core schema (0006), proposals get the state of their impact report (0011)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Float,
    MetaData,
    String,
    Table,
    func,
    insert,
    inspect,
    select,
    text,
)

from govcx.store import migrate
from govcx.store.db import Database, resolve_url
from govcx.store.schema import metadata, webhook_deliveries

KEY = b"migration-test-audit-key-0123456789"


def test_existing_conversations_get_the_owner_that_started_them(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'govcx.db'}")
    migrate.upgrade(db, "0004", audit_key=KEY)
    with db.begin() as conn:
        for cid in ("cli-abc", "chat-def", "conv_api", "mine"):
            conn.execute(
                text(
                    "INSERT INTO conversations (conversation_id, status, turn_count,"
                    " created_at, updated_at) VALUES (:c, 'idle', 0, 0, 0)"
                ),
                {"c": cid},
            )
        conn.execute(
            text(
                "CREATE TABLE api_conversation_owners (conversation_id TEXT "
                "PRIMARY KEY, principal TEXT, created_at FLOAT)"
            )
        )
        conn.execute(text("INSERT INTO api_conversation_owners VALUES ('conv_api', 'web-chat', 0)"))
    assert migrate.upgrade(db, audit_key=KEY) == migrate.head_revision()
    with db.read() as conn:
        owners: dict[str, str] = dict(
            conn.execute(text("SELECT conversation_id, owner FROM conversations")).all()
        )
    assert owners == {"cli-abc": "cli", "chat-def": "cli", "conv_api": "web-chat", "mine": "local"}
    db.dispose()


# -- 0006: the HTTP server's tables in the core schema -----------------------------------


@pytest.fixture
def db(tmp_path: Path, database_url: str | None) -> Iterator[Database]:
    database = Database(resolve_url(database_url or f"sqlite:///{tmp_path / 'govcx.db'}", tmp_path))
    yield database
    database.dispose()


def _tables(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(inspect(conn).get_table_names())


def _indexes(db: Database, table: str) -> set[str]:
    with db.engine.connect() as conn:
        return {str(ix["name"]) for ix in inspect(conn).get_indexes(table)}


DELIVERY = {
    "delivery_id": "d1",
    "event_id": "approval.requested:apr_1",
    "event_type": "approval.requested",
    "url": "https://hooks.example/x",
    "body": '{"id":"approval.requested:apr_1"}',
    "status": "pending",
    "attempts": 2,
    "last_status": 503,
    "last_error": "HTTP 503",
    "next_attempt_at": 12.5,
    "claimed_until": None,
    "created_at": 1.0,
    "updated_at": 2.0,
}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_0006_keeps_the_tables_and_rows_a_server_created_with_create_all(db: Database) -> None:
    """A database at 0005 that a server started on: it created ``webhook_deliveries``
    (and its legacy tables) itself with ``create_all``. The upgrade keeps every row."""
    migrate.upgrade(db, "0005", audit_key=KEY)
    legacy = MetaData()
    webhook_deliveries.to_metadata(legacy)  # the definition api/store.py had, column for column
    Table(
        "api_conversation_owners",
        legacy,
        Column("conversation_id", String(64), primary_key=True),
        Column("principal", String(128), nullable=False),
        Column("created_at", Float, nullable=False),
    )
    legacy.create_all(db.engine)
    with db.begin() as conn:
        conn.execute(insert(webhook_deliveries).values(**DELIVERY))
        conn.execute(text("INSERT INTO api_conversation_owners VALUES ('conv_1', 'web', 0)"))
    assert migrate.upgrade(db, audit_key=KEY) == migrate.head_revision()
    with db.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(webhook_deliveries)).all()]
        owners = conn.execute(text("SELECT * FROM api_conversation_owners")).all()
    assert rows == [DELIVERY]
    assert [tuple(o) for o in owners] == [("conv_1", "web", 0)]
    assert "ix_webhook_deliveries_status" in _indexes(db, "webhook_deliveries")
    migrate.prepare(db)  # at head: a server starts without `govcx db upgrade`


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_0006_creates_the_table_where_it_is_missing_and_downgrades(db: Database) -> None:
    migrate.upgrade(db, "0005", audit_key=KEY)
    assert "webhook_deliveries" not in _tables(db)
    migrate.upgrade(db, audit_key=KEY)
    assert "ix_webhook_deliveries_status" in _indexes(db, "webhook_deliveries")
    with db.begin() as conn:  # the dispatcher's insert works on the migrated table
        conn.execute(insert(webhook_deliveries).values(**DELIVERY))
    migrate.upgrade(db, "0006", audit_key=KEY)  # nothing to do twice
    from alembic import command

    config = migrate._config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0005")
    assert "webhook_deliveries" not in _tables(db)
    assert migrate.current_revision(db) == "0005"


def test_0006_adds_only_the_index_to_a_table_that_lacks_it(db: Database) -> None:
    migrate.upgrade(db, "0005", audit_key=KEY)
    with db.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE webhook_deliveries (delivery_id VARCHAR(64) PRIMARY "
                "KEY, event_id VARCHAR(200) NOT NULL, event_type VARCHAR(64) NOT "
                "NULL, url TEXT NOT NULL, body TEXT NOT NULL, status VARCHAR(16) "
                "NOT NULL, attempts INTEGER NOT NULL, last_status INTEGER, "
                "last_error TEXT, next_attempt_at FLOAT, claimed_until FLOAT, "
                "created_at FLOAT NOT NULL, updated_at FLOAT NOT NULL)"
            )
        )
        conn.execute(insert(webhook_deliveries).values(**DELIVERY))
    migrate.upgrade(db, audit_key=KEY)
    assert "ix_webhook_deliveries_status" in _indexes(db, "webhook_deliveries")
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(webhook_deliveries)).scalar() == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_the_migrations_build_exactly_the_declared_schema(db: Database) -> None:
    """Every table of ``store/schema.py`` (the server's too) comes from a migration, with
    the declared columns and indexes: nothing is left to ``create_all``."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    migrate.upgrade(db, audit_key=KEY)
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


# -- 0011: impact reports computed in the background -------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_0011_marks_existing_proposals_done_or_none(db: Database) -> None:
    """Proposals made before 0011 had their report computed in the request (``done``), or
    none at all (``none``: no impact function); both stay reviewable."""
    import yaml

    from govcx.governance.policy import parse_policy
    from govcx.governance.proposals import ProposalStore
    from govcx.store.db import dumps
    from tests.conftest import SHOP

    migrate.upgrade(db, "0010", audit_key=KEY)
    policy = parse_policy(yaml.safe_load((SHOP / "policy.yaml").read_text()))
    body = dumps(policy.model_dump(mode="json"))
    with db.begin() as conn:
        for pid, impact in (("prop_with", '{"conversations": 4}'), ("prop_without", None)):
            conn.execute(
                text(
                    "INSERT INTO policy_proposals (proposal_id, status, version, digest, body,"
                    " base_version, base_digest, author, comment, impact, share, created_at,"
                    " updated_at) VALUES (:p, 'pending', :v, :d, :b, 't0', 'x', 'rita', NULL,"
                    " :i, NULL, 1, 1)"
                ),
                {"p": pid, "v": policy.version, "d": policy.digest, "b": body, "i": impact},
            )
    assert migrate.upgrade(db, audit_key=KEY) == migrate.head_revision()
    store = ProposalStore(db)
    with_report, without = store.get("prop_with"), store.get("prop_without")
    assert (with_report.impact_status, with_report.impact) == ("done", {"conversations": 4})
    assert (without.impact_status, without.impact) == ("none", None)
    assert store.impact_due(now=2, lease=60) == []  # nothing for a worker to compute

    from alembic import command

    config = migrate._config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0010")
    with db.engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("policy_proposals")}
    assert "impact_status" not in columns and "impact" in columns
