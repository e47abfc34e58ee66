"""Cumulative limits: the execution ledger records the customer and the approval an
execution ran under, holds ``reserved`` rows, and is indexed by tool and time.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("customer_id", sa.String(128), nullable=True))
        batch.add_column(sa.Column("approval_id", sa.String(64), nullable=True))
    # Executions recorded before this revision belong to their conversation's customer.
    op.execute(
        "UPDATE executions SET customer_id = (SELECT c.customer_id FROM conversations c "
        "WHERE c.conversation_id = executions.conversation_id)"
    )
    op.create_index("ix_executions_tool_started", "executions", ["tool", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_executions_tool_started", table_name="executions")
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("approval_id")
        batch.drop_column("customer_id")
