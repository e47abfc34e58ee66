"""Policies bound by content, conversation owners, policy on ledger rows.

- ``policies``: every version ever registered, with its content digest and body; a
  version string never names two contents.
- ``policy_activations``: append-only; the newest row is the deployment's active policy.
- ``conversations.owner``: the channel (or ``cli``/``local``) that started it; owners
  recorded by the HTTP server in ``api_conversation_owners`` are carried over, CLI ids
  (``cli-``, ``chat-``) become ``cli``, the rest ``local``.
- ``executions.policy_version`` / ``policy_digest``: the policy a tool call ran under.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policies",
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("registered_by", sa.String(128), nullable=False),
        sa.Column("registered_at", sa.Float, nullable=False),
    )
    op.create_table(
        "policy_activations",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("activated_at", sa.Float, nullable=False),
    )
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("owner", sa.String(128), nullable=True))
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("policy_version", sa.String(64), nullable=True))
        batch.add_column(sa.Column("policy_digest", sa.String(64), nullable=True))
    bind = op.get_bind()
    if "api_conversation_owners" in sa.inspect(bind).get_table_names():
        bind.execute(
            sa.text(
                "UPDATE conversations SET owner = (SELECT o.principal"
                " FROM api_conversation_owners o"
                " WHERE o.conversation_id = conversations.conversation_id)"
                " WHERE owner IS NULL"
            )
        )
    # The rest were started by the CLI (its ids: cli-..., chat-...) or by Python code.
    bind.execute(
        sa.text(
            "UPDATE conversations SET owner = 'cli' WHERE owner IS NULL"
            " AND (conversation_id LIKE 'cli-%' OR conversation_id LIKE 'chat-%')"
        )
    )
    bind.execute(sa.text("UPDATE conversations SET owner = 'local' WHERE owner IS NULL"))


def downgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("policy_digest")
        batch.drop_column("policy_version")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("owner")
    op.drop_table("policy_activations")
    op.drop_table("policies")
