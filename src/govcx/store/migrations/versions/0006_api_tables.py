"""The HTTP server's webhook deliveries join the core schema.

- ``webhook_deliveries``: until now the server created it with ``create_all`` when it
  started. A database that has it already (from such a start) keeps it and its rows: the
  table is created only where it is missing, and only its index where that is missing.
- ``api_conversation_owners`` and ``api_policy_activations``, which the server also
  created, are left as they are: nothing reads them since revision 0005 (owners are
  ``conversations.owner``; the active policy is ``policy_activations``) and no new
  database gets them. They are not dropped, so that no recorded row is lost.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEX = "ix_webhook_deliveries_status"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if "webhook_deliveries" not in inspector.get_table_names():
        op.create_table(
            "webhook_deliveries",
            sa.Column("delivery_id", sa.String(64), primary_key=True),
            sa.Column("event_id", sa.String(200), nullable=False),
            sa.Column("event_type", sa.String(64), nullable=False),
            sa.Column("url", sa.Text, nullable=False),
            sa.Column("body", sa.Text, nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("attempts", sa.Integer, nullable=False),
            sa.Column("last_status", sa.Integer, nullable=True),
            sa.Column("last_error", sa.Text, nullable=True),
            sa.Column("next_attempt_at", sa.Float, nullable=True),
            sa.Column("claimed_until", sa.Float, nullable=True),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("updated_at", sa.Float, nullable=False),
        )
        op.create_index(INDEX, "webhook_deliveries", ["status", "next_attempt_at"])
        return
    if INDEX not in {ix["name"] for ix in inspector.get_indexes("webhook_deliveries")}:
        op.create_index(INDEX, "webhook_deliveries", ["status", "next_attempt_at"])


def downgrade() -> None:
    # Before this revision the server created the table itself when it started.
    op.drop_index(INDEX, table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
