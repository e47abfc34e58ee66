"""The guard protocol: every check on text that enters or leaves the graph.

Guards report findings; what a finding does (block, escalate, strip, log) comes from the
policy's ``guards`` section, applied by :func:`apply_policy`, never from the guard itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from govcx.governance.finding import INJECTION, OUTPUT_TYPES, Finding, Source
from govcx.governance.policy import GuardPolicy


@dataclass(frozen=True, kw_only=True)
class ScanResult:
    findings: list[Finding]
    redacted: str
    """The text with PII replaced by ``<ENTITY_TYPE>`` placeholders."""


@dataclass(frozen=True, kw_only=True)
class OutputContext:
    """What the output guard may check a reply against."""

    customer_values: Sequence[str] = ()
    """The customer's own details (may appear in the reply)."""
    chunks_text: Sequence[str] = ()
    """Text of the approved chunks retrieved for this turn."""
    executed_amounts: Sequence[float] = ()
    """Amounts of actions that actually executed this turn."""
    banned_phrases: Sequence[str] = ()
    facts: Sequence[str] = ()
    """Other text a sentence may rest on, such as the results of tools run this turn."""


@dataclass(frozen=True, kw_only=True)
class OutputResult:
    findings: list[Finding]
    text: str
    """The reply after fixes (redaction, removed unsupported commitments)."""
    action: str = "pass"
    """pass | fixed | escalate"""
    problems: list[str] = field(default_factory=list)


class Guard(Protocol):
    def scan_input(self, text: str) -> ScanResult: ...

    def scan_indirect(self, text: str, source: Source) -> list[Finding]: ...

    def check_output(self, reply: str, context: OutputContext) -> OutputResult: ...

    def redact(self, text: str) -> str: ...


_ACTION_FIELD = {
    "SELF_HARM": "self_harm",
    "LEGAL_THREAT": "legal_threat",
    "ABUSE": "abuse",
    "HUMAN_REQUEST": "human_request",
}


def apply_policy(findings: Sequence[Finding], policy: GuardPolicy) -> list[Finding]:
    """Set each finding's action from the policy. PII in customer input is only redacted."""
    out: list[Finding] = []
    for f in findings:
        action: str
        if f.type == INJECTION:
            action = policy.injection if f.source == "input" else policy.indirect_injection
        elif f.type in _ACTION_FIELD:
            action = getattr(policy, _ACTION_FIELD[f.type])
        elif f.type in OUTPUT_TYPES:
            action = f.action  # set by the output guard from its on_fail configuration
        else:
            action = "redact"
        out.append(replace(f, action=action))
    return out
