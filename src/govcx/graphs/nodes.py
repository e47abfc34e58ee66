"""The graph's nodes. Each is small and calls into the area that owns the logic.

Nodes read the typed state (:class:`~govcx.graphs.state.TurnState`) and return updates
as plain data (``dump``), which is what the checkpoint holds.

Side effects never happen in ``await_approval`` (it calls ``interrupt()``, and a resumed
node runs again from its first line). Every side effect elsewhere is idempotent per
turn, so a step replayed after a crash does not repeat it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt
from sqlalchemy import Connection

from govcx.engines.engine import Classification, Draft, TurnContext
from govcx.errors import GateViolation, ToolArgumentError
from govcx.governance import gate, limits, money, routing
from govcx.governance.cases import Case
from govcx.governance.finding import Finding
from govcx.governance.policy import Policy
from govcx.governance.principal import SYSTEM
from govcx.graphs import corroboration, replies
from govcx.graphs import request as request_of
from govcx.graphs.context import Services
from govcx.graphs.corroboration import corroborate
from govcx.graphs.outcome import at_rest, turn_of
from govcx.graphs.state import DecisionPart, Grounding, TurnState, dump
from govcx.guardrails import promises
from govcx.guardrails.guard import OutputContext, OutputResult, apply_policy
from govcx.knowledge.retriever import Chunk, ground
from govcx.tools.executor import Execution, idempotency_key
from govcx.tools.lookup import LookupResult
from govcx.turn import Escalation, Reply, Turn

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"<[A-Z][A-Z_]*(?:_\d+)?>")
MIN_KNOWLEDGE_SUPPORT = 0.3
"""Below this, a knowledge-only answer is not supported and the turn escalates."""
REPLY_EMPTY = "reply.empty"
"""Rule of a turn that ended with nothing to say (no usable engine output): it escalates."""
REPLY_UNBACKED = "reply.unbacked_promise"
"""Rule of a reply promising follow-up that no case, approval or action backs."""

_PER_TURN_RESET: dict[str, Any] = {
    "findings": [],
    "intent": None,
    "confidence": 0.0,
    "classification": None,
    "chunks": [],
    "plan": None,
    "draft": None,
    "decision": None,
    "approval_id": None,
    "approval": None,
    "actions": [],
    "reply": None,
    "status": "running",
    "escalation": None,
    "case_id": None,
}
_USED_UP: dict[str, Any] = {"chunks": [], "plan": None, "draft": None}
"""Parts no later step reads once the turn is finished (the Turn is built without them
and the next turn resets them): out of the checkpoint that outlives the run. (What
classify found stays: a few fields, the record of an engine error.)"""


def _event(
    rt: Runtime[Services],
    state: TurnState,
    kind: str,
    data: dict[str, Any],
    *,
    actor: str = "agent",
) -> dict[str, Any]:
    """An audit event for this node (buffered in state until the next _flush)."""
    if rt.context.observer is not None:
        rt.context.observer(
            kind, {"conversation_id": state.conversation_id, "turn_id": state.turn_id, **data}
        )
    return {
        "kind": kind,
        "actor": actor,
        "data": data,
        "ts": rt.context.clock(),
        "conversation_id": state.conversation_id,
        "turn_id": state.turn_id,
        "policy_version": rt.context.policy.version,
        "policy_digest": rt.context.policy.digest,
    }


def _flush(
    rt: Runtime[Services],
    state: TurnState,
    event: dict[str, Any],
    *,
    messages: tuple[tuple[str, str], ...] = (),
    more: tuple[dict[str, Any], ...] = (),
    also: Callable[[Connection], object] | None = None,
) -> None:
    """Write the buffered events, this node's event and ``more`` to the chain, in order,
    at once, with the transcript ``messages`` (role, redacted text) they record and the
    write ``also`` does (the change the events record).

    Nodes whose effect outlives the run flush: an approval request (the run stops there),
    a tool call, the reply. The others only buffer, in checkpointed state, so a crash
    loses no event, and a turn usually costs one audit transaction."""
    svc = rt.context
    with svc.audit.db.begin() as conn:
        if also is not None:
            also(conn)
        for role, text in messages:
            svc.conversations.add_message(
                state.conversation_id, state.turn_id, role, text, conn=conn
            )
        svc.audit.append_many([*state.audit_buffer, event, *more], conn=conn)


def _ctx(state: TurnState) -> TurnContext:
    return TurnContext(
        conversation_id=state.conversation_id,
        customer_id=state.customer_id,
        turn_id=state.turn_id,
        pending=state.pending,
    )


def _public(finding: Finding) -> dict[str, Any]:
    return {
        "type": finding.type,
        "source": finding.source,
        "action": finding.action,
        "score": round(finding.score, 3),
        "start": finding.start,
        "end": finding.end,
    }


# -- START: a new message, or one while an approval is pending -----------------------------
def route_message(state: TurnState) -> str:
    """A conversation waiting for an approval hears that it is still waiting (unless an
    escalation trigger opens a case); one a person has (its case waiting or claimed) gets
    no reply from the AI at all."""
    if state.with_human:
        return "with_human"
    if state.waiting_for_approval:
        return "while_pending"
    return "call" if state.call else "message"


def _scanned(svc: Services, text: str) -> list[Finding]:
    """The input guard's findings in a message the turn does not run through
    ``guard_input``, as the policy's guards rule them. Scanned as ``guard_input`` scans
    (NFKC, format characters removed), so a bidi mark inside a word ("li\u2066ve") does
    not hide a trigger."""
    return apply_policy(
        svc.guard.scan_input(money.normalise_text(text)).findings, svc.policy.guards
    )


def with_human(state: TurnState, runtime: Runtime[Services]) -> dict[str, Any]:
    """Record a message for the person who has the conversation; the AI stays silent
    (no classification, no draft, no tool). Transcript line, audit event and Turn in one
    transaction. (No checkpoint: the AI's last run stays as it was.)

    One exception, for safety: a message the input guard finds self-harm in gets the
    runtime's fixed crisis text at once (not AI output), and its case becomes urgent, so
    nobody in distress waits silently in a queue."""
    svc = runtime.context
    redacted = svc.guard.redact(state.text)
    found = _scanned(svc, state.text)
    self_harm = any(f.type == "SELF_HARM" for f in found)
    reply = {"text": replies.SELF_HARM, "citations": []} if self_harm else None
    out: dict[str, Any] = {
        "redacted": redacted,
        "status": "with_human",
        "reply": reply,
        "findings": dump([f for f in found if not f.is_pii]),
    }
    kept = [f for f in found if not f.is_pii]
    turn = turn_of(
        state.model_copy(
            update={**out, "findings": kept, "reply": Reply(**reply) if reply else None}
        ),
        interrupted=False,
        approvals=svc.approvals,
    )
    with svc.audit.db.begin() as conn:
        svc.conversations.add_message(
            state.conversation_id, state.turn_id, "customer", redacted, conn=conn
        )
        if self_harm:
            svc.conversations.add_message(
                state.conversation_id, state.turn_id, "assistant", replies.SELF_HARM, conn=conn
            )
            if state.case_id:
                svc.cases.make_urgent(
                    conn, state.case_id, policy=svc.policy, reason="self-harm in a message"
                )
        svc.audit.append_many(
            [
                {
                    "kind": "message.with_human",
                    "actor": "customer",
                    "conversation_id": state.conversation_id,
                    "turn_id": state.turn_id,
                    "policy_version": svc.policy.version,
                    "data": {
                        "text": redacted,
                        "case_id": state.case_id,
                        "findings": [_public(f) for f in found if not f.is_pii],
                        "reply": replies.SELF_HARM if self_harm else None,
                    },
                }
            ],
            conn=conn,
        )
        svc.conversations.save_turn(at_rest(turn, svc.guard.redact), conn=conn)
    return out


def still_waiting(state: TurnState, runtime: Runtime[Services]) -> dict[str, Any]:
    """Answer a message that arrives while an approval is pending, without classifying
    it: the transcript, the audit event and the Turn are written in one transaction.
    (The run has no checkpoint: the conversation's holds the waiting approval.)

    The input guard still reads it first: an escalation trigger (self-harm, a request for
    a person, a legal threat, as the policy's guards say) opens a case at once, with the
    crisis text for self-harm, instead of "still waiting". The pending approval stays as
    it is (the case's hand-off lists it); a person decides both."""
    svc = runtime.context
    found = _scanned(svc, state.text)
    redacted = svc.guard.redact(state.text)
    pending = svc.approvals.list(status="pending", conversation_id=state.conversation_id)
    approval_id = pending[0].approval_id if pending else None
    if any(f.action == "escalate" for f in found):
        return _escalate_while_pending(state, runtime, found, redacted, approval_id)
    question, classified = _question_while_pending(state, runtime, found, redacted)
    if question is not None:
        return question
    reply = Reply(text=replies.BUSY_WITH_APPROVAL)
    out: dict[str, Any] = {
        "redacted": redacted,
        "status": "pending_approval",
        "reply": dump(reply),
        "approval_id": approval_id,
    }
    turn = turn_of(
        state.model_copy(update={**out, "reply": reply}), interrupted=False, approvals=svc.approvals
    )
    with svc.audit.db.begin() as conn:
        _record_while_pending(svc, state, conn, turn, redacted, found, *classified)
    return out


def _question_while_pending(
    state: TurnState, runtime: Runtime[Services], found: list[Finding], redacted: str
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """A question the policy lets the AI answer from approved knowledge alone (a workflow
    with no tools, autonomy ``act``) is answered while the approval waits: classified
    here, then retrieved, drafted, checked and gated as any turn, on this run without a
    checkpoint. ``check_reply`` holds anything but a plain answer (the gate's other
    routes, a failed output check) to "still waiting", and nothing runs a tool, asks for
    an approval or opens a case (``after_gate``, ``policy_gate``). None: not such a
    question, or a guard finding that blocks or strips (the customer hears "still
    waiting", as before); with it the ``classify`` event, if the engine was asked (a model
    call is audited even when its answer leads nowhere)."""
    svc = runtime.context
    policy = svc.policy
    if any(f.action in ("block", "strip", "escalate") for f in found):
        return None, []
    text = money.normalise_text(state.text)
    seen = state.model_copy(update={"text": text, "redacted": redacted, "findings": found})
    classified = classify(seen, runtime)
    intent = classified["intent"]
    if not (
        _answers_from_knowledge(policy, intent) and classified["classification"]["corroborated"]
    ):
        return None, list(classified["audit_buffer"])
    return {
        **classified,
        "text": text,
        "redacted": redacted,
        "findings": dump(found),
        "status": "running",
        "audit_buffer": [_while_pending_event(svc, state, redacted, found)]
        + classified["audit_buffer"],
    }, []


def _answers_from_knowledge(policy: Policy, intent: str | None) -> bool:
    """The intent's workflow answers from knowledge alone, without review."""
    return bool(
        intent in policy.workflows
        and not policy.workflows[intent].tools
        and policy.autonomy_of(intent) == "act"
    )


def after_still_waiting(state: TurnState) -> str:
    """``question``: ``still_waiting`` found a question it may answer (retrieve next)."""
    return "question" if state.status == "running" else "done"


def _while_pending_event(
    svc: Services, state: TurnState, redacted: str, found: list[Finding]
) -> dict[str, Any]:
    return {
        "kind": "message.while_pending",
        "actor": "customer",
        "conversation_id": state.conversation_id,
        "turn_id": state.turn_id,
        "policy_version": svc.policy.version,
        "data": {"text": redacted, "findings": [_public(f) for f in found]},
    }


def _record_while_pending(
    svc: Services,
    state: TurnState,
    conn: Connection,
    turn: Turn,
    redacted: str,
    found: list[Finding],
    *more: dict[str, Any],
) -> None:
    """A message while an approval waits, in ``conn``'s transaction: its transcript lines,
    its audit events (``message.while_pending``, then ``more``) and its Turn."""
    svc.conversations.add_message(
        state.conversation_id, state.turn_id, "customer", redacted, conn=conn
    )
    if turn.reply is not None:
        svc.conversations.add_message(
            state.conversation_id, state.turn_id, "assistant", turn.reply.text, conn=conn
        )
    svc.audit.append_many([_while_pending_event(svc, state, redacted, found), *more], conn=conn)
    svc.conversations.save_turn(at_rest(turn, svc.guard.redact), conn=conn)


def _escalate_while_pending(
    state: TurnState,
    runtime: Runtime[Services],
    found: list[Finding],
    redacted: str,
    approval_id: str | None,
) -> dict[str, Any]:
    """An escalation trigger in a message sent while an approval waits: the gate decides it
    from the escalating findings alone (the reason and rules of any guard escalation), and
    the case is routed and answered as the ``escalate`` node does."""
    svc = runtime.context
    decided = gate.decide(
        svc.policy,
        gate.GateInput(
            intent=None, confidence=0.0, findings=[f for f in found if f.action == "escalate"]
        ),
    )
    reason, rules = decided.reason, list(decided.rules)
    kept = [f for f in found if not f.is_pii]
    seen = state.model_copy(update={"findings": found, "redacted": redacted})
    summary = _summary(seen, reason)
    body = {
        "summary": summary,
        "rules": rules,
        "intent": None,
        "confidence": 0.0,
        "recommended_action": None,
        "customer_message": redacted,
        "approval_pending": approval_id,
    }
    text = replies.SELF_HARM if any(f.type == "SELF_HARM" for f in found) else replies.ESCALATED
    decision = DecisionPart(**decided.as_dict())
    out: dict[str, Any] = {}

    def record(conn: Connection, escalation_id: str, case: Case) -> None:
        """The transcript, audit events and Turn, in the case's transaction: a crash
        leaves all of it or none."""
        escalation = {"reason": reason, "summary": summary, "rules": rules, **_case_fields(case)}
        out.update(
            redacted=redacted,
            status="escalated",
            reply={"text": text, "citations": []},
            approval_id=approval_id,
            case_id=case.case_id,
            decision=dump(decision),
            escalation=escalation,
            findings=dump(kept),
        )
        turn = turn_of(
            state.model_copy(
                update={
                    **out,
                    "reply": Reply(text=text),
                    "decision": decision,
                    "escalation": Escalation(**escalation),
                    "findings": kept,
                }
            ),
            interrupted=False,
            approvals=svc.approvals,
        )
        _record_while_pending(
            svc,
            state,
            conn,
            turn,
            redacted,
            found,
            _escalation_event(
                runtime,
                state,
                escalation_id,
                case,
                reason=reason,
                rules=rules,
                summary=summary,
                approval_pending=approval_id,
            ),
        )

    _open_case(svc, seen, reason=reason, rules=rules, body=body, also=record)
    return out


# -- guard_input -------------------------------------------------------------------------
def guard_input(state: TurnState, runtime: Runtime[Services]) -> dict[str, Any]:
    svc = runtime.context
    # Zero-width and other format characters removed, NFKC: "$4\u200b5" is read as $45.
    text = money.normalise_text(state.text)
    result = svc.guard.scan_input(text)
    findings = apply_policy(result.findings, svc.policy.guards)
    # What the customer names here may ground a write's identifiers on a later turn.
    grounding = corroboration.heard(
        state.grounding,
        customer_id=state.customer_id,
        text=text,
        patterns=corroboration.identifier_patterns(svc.policy, svc.registry),
    )
    # The redacted message joins the transcript with the policy gate's audit events.
    event = _event(
        runtime,
        state,
        "guard_input",
        {"text": result.redacted, "findings": [_public(f) for f in findings]},
        actor="customer",
    )
    return {
        **_PER_TURN_RESET,
        "text": text,
        "redacted": result.redacted,
        "findings": dump(findings),
        "grounding": dump(grounding),
        "audit_buffer": [event],
    }


def after_guard_input(state: TurnState) -> str:
    stop = any(f.action in ("block", "escalate") for f in state.findings)
    return "stop" if stop else "classify"


# -- take_call (a direct tool call: govcx's MCP server) ---------------------------------
def take_call(state: TurnState, runtime: Runtime[Services]) -> dict[str, Any]:
    """A tool call an authenticated tool client made (``govcx mcp serve``) becomes the
    turn's proposal, for the same gate as an engine's: no classification, no retrieval,
    no draft. The call names no intent, so it is decided under the autonomy of the
    workflow the Agent chose for the tool (the strictest that lists it); the arguments
    were validated against the tool's schema before the run, and the gate validates them
    again. Confidence is 1: the caller chose the tool, nothing was guessed."""
    svc = runtime.context
    call = state.call or {}
    tool, args = str(call.get("tool")), dict(call.get("args") or {})
    principal = str(call.get("principal") or "tool-client")
    line = svc.guard.redact(f"{principal} called {tool} {json.dumps(args, sort_keys=True)}")
    event = _event(
        runtime,
        state,
        "call",
        {
            "principal": principal,
            "tool": tool,
            "args": args,
            "workflow": call.get("workflow"),
            "text": line,
        },
        actor=principal,
    )
    return {
        **_PER_TURN_RESET,
        "redacted": line,
        "intent": call.get("workflow"),
        "confidence": 1.0,
        "classification": {"entities": {}, "engine_error": None, "corroborated": True},
        "plan": {"proposal": {"tool": tool, "args": args}},
        "pending": None,
        "audit_buffer": [event],
    }


# -- classify -----------------------------------------------------------------------------
def classify(state: TurnState, runtime: Runtime[Services]) -> dict[str, Any]:
    svc = runtime.context
    ctx = _ctx(state)
    # Classify what the customer asks, not their personal details: PII is replaced by
    # placeholders in the redacted text, and the placeholders are dropped here.
    text = _PLACEHOLDER.sub(" ", state.redacted or state.text).strip() or state.text
    result = svc.engine.classify(text, ctx)
    intent, confidence, carried = result.intent, result.confidence, False
    pending = state.pending
    grounding = state.grounding
    offered = bool(grounding is not None and grounding.offered)
    if pending and _continues(svc, pending, result, state.text, offered=offered):
        intent, carried = pending["intent"], True
        confidence = max(confidence, pending["confidence"])
    confirmed: dict[str, Any] = {}
    if grounding is not None and offered:
        # The answer to "do you mean order A-1002?": a plain yes confirms the offer.
        grounding, confirmed = corroboration.confirm(grounding, state.text if carried else "")
        if confirmed and pending is not None:
            pending = {**pending, "args": {**dict(pending.get("args") or {}), **confirmed}}
    engine_error = result.error or result.entities.get("engine_error")
    # A model's intent must be supported by the customer's own words (the embedded
    # engine's intent comes from them); an answer to our own question inherits it.
    corroborated, support = True, None
    if carried:
        corroborated = bool((pending or {}).get("corroborated", True))
    elif intent is not None and svc.engine.name != "embedded":
        check = corroborate(svc.policy, text, intent)
        corroborated = check.supported
        support = {"probability": check.probability, "classifier_intent": check.top}
    data = {
        "intent": intent,
        "confidence": round(confidence, 4),
        "alternatives": result.alternatives,
        "continued_from_question": carried,
        "engine": svc.engine.name,
        "engine_error": engine_error,
        "corroborated": corroborated,
        "corroboration": support,
        "confirmed": sorted(confirmed),
    }
    event = _event(runtime, state, "classify", data)
    return {
        "audit_buffer": [event],
        "intent": intent,
        "confidence": confidence,
        "classification": {
            "entities": result.entities,
            "engine_error": engine_error,
            "corroborated": corroborated,
        },
        "pending": pending if carried else None,
        "grounding": dump(grounding),
    }


def _continues(
    svc: Services,
    pending: dict[str, Any],
    result: Classification,
    text: str,
    *,
    offered: bool = False,
) -> bool:
    """Does this message answer the clarifying question asked on the previous turn? (A
    yes answers a question that offered a value to confirm.)"""
    policy = svc.policy
    spec = svc.registry.get(pending["tool"]) if pending.get("tool") in svc.registry else None
    if spec is None:
        return False
    if offered and corroboration.affirms(text):
        return True
    patterns = spec.patterns()
    for param in pending.get("awaiting", []):
        if param in patterns and patterns[param].search(text):
            return True
        if "amount" in param and result.entities.get("money"):
            return True
    if result.intent == pending["intent"]:
        return True
    threshold = policy.min_confidence_of(result.intent) if result.intent else 1.0
    free_text = any(
        spec.params.get(p, {}).get("type") == "string" and p not in patterns
        for p in pending.get("awaiting", [])
    )
    return free_text and (result.intent is None or result.confidence < threshold)


# -- retrieve -----------------------------------------------------------------------------
def retrieve(state: TurnState, runtime: Runtime[Services]) -> dict[str, Any]:
    svc = runtime.context
    policy = svc.policy
    intent = state.intent
    workflow = policy.workflows.get(intent) if intent else None
    grounding = ground(
        svc.retriever,
        state.text,
        pinned=workflow.knowledge if workflow else (),
        tags=workflow.knowledge_tags if workflow and workflow.knowledge_tags else None,
    )
    chunks = grounding.passages()
    if grounding.conflict:
        # The confidence check escalates an answer drafted from documents that disagree.
        chunks = [replace(c, metadata={**c.metadata, "conflict": True}) for c in chunks]
    kept: list[Chunk] = []
    findings = list(state.findings)
    stripped: list[str] = []
    for chunk in chunks:
        found = apply_policy(svc.guard.scan_indirect(chunk.text, "knowledge"), policy.guards)
        if found:
            findings.extend(found)
        if any(f.action in ("strip", "block", "escalate") for f in found):
            stripped.append(chunk.chunk_id)
            continue
        kept.append(chunk)
    event = _event(
        runtime,
        state,
        "retrieve",
        {
            "chunks": [
                {
                    "doc_id": c.doc_id,
                    "version": c.version,
                    "chunk_id": c.chunk_id,
                    "score": round(c.score, 4),
                    "doc_rank": c.metadata.get("doc_rank"),
                    "pinned": bool(c.metadata.get("pinned")),
                }
                for c in kept
            ],
            "stripped": stripped,
            "conflict": list(grounding.conflict) if grounding.conflict else None,
        },
    )
    return {"audit_buffer": [event], "chunks": dump(kept), "findings": dump(findings)}


def _chunks(state: TurnState) -> list[Chunk]:
    return [Chunk(**p.model_dump()) for p in state.chunks]


# -- draft --------------------------------------------------------------------------------
def draft(state: TurnState, runtime: Runtime[Services]) -> dict[str, Any]:
    svc = runtime.context
    policy = svc.policy
    ctx = _ctx(state)
    intent = state.intent
    findings = list(state.findings)
    plan_data: dict[str, Any] = {}
    reads: list[str] = []  # ledger keys of the reads, for the audit cross-check
    results: list[Any] = []  # what the reads returned (values the agent may offer)
    if (
        intent in policy.workflows
        and policy.workflows[intent].tools
        and policy.autonomy_of(intent) != "escalate"
    ):
        workflow = policy.workflows[intent]

        def read(tool: str, args: dict[str, Any]) -> Execution:
            allowed = (
                tool in workflow.tools
                and policy.is_read_only(tool)
                and not gate.approval_need(policy, tool, args, policy.autonomy_of(intent)).needed
            )
            if not allowed:
                return Execution(
                    tool=tool,
                    args=args,
                    status="refused",
                    error=f"{tool} may not run while drafting",
                )
            execution = svc.executor.run(
                policy=policy,
                conversation_id=ctx.conversation_id,
                customer_id=ctx.customer_id,
                tool=tool,
                args=args,
                autonomy=policy.autonomy_of(intent),
                step=f"{ctx.turn_id}:read",
            )
            if execution.key:
                reads.append(execution.key)
            if execution.result is not None:
                found = apply_policy(
                    svc.guard.scan_indirect(json.dumps(execution.result), "tool"), policy.guards
                )
                findings.extend(found)
                if any(f.action in ("strip", "block", "escalate") for f in found):
                    return Execution(
                        tool=tool,
                        args=execution.args,
                        status="refused",
                        error="the tool output was withheld by a guard",
                    )
                if execution.status == "executed":
                    results.append(execution.result)
            return execution

        classification = Classification(
            intent=intent,
            confidence=state.confidence,
            entities=state.classification.entities if state.classification else {},
        )
        plan = svc.engine.plan(
            state.text,
            ctx,
            intent=intent,
            classification=classification,
            policy=policy,
            registry=svc.registry,
            read=read,
        )
        plan_data = {
            "proposal": dump(plan.proposal) if plan.proposal else None,
            "question": plan.question,
            "pending": plan.pending,
            "evidence": plan.evidence,
            "error": plan.error,
        }
    text_draft = svc.engine.draft(state.text, ctx, intent=intent, chunks=_chunks(state))
    event = _event(
        runtime,
        state,
        "draft",
        {
            "proposal": plan_data.get("proposal"),
            "question": plan_data.get("question"),
            "evidence": [
                {"tool": e.get("tool"), "ok": "result" in e} for e in plan_data.get("evidence", [])
            ],
            "citations": text_draft.citations,
            "support": text_draft.support,
            "reads": reads,
        },
    )
    out: dict[str, Any] = {
        "audit_buffer": [event],
        "plan": plan_data or None,
        "draft": dump(text_draft),
        "findings": dump(findings),
    }
    if results:
        grounding = state.grounding or Grounding(customer_id=state.customer_id)
        out["grounding"] = dump(corroboration.seen(grounding, results))
    return out


# -- confidence_check ---------------------------------------------------------------------
def confidence_check(state: TurnState, runtime: Runtime[Services]) -> dict[str, Any]:
    svc = runtime.context
    policy = svc.policy
    intent = state.intent
    confidence = float(state.confidence or 0.0)
    support = float(state.draft.support if state.draft else 0.0)
    answer_only = bool(
        intent in policy.workflows
        and not policy.workflows[intent].tools
        and policy.autonomy_of(str(intent)) != "escalate"
    )
    # A question the deployment answers only from knowledge needs knowledge that supports
    # an answer: without it, the classifier's confidence alone means nothing.
    final = confidence
    if answer_only and support < MIN_KNOWLEDGE_SUPPORT:
        final = min(confidence, support)
    # The two best documents for the customer's words are equally good and on different
    # topics: a reply from either is a guess, so a knowledge-only answer goes to a person.
    conflict = sorted({c.doc_id for c in state.chunks if c.metadata.get("conflict")})
    if answer_only and conflict:
        final = 0.0
    event = _event(
        runtime,
        state,
        "confidence_check",
        {
            "classifier": round(confidence, 4),
            "knowledge_support": round(support, 4),
            "knowledge_conflict": conflict or None,
            "answer_only": answer_only,
            "confidence": round(final, 4),
        },
    )
    return {"confidence": final, "audit_buffer": [event]}


# -- policy_gate --------------------------------------------------------------------------
def policy_gate(state: TurnState, runtime: Runtime[Services]) -> dict[str, Any]:
    svc = runtime.context
    policy = svc.policy
    plan = state.plan
    proposal = None
    proposal_error = plan.error if plan else None
    ungrounded: tuple[str, ...] = ()
    amount_ungrounded: str | None = None
    if plan is not None and plan.proposal is not None:
        p = plan.proposal
        args = dict(p.args)
        missing = tuple(p.missing)
        if not missing and p.tool in svc.registry:
            # The gate judges the arguments the executor would run: validated, with defaults.
            spec = svc.registry.get(p.tool)
            try:
                args = spec.validate(args)
            except ToolArgumentError as exc:
                proposal_error = exc.message
            ungrounded, amount_ungrounded = _grounding(svc, state, policy, args)
        proposal = gate.Proposal(tool=p.tool, args=args, missing=missing)
    classified = state.classification
    engine_error = classified.engine_error if classified else None
    facts = gate.GateInput(
        intent=state.intent,
        confidence=float(state.confidence or 0.0),
        findings=list(state.findings),
        proposal=proposal,
        proposal_error=proposal_error,
        engine_error=str(engine_error) if engine_error else None,
        corroborated=classified.corroborated if classified else True,
        ungrounded=ungrounded,
        amount_ungrounded=amount_ungrounded,
        money_problems=money.problems(state.text, currency=policy.currency),
    )
    decision = _decide_and_reserve(svc, state, policy, facts)
    _shadow(svc, state, policy, facts, decision)
    out: dict[str, Any] = {
        "decision": {
            **decision.as_dict(),
            "approval_kind": decision.approval_kind,
            "tier": decision.tier,
        }
    }
    if "slot.invalid" in decision.rules and proposal is not None:
        out["plan"] = _ask_amount_again(state, policy, proposal)
    if "identifier.ungrounded" in decision.rules and proposal is not None:
        out.update(_ask_which(svc, state, proposal, ungrounded))
    approval_id = None
    looked: LookupResult | None = None
    if decision.route == "await_approval" and not state.waiting_for_approval:
        looked = (
            request_of.look_up_context(svc, state, proposal.tool, proposal.args)
            if proposal is not None and decision.approval_kind == "action"
            else None
        )
        if looked is not None and looked.status == "refused" and proposal is not None:
            # Nobody is asked to approve what cannot succeed; the customer hears why.
            decision = _cannot_succeed(decision, proposal.tool, str(looked.error))
            out.update(_refused(decision, proposal, str(looked.error)))
        else:
            request = request_of.approval_request(svc, state, policy, decision, proposal, looked)
            svc.approvals.create(request)
            approval_id = request.approval_id
            out["approval_id"] = approval_id
    event = _event(
        runtime,
        state,
        "policy_gate",
        {
            **decision.as_dict(),
            "approval_id": approval_id,
            "proposal": asdict(proposal) if proposal else None,
            **({"ungrounded": list(ungrounded)} if ungrounded else {}),
            **({"amount_ungrounded": amount_ungrounded} if amount_ungrounded else {}),
            **(
                {"context": {"status": looked.status, "error": _redact(svc, looked.error)}}
                if looked is not None
                else {}
            ),
        },
    )
    if approval_id is None:
        out["audit_buffer"] = [event]
        return out
    # The run stops here until someone decides: the approver sees the whole story.
    _flush(runtime, state, event, messages=(_customer_message(state),))
    out["audit_buffer"] = None
    return out


def _grounding(
    svc: Services, state: TurnState, policy: Policy, args: dict[str, Any]
) -> tuple[tuple[str, ...], str | None]:
    """The identifier arguments of the proposed write (validated ``args``) and its amount
    argument that nothing in the conversation grounds, as ``policy`` declares them (its
    ``identifiers`` and amount key). None of either for a direct call (govcx mcp serve):
    the authenticated tool client wrote its identifiers, as a customer writes theirs."""
    proposal = state.plan.proposal if state.plan else None
    if state.call is not None or proposal is None or proposal.tool not in svc.registry:
        return (), None
    spec = svc.registry.get(proposal.tool)
    return (
        corroboration.ungrounded(policy, spec, args, text=state.text, grounding=state.grounding),
        corroboration.amount_ungrounded(
            policy, proposal.tool, proposal.args, text=state.text, grounding=state.grounding
        ),
    )


def _shadow(
    svc: Services,
    state: TurnState,
    policy: Policy,
    facts: gate.GateInput,
    decision: gate.GateDecision,
) -> None:
    """Shadow mode: the candidate policy decides the same turn too, without effect (no
    reservation, no approval request); only the two decisions are recorded. A failure
    here never touches the live turn."""
    shadow = svc.shadow() if svc.shadow is not None else None
    if shadow is None or shadow.policy.digest == policy.digest:
        return
    try:
        # What depends on the policy is worked out again under the candidate's: its
        # currency, and which arguments it requires to be grounded.
        candidate = shadow.policy
        given = facts.proposal
        ungrounded, amount_ungrounded = (
            _grounding(svc, state, candidate, dict(given.args))
            if given is not None and not given.missing
            else ((), None)
        )
        shadowed = replace(
            facts,
            money_problems=money.problems(state.text, currency=candidate.currency),
            ungrounded=ungrounded,
            amount_ungrounded=amount_ungrounded,
        )
        other = _decide_and_reserve(svc, state, candidate, shadowed, reserve=False)
        shadow.record(state.conversation_id, state.turn_id, state.intent, decision, other)
    except Exception:
        log.exception("shadow gate failed on %s", state.turn_id)


def _decide_and_reserve(
    svc: Services,
    state: TurnState,
    policy: Policy,
    facts: gate.GateInput,
    *,
    reserve: bool = True,
) -> gate.GateDecision:
    """Decide; for a write, with its cumulative usage, and reserve room for it when it
    runs, in one transaction (so concurrent turns cannot all spend the same room).
    ``reserve`` false (the shadow gate) only decides.

    Replayed after a crash, this finds its own reservation (same key) and never counts it.
    """
    proposal = facts.proposal
    if (
        proposal is None
        or proposal.missing
        or facts.proposal_error
        or not limits.tracked(policy, proposal.tool)
        or proposal.tool not in svc.registry
    ):
        return gate.decide(policy, facts)
    key = idempotency_key(
        conversation_id=state.conversation_id,
        step=state.turn_id,
        tool=proposal.tool,
        args=proposal.args,
    )
    now = svc.clock()
    with limits.transaction(svc.executor.db, proposal.tool) as conn:
        usage = limits.usage(
            conn,
            policy,
            tool=proposal.tool,
            args=proposal.args,
            conversation_id=state.conversation_id,
            customer_id=state.customer_id,
            now=now,
            exclude_key=key,
        )
        decision = gate.decide(policy, replace(facts, usage=usage))
        if not reserve:
            return decision
        if decision.route == "execute":
            limits.reserve(
                conn,
                key=key,
                conversation_id=state.conversation_id,
                customer_id=state.customer_id,
                tool=proposal.tool,
                args=proposal.args,
                now=now,
            )
        else:
            limits.release(conn, key, reason=f"the gate routed {decision.route}")
    return decision


def _ask_amount_again(state: TurnState, policy: Policy, proposal: gate.Proposal) -> dict[str, Any]:
    """The plan becomes a question for the amount (the rest of the arguments are kept)."""
    plan = dump(state.plan) if state.plan else {}
    amount_key = (
        policy.tools[proposal.tool].amount_key if proposal.tool in policy.tools else "amount"
    )
    args = {k: v for k, v in proposal.args.items() if k != amount_key}
    plan["question"] = replies.invalid_amount(policy.currency)
    plan["pending"] = {
        "intent": state.intent,
        "tool": proposal.tool,
        "args": args,
        "awaiting": [amount_key],
    }
    return plan


def _ask_which(
    svc: Services, state: TurnState, proposal: gate.Proposal, ungrounded: tuple[str, ...]
) -> dict[str, Any]:
    """The plan becomes a question for the identifiers the customer did not name (the
    rest of the arguments are kept), offering a value a read tool returned for a yes."""
    spec = svc.registry.get(proposal.tool)
    grounding = state.grounding or Grounding(customer_id=state.customer_id)
    question, offered = corroboration.question(spec, ungrounded, proposal.args, grounding)
    plan = dump(state.plan) if state.plan else {}
    plan["question"] = question
    plan["pending"] = {
        "intent": state.intent,
        "tool": proposal.tool,
        "args": {k: v for k, v in proposal.args.items() if k not in ungrounded},
        "awaiting": list(ungrounded),
    }
    return {
        "plan": plan,
        "grounding": dump(grounding.model_copy(update={"offered": offered})),
    }


def _customer_message(state: TurnState) -> tuple[str, str]:
    """The turn's opening transcript line: the customer's words, or a tool client's call."""
    return ("tool_call" if state.call else "customer", state.redacted or "")


def _redact(svc: Services, text: str | None) -> str | None:
    return svc.guard.redact(text) if text else text


def _cannot_succeed(decision: gate.GateDecision, tool: str, error: str) -> gate.GateDecision:
    """The gate's decision, answered instead of queued: the rules that wanted a person,
    and the lookup's refusal."""
    return replace(
        decision,
        route="respond",
        rules=(*decision.rules, f"tool.{tool}.cannot_succeed"),
        reason=f"{tool} needs approval but cannot succeed: {error}",
        approval_kind=None,
    )


def _refused(decision: gate.GateDecision, proposal: gate.Proposal, error: str) -> dict[str, Any]:
    """State updates of a request refused by its context lookup: the action refused with
    the tool's message, which is the reply (the pack's own words, like a tool's error)."""
    return {
        "decision": {
            **decision.as_dict(),
            "approval_kind": None,
            "tier": decision.tier,
        },
        "actions": [
            Execution(
                tool=proposal.tool, args=dict(proposal.args), status="refused", error=error
            ).as_action()
        ],
        "draft": dump(Draft(text=error, trusted=error)),
    }


def after_gate(state: TurnState) -> str:
    """The gate's route: ``respond`` and ``block`` both ``answer`` (check_reply). While an
    approval waits every route is ``answer``: nothing runs, waits or escalates, and
    ``check_reply`` holds what is not a plain answer."""
    if state.waiting_for_approval:
        return "answer"
    route = state.decision.route if state.decision else None
    return {"execute": "execute", "await_approval": "await_approval", "escalate": "escalate"}.get(
        str(route), "answer"
    )


# -- await_approval (no side effects: it interrupts) ---------------------------------------
def await_approval(state: TurnState, runtime: Runtime[Services]) -> dict[str, Any]:
    approval_id = state.approval_id
    resumed = interrupt({"approval_id": approval_id})
    # Trust the store, not the resume value: the decision must be recorded there.
    request = runtime.context.approvals.get(str(approval_id))
    if not isinstance(resumed, dict) or resumed.get("approval_id") != approval_id:
        return {"approval": {"status": "invalid", "approval_id": approval_id}}
    on_expiry = runtime.context.policy.approvals.on_expiry
    return {
        "approval": {
            "approval_id": approval_id,
            "status": request.status,
            "on_expiry": on_expiry,
            "kind": request.kind,
            "tool": request.tool,
            "args": request.args,
            "decided_by": [d.principal for d in request.decisions],
            "edited": any(d.decision == "edit" for d in request.decisions),
            "reply": ((request.args or {}).get("reply") if request.kind == "reply" else None),
        }
    }


def after_approval(state: TurnState) -> str:
    approval = state.approval
    status = approval.status if approval else None
    if status == "approved":
        return "execute" if approval is not None and approval.kind == "action" else "answer"
    if status == "expired" and approval is not None and approval.on_expiry == "escalate":
        return "escalate"
    if status == "superseded":  # the policy changed while it waited: a person decides
        return "escalate"
    return "answer"


# -- execute ------------------------------------------------------------------------------
def execute(state: TurnState, runtime: Runtime[Services]) -> dict[str, Any]:
    svc = runtime.context
    policy = svc.policy
    intent = state.intent or ""
    approval = state.approval
    tool: str | None
    if approval is not None and approval.status == "approved":
        tool, args, approval_id = approval.tool, dict(approval.args or {}), approval.approval_id
    else:
        proposal = state.plan.proposal if state.plan else None
        tool = proposal.tool if proposal else None
        args, approval_id = dict(proposal.args if proposal else {}), None
    recorded = _recorded_failure(svc, approval_id)
    if recorded is not None:  # this step is replayed: its failure is already recorded
        execution = Execution(tool=str(tool), args=args, status="failed", error=recorded)
    else:
        try:
            execution = svc.executor.run(
                policy=policy,
                conversation_id=state.conversation_id,
                customer_id=state.customer_id,
                tool=str(tool),
                args=args,
                autonomy=policy.autonomy_of(intent),
                step=state.turn_id,
                approval_id=approval_id,
            )
        except GateViolation as exc:
            execution = Execution(tool=str(tool), args=args, status="refused", error=exc.message)
    failed = approval_id is not None and execution.status != "executed"
    findings = list(state.findings)
    grounding = state.grounding
    if execution.status == "executed" and policy.is_read_only(str(tool)):
        # Its reply shows the customer what it found: values the agent may offer later.
        grounding = corroboration.seen(
            grounding or Grounding(customer_id=state.customer_id), [execution.result]
        )
    if execution.result is not None:
        findings.extend(
            apply_policy(
                svc.guard.scan_indirect(json.dumps(execution.result), "tool"), policy.guards
            )
        )
    drafted = Draft(**state.draft.model_dump()) if state.draft else Draft(text="")
    composed = svc.engine.compose(
        _ctx(state), intent=intent, executions=[execution], draft=drafted, registry=svc.registry
    )
    out: dict[str, Any] = {
        "audit_buffer": None,
        "actions": [execution.as_action()],
        "draft": dump(composed),
        "findings": dump(findings),
        "grounding": dump(grounding),
    }
    if failed and approval is not None:
        out["approval"] = {**dump(approval), "status": "failed"}
    if recorded is not None:
        return out  # its events were written with the failure
    event = _event(
        runtime,
        state,
        "execute",
        {
            "tool": execution.tool,
            "args": execution.args,
            "status": execution.status,
            "error": execution.error,
            "idempotency_key": execution.key,
            "replayed": execution.replayed,
            "approval_id": approval_id,
        },
    )
    if not failed:
        _flush(runtime, state, event)
        return out
    # Approving it did not make it happen: the request says so, with the tool's error,
    # in the transaction that records the call.
    error = svc.guard.redact(execution.error or "the tool failed")
    closed = {
        **event,
        "kind": "approval.failed",
        "actor": SYSTEM.name,
        "data": {
            "approval_id": approval_id,
            "tool": execution.tool,
            "status": execution.status,
            "error": error,
            "idempotency_key": execution.key,
        },
    }
    _flush(
        runtime,
        state,
        event,
        more=(closed,),
        also=lambda conn: svc.approvals.fail(
            str(approval_id), error=error, now=svc.clock(), conn=conn
        ),
    )
    return out


def _recorded_failure(svc: Services, approval_id: str | None) -> str | None:
    """The failure already recorded for ``approval_id`` (a crash after the recording
    replays this step: the approval is no longer ``approved``, so the executor would
    refuse it, and the events are written)."""
    if approval_id is None:
        return None
    request = svc.approvals.get(approval_id)
    return (request.failure or "the tool failed") if request.status == "failed" else None


# -- escalate -----------------------------------------------------------------------------
def escalate(state: TurnState, runtime: Runtime[Services]) -> dict[str, Any]:
    svc = runtime.context
    decision = state.decision
    approval_status = state.approval.status if state.approval else None
    if approval_status == "expired":
        reason, rules = "approval expired", ["approvals.on_expiry=escalate"]
    elif approval_status == "superseded":
        reason = "the policy changed while the request waited for approval"
        rules = ["approval.superseded"]
    elif decision is not None:
        reason, rules = decision.reason, list(decision.rules)
    else:
        reason, rules = "escalated", []
    proposal = state.plan.proposal if state.plan else None
    summary = _summary(state, reason)
    body = {
        "summary": summary,
        "rules": rules,
        "intent": state.intent,
        "confidence": state.confidence,
        "recommended_action": dump(proposal) if proposal else None,
        "customer_message": state.redacted,
    }
    escalation_id, case = _open_case(svc, state, reason=reason, rules=rules, body=body)
    self_harm = any(f.type == "SELF_HARM" for f in state.findings)
    text = replies.SELF_HARM if self_harm else replies.ESCALATED
    if (
        "confidence.below_minimum" in rules
        and state.intent in svc.policy.workflows
        and not svc.policy.workflows[str(state.intent)].tools
    ):
        text = replies.NO_KNOWLEDGE
    event = _escalation_event(
        runtime, state, escalation_id, case, reason=reason, rules=rules, summary=summary
    )
    return {
        "audit_buffer": [event],
        "escalation": {"reason": reason, "summary": summary, "rules": rules, **_case_fields(case)},
        "case_id": case.case_id,
        "reply": {"text": text, "citations": []},
        "status": "escalated",
    }


def _escalation_event(
    runtime: Runtime[Services],
    state: TurnState,
    escalation_id: str,
    case: Case,
    *,
    reason: str,
    rules: list[str],
    summary: str,
    **more: Any,
) -> dict[str, Any]:
    return _event(
        runtime,
        state,
        "escalate",
        {
            "escalation_id": escalation_id,
            "reason": reason,
            "rules": rules,
            "summary": summary,
            "case_id": case.case_id,
            "team": case.team,
            "priority": case.priority,
            **more,
        },
    )


def _case_fields(case: Case) -> dict[str, Any]:
    return {"case_id": case.case_id, "team": case.team, "priority": case.priority}


def _open_case(
    svc: Services,
    state: TurnState,
    *,
    reason: str,
    rules: list[str],
    body: dict[str, Any],
    also: Callable[[Connection, str, Case], object] | None = None,
) -> tuple[str, Case]:
    """Record the escalation and open its case (routed by the policy, with the hand-off
    summary) in one transaction, with the write ``also`` does (given the escalation id and
    the case); the conversation goes to the team's queue."""
    policy = svc.policy
    proposal = state.plan.proposal if state.plan else None
    facts = routing.facts(
        intent=state.intent,
        confidence=float(state.confidence or 0.0),
        rules=rules,
        findings=[f.type for f in state.findings],
        customer_id=state.customer_id,
        tool=proposal.tool if proposal else None,
        args=proposal.args if proposal else None,
        reason=reason,
    )
    route = routing.route(policy, facts)
    handoff = _handoff(svc, state, reason=reason, rules=rules, route=route)
    with svc.audit.db.begin() as conn:
        escalation_id = svc.conversations.add_escalation(
            conversation_id=state.conversation_id,
            turn_id=state.turn_id,
            reason=reason,
            body=body,
            conn=conn,
        )
        case, _ = svc.cases.open(
            conn,
            conversation_id=state.conversation_id,
            turn_id=state.turn_id,
            customer_id=state.customer_id,
            reason=reason,
            route=route,
            summary=handoff,
            policy=policy,
        )
        if also is not None:
            also(conn, escalation_id, case)
    return escalation_id, case


def _handoff(
    svc: Services, state: TurnState, *, reason: str, rules: list[str], route: routing.Route
) -> dict[str, Any]:
    """What the person who takes the case needs first: what the customer wants, what the
    AI did and why it stopped, what it found and would do, what waits for approval."""
    proposal = state.plan.proposal if state.plan else None
    pending = svc.approvals.list(status="pending", conversation_id=state.conversation_id)
    seen: set[str] = set()
    knowledge = []
    cited = {c.get("doc_id") for c in state.draft.citations} if state.draft else set()
    for chunk in state.chunks:
        relevant = chunk.doc_id in cited or chunk.score >= MIN_KNOWLEDGE_SUPPORT
        if relevant and chunk.doc_id not in seen:
            seen.add(chunk.doc_id)
            knowledge.append({"doc_id": chunk.doc_id, "title": chunk.title, "score": chunk.score})
    return {
        "customer_wants": state.redacted,
        "intent": state.intent,
        "confidence": round(float(state.confidence or 0.0), 4),
        "why": reason,
        "rules": rules,
        "findings": sorted({f.type for f in state.findings}),
        "ai_did": [{"tool": a.tool, "status": a.status, "error": a.error} for a in state.actions],
        "knowledge": knowledge[:5],
        "recommended_action": (
            {"tool": proposal.tool, "args": dict(proposal.args)} if proposal else None
        ),
        "pending_approvals": [
            {"approval_id": a.approval_id, "tool": a.tool, "args": a.args} for a in pending
        ],
        "routed_by": route.rule,
        "routing_errors": list(route.errors),
        "tags": list(route.tags),
    }


def _summary(state: TurnState, reason: str) -> str:
    intent = state.intent or "unclassified"
    proposal = state.plan.proposal if state.plan else None
    parts = [
        f'Customer {state.customer_id or "(unknown)"} wrote: "{(state.redacted or "")[:300]}"',
        f"Intent: {intent} (confidence {float(state.confidence or 0):.2f}).",
        f"Escalated because: {reason}.",
    ]
    if proposal:
        parts.append(f"Recommended action: {proposal.tool}({json.dumps(proposal.args)}).")
    return " ".join(parts)


# -- check_reply (the output guard) -------------------------------------------------------
def check_reply(state: TurnState, runtime: Runtime[Services]) -> dict[str, Any]:
    """Settle the reply the turn ends with, and check a drafted one: citations only of
    passages retrieved this turn, the output guard over what the engine wrote (escalating
    when it fails)."""
    svc = runtime.context
    policy = svc.policy
    decision, approval, plan = state.decision, state.approval, state.plan
    draft_part = state.draft
    draft_text = draft_part.text if draft_part else ""
    draft_citations = list(draft_part.citations) if draft_part else []
    status = state.status
    text = state.reply.text if state.reply else replies.FALLBACK
    proposed: list[dict[str, Any]] = []
    drafted = False
    approval_status = approval.status if approval else None
    if state.waiting_for_approval and (decision is None or decision.route != "respond"):
        route = decision.route if decision else "none"
        return _hold(runtime, state, f"the gate's route was {route}, not respond")
    if status == "escalated":
        proposed = [c.model_dump() for c in state.reply.citations] if state.reply else []
    elif decision is not None and decision.route == "block":
        status, text = "blocked", replies.BLOCKED
    elif approval_status in ("rejected", "expired", "invalid"):
        status = "answered"
        text = replies.not_approved(approval_status, approval.kind if approval else None)
    elif approval is not None and approval.kind == "reply" and approval_status == "approved":
        # A human wrote or approved this text; it still must not leak PII or break policy.
        status, text = "answered", approval.reply or draft_text or replies.FALLBACK
        proposed, drafted = draft_citations, True
    elif (
        decision is not None and decision.route == "respond" and plan is not None and plan.question
    ):
        status, text = "answered", plan.question
    else:
        # No usable output (a model that failed after retries, a plan with nothing in
        # it) leaves nothing to say: that escalates below, never a promise nobody keeps.
        status, text = "answered", draft_text
        proposed, drafted = draft_citations, bool(draft_text)
    # A citation must name a (doc_id, version) retrieved for this very turn.
    retrieved = {(c.doc_id, c.version) for c in state.chunks}
    citations = [c for c in proposed if (c["doc_id"], c["version"]) in retrieved]
    executed_actions = [a for a in state.actions if a.status == "executed"]
    results: list[Any] = [a.result or {} for a in executed_actions]
    results += [e["result"] for e in (plan.evidence if plan else []) if e.get("result")]
    # The customer's own details, as the business system returned them for this customer.
    own = [v for r in results for v in _strings(r)]
    # What a tool refused with is a fact the reply may state ("already fully refunded").
    results += [a.error for a in state.actions if a.error]
    context = OutputContext(
        customer_values=[v for v in [state.customer_id, *own] if v],
        chunks_text=[c.text for c in state.chunks],
        executed_amounts=_amounts(
            [*(a.args for a in executed_actions), *(a.result or {} for a in executed_actions)]
        ),
        banned_phrases=policy.guards.banned_phrases,
        facts=[json.dumps(r, ensure_ascii=False) for r in results],
    )
    backing = promises.Backing(
        case_id=state.case_id,
        approval_id=state.approval_id or (approval.approval_id if approval else None),
        executed=len(executed_actions),
    )
    if not drafted:
        # Fixed texts of the runtime (escalation, refusal, rejection) are not model output,
        # but they too may promise nothing that this turn does not back.
        if not text.strip():
            problem: str | None = "there was nothing to reply (no usable engine output)"
            rule = REPLY_EMPTY
        else:
            problem, rule = _unbacked(text, backing), REPLY_UNBACKED
        if problem is not None and status != "escalated":
            return _escalate_reply(runtime, state, rule, problem, findings=list(state.findings))
        event = _event(
            runtime, state, "guard_output", {"action": "skipped", "reason": "runtime text"}
        )
        return {"status": status, "reply": {"text": text, "citations": []}, "audit_buffer": [event]}
    # What tools reported, in the pack's own words, is not checked as drafted text.
    trusted = (
        (draft_part.trusted if draft_part else "")
        if not (approval is not None and approval.kind == "reply")
        else ""
    )
    if not text.startswith(trusted):
        trusted = ""
    rest = text[len(trusted) :].strip()
    checked = svc.guard.check_output(rest, context) if rest else None
    if checked is None or trusted:
        base = checked or OutputResult(findings=[], text="")
        checked = replace(base, text=f"{trusted} {base.text}".strip())
    findings = list(state.findings) + list(checked.findings)
    if not checked.text.strip() and checked.action != "escalate":
        checked = replace(
            checked,
            action="escalate",
            problems=[*checked.problems, "nothing left after the output checks"],
        )
    if checked.action != "escalate" and status != "escalated":
        promise = _unbacked(checked.text, backing)
        if promise is not None:
            return _escalate_reply(runtime, state, REPLY_UNBACKED, promise, findings=findings)
    escalation = dump(state.escalation) if state.escalation else None
    reply: dict[str, Any]
    case_id = state.case_id
    if checked.action == "escalate" and state.waiting_for_approval:
        return _hold(runtime, state, "; ".join(checked.problems) or "output checks")
    if checked.action == "escalate" and status != "escalated":
        summary = _summary(state, "the drafted reply failed the output checks")
        _, case = _open_case(
            svc,
            state,
            reason="output guard",
            rules=["guard.output"],
            body={"problems": checked.problems, "summary": summary},
        )
        case_id = case.case_id
        status, reply = "escalated", {"text": replies.ESCALATED, "citations": []}
        escalation = {
            "reason": "output guard",
            "summary": summary,
            "rules": ["guard.output"],
            "problems": checked.problems,
            **_case_fields(case),
        }
    else:
        reply = {"text": checked.text, "citations": citations}
        if state.waiting_for_approval:
            reply["text"] = f"{checked.text} {replies.STILL_WAITING}"
    event = _event(
        runtime,
        state,
        "guard_output",
        {
            "action": checked.action,
            "problems": checked.problems,
            "findings": [_public(f) for f in checked.findings],
            "citations": citations,
            "dropped_citations": len(proposed) - len(citations),
        },
    )
    return {
        "status": status,
        "reply": reply,
        "findings": dump(findings),
        "escalation": escalation,
        "case_id": case_id,
        "audit_buffer": [event],
    }


def _unbacked(text: str, backing: promises.Backing) -> str | None:
    """The problem with a reply that promises follow-up nothing in this turn backs."""
    promise = promises.unbacked_promise(text, backing)
    if promise is None:
        return None
    return (
        f"the reply promises follow-up that nothing backs ({promise!r}; "
        "no case, approval or executed action)"
    )


def _escalate_reply(
    runtime: Runtime[Services],
    state: TurnState,
    rule: str,
    problem: str,
    *,
    findings: list[Finding],
) -> dict[str, Any]:
    """The turn had no reply it could truthfully send (nothing usable, or a promise of
    follow-up that nothing backs): open a case, so a person does follow up, and say so
    (:data:`~govcx.graphs.replies.ESCALATED`, which the case now backs). While an
    approval waits: "still waiting" instead, and no case (:func:`_hold`)."""
    if state.waiting_for_approval:
        return _hold(runtime, state, problem)
    summary = _summary(state, problem)
    _, case = _open_case(
        runtime.context,
        state,
        reason=problem,
        rules=[rule],
        body={"problems": [problem], "summary": summary},
    )
    event = _not_sent(runtime, state, "escalate", problem)
    return {
        "status": "escalated",
        "reply": {"text": replies.ESCALATED, "citations": []},
        "findings": dump(findings),
        "escalation": {
            "reason": problem,
            "summary": summary,
            "rules": [rule],
            "problems": [problem],
            **_case_fields(case),
        },
        "case_id": case.case_id,
        "audit_buffer": [event],
    }


def _hold(runtime: Runtime[Services], state: TurnState, problem: str) -> dict[str, Any]:
    """A message while an approval waits that is not answered after all: the customer
    hears "still waiting", as for any other message then, and no case opens (the approver
    sees the message with the conversation)."""
    return {
        "status": "pending_approval",
        "reply": {"text": replies.BUSY_WITH_APPROVAL, "citations": []},
        "audit_buffer": [_not_sent(runtime, state, "hold", problem)],
    }


def _not_sent(
    runtime: Runtime[Services], state: TurnState, action: str, problem: str
) -> dict[str, Any]:
    """The ``guard_output`` event of a drafted reply that was not sent (``escalate`` or,
    while an approval waits, ``hold``), and why."""
    return _event(
        runtime,
        state,
        "guard_output",
        {"action": action, "problems": [problem], "findings": [], "citations": []},
    )


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if len(value) >= 3 else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _amounts(values: list[dict[str, Any]]) -> list[float]:
    """Money amounts that executed actions carried or returned (a reply may state them)."""
    found: list[float] = []
    for data in values:
        for key, value in data.items():
            if "amount" in key and isinstance(value, int | float) and not isinstance(value, bool):
                found.append(float(value))
    return found


# -- finish_turn --------------------------------------------------------------------------
def finish_turn(state: TurnState, runtime: Runtime[Services]) -> dict[str, Any]:
    """Record the reply (redacted) with the turn's buffered audit events and transcript
    lines, carry a clarifying question's slots to the next turn, and drop what no later
    step reads."""
    svc = runtime.context
    reply = state.reply or Reply(text=replies.FALLBACK)
    redacted = svc.guard.redact(reply.text)
    plan, decision = state.plan, state.decision
    carry = (
        plan.pending
        if plan is not None
        and decision is not None
        and decision.route == "respond"
        and plan.question
        else None
    )
    if carry is not None:
        carry = {
            **carry,
            "confidence": float(state.confidence or 0.0),
            "corroborated": state.classification.corroborated if state.classification else True,
        }
    out: dict[str, Any] = {"pending": carry, "audit_buffer": None, **_USED_UP}
    save: Callable[[Connection], object] | None = None
    if state.waiting_for_approval:
        # A question answered while an approval waits runs without a checkpoint (the
        # conversation's holds the waiting run): its Turn is saved here, with the rest.
        waiting = svc.approvals.list(status="pending", conversation_id=state.conversation_id)
        out["approval_id"] = waiting[0].approval_id if waiting else None
        turn = turn_of(
            state.model_copy(update={"approval_id": out["approval_id"]}),
            interrupted=False,
            approvals=svc.approvals,
        )

        def save(conn: Connection) -> None:
            svc.conversations.save_turn(at_rest(turn, svc.guard.redact), conn=conn)

    _flush(
        runtime,
        state,
        _event(
            runtime,
            state,
            "respond",
            {
                "status": state.status,
                "reply": redacted,
                "citations": [c.model_dump() for c in reply.citations],
            },
        ),
        messages=(_customer_message(state), ("assistant", redacted)),
        also=save,
    )
    return out
