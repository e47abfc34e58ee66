"""The engine protocol: what an engine proposes. The policy gate decides what happens.

Two engines implement it: the embedded one (offline, no keys) and the LLM one. Every
value an engine returns is treated as untrusted input by the gate and the executor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from govcx.governance.gate import Proposal
from govcx.governance.policy import Policy
from govcx.knowledge.retriever import Chunk
from govcx.tools.executor import Execution
from govcx.tools.registry import ToolRegistry

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

    def plan(self, text: str, ctx: TurnContext, *, intent: str, classification: Classification,
             policy: Policy, registry: ToolRegistry, read: ReadFn) -> Plan: ...

    def draft(self, text: str, ctx: TurnContext, *, intent: str | None,
              chunks: Sequence[Chunk]) -> Draft: ...

    def compose(self, ctx: TurnContext, *, intent: str | None, executions: Sequence[Execution],
                draft: Draft, registry: ToolRegistry) -> Draft: ...
