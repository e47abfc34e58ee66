"""The policy lifecycle: proposals, their reviews, rollouts and shadow differences.

- ``policy_proposals``: candidate policies bound to their digest, with the impact report.
- ``policy_reviews``: one row per reviewer of a proposal (one principal counts once).
- ``policy_rollouts``: append-only; the newest row is the running shadow or rollout.
- ``policy_shadow``: the candidate gate's decision beside the active one, per live turn.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_proposals",
        sa.Column("proposal_id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("base_version", sa.String(64), nullable=False),
        sa.Column("base_digest", sa.String(64), nullable=False),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("impact", sa.Text, nullable=True),
        sa.Column("share", sa.Integer, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "policy_reviews",
        sa.Column("review_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("proposal_id", sa.String(64), nullable=False),
        sa.Column("principal", sa.String(128), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("authenticated", sa.Integer, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.UniqueConstraint("proposal_id", "principal", name="uq_policy_review_principal"),
    )
    op.create_table(
        "policy_rollouts",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("proposal_id", sa.String(64), nullable=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("share", sa.Integer, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_table(
        "policy_shadow",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("proposal_id", sa.String(64), nullable=False),
        sa.Column("conversation_id", sa.String(64), nullable=False),
        sa.Column("turn_id", sa.String(64), nullable=False),
        sa.Column("workflow", sa.String(64), nullable=True),
        sa.Column("active_route", sa.String(32), nullable=False),
        sa.Column("candidate_route", sa.String(32), nullable=False),
        sa.Column("change", sa.String(32), nullable=True),
        sa.Column("rules", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.UniqueConstraint("proposal_id", "turn_id", name="uq_policy_shadow_turn"),
    )


def downgrade() -> None:
    for table in ("policy_shadow", "policy_rollouts", "policy_reviews", "policy_proposals"):
        op.drop_table(table)
