"""Hand-off: who answers a conversation, and cases for the people who take it over.

- ``conversations.control``: ``ai`` for every existing conversation.
- ``messages.author``: the person who wrote an ``agent`` line (NULL for older lines).
- ``cases`` and ``case_events``: new. Escalations recorded before this revision keep
  their ``escalations`` rows and get no case (nobody is waiting on them in a queue).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("control", sa.String(16), nullable=False, server_default="ai"))
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("author", sa.String(128), nullable=True))
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("conversation_id", sa.String(64), nullable=False),
        sa.Column("turn_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("team", sa.String(64), nullable=True),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("assignee", sa.String(128), nullable=True),
        sa.Column("customer_id", sa.String(128), nullable=True),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("first_response_due", sa.Float, nullable=True),
        sa.Column("resolution_due", sa.Float, nullable=True),
        sa.Column("first_response_at", sa.Float, nullable=True),
        sa.Column("closed_at", sa.Float, nullable=True),
        sa.Column("breached", sa.Text, nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_cases_conversation_id", "cases", ["conversation_id"])
    op.create_index("ix_cases_status_due", "cases", ["status", "resolution_due"])
    op.create_table(
        "case_events",
        sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("text", sa.Text, nullable=True),
        sa.Column("data", sa.Text, nullable=True),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_case_events_case_id", "case_events", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_case_events_case_id", table_name="case_events")
    op.drop_table("case_events")
    op.drop_index("ix_cases_status_due", table_name="cases")
    op.drop_index("ix_cases_conversation_id", table_name="cases")
    op.drop_table("cases")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("author")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("control")
