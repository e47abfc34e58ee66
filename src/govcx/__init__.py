"""govcx: a governed agent runtime for customer-experience operations.

A LangGraph state graph takes each customer request through guard, classify, retrieve,
draft, confidence check and a deterministic policy gate, then answers, executes bounded
tool calls, pauses for human approval, or escalates.

``from govcx import tool, ToolError`` (what a pack's tools module needs) stays light:
``Agent``, ``Settings`` and ``Turn`` load the runtime only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from govcx.errors import (
    ApprovalError,
    ApprovalStale,
    AuditBroken,
    AuditError,
    CassetteMiss,
    CheckpointUnreadable,
    ConfigError,
    Conflict,
    ConversationBusy,
    CustomerMismatch,
    DocumentError,
    DuplicateApprover,
    EmbeddingMismatch,
    GateViolation,
    GovcxError,
    GuardInputError,
    ImpactNotReady,
    InvalidAnchor,
    InvalidInput,
    KnowledgeStoreError,
    NotAuthorized,
    NotFound,
    PolicyError,
    PolicyGoverned,
    PolicyVersionConflict,
    ProposalTampered,
    RemoteToolError,
    ReportError,
    SchemaBehind,
    SuiteError,
    ToolArgumentError,
    ToolError,
    Unauthenticated,
)
from govcx.tools.tool import ToolSpec, tool

if TYPE_CHECKING:
    from govcx.agent.agent import Agent
    from govcx.settings import Settings
    from govcx.turn import Turn

_LAZY = {"Agent": "govcx.agent.agent", "Settings": "govcx.settings", "Turn": "govcx.turn"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'govcx' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Agent",
    "ApprovalError",
    "ApprovalStale",
    "AuditBroken",
    "AuditError",
    "CassetteMiss",
    "CheckpointUnreadable",
    "ConfigError",
    "Conflict",
    "ConversationBusy",
    "CustomerMismatch",
    "DocumentError",
    "DuplicateApprover",
    "EmbeddingMismatch",
    "GateViolation",
    "GovcxError",
    "GuardInputError",
    "ImpactNotReady",
    "InvalidAnchor",
    "InvalidInput",
    "KnowledgeStoreError",
    "NotAuthorized",
    "NotFound",
    "PolicyError",
    "PolicyGoverned",
    "PolicyVersionConflict",
    "ProposalTampered",
    "RemoteToolError",
    "ReportError",
    "SchemaBehind",
    "Settings",
    "SuiteError",
    "ToolArgumentError",
    "ToolError",
    "ToolSpec",
    "Turn",
    "Unauthenticated",
    "tool",
]
