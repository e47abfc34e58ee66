"""Upgrading a database created before conversations had owners (migration 0005)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from govcx.store import migrate
from govcx.store.db import Database

KEY = b"migration-test-audit-key-0123456789"


def test_existing_conversations_get_the_owner_that_started_them(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'govcx.db'}")
    migrate.upgrade(db, "0004", audit_key=KEY)
    with db.begin() as conn:
        for cid in ("cli-abc", "chat-def", "conv_api", "mine"):
            conn.execute(text("INSERT INTO conversations (conversation_id, status, turn_count,"
                              " created_at, updated_at) VALUES (:c, 'idle', 0, 0, 0)"),
                         {"c": cid})
        conn.execute(text("CREATE TABLE api_conversation_owners (conversation_id TEXT "
                          "PRIMARY KEY, principal TEXT, created_at FLOAT)"))
        conn.execute(text("INSERT INTO api_conversation_owners VALUES ('conv_api', "
                          "'web-chat', 0)"))
    assert migrate.upgrade(db, audit_key=KEY) == migrate.head_revision()
    with db.read() as conn:
        owners = dict(conn.execute(text(
            "SELECT conversation_id, owner FROM conversations")).all())
    assert owners == {"cli-abc": "cli", "chat-def": "cli", "conv_api": "web-chat",
                      "mine": "local"}
    db.dispose()
