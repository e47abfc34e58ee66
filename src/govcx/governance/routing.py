"""Triage of an escalation into a case: team, priority, tags and SLA deadlines.

Pure code over the policy's ``routing`` and ``sla`` sections and the escalation's facts,
like the gate: the first routing rule whose CEL condition is true wins, else the default.
A condition that fails at run time (a type error, a missing argument) is skipped and
named in ``Route.errors``, so a bad rule never drops a case; it lands with the default.

Example:
    >>> route(policy, {"intent": "legal_threat", ...}).team
    'trust'
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from govcx.governance.expr import Expression, ExpressionError
from govcx.governance.policy import Policy


@dataclass(frozen=True, kw_only=True)
class Route:
    team: str | None
    priority: str
    tags: tuple[str, ...] = ()
    rule: str
    """``routing.rules[I]``, ``routing.default`` or ``routing.none``."""
    errors: tuple[str, ...] = field(default=())


@dataclass(frozen=True, kw_only=True)
class Deadlines:
    first_response: float | None
    resolution: float | None


@functools.lru_cache(maxsize=256)
def _compiled(source: str) -> Expression:
    return Expression.compile(source)


def facts(
    *,
    intent: str | None,
    confidence: float,
    rules: list[str],
    findings: list[str],
    customer_id: str | None,
    tool: str | None,
    args: Mapping[str, Any] | None,
    reason: str,
) -> dict[str, Any]:
    """The variables a routing condition sees (every name always present)."""
    out = {
        "intent": intent or "",
        "confidence": float(confidence or 0.0),
        "rules": list(rules),
        "findings": sorted({f.lower() for f in findings}),
        "customer_id": customer_id or "",
        "tool": tool or "",
        "args": dict(args or {}),
        "reason": reason,
    }
    return out


def route(policy: Policy, variables: Mapping[str, Any]) -> Route:
    """The team, priority and tags of a case with these facts."""
    errors: list[str] = []
    for i, rule in enumerate(policy.routing.rules):
        try:
            matched = _compiled(rule.when).evaluate(variables)
        except ExpressionError as exc:
            errors.append(f"routing.rules[{i}]: {exc}")
            continue
        if matched:
            return Route(
                team=rule.team,
                priority=rule.priority,
                tags=tuple(rule.tags),
                rule=f"routing.rules[{i}]",
                errors=tuple(errors),
            )
    default = policy.routing.default
    if default is not None:
        return Route(
            team=default.team,
            priority=default.priority,
            tags=tuple(default.tags),
            rule="routing.default",
            errors=tuple(errors),
        )
    return Route(team=None, priority="normal", rule="routing.none", errors=tuple(errors))


def deadlines(policy: Policy, priority: str, opened_at: float) -> Deadlines:
    """When the first human response and the resolution are due (None: no SLA)."""
    target = policy.sla.get(priority)  # type: ignore[call-overload]
    if target is None:
        return Deadlines(first_response=None, resolution=None)
    return Deadlines(
        first_response=opened_at + target.first_response.total_seconds(),
        resolution=opened_at + target.resolution.total_seconds(),
    )
