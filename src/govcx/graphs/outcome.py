"""The Turn a run ends with, built from the graph's state (message in → Turn out)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, get_args

from govcx.governance.approval import ApprovalStore
from govcx.graphs import replies
from govcx.graphs.state import TurnState
from govcx.guardrails.pii import redact_values
from govcx.turn import Action, ApprovalStatus, Reply, Turn, TurnDecision


def turn_of(
    state: TurnState | Mapping[str, Any], *, interrupted: bool, approvals: ApprovalStore
) -> Turn:
    """The Turn of the state a run stopped with: ``interrupted`` at an approval (the
    customer hears it was passed on), or finished."""
    if not isinstance(state, TurnState):
        state = TurnState.model_validate(dict(state))
    decision = state.decision
    turn_decision = (
        TurnDecision(
            route=decision.route,
            rules=decision.rules,
            policy_version=decision.policy_version,
            policy_digest=decision.policy_digest,
            reason=decision.reason,
        )
        if decision
        else None
    )
    common: dict[str, Any] = {
        "turn_id": state.turn_id,
        "conversation_id": state.conversation_id,
        "intent": state.intent,
        "confidence": round(float(state.confidence or 0.0), 4),
        "decision": turn_decision,
        "findings": [
            {"type": f.type, "source": f.source, "action": f.action} for f in state.findings
        ],
        "approval_id": state.approval_id,
        "case_id": state.case_id,
    }
    if interrupted:
        common["approval_status"] = "pending"
        request = approvals.get(str(state.approval_id))
        actions = (
            [Action(tool=request.tool, args=request.args or {}, status="pending")]
            if request.kind == "action" and request.tool
            else []
        )
        reply = Reply(text=replies.PENDING_ACTION) if request.kind == "action" else None
        return Turn(status="pending_approval", reply=reply, actions=actions, **common)
    actions = list(state.actions)
    approval = state.approval
    if approval is not None and approval.status in get_args(ApprovalStatus):
        common["approval_status"] = approval.status
    elif state.approval_id and (state.status == "pending_approval" or state.waiting_for_approval):
        common["approval_status"] = "pending"  # a message while it waits (or its escalation)
    if (
        approval is not None
        and approval.status in ("rejected", "expired", "superseded")
        and approval.tool
    ):
        actions = [Action(tool=approval.tool, args=approval.args or {}, status="rejected")]
    return Turn(
        status=state.status or "answered",
        reply=state.reply,
        actions=actions,
        escalation=state.escalation,
        **common,
    )


def at_rest(turn: Turn, redact: Callable[[str], str]) -> Turn:
    """The Turn as stored: the reply may repeat the customer's own details back to them,
    which the caller gets and the turns table does not."""
    return Turn.model_validate(redact_values(turn.model_dump(mode="json"), redact))
