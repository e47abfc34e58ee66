"""The approval request the ``policy_gate`` node queues: what an approver reads.

Besides the action, its rules and evidence, a request carries the facts its tool's
context lookup found (:mod:`govcx.tools.lookup`) and what the customer will be told if
it is approved or rejected. None of these is part of the action token: they inform the
decision, the token binds its subject (tool, canonical arguments, policy, conversation).

An edit changes the arguments, so :func:`refreshed_for_edit` looks the context up again
and recomposes the reply for the new ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from govcx.engines.engine import Draft
from govcx.errors import InvalidInput
from govcx.governance import gate
from govcx.governance.approval import ApprovalContext, ApprovalRequest, action_token
from govcx.governance.policy import Policy
from govcx.graphs import replies
from govcx.graphs.context import Services
from govcx.graphs.state import TurnState
from govcx.guardrails.pii import redact_values
from govcx.tools.lookup import LookupResult, look_up


def look_up_context(
    svc: Services, state: TurnState, tool: str, args: Mapping[str, Any]
) -> LookupResult | None:
    """Run ``tool``'s context lookup (None without one). The pack binds the lookup to
    the tool; it gets the arguments the approver will decide on, validated, and the
    conversation's customer: nothing the customer writes picks or widens it."""
    if tool not in svc.registry:
        return None
    spec = svc.registry.get(tool)
    return look_up(
        spec,
        spec.validate(args),
        customer_id=state.customer_id,
        conversation_id=state.conversation_id,
        data_dir=svc.executor.data_dir,
    )


def stored_context(
    svc: Services, looked: LookupResult | None
) -> tuple[ApprovalContext | None, str | None]:
    """The context as stored, and its sealed copy: facts redacted like other stored
    customer text; the facts before redaction sealed with the data key when redaction
    changed them (a name), for the people who may read the request."""
    if looked is None:
        return None, None
    facts = redact_values(looked.facts, svc.guard.redact)
    sealed = (
        svc.sealer.seal(looked.facts) if svc.sealer is not None and facts != looked.facts else None
    )
    context = ApprovalContext(
        status="ok" if looked.status == "ok" else "unavailable",
        facts=facts,
        error=svc.guard.redact(looked.error) if looked.error else None,
        looked_up_at=svc.clock(),
    )
    return context, sealed


def approval_request(
    svc: Services,
    state: TurnState,
    policy: Policy,
    decision: gate.GateDecision,
    proposal: gate.Proposal | None,
    looked: LookupResult | None = None,
) -> ApprovalRequest:
    """The request for the gate's ``await_approval`` decision on this turn."""
    kind = decision.approval_kind or "action"
    draft_text = (state.draft.text if state.draft else "") or None
    tool = proposal.tool if proposal and kind == "action" else None
    args: dict[str, Any] | None = None
    if tool is not None and proposal is not None:
        args = svc.registry.get(tool).validate(proposal.args)
    context, sealed = stored_context(svc, looked)
    support = float(state.draft.support) if state.draft else 0.0
    reply_if_approved = (
        replies.if_approved(
            svc.registry,
            tool,
            args or {},
            looked.facts if looked else None,
            Draft(text=draft_text or "", support=support),
        )
        if tool is not None
        else draft_text
    )
    token = action_token(
        conversation_id=state.conversation_id,
        kind=kind,
        tool=tool,
        args=args,
        policy_version=policy.version,
        policy_digest=policy.digest,
        draft_reply=draft_text,
    )
    approval_id = "apr_" + hashlib.sha256(f"{state.turn_id}|{token}".encode()).hexdigest()[:20]
    now = svc.clock()
    evidence: list[dict[str, Any]] = list(state.plan.evidence if state.plan else [])
    for cite in state.draft.citations if state.draft else []:
        evidence.append({"citation": cite})
    confidence = float(state.confidence or 0)
    rationale = f"Intent {state.intent} (confidence {confidence:.2f}); {decision.reason}."
    return ApprovalRequest(
        approval_id=approval_id,
        conversation_id=state.conversation_id,
        turn_id=state.turn_id,
        customer_id=state.customer_id,
        kind=kind,
        intent=state.intent,
        tool=tool,
        args=args,
        tier=decision.tier or "reply",
        rules=list(decision.rules),
        rationale=rationale,
        evidence=evidence,
        draft_reply=draft_text,
        requested_at=now,
        expires_at=now + policy.approvals.expiry.total_seconds(),
        approvals_needed=decision.approvers,
        policy_version=policy.version,
        policy_digest=policy.digest,
        token=token,
        context=context,
        context_sealed=sealed,
        reply_if_approved=reply_if_approved,
        reply_if_rejected=replies.not_approved("rejected", kind),
        draft_support=support,
    )


def refreshed_for_edit(
    svc: Services, request: ApprovalRequest, args: dict[str, Any]
) -> dict[str, Any]:
    """What an edit to ``args`` (canonical) changes besides the arguments: the context,
    looked up again for them, and the reply if approved. Raises InvalidInput when the
    lookup says the edited action cannot succeed (nothing is recorded then)."""
    if request.kind == "reply":
        return {"reply_if_approved": args.get("reply")}
    if request.tool is None or request.tool not in svc.registry:
        return {}
    state = TurnState(
        conversation_id=request.conversation_id,
        customer_id=request.customer_id,
        turn_id=request.turn_id,
    )
    looked = look_up_context(svc, state, request.tool, args)
    if looked is not None and looked.status == "refused":
        raise InvalidInput(
            f"the edited {request.tool} cannot succeed: {looked.error}",
            details={"field": "args", "tool": request.tool},
        )
    context, sealed = stored_context(svc, looked)
    reply = replies.if_approved(
        svc.registry,
        request.tool,
        args,
        looked.facts if looked else None,
        Draft(text=request.draft_reply or "", support=request.draft_support),
    )
    return {"context": context, "context_sealed": sealed, "reply_if_approved": reply}
