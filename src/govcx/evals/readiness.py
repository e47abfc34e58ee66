"""Autonomy readiness: how humans decided the AI's proposals, and what that suggests.

For each workflow, from the recorded approval requests: how often a human approved the
proposal unchanged, edited it (then approved), or rejected it, with the count behind
every figure. A recommendation to promote (recommend → draft → act) needs a minimum
sample and a 95% Wilson lower bound of the unchanged-approval rate above the promotion
bar; a demotion needs the upper bound below the demotion bar. These are
recommendations: a governance owner changes policy.yaml, never this report.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from govcx.governance.approval import ApprovalRequest
from govcx.governance.policy import Policy

LADDER: tuple[str, ...] = ("escalate", "recommend", "draft", "act")
"""Autonomy levels from least to most autonomous."""


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    min_sample: int = 30
    """Decided requests a workflow needs before any recommendation."""
    promote_at: float = 0.90
    """Promote when the Wilson lower bound of the unchanged-approval rate reaches this."""
    demote_below: float = 0.75
    """Demote when the Wilson upper bound of the unchanged-approval rate is below this."""


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def outcome(request: ApprovalRequest) -> str:
    """unchanged | edited | rejected | expired | superseded | pending (what the approver
    decided: an approved action that then failed was approved; nobody decided an expired
    or superseded one)."""
    if request.status in ("approved", "failed"):
        return "edited" if any(d.decision == "edit" for d in request.decisions) else "unchanged"
    return request.status


def _counts(requests: list[ApprovalRequest]) -> dict[str, Any]:
    tally = {
        "unchanged": 0,
        "edited": 0,
        "rejected": 0,
        "expired": 0,
        "superseded": 0,
        "pending": 0,
    }
    for request in requests:
        tally[outcome(request)] += 1
    decided = tally["unchanged"] + tally["edited"] + tally["rejected"]
    low, high = wilson(tally["unchanged"], decided)

    def rate(key: str) -> float | None:
        return round(tally[key] / decided, 4) if decided else None

    return {
        **tally,
        "decided": decided,
        "unchanged_rate": rate("unchanged"),
        "edited_rate": rate("edited"),
        "rejected_rate": rate("rejected"),
        "unchanged_ci95": [round(low, 4), round(high, 4)] if decided else None,
    }


def _recommend(
    workflow: str,
    autonomy: str,
    stats: dict[str, Any],
    kinds: dict[str, Any],
    policy: Policy,
    limits: Thresholds,
) -> dict[str, Any]:
    decided = stats["decided"]
    if decided < limits.min_sample:
        return {
            "action": "wait",
            "to": None,
            "reason": (
                f"{decided} decided approval(s); at least {limits.min_sample} are needed before "
                "recommending a change"
            ),
        }
    low, high = stats["unchanged_ci95"]
    level = LADDER.index(autonomy) if autonomy in LADDER else 0
    if low >= limits.promote_at:
        evidence = (
            f"{stats['unchanged']} of {decided} proposals approved unchanged "
            f"(95% lower bound {low:.0%} ≥ {limits.promote_at:.0%})"
        )
        if autonomy in ("recommend", "draft"):
            return {"action": "promote", "to": LADDER[level + 1], "reason": evidence}
        if autonomy == "act":
            tools = sorted(
                t
                for t in kinds
                if t in policy.tools
                and policy.tools[t].approval_if
                and policy.tiers[policy.tools[t].tier].approval != "always"
            )
            if tools:
                return {
                    "action": "review_limits",
                    "to": None,
                    "reason": (
                        f"{evidence}: consider raising the approval limit of {', '.join(tools)}"
                    ),
                }
            return {
                "action": "keep",
                "to": None,
                "reason": (
                    f"{evidence}; the remaining approvals come from tiers that always need a "
                    "human, which is a risk decision, not an autonomy one"
                ),
            }
        return {"action": "keep", "to": None, "reason": evidence}
    if high < limits.demote_below:
        changed = stats["edited"] + stats["rejected"]
        evidence = (
            f"humans changed or rejected {changed} of {decided} proposals (95% upper "
            f"bound of unchanged approvals {high:.0%} < {limits.demote_below:.0%})"
        )
        if level >= 1:
            return {"action": "demote", "to": LADDER[level - 1], "reason": evidence}
        return {"action": "keep", "to": None, "reason": evidence}
    return {
        "action": "keep",
        "to": None,
        "reason": (
            f"{stats['unchanged']} of {decided} approved unchanged (95% interval {low:.0%}-"
            f"{high:.0%}): neither clearly ready nor clearly failing"
        ),
    }


def readiness(
    policy: Policy, requests: Iterable[ApprovalRequest], *, thresholds: Thresholds | None = None
) -> dict[str, Any]:
    """Per-workflow approval outcomes and autonomy recommendations, as JSON-ready data."""
    limits = thresholds or Thresholds()
    by_workflow: dict[str, list[ApprovalRequest]] = defaultdict(list)
    for request in requests:
        by_workflow[request.intent or "(unknown)"].append(request)
    workflows = []
    for name in sorted(set(by_workflow) | set(policy.workflows)):
        items = by_workflow.get(name, [])
        autonomy = policy.autonomy_of(name) if name in policy.workflows else "-"
        by_kind: dict[str, list[ApprovalRequest]] = defaultdict(list)
        for request in items:
            by_kind[request.tool or "reply"].append(request)
        kinds = {k: _counts(v) for k, v in sorted(by_kind.items())}
        stats = _counts(items)
        if not items and autonomy in ("act", "escalate"):
            continue
        workflows.append(
            {
                "workflow": name,
                "autonomy": autonomy,
                **stats,
                "by_action": kinds,
                "recommendation": _recommend(name, autonomy, stats, kinds, policy, limits)
                if name in policy.workflows
                else {"action": "none", "to": None, "reason": "not a workflow of this policy"},
            }
        )
    return {
        "policy_version": policy.version,
        "thresholds": {
            "min_sample": limits.min_sample,
            "promote_at": limits.promote_at,
            "demote_below": limits.demote_below,
        },
        "requests": sum(len(v) for v in by_workflow.values()),
        "workflows": workflows,
        "note": "Recommendations only: a governance owner decides and edits policy.yaml.",
    }
