"""Tables owned by the HTTP server, beside the core schema in the same database."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, MetaData, String, Table, Text

from govcx.store.db import Database

metadata = MetaData()

webhook_deliveries = Table(
    "webhook_deliveries", metadata,
    Column("delivery_id", String(64), primary_key=True),  # hash of event id and URL
    Column("event_id", String(200), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("url", Text, nullable=False),
    Column("body", Text, nullable=False),  # the JSON sent, byte for byte
    Column("status", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("next_attempt_at", Float, nullable=True),
    Column("claimed_until", Float, nullable=True),  # a worker is sending it until then
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_webhook_deliveries_status", "status", "next_attempt_at"),
)

conversation_owners = Table(
    "api_conversation_owners", metadata,
    Column("conversation_id", String(64), primary_key=True),
    Column("principal", String(128), nullable=False),  # the channel that converses in it
    Column("created_at", Float, nullable=False),
)

policy_activations = Table(
    "api_policy_activations", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("version", String(64), nullable=False),
    Column("base_version", String(64), nullable=False),  # the pack file's version then
    Column("body", Text, nullable=False),  # the policy as JSON
    Column("actor", String(128), nullable=False),
    Column("activated_at", Float, nullable=False),
)


def create_tables(db: Database) -> None:
    metadata.create_all(db.engine)
