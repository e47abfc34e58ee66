"""What running a case produced: per step and per case, as plain, picklable values.

These are what the runner returns from worker processes, what the metrics read and what
the JSON report stores (``as_dict`` / ``from_dict`` round-trip).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True, kw_only=True)
class StepResult:
    """One step of a case: its input, what happened and what was wrong with it."""

    index: int
    kind: str
    """user | decide | advance"""
    input: str
    expected_status: str | None = None
    status: str | None = None
    """The Turn's status; ``error`` when the step raised; None when nothing happened."""
    intent: str | None = None
    confidence: float = 0.0
    route: str | None = None
    rules: list[str] = field(default_factory=list)
    tier: str | None = None
    approvals_needed: int | None = None
    actions: list[dict[str, Any]] = field(default_factory=list)
    reply: str | None = None
    citations: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    error: str | None = None
    """``code: message`` of an error the step raised."""
    latency_ms: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass(frozen=True, kw_only=True)
class CaseResult:
    """One case: its steps, expectation failures, governance violations and timing."""

    suite: str
    case_id: str
    file: str = ""
    description: str = ""
    tags: list[str] = field(default_factory=list)
    customer: str | None = None
    policy_version: str = ""
    steps: list[StepResult] = field(default_factory=list)
    violations: list[dict[str, str]] = field(default_factory=list)
    """Governance violations (kind, message); any of them fails the case."""
    unauthenticated_decisions: list[dict[str, Any]] = field(default_factory=list)
    """Decisions made without a key (dev mode ``--as``): flagged, not violations."""
    error: str | None = None
    """An unexpected internal error that stopped the case."""
    duration_ms: float = 0.0

    @property
    def failures(self) -> list[str]:
        out = [f"step {s.index + 1}: {f}" for s in self.steps for f in s.failures]
        out += [f"governance: {v['message']}" for v in self.violations]
        if self.error:
            out.append(f"error: {self.error}")
        return out

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def compliant(self) -> bool:
        return not self.violations

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        data["failures"] = self.failures
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseResult:
        names = {f.name for f in fields(cls)}
        step_names = {f.name for f in fields(StepResult)}
        values = {k: v for k, v in data.items() if k in names}
        values["steps"] = [
            StepResult(**{k: v for k, v in s.items() if k in step_names})
            for s in data.get("steps") or []
        ]
        return cls(**values)
