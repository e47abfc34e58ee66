"""Request and response bodies of the HTTP API (the trust boundary: strict pydantic)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from govcx.agent.agent import MAX_MESSAGE_CHARS
from govcx.governance.approval import ApprovalFields, ApprovalRequest, Status
from govcx.governance.audit import AnchorFields
from govcx.turn import Turn

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


# -- documentation examples (shapes as the API returns them) -----------------------------
_CID = "conv_3f2a9c0d1e4b5a6f7c8d"
_TID = "turn_594f1003ea764a2fbb31"
_AID = "apr_e2a02600c3493466de94"
APPROVAL_EXAMPLE: dict[str, Any] = {
    "approval_id": _AID,
    "conversation_id": _CID,
    "turn_id": _TID,
    "customer_id": "C-1001",
    "kind": "action",
    "intent": "refund",
    "tool": "issue_refund",
    "args": {"order_id": "A-1002", "amount": 80.0},
    "tier": "low",
    "rules": ["tool.issue_refund.approval_if"],
    "rationale": "Intent refund (confidence 0.96); issue_refund needs approval: "
    "tool.issue_refund.approval_if.",
    "evidence": [{"citation": {"doc_id": "returns", "version": "2", "title": "Returns policy"}}],
    "draft_reply": "You can return any unused item within 30 days of delivery for a full refund.",
    "requested_at": 1800000000.0,
    "expires_at": 1800086400.0,
    "approvals_needed": 1,
    "decisions": [],
    "status": "pending",
    "policy_version": "2026.12.2",
    "context": {
        "status": "ok",
        "facts": {
            "customer": "Alex Rivera",
            "order_status": "delivered",
            "order_total": 129.99,
            "refunded": 0.0,
            "remaining": 129.99,
            "payment_method": "Visa card",
            "earlier_refunds": [],
        },
        "error": None,
        "looked_up_at": 1800000000.0,
    },
    "reply_if_approved": "I've refunded $80.00 for order A-1002 to your Visa card (refund "
    "[refund_id]). It usually shows up within 5-10 business days.",
    "reply_if_rejected": "A member of our team reviewed your request and could not approve "
    "it, so nothing has been changed. I can help with anything else here.",
    "failure": None,
    "rule_conditions": [{"rule": "tool.issue_refund.approval_if", "condition": "amount > 50"}],
    "can_decide": True,
    "authority": None,
}
"""An approval request as GET /v1/approvals/{id} returns it (documentation)."""

TURN_EXAMPLE: dict[str, Any] = {
    "turn_id": "turn_594f1003ea764a2fbb31",
    "conversation_id": "conv_3f2a9c0d1e4b5a6f7c8d",
    "status": "pending_approval",
    "reply": {
        "text": "I've passed your request to a member of our team for approval. You'll "
        "get an update here as soon as it has been reviewed.",
        "citations": [],
    },
    "intent": "refund",
    "confidence": 0.95,
    "actions": [
        {
            "tool": "issue_refund",
            "args": {"order_id": "A-1002", "amount": 80.0},
            "status": "pending",
            "result": None,
            "error": None,
        }
    ],
    "approval_id": "apr_e2a02600c3493466de94",
    "decision": {
        "route": "await_approval",
        "rules": ["tool.issue_refund.approval_if"],
        "policy_version": "2026.12.2",
        "reason": "issue_refund needs approval: tool.issue_refund.approval_if",
    },
    "escalation": None,
    "findings": [],
}
"""A Turn as the API returns it (documentation)."""

RESUMED_EXAMPLE: dict[str, Any] = {
    **TURN_EXAMPLE,
    "status": "answered",
    "reply": {"text": "I've refunded $80.00 for order A-1002.", "citations": []},
    "actions": [
        {
            "tool": "issue_refund",
            "args": {"order_id": "A-1002", "amount": 80.0},
            "status": "executed",
            "result": {"order_id": "A-1002", "amount": 80.0},
            "error": None,
        }
    ],
}


CONVERSATION_EXAMPLE: dict[str, Any] = {
    "conversation_id": _CID,
    "customer_id": "C-1001",
    "status": "pending_approval",
    "control": "ai",
    "turn_count": 1,
    "transcript": [
        {
            "turn_id": _TID,
            "role": "customer",
            "text": "Please refund $80 for order A-1002",
            "at": 1800000000.0,
        },
        {
            "turn_id": _TID,
            "role": "assistant",
            "text": TURN_EXAMPLE["reply"]["text"],
            "at": 1800000000.2,
        },
    ],
    "turns": [TURN_EXAMPLE],
    "pending_approvals": [APPROVAL_EXAMPLE],
    "actions": [],
}
"""A conversation as GET /v1/conversations/{id} returns it (documentation)."""

AUDIT_EVENT_EXAMPLE: dict[str, Any] = {
    "seq": 2,
    "event_id": "4895ffd1289842488d231e55c1d63bb0",
    "ts": 1800000000.0,
    "conversation_id": _CID,
    "turn_id": _TID,
    "actor": "agent",
    "kind": "classify",
    "policy_version": "2026.12.2",
    "policy_digest": "5f1c0d3a9e7b42c6a8d1f0e2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6",
    "data": {"intent": "refund", "confidence": 0.962, "engine": "embedded"},
    "prev_hash": "b3870922a75607bc3cb1e3e65f85d8e0a2d141a219a5447d240dbdffe7994e9e",
    "hash": "d23a7695046779d1ab029349a146e580810fc343dce98cc0fa02c96b7e0e5233",
}
"""An audit event (documentation)."""

POLICY_EXAMPLE: dict[str, Any] = {
    "version": "2026.11.2",
    "policy": {
        "version": "2026.11.2",
        "defaults": {"autonomy": "draft", "min_confidence": 0.6},
        "tools": {"lookup_order": {"tier": "read"}},
    },
    "activated_by": "admin",
    "activated_at": 1800000000.0,
}
"""The active policy (abridged; documentation)."""

DELIVERY_EXAMPLE: dict[str, Any] = {
    "delivery_id": "5b1f0c2d9e8a7b6c5d4e3f2a1b0c9d8e",
    "event_id": f"approval.requested:{_AID}",
    "event_type": "approval.requested",
    "url": "https://crm.example.com/hooks/govcx",
    "status": "delivered",
    "attempts": 1,
    "last_status": 200,
    "last_error": None,
    "next_attempt_at": None,
    "created_at": 1800000000.0,
    "updated_at": 1800000000.3,
}
"""A webhook delivery (documentation)."""

ESCALATION_EXAMPLE: dict[str, Any] = {
    "escalation_id": "esc_594f1003ea764a2fbb31",
    "conversation_id": _CID,
    "turn_id": _TID,
    "reason": "the customer asked for a person",
    "status": "open",
    "created_at": 1800000000.0,
    "summary": "Customer asked for a manager about a refund for order A-1002.",
    "rules": ["escalation.human_requested"],
    "intent": "refund",
    "confidence": 0.91,
    "recommended_action": None,
    "customer_message": "I want to speak to a manager",
}
"""An escalation as GET /v1/escalations lists it (documentation)."""


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConversationCreate(_In):
    """Optional body of ``POST /v1/conversations``."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"customer_id": "C-1001"}]}
    )

    customer_id: str | None = Field(None, pattern=ID_PATTERN)
    """The customer this conversation is with; passed to tools as context."""


