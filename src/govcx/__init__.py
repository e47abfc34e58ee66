"""govcx: a governed agent runtime for customer-experience operations.

A LangGraph state graph takes each customer request through guard, classify, retrieve,
draft, confidence check and a deterministic policy gate, then answers, executes bounded
tool calls, pauses for human approval, or escalates.
"""

from govcx.errors import (
    ApprovalError,
    ApprovalStale,
    ConfigError,
    GovcxError,
    NotAuthorized,
    NotFound,
    PolicyError,
    ToolArgumentError,
    ToolError,
)
from govcx.tools.tool import ToolSpec, tool

__all__ = [
    "ApprovalError",
    "ApprovalStale",
    "ConfigError",
    "GovcxError",
    "NotAuthorized",
    "NotFound",
    "PolicyError",
    "ToolArgumentError",
    "ToolError",
    "ToolSpec",
    "tool",
]
