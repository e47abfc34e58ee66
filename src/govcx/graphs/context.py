"""Services the graph's nodes use, passed as LangGraph runtime context (not state)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from govcx.engines.engine import Engine
from govcx.governance.approval import ApprovalStore
from govcx.governance.audit import AuditLog
from govcx.governance.cases import CaseStore
from govcx.governance.gate import GateDecision
from govcx.governance.policy import Policy
from govcx.guardrails.guard import Guard
from govcx.knowledge.retriever import Retriever
from govcx.store.conversation import ConversationStore
from govcx.store.sealed import Sealer
from govcx.tools.executor import Executor
from govcx.tools.registry import ToolRegistry


@dataclass(frozen=True, kw_only=True)
class ShadowGate:
    """A candidate policy that decides each turn beside the active one, without effect
    (shadow mode of a policy proposal); ``record`` gets (conversation_id, turn_id,
    workflow, active decision, candidate decision)."""

    policy: Policy
    record: Callable[[str, str, str | None, GateDecision, GateDecision], None]


@dataclass(kw_only=True)
class Services:
    policy_source: Callable[[], Policy]
    """The active policy; read at each node so a policy change applies from the next step."""
    engine: Engine
    retriever: Retriever
    guard: Guard
    executor: Executor
    approvals: ApprovalStore
    audit: AuditLog
    registry: ToolRegistry
    conversations: ConversationStore
    cases: CaseStore
    clock: Callable[[], float]
    observer: Callable[[str, dict[str, Any]], None] | None = None
    """Called after each node with its name and a small summary that carries
    conversation_id and turn_id (metrics, streaming)."""
    shadow: Callable[[], ShadowGate | None] | None = None
    """The candidate in shadow mode, if one runs (see :mod:`govcx.governance.proposals`)."""
    sealer: Sealer | None = None
    """Seals what an approval request must keep but not in clear (the context facts
    before redaction); without one only the redacted facts are stored."""

    @property
    def policy(self) -> Policy:
        return self.policy_source()