class ConversationCreated(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"conversation_id": _CID}]})

    conversation_id: str = Field(examples=[_CID])


class MessageIn(_In):
    """A customer message."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"text": "Please refund $80 for order A-1002", "customer_id": "C-1001"}]
        },
    )

    text: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    """The customer's message."""
    customer_id: str | None = Field(None, pattern=ID_PATTERN)
    """The customer; only needed on the first message of a conversation."""


class DecisionIn(_In):
    """An approver's decision."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"decision": "approve", "comment": "Order checked, refund is fine"},
                {"decision": "edit", "args": {"amount": 40}, "comment": "Partial refund"},
                {"decision": "reject", "comment": "Item was used"},
            ]
        },
    )

    decision: Literal["approve", "reject", "edit"]
    args: dict[str, Any] | None = None
    """With ``edit``: the changed arguments (merged over the proposed ones); for a reply
    approval ``{"reply": "new text"}``."""
    comment: str | None = Field(None, max_length=4000)


class Message(BaseModel):
    turn_id: str
    role: str
    """customer | assistant | system | agent (a person, named in ``author``)"""
    text: str
    at: float
    author: str | None = None
    message_id: int | None = None


class RuleCondition(BaseModel):
    """A rule the gate applied, and what it says in the policy the request was made
    under (``amount > 50`` for ``tool.issue_refund.approval_if``)."""

    rule: str
    condition: str


class ApprovalView(ApprovalFields):
    """An approval request as an approver sees it."""

    model_config = ConfigDict(json_schema_extra={"examples": [APPROVAL_EXAMPLE]})

    approvals_needed: int  # always present in a response: required in the schema
    status: Status
    rule_conditions: list[RuleCondition] = Field(default_factory=list)
    """Each of ``rules`` with its condition (from the policy the request was made under)."""
    can_decide: bool | None = None
    """Whether the calling principal may decide it now (None for non-approvers)."""
    authority: str | None = None
    """Why the caller may not decide it, when ``can_decide`` is false."""

    @classmethod
    def of(
        cls,
        request: ApprovalRequest,
        *,
        can_decide: bool | None = None,
        authority: str | None = None,
        conditions: list[tuple[str, str]] | None = None,
        facts: dict[str, Any] | None = None,
    ) -> ApprovalView:
        """The view of ``request``; ``facts`` (opened from the sealed copy) replace the
        redacted context facts for a caller who may read them."""
        data = request.model_dump(exclude={"token", "context_sealed", "draft_support"})
        if facts is not None and data.get("context") is not None:
            data["context"]["facts"] = facts
        return cls(
            **data,
            rule_conditions=[RuleCondition(rule=r, condition=c) for r, c in conditions or []],
            can_decide=can_decide,
            authority=authority,
        )


class ExecutedAction(BaseModel):
    key: str
    tool: str
    args: Any
    status: str
    result: Any = None
    error: str | None = None
    attempts: int
    started_at: float
    finished_at: float | None = None


class ConversationView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [CONVERSATION_EXAMPLE]})

    conversation_id: str
    customer_id: str | None = None
    status: str
    """idle | running | pending_approval"""
    control: str = "ai"
    """Who answers the customer: ai | waiting (escalated, in a queue) | human | resolved."""
    turn_count: int
    transcript: list[Message]
    turns: list[Turn]
    pending_approvals: list[ApprovalView]
    actions: list[ExecutedAction]
    """Tool executions recorded in the execution ledger."""


class AuditEventView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [AUDIT_EVENT_EXAMPLE]})

    seq: int
    event_id: str
    ts: float
    conversation_id: str | None = None
    turn_id: str | None = None
    actor: str
    kind: str
    policy_version: str | None = None
    policy_digest: str | None = None
    """sha256 of the policy's canonical content the event was recorded under."""
    data: dict[str, Any]
    prev_hash: str
    hash: str


