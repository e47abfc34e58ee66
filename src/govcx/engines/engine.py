"""The engine protocol: what an engine proposes. The policy gate decides what happens.

Two engines implement it: the embedded one (offline, no keys) and the LLM one. Every
value an engine returns is treated as untrusted input by the gate and the executor.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from govcx.governance.gate import Proposal
from govcx.governance.policy import Policy
from govcx.knowledge.retriever import Chunk
from govcx.tools.executor import Execution
from govcx.tools.registry import ToolRegistry

SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
"""Where one sentence ends and the next begins: after ``.``, ``!`` or ``?`` and before
a capital, digit, quote or parenthesis (so "e.g. a card" stays one sentence)."""
TOOL_FAILED = "I couldn't complete that request."
"""The reply for a failed tool call that reported no message of its own."""
NOT_AUTOMATIC = "I couldn't do that automatically, so I've asked a colleague to look at it."
"""The reply for a tool call the runtime refused (the policy, a guard, a limit)."""

ReadFn = Callable[[str, dict[str, Any]], Execution]
"""Runs a read-only tool (through the executor and the policy) while planning."""


@dataclass(frozen=True, kw_only=True)
class TurnContext:
    conversation_id: str
    customer_id: str | None
    turn_id: str
    pending: dict[str, Any] | None = None
    """Slots carried over from a clarifying question on the previous turn."""


@dataclass(frozen=True, kw_only=True)
class Classification:
    intent: str | None
    """A workflow name, or None when the request is out of scope."""
    confidence: float
    alternatives: dict[str, float] = field(default_factory=dict)
    entities: dict[str, list[Any]] = field(default_factory=dict)
    error: str | None = None
    """Set when the engine could not classify (e.g. the model was unreachable)."""
    model_confidence: float | None = None
    """What a chat model said its confidence was, before the runtime combined it with
    the embedded classifier's agreement (:mod:`govcx.engines.agreement`); None for the
    embedded engine, whose ``confidence`` is its own."""


@dataclass(frozen=True, kw_only=True)
class Plan:
    proposal: Proposal | None = None
    question: str | None = None
    """A clarifying question when a required argument is missing."""
    pending: dict[str, Any] | None = None
    """What to carry to the next turn if the question is asked."""
    evidence: list[dict[str, Any]] = field(default_factory=list)
    """Read-tool results used to fill arguments, shown to approvers."""
    error: str | None = None
    """The engine produced something malformed (never executed)."""


@dataclass(frozen=True, kw_only=True)
class Draft:
    text: str
    citations: list[dict[str, str]] = field(default_factory=list)
    support: float = 0.0
    """How well approved knowledge supports the text, 0..1."""
    trusted: str = ""
    """A prefix of ``text`` the runtime vouches for: what tools reported, rendered by the
    pack's reply templates. The output guard checks only the rest."""


class Engine(Protocol):
    name: str

    def classify(self, text: str, ctx: TurnContext) -> Classification: ...

    def plan(
        self,
        text: str,
        ctx: TurnContext,
        *,
        intent: str,
        classification: Classification,
        policy: Policy,
        registry: ToolRegistry,
        read: ReadFn,
    ) -> Plan: ...

    def draft(
        self, text: str, ctx: TurnContext, *, intent: str | None, chunks: Sequence[Chunk]
    ) -> Draft: ...

    def compose(
        self,
        ctx: TurnContext,
        *,
        intent: str | None,
        executions: Sequence[Execution],
        draft: Draft,
        registry: ToolRegistry,
    ) -> Draft: ...


def compose_reply(executions: Sequence[Execution], draft: Draft, registry: ToolRegistry) -> Draft:
    """The reply after tools ran: what every engine's ``compose`` returns.

    Each call gives one line: an executed call its tool's reply template (``Done: tool.``
    for a tool the registry lacks), a failed one the tool's own message (a ToolError is
    written for the customer) or :data:`TOOL_FAILED`, a refused one :data:`NOT_AUTOMATIC`.
    These lines are ``trusted`` (the runtime vouches for what its tools reported). When a
    call succeeded and ``draft`` is supported by knowledge (support at least 0.5), its
    first sentence and first citation follow, unless that sentence only says how to ask
    for what ran (:func:`_adds_to`): the only part the output guard checks.
    No model is called.
    """
    parts: list[str] = []
    for execution in executions:
        if execution.status == "executed":
            spec = registry.get(execution.tool) if execution.tool in registry else None
            parts.append(
                spec.render_reply(execution.args, execution.result)
                if spec is not None
                else f"Done: {execution.tool}."
            )
        elif execution.status == "failed":
            parts.append(execution.error or TOOL_FAILED)
        else:
            parts.append(NOT_AUTOMATIC)
    text = trusted = " ".join(p for p in parts if p)
    citations: list[dict[str, str]] = []
    executed = [e for e in executions if e.status == "executed"]
    if executed and draft.text and draft.support >= 0.5:
        sentences = [s for s in SENTENCE_BREAK.split(draft.text.strip()) if s.strip()]
        if sentences and _adds_to(sentences[0], executed):
            text = f"{text} {sentences[0].strip()}".strip()
            citations = list(draft.citations[:1])
    return Draft(text=text, citations=citations, support=draft.support, trusted=trusted)


_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")


def _shape(token: str) -> str:
    """``A-1002`` -> ``A-9999``: what an identifier looks like, not which one it is."""
    return re.sub(r"[0-9]", "9", re.sub(r"[A-Za-z]", "A", token))


def _adds_to(sentence: str, executed: Sequence[Execution]) -> bool:
    """Whether a knowledge sentence is worth saying after the calls. The draft answered
    the customer's words, so its first sentence is often about how to ask for what just
    ran; the confirmation already said it ran. Left out: a sentence with an example of an
    identifier the call took ("order numbers look like A-1002"), or one naming the call's
    own action, its tool's first word ("Ask our assistant to cancel the order" after
    ``cancel_order``)."""
    tokens = [t.lower() for t in _TOKEN.findall(sentence)]
    shapes = {
        _shape(str(v))
        for e in executed
        for v in (e.args or {}).values()
        if isinstance(v, str) and any(ch.isdigit() for ch in v)
    }
    if any(_shape(t) in shapes for t in tokens if any(ch.isdigit() for ch in t)):
        return False
    verbs = {e.tool.split("_")[0].lower() for e in executed}
    if any(t.startswith(v) for v in verbs if len(v) >= 4 for t in tokens):
        return False
    return not _other_value(tokens, executed)


_LINKING = frozenset({"is", "was", "are", "were", "be", "shows", "says", "reads", "of"})


def _other_value(tokens: Sequence[str], executed: Sequence[Execution]) -> bool:
    """Whether the sentence gives a field of a call's result a value other than the one
    the call returned: "An order can be cancelled while its status is processing" after
    a lookup whose ``status`` is ``returned`` is about some other order, not this one.
    Only one-word text values are compared (``in_transit`` reads "in transit")."""
    for e in executed:
        for key, value in (e.result or {}).items():
            if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_]{2,40}", value):
                continue
            said = value.lower().split("_")
            for i, token in enumerate(tokens):
                if token != key.lower():
                    continue
                j = i + 1
                while j < len(tokens) and tokens[j] in _LINKING:
                    j += 1
                if j > i + 1 and j < len(tokens) and tokens[j : j + len(said)] != said:
                    return True
    return False
