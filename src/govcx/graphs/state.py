"""The graph state: one turn's working values, replaced every turn (constant size).

Nodes read typed parts (``state.plan.proposal.tool``); LangGraph builds the model from the
checkpointed channels before each node. A node writes plain data (``dump``), so a
checkpoint holds only JSON-like values: no class names for the serializer to allow, and
checkpoints written before these models existed (dicts with more keys) load into them.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Annotated, Any, TypedDict

from pydantic import BaseModel, ConfigDict, Field, model_validator

from govcx.governance.finding import Finding
from govcx.governance.gate import Proposal
from govcx.turn import Action, Escalation, Reply


def _audit_buffer(
    current: list[dict[str, Any]] | None, update: list[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """Audit events wait here (checkpointed) until a node with side effects writes them
    to the chain in one transaction; ``None`` empties the buffer."""
    if update is None:
        return []
    return [*(current or []), *update]


class Part(BaseModel):
    """A part of the state; keys of older checkpoints that are no longer used are ignored."""

    model_config = ConfigDict(extra="ignore")


class Classified(Part):
    """What classify found that later nodes use (the rest is in its audit event)."""

    entities: dict[str, Any] = Field(default_factory=dict)
    engine_error: Any = None
    corroborated: bool = True


class Passage(Part):
    """A retrieved knowledge passage this turn: what the draft, the citations check and
    the output guard need."""

    doc_id: str
    version: str
    chunk_id: str
    title: str = ""
    text: str = ""
    heading: str = ""
    score: float = 0.0
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = Field(default_factory=dict)


class Grounding(Part):
    """What the customer wrote and confirmed in this conversation that a write's
    identifiers may come from (see :mod:`govcx.graphs.corroboration`); kept across turns,
    normalised, each list bounded. Only nodes write it, never an engine."""

    customer_id: str | None = None
    """Whose words these are: a conversation whose customer changes starts again."""
    said: list[str] = Field(default_factory=list)
    """Values the customer's messages named (identifier pattern matches, id-like words)."""
    shown: list[str] = Field(default_factory=list)
    """Id-like values read tools returned (as returned): what the agent may offer."""
    offered: dict[str, str] = Field(default_factory=dict)
    """The values the agent's last question offered for confirmation, by argument."""
    confirmed: list[str] = Field(default_factory=list)
    """Offered values the customer said yes to."""
    amounts: list[str] = Field(default_factory=list)
    """Numbers the customer wrote and numbers read tools returned (two decimals, e.g.
    ``"80.00"``): what a write's amount may come from (rule ``amount.ungrounded``)."""


class PlanPart(Part):
    """The engine's plan: a tool call to propose, or a question to ask."""

    proposal: Proposal | None = None
    question: str | None = None
    pending: dict[str, Any] | None = None
    evidence: list[dict[str, Any]] = Field(default_factory=list)
    error: str | None = None


class DraftPart(Part):
    text: str = ""
    citations: list[dict[str, str]] = Field(default_factory=list)
    support: float = 0.0
    trusted: str = ""


class DecisionPart(Part):
    """The policy gate's decision (``route`` is the gate's: respond, execute,
    await_approval, escalate, block)."""

    route: str
    rules: list[str] = Field(default_factory=list)
    reason: str = ""
    policy_version: str = ""
    policy_digest: str = ""
    approval_kind: str | None = None
    tier: str | None = None


class ApprovalOutcome(Part):
    """The approval as the store had it when the run resumed."""

    approval_id: str | None = None
    status: str
    on_expiry: str | None = None
    kind: str | None = None
    tool: str | None = None
    args: dict[str, Any] | None = None
    decided_by: list[str] = Field(default_factory=list)
    edited: bool = False
    reply: str | None = None


_PARTS = ("classification", "plan", "draft", "decision", "approval", "reply", "escalation")


class TurnState(BaseModel):
    conversation_id: str = ""
    customer_id: str | None = None
    turn_id: str = ""
    text: str = ""
    """The customer's message this turn (never written to audit unredacted)."""
    waiting_for_approval: bool = False
    """Set on input when the conversation waits for an approval: the run answers only a
    question from knowledge alone, else that it is still waiting; it runs without a
    checkpoint and never runs a tool, asks for an approval or opens a case (an escalation
    trigger aside; see graph)."""
    with_human: bool = False
    """Set on input when a person has the conversation (its case is waiting or claimed):
    the run records the message for them and the AI does not reply."""
    case_id: str | None = None
    call: dict[str, Any] | None = None
    """Set on input for a direct tool call (govcx's MCP server): ``{tool, args, workflow,
    principal}``. The call replaces the engine's proposal and goes to the same gate; no
    text is classified or drafted. None for a customer message."""
    redacted: str = ""
    findings: list[Finding] = Field(default_factory=list)
    intent: str | None = None
    confidence: float = 0.0
    classification: Classified | None = None
    chunks: list[Passage] = Field(default_factory=list)
    plan: PlanPart | None = None
    draft: DraftPart | None = None
    decision: DecisionPart | None = None
    approval_id: str | None = None
    approval: ApprovalOutcome | None = None
    actions: list[Action] = Field(default_factory=list)
    reply: Reply | None = None
    status: str = "running"
    escalation: Escalation | None = None
    pending: dict[str, Any] | None = None
    """Slots carried to the next turn after a clarifying question."""
    grounding: Grounding | None = None
    """What a write's identifiers may come from; carried across turns."""
    audit_buffer: Annotated[list[dict[str, Any]], _audit_buffer] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _empty_parts(cls, data: Any) -> Any:
        """Checkpoints written before these models reset a part to ``{}``: that is None."""
        if isinstance(data, dict) and any(data.get(k) == {} for k in _PARTS):
            return {k: (None if k in _PARTS and v == {} else v) for k, v in data.items()}
        return data


class TurnInput(TypedDict, total=False):
    conversation_id: str
    customer_id: str | None
    turn_id: str
    text: str
    waiting_for_approval: bool
    with_human: bool
    case_id: str | None
    call: dict[str, Any] | None


def dump(value: Any) -> Any:
    """Plain data for a channel: models and dataclasses as dicts, lists item by item."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="python")
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, list | tuple):
        return [dump(v) for v in value]
    return value