ANCHOR_EXAMPLE: dict[str, Any] = {
    "seq": 1520,
    "hash": "8d7b8f7bb5cd8e4487601a59607574246eb220f30d89b5c0116e6fb8ad1a8d93",
    "time": "2026-12-04T17:04:52Z",
    "keyed_from": 1,
    "key_id": "fcb4c07517576f14",
    "signature": "3e54ceb463e63e780679dfe2ccc53490cfa94fb3e1a7828600681c121fa83fdf",
}
"""An anchor (documentation)."""


class AuditAnchorView(AnchorFields):
    """The chain's head signed with the audit key: keep it outside the database and pass
    it back to ``POST /v1/audit/verify`` (or ``govcx audit verify --anchor``)."""

    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [ANCHOR_EXAMPLE]}
    )


class AuditVerifyRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"anchor": ANCHOR_EXAMPLE}]}
    )

    anchor: AuditAnchorView
    """An anchor from ``GET /v1/audit/anchor``: the chain must still extend it."""


class AuditVerifyView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ok": True,
                    "events": 1520,
                    "problems": [],
                    "legacy_events": 0,
                    "keyed_from": 1,
                    "anchor": None,
                    "notes": [],
                }
            ]
        }
    )

    ok: bool
    events: int
    problems: list[str]
    """Every break of the chain, record without its audit event, or anchor not extended."""
    legacy_events: int = 0
    """Events written before the audit key existed (checked with unkeyed sha256)."""
    keyed_from: int = 1
    anchor: AuditAnchorView | None = None
    notes: list[str] = Field(default_factory=list)


