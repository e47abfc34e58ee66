"""Impact reports computed in the background by the server.

- ``policy_proposals.impact_status``: none | pending | running | done | failed; existing
  rows with a report are ``done``, the others ``none`` (they were proposed without one).
- ``policy_proposals.impact_error``: why a ``failed`` report failed.
- ``policy_proposals.impact_claimed_at``: when a worker claimed the running report (a
  claim older than the lease is taken over: that worker died).
- ``policy_proposals.impact_days``: the days of recorded conversations asked for.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("policy_proposals") as batch:
        batch.add_column(sa.Column("impact_status", sa.String(16), nullable=True))
        batch.add_column(sa.Column("impact_error", sa.Text, nullable=True))
        batch.add_column(sa.Column("impact_claimed_at", sa.Float, nullable=True))
        batch.add_column(sa.Column("impact_days", sa.Integer, nullable=True))
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "UPDATE policy_proposals SET impact_status = CASE WHEN impact IS NULL"
            " THEN 'none' ELSE 'done' END"
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("policy_proposals") as batch:
        batch.drop_column("impact_days")
        batch.drop_column("impact_claimed_at")
        batch.drop_column("impact_error")
        batch.drop_column("impact_status")
