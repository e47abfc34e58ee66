"""The keyed audit chain: the key boundary (sealed) on the head row, and the policy digest.

Events already in the chain were hashed with plain sha256; they stay as they are and are
verified that way. ``audit_head.keyed_from`` records the first sequence number written
with the HMAC key (the next one at upgrade time) and ``keyed_seal`` an HMAC, with the
audit key, over that boundary and the chain's hash at it: the boundary cannot be moved,
nor the older events rewritten, without the key. ``govcx`` passes the key to this
migration; without it the seal stays empty until ``govcx audit seal``.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("policy_digest", sa.String(64), nullable=True))
    op.add_column(
        "audit_head", sa.Column("keyed_from", sa.Integer, nullable=False, server_default="1")
    )
    op.add_column("audit_head", sa.Column("keyed_seal", sa.String(64), nullable=True))
    op.execute("UPDATE audit_head SET keyed_from = seq + 1")
    key = context.config.attributes.get("audit_key")
    if key:
        from govcx.governance.audit import boundary_seal

        conn = op.get_bind()
        for row in conn.execute(sa.text("SELECT id, hash, keyed_from FROM audit_head")):
            conn.execute(
                sa.text("UPDATE audit_head SET keyed_seal = :seal WHERE id = :id"),
                {"seal": boundary_seal(key, row.keyed_from, row.hash), "id": row.id},
            )


def downgrade() -> None:
    with op.batch_alter_table("audit_head") as batch:
        batch.drop_column("keyed_seal")
        batch.drop_column("keyed_from")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("policy_digest")