class PolicyView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [POLICY_EXAMPLE]})

    version: str
    digest: str = ""
    """sha256 of the policy's canonical content; approvals are bound to it."""
    policy: dict[str, Any]
    activated_by: str | None = None
    """Who activated it (``system``: the pack's policy file at start-up)."""
    activated_at: float | None = None


class Health(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status": "ok", "pack": "acme", "policy_version": "2026.12.2", "version": "0.1.0"}
            ]
        }
    )

    status: Literal["ok"]
    pack: str
    policy_version: str
    version: str


class Me(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"principal": "supervisor", "roles": ["approver:supervisor"]}]
        }
    )

    principal: str
    roles: list[str]


class WebhookDeliveryView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [DELIVERY_EXAMPLE]})

    delivery_id: str
    event_id: str
    event_type: str
    url: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status: int | None = None
    last_error: str | None = None
    next_attempt_at: float | None = None
    created_at: float
    updated_at: float


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("govcx")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


# -- cases (hand-off to people) -------------------------------------------------------------
CASE_EXAMPLE: dict[str, Any] = {
    "case_id": "case_8602f774b5224302a0dd",
    "conversation_id": _CID,
    "turn_id": "turn_8602f774b5224302a0dd",
    "status": "waiting",
    "team": "trust",
    "priority": "urgent",
    "tags": ["legal"],
    "assignee": None,
    "customer_id": "C-1001",
    "reason": "policy hands every legal_threat request to a human",
    "summary": {
        "customer_wants": "Refund me today or my attorney files suit on Monday",
        "intent": "legal_threat",
        "confidence": 0.92,
        "why": "policy hands every legal_threat request to a human",
        "rules": ["workflow.legal_threat.autonomy=escalate"],
        "findings": [],
        "ai_did": [],
        "knowledge": [],
        "recommended_action": None,
        "pending_approvals": [],
        "routed_by": "routing.rules[1]",
        "routing_errors": [],
        "tags": ["legal"],
    },
    "first_response_due": 1764590400.0,
    "resolution_due": 1764603000.0,
    "first_response_at": None,
    "closed_at": None,
    "breached": [],
    "next_due": 1764590400.0,
    "policy_version": "2026.12.2",
    "version": 0,
    "created_at": 1764589500.0,
    "updated_at": 1764589500.0,
    "can_work": True,
}


