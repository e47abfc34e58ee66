"""The graph state: one turn's working values, replaced every turn (constant size)."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict


def _audit_buffer(current: list[dict[str, Any]] | None,
                  update: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Audit events wait here (checkpointed) until a node with side effects writes them
    to the chain in one transaction; ``None`` empties the buffer."""
    if update is None:
        return []
    return [*(current or []), *update]


class TurnState(TypedDict, total=False):
    conversation_id: str
    customer_id: str | None
    turn_id: str
    text: str
    """The customer's message this turn (never written to audit unredacted)."""
    redacted: str
    findings: list[dict[str, Any]]
    intent: str | None
    confidence: float
    classification: dict[str, Any]
    chunks: list[dict[str, Any]]
    plan: dict[str, Any]
    draft: dict[str, Any]
    decision: dict[str, Any]
    approval_id: str | None
    approval: dict[str, Any] | None
    actions: list[dict[str, Any]]
    reply: dict[str, Any] | None
    status: str
    escalation: dict[str, Any] | None
    pending: dict[str, Any] | None
    """Slots carried to the next turn after a clarifying question."""
    audit_buffer: Annotated[list[dict[str, Any]], _audit_buffer]


class TurnInput(TypedDict, total=False):
    conversation_id: str
    customer_id: str | None
    turn_id: str
    text: str
