"""A reply the AI suggests to the person who has a conversation; never sent by itself.

While a person has a conversation the graph does not answer the customer
(``nodes.with_human``). The person may ask for a suggestion: the engine classifies the
customer's latest message, retrieval finds approved knowledge (passages a guard flags are
dropped, as in a turn), the engine drafts, and the output guard checks the draft against
those passages. No tool runs and the gate is not consulted: nothing here acts, and the
text reaches the customer only if the person sends it as their own reply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from govcx.engines.engine import TurnContext
from govcx.graphs.context import Services
from govcx.guardrails.guard import OutputContext, apply_policy
from govcx.knowledge.retriever import ground


@dataclass(frozen=True, kw_only=True)
class Suggestion:
    text: str
    intent: str | None
    confidence: float
    citations: list[dict[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """What the output guard found in the draft (the text is already fixed where it could)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "intent": self.intent,
            "confidence": self.confidence,
            "citations": self.citations,
            "problems": self.problems,
        }


def suggest(
    svc: Services, *, conversation_id: str, customer_id: str | None, case_id: str, text: str
) -> Suggestion:
    policy = svc.policy
    ctx = TurnContext(
        conversation_id=conversation_id,
        customer_id=customer_id,
        turn_id=f"suggest:{case_id}",
        pending=None,
    )
    classified = svc.engine.classify(text, ctx)
    workflow = policy.workflows.get(classified.intent) if classified.intent else None
    grounding = ground(
        svc.retriever,
        text,
        pinned=workflow.knowledge if workflow else (),
        tags=workflow.knowledge_tags if workflow and workflow.knowledge_tags else None,
    )
    chunks = [
        c
        for c in grounding.passages()
        if not any(
            f.action in ("strip", "block", "escalate")
            for f in apply_policy(svc.guard.scan_indirect(c.text, "knowledge"), policy.guards)
        )
    ]
    draft = svc.engine.draft(text, ctx, intent=classified.intent, chunks=chunks)
    checked = svc.guard.check_output(
        draft.text,
        OutputContext(
            customer_values=[v for v in [customer_id] if v],
            chunks_text=[c.text for c in chunks],
            executed_amounts=[],
            banned_phrases=policy.guards.banned_phrases,
            facts=[],
        ),
    )
    retrieved = {(c.doc_id, c.version) for c in chunks}
    citations = [
        dict(c) for c in draft.citations if (c.get("doc_id"), c.get("version")) in retrieved
    ]
    return Suggestion(
        text=checked.text,
        intent=classified.intent,
        confidence=round(float(classified.confidence), 4),
        citations=citations,
        problems=list(checked.problems),
    )