class CaseView(BaseModel):
    """A case in a team's queue: who has it, how urgent, when it is due."""

    model_config = ConfigDict(json_schema_extra={"examples": [CASE_EXAMPLE]})

    case_id: str
    conversation_id: str
    turn_id: str
    status: Literal["waiting", "human", "handed_back", "resolved"]
    team: str | None = None
    priority: str
    tags: list[str]
    assignee: str | None = None
    customer_id: str | None = None
    reason: str
    summary: dict[str, Any]
    """The hand-off summary: customer_wants, intent, confidence, why, rules, findings,
    ai_did, knowledge, recommended_action, pending_approvals, routed_by, tags."""
    first_response_due: float | None = None
    resolution_due: float | None = None
    first_response_at: float | None = None
    closed_at: float | None = None
    breached: list[str]
    next_due: float | None = None
    policy_version: str | None = None
    version: int
    created_at: float
    updated_at: float
    can_work: bool | None = None
    """Whether the caller may work this case (None for read-only callers)."""


class CaseEvent(BaseModel):
    kind: str
    """opened | claimed | assigned | reply | note | handed_back | resolved | sla_breached
    | escalated_again"""
    actor: str
    text: str | None = None
    data: dict[str, Any] | None = None
    at: float


class CaseDetail(CaseView):
    """A case with its conversation's transcript and the people's events (notes too:
    this view is never given to a channel)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **CASE_EXAMPLE,
                    "transcript": [
                        {
                            "turn_id": "turn_8602f774b5224302a0dd",
                            "role": "customer",
                            "text": "Refund me today or my attorney files suit on Monday",
                            "at": 1764589500.0,
                            "message_id": 1,
                        }
                    ],
                    "events": [
                        {
                            "kind": "opened",
                            "actor": "system",
                            "text": None,
                            "data": {"team": "trust", "priority": "urgent"},
                            "at": 1764589500.0,
                        }
                    ],
                    "pending_approvals": [],
                }
            ]
        }
    )

    transcript: list[dict[str, Any]]
    events: list[CaseEvent]
    pending_approvals: list[dict[str, Any]]


class CaseSuggestion(BaseModel):
    """A reply the AI suggests to the person on the case. Never sent by itself: the person
    edits it and sends it as their own reply, or not."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "text": "You can return any unused item within 30 days of delivery.",
                    "intent": "store_policy",
                    "confidence": 0.91,
                    "citations": [{"doc_id": "returns", "version": "2", "title": "Returns"}],
                    "problems": [],
                }
            ]
        }
    )

    text: str
    intent: str | None = None
    confidence: float
    citations: list[dict[str, str]]
    problems: list[str]
    """What the output guard found in the draft (already fixed where it could be)."""


class CaseTextIn(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"text": "Hi, I'm looking at your order now."}]},
    )

    text: str = Field(min_length=1, max_length=8000)


class CaseCloseIn(_In):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"note": "Refund promised by phone."}]}
    )

    note: str | None = Field(default=None, max_length=8000)
    """An internal note recorded with the hand-back or resolution."""


class CaseAssignIn(_In):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"agent": "kim"}]})

    agent: str = Field(min_length=1, max_length=128)
    """The principal (role agent, in the case's team) who takes the case."""


# -- the policy lifecycle -----------------------------------------------------------------
class ReviewIn(_In):
    """A reviewer's decision on a policy proposal."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"decision": "approve", "comment": "Impact report checked: 0 new escalations"},
                {"decision": "reject", "comment": "Too wide for the returns workflow"},
            ]
        },
    )

    decision: Literal["approve", "reject"]
    comment: str | None = Field(None, max_length=2000)


class RolloutIn(_In):
    """The share of conversations the candidate decides (100 activates it)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"share": 20}]})

    share: int = Field(ge=1, le=100)


