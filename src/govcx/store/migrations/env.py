"""Alembic environment: govcx runs migrations programmatically (see govcx.store.migrate)."""

from __future__ import annotations

from alembic import context

from govcx.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("govcx migrations run through `govcx db upgrade`, not the alembic CLI")
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
