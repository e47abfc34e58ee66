"""The Turn: what one customer message (or one decision) produced. The API's main shape."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

TurnStatus = Literal["answered", "pending_approval", "escalated", "blocked", "with_human"]
"""``with_human``: a person has the conversation (its case is waiting or claimed); the AI
did not reply, and the message is in the transcript for them."""
ApprovalStatus = Literal["pending", "approved", "rejected", "expired", "superseded", "failed"]


class Citation(BaseModel):
    doc_id: str
    version: str
    title: str


class Reply(BaseModel):
    text: str
    citations: list[Citation] = Field(default_factory=list)


class Action(BaseModel):
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    status: Literal["executed", "pending", "rejected", "failed", "refused"]
    result: dict[str, Any] | None = None
    error: str | None = None


class TurnDecision(BaseModel):
    route: str
    rules: list[str] = Field(default_factory=list)
    policy_version: str
    policy_digest: str = ""
    """sha256 of the policy content the gate decided under."""
    reason: str = ""


class Escalation(BaseModel):
    reason: str
    summary: str
    rules: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)
    """For output-guard escalations: what the drafted reply got wrong."""
    case_id: str | None = None
    """The case the conversation is in now (govcx.governance.cases)."""
    team: str | None = None
    priority: str | None = None


class Turn(BaseModel):
    """The outcome of one turn, as a channel sees it."""

    turn_id: str
    conversation_id: str
    status: TurnStatus
    reply: Reply | None = None
    intent: str | None = None
    confidence: float = 0.0
    actions: list[Action] = Field(default_factory=list)
    approval_id: str | None = None
    case_id: str | None = None
    """With status ``with_human`` (and ``escalated``): the conversation's open case."""
    approval_status: ApprovalStatus | None = None
    """The status the approval ``approval_id`` has after this turn: ``pending`` while it
    waits; for the turn a decision resumed, how it ended: ``approved`` (the action ran),
    ``failed`` (approved, but the action failed or was refused: see its action's
    ``error``), ``rejected``, ``expired`` or ``superseded``."""
    decision: TurnDecision | None = None
    escalation: Escalation | None = None
    findings: list[dict[str, Any]] = Field(default_factory=list)
    """Guard findings (type, source, action), without the matched text."""