class RollbackIn(_In):
    """The version to return to; without it, a running shadow or rollout stops, or else
    the policy active before the current one is activated again."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{}, {"version": "2026.12.2"}]}
    )

    version: str | None = Field(None, max_length=64)


_PROPOSAL_EXAMPLE: dict[str, Any] = {
    "proposal_id": "prop_06736d753c6443119674",
    "status": "pending",
    "version": "2026.12.3",
    "digest": "5b0c…",
    "base_version": "2026.12.2",
    "base_digest": "9e41…",
    "author": "ada",
    "comment": "refunds up to $80 without approval",
    "share": None,
    "created_at": 1796469167.6,
    "updated_at": 1796469167.6,
    "reviews": [
        {
            "principal": "lee",
            "decision": "approve",
            "comment": "checked",
            "authenticated": True,
            "at": 1796470000.0,
        }
    ],
    "approvals_needed": 2,
    "reviewer_roles": ["risk", "auditor"],
    "diff": [
        {
            "path": "tools.issue_refund.approval_if",
            "old": "amount > 50",
            "new": "amount > 80",
            "change": "changed",
        }
    ],
    "impact": {
        "conversations": 87,
        "decisions": {"newly autonomous": 7},
        "by_workflow": {"refund": {"tool.issue_refund.approval_if": {"newly autonomous": 7}}},
        "compliance": {"checked": True, "violations": 0, "compliant_conversations": 87},
    },
    "impact_status": "done",
    "impact_error": None,
    "policy": None,
}


class ReviewView(BaseModel):
    principal: str
    decision: str
    comment: str | None = None
    authenticated: bool = True
    at: float


class ProposalView(BaseModel):
    """A policy proposal: the candidate, its diff against the policy it changes, the
    reviews, what approving it takes, and the impact report."""

    model_config = ConfigDict(json_schema_extra={"examples": [_PROPOSAL_EXAMPLE]})

    proposal_id: str
    status: str
    """pending | approved | rejected | shadow | rollout | active | ended"""
    version: str
    digest: str
    base_version: str
    base_digest: str
    author: str
    comment: str | None = None
    share: int | None = None
    created_at: float
    updated_at: float
    reviews: list[ReviewView]
    approvals_needed: int
    reviewer_roles: list[str]
    diff: list[dict[str, Any]]
    impact: dict[str, Any] | None = None
    impact_status: str = "none"
    """none | pending | running | done | failed: the server computes the impact report
    after the proposal is stored (``none``: the server computes no reports); a proposal
    is approved only once its report is ``done`` (or ``none``)."""
    impact_error: str | None = None
    """Why the report failed (``impact_status`` failed); re-run it with
    POST /v1/policy/proposals/{id}/impact."""
    policy: dict[str, Any] | None = None


class RolloutView(BaseModel):
    """What decides live turns: the active policy and, if one runs, a proposal beside it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "active_version": "2026.12.2",
                    "active_digest": "9e41…",
                    "proposal_id": "prop_06736d753c6443119674",
                    "mode": "rollout",
                    "share": 20,
                    "candidate_version": "2026.12.3",
                }
            ]
        }
    )

    active_version: str
    active_digest: str
    proposal_id: str | None = None
    mode: str | None = None
    """shadow | rollout (None: only the active policy decides)"""
    share: int | None = None
    candidate_version: str | None = None


class ShadowReportView(BaseModel):
    """What the candidate decided differently from the active policy on live turns."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "proposal_id": "prop_06736d753c6443119674",
                    "status": "shadow",
                    "version": "2026.12.3",
                    "base_version": "2026.12.2",
                    "turns": 2,
                    "changed": 1,
                    "by_change": {"newly autonomous": 1},
                    "by_workflow": {"refund": {"newly autonomous": 1}},
                    "by_rule": {"tool.issue_refund.approval_if": {"newly autonomous": 1}},
                    "examples": [],
                }
            ]
        }
    )

    proposal_id: str
    status: str
    version: str
    base_version: str
    turns: int
    """Live turns both gates decided."""
    changed: int
    by_change: dict[str, int]
    by_workflow: dict[str, dict[str, int]]
    by_rule: dict[str, dict[str, int]]
    examples: list[dict[str, Any]]


class RollbackView(BaseModel):
    """The policy active after a rollback, the one before it, and any proposal stopped."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"version": "2026.12.2", "from_version": "2026.12.3", "ended_proposal": None}
            ]
        }
    )

    version: str
    from_version: str | None = None
    ended_proposal: str | None = None
