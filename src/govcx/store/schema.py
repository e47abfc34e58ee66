"""Tables of the govcx database. One schema for SQLite and PostgreSQL.

Every table is here, the HTTP server's too (``idempotency_keys``, ``webhook_deliveries``),
and every one is created by an Alembic migration (``store/migrations/versions``), never
by ``create_all`` at start-up (``Database.create_schema`` is for tests).
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

conversations = Table(
    "conversations",
    metadata,
    Column("conversation_id", String(64), primary_key=True),
    Column("customer_id", String(128), nullable=True),  # fixed by the first that names one
    Column("owner", String(128), nullable=True),  # the channel (or cli/local) that started it
    Column("status", String(32), nullable=False),  # idle | running | pending_approval
    # Who answers the customer: ai | waiting (escalated, in a team's queue) | human (a
    # person claimed it) | resolved. While waiting or human, the AI never replies.
    Column("control", String(16), nullable=False, default="ai", server_default="ai"),
    Column("last_turn_status", String(32), nullable=True),
    Column("turn_count", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

messages = Table(
    "messages",
    metadata,
    Column("message_id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(64), nullable=False, index=True),
    Column("turn_id", String(64), nullable=False),
    Column("role", String(16), nullable=False),  # customer | assistant | system | agent
    Column("author", String(128), nullable=True),  # the person, for role agent
    Column("text", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("turn_id", "role", name="uq_message_turn_role"),
)

turns = Table(
    "turns",
    metadata,
    Column("turn_id", String(64), primary_key=True),
    Column("conversation_id", String(64), nullable=False, index=True),
    Column("status", String(32), nullable=False),
    Column("body", Text, nullable=False),  # the Turn as JSON
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

approvals = Table(
    "approvals",
    metadata,
    Column("approval_id", String(64), primary_key=True),
    Column("conversation_id", String(64), nullable=False, index=True),
    Column("turn_id", String(64), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("expires_at", Float, nullable=False),
    Column("body", Text, nullable=False),  # the ApprovalRequest as JSON
    Column("version", Integer, nullable=False, default=0),  # optimistic concurrency
    Column("requested_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

executions = Table(
    "executions",
    metadata,
    Column("key", String(80), primary_key=True),
    Column("conversation_id", String(64), nullable=False, index=True),
    Column("tool", String(128), nullable=False),
    Column("args", Text, nullable=False),
    # reserved (by the policy gate, counted by limits) | started | succeeded | failed
    # | released (a reservation that did not run)
    Column("status", String(16), nullable=False),
    Column("result", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("attempts", Integer, nullable=False, default=1),
    Column("policy_version", String(64), nullable=True),
    Column("policy_digest", String(64), nullable=True),
    Column("started_at", Float, nullable=False),  # reserved or started at
    Column("finished_at", Float, nullable=True),
    Column("customer_id", String(128), nullable=True),
    Column("approval_id", String(64), nullable=True),  # the approval it ran under
    Index("ix_executions_tool_started", "tool", "started_at"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("event_id", String(40), nullable=False, unique=True),
    Column("ts", Float, nullable=False),
    Column("conversation_id", String(64), nullable=True),
    Column("turn_id", String(64), nullable=True),
    Column("actor", String(128), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("policy_version", String(64), nullable=True),
    Column("policy_digest", String(64), nullable=True),
    Column("body", Text, nullable=False),  # canonical JSON of the event's content
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_conversation", "conversation_id", "seq"),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    # Events from this seq on are keyed (HMAC); older ones predate the key (sha256).
    Column("keyed_from", Integer, nullable=False, default=1),
    # HMAC over keyed_from and the chain's hash just before it, written with the boundary.
    Column("keyed_seal", String(64), nullable=True),
)

escalations = Table(
    "escalations",
    metadata,
    Column("escalation_id", String(64), primary_key=True),
    Column("conversation_id", String(64), nullable=False, index=True),
    Column("turn_id", String(64), nullable=False),
    Column("reason", String(128), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),  # open | resolved
    Column("created_at", Float, nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(200), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("response", Text, nullable=True),
    Column("created_at", Float, nullable=False),
)

webhook_deliveries = Table(
    # Written by the HTTP server's webhook dispatcher (govcx.api.webhooks).
    "webhook_deliveries",
    metadata,
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

policies = Table(
    "policies",
    metadata,
    Column("version", String(64), primary_key=True),  # a version names one content, ever
    Column("digest", String(64), nullable=False),  # sha256 of the canonical parsed form
    Column("body", Text, nullable=False),  # the policy as canonical JSON
    Column("source", String(300), nullable=False),  # file path or "PUT /v1/policy"
    Column("registered_by", String(128), nullable=False),
    Column("registered_at", Float, nullable=False),
)

policy_activations = Table(
    "policy_activations",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),  # the newest is active
    Column("version", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("source", String(300), nullable=False),
    Column("activated_at", Float, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),  # the public part of gcx_<key_id>_<secret>
    Column("principal", String(128), nullable=False, index=True),
    Column("hash", String(128), nullable=False),  # KDF of the secret (never the key itself)
    Column("salt", String(64), nullable=False),
    Column("kdf", String(64), nullable=False),  # e.g. scrypt:n=16384,r=8,p=1,dklen=32
    Column("created_at", Float, nullable=False),
    Column("created_by", String(128), nullable=True),
    Column("revoked_at", Float, nullable=True),
    Column("revoked_by", String(128), nullable=True),
)


cases = Table(
    # One per escalation: the human side of a conversation (govcx.store.cases).
    "cases",
    metadata,
    Column("case_id", String(64), primary_key=True),
    Column("conversation_id", String(64), nullable=False, index=True),
    Column("turn_id", String(64), nullable=False),  # the turn that escalated
    Column("status", String(16), nullable=False),  # waiting | human | handed_back | resolved
    Column("team", String(64), nullable=True),
    Column("priority", String(16), nullable=False),
    Column("tags", Text, nullable=False),  # JSON list
    Column("assignee", String(128), nullable=True),
    Column("customer_id", String(128), nullable=True),
    Column("reason", String(200), nullable=False),
    Column("summary", Text, nullable=False),  # the hand-off summary as JSON
    Column("first_response_due", Float, nullable=True),
    Column("resolution_due", Float, nullable=True),
    Column("first_response_at", Float, nullable=True),
    Column("closed_at", Float, nullable=True),
    Column("breached", Text, nullable=False),  # JSON list: first_response, resolution
    Column("policy_version", String(64), nullable=True),
    Column("version", Integer, nullable=False, default=0),  # optimistic concurrency
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_cases_status_due", "status", "resolution_due"),
)

case_events = Table(
    # What people did on a case: claims, replies, internal notes, hand-backs. Notes live
    # only here, never in the transcript a channel reads.
    "case_events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", String(64), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("text", Text, nullable=True),
    Column("data", Text, nullable=True),  # JSON
    Column("at", Float, nullable=False),
)


channel_threads = Table(
    # Where a channel connector's conversation lives in its channel (govcx.api.channels):
    # written on each message, read to relay a person's replies back to the channel.
    "channel_threads",
    metadata,
    Column("conversation_id", String(64), primary_key=True),
    Column("channel", String(32), nullable=False),
    Column("route", Text, nullable=False),  # JSON: the channel's thread, chat or callback
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)
policy_proposals = Table(
    # A candidate policy on its way to activation (govcx.governance.proposals). The body
    # is bound to its digest: an edited row can no longer be reviewed or rolled out.
    "policy_proposals",
    metadata,
    Column("proposal_id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),  # pending|approved|rejected|shadow|...
    Column("version", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("body", Text, nullable=False),  # the candidate as canonical JSON
    Column("base_version", String(64), nullable=False),  # active when it was proposed
    Column("base_digest", String(64), nullable=False),
    Column("author", String(128), nullable=False),
    Column("comment", Text, nullable=True),
    Column("impact", Text, nullable=True),  # the impact report as JSON
    Column("share", Integer, nullable=True),  # rollout share in percent
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # The impact report is computed by the server after the proposal is stored:
    # none|pending|running|done|failed (NULL: none). A worker claims a pending report, or
    # a running one whose claim is older than the lease, by compare-and-set on
    # (impact_status, impact_claimed_at), and stores the result under the same guard.
    Column("impact_status", String(16), nullable=True),
    Column("impact_error", Text, nullable=True),  # why the report failed (no traceback)
    Column("impact_claimed_at", Float, nullable=True),
    Column("impact_days", Integer, nullable=True),  # days to replay (NULL: the policy's)
)

policy_reviews = Table(
    # One row per reviewer and proposal: one principal counts once.
    "policy_reviews",
    metadata,
    Column("review_id", Integer, primary_key=True, autoincrement=True),
    Column("proposal_id", String(64), nullable=False),
    Column("principal", String(128), nullable=False),  # canonical name
    Column("decision", String(16), nullable=False),  # approve | reject
    Column("digest", String(64), nullable=False),  # the content reviewed
    Column("comment", Text, nullable=True),
    Column("authenticated", Integer, nullable=False, default=1),
    Column("at", Float, nullable=False),
    UniqueConstraint("proposal_id", "principal", name="uq_policy_review_principal"),
)

policy_rollouts = Table(
    # Append-only like policy_activations: the newest row says which proposal runs beside
    # the active policy (mode shadow|rollout) or that none does (mode off).
    "policy_rollouts",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("proposal_id", String(64), nullable=True),
    Column("mode", String(16), nullable=False),
    Column("share", Integer, nullable=False, default=0),
    Column("actor", String(128), nullable=False),
    Column("at", Float, nullable=False),
)

policy_shadow = Table(
    # Each live turn the candidate gate decided beside the active one in shadow mode.
    "policy_shadow",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("proposal_id", String(64), nullable=False),
    Column("conversation_id", String(64), nullable=False),
    Column("turn_id", String(64), nullable=False),
    Column("workflow", String(64), nullable=True),
    Column("active_route", String(32), nullable=False),
    Column("candidate_route", String(32), nullable=False),
    Column("change", String(32), nullable=True),  # None: both decided the same
    Column("rules", Text, nullable=False),  # JSON {active: [...], candidate: [...]}
    Column("at", Float, nullable=False),
    UniqueConstraint("proposal_id", "turn_id", name="uq_policy_shadow_turn"),
)
