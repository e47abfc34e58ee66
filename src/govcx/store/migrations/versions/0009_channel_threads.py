"""Channel connectors: where each connector's conversation lives in its channel.

- ``channel_threads``: new (a Slack thread, a Chatwoot conversation, a webhook callback),
  so that a person's reply to a handed-off conversation goes back to the channel.

Revision ID: 0009
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_threads",
        sa.Column("conversation_id", sa.String(64), primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("route", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("channel_threads")
