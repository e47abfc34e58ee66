"""An independent oracle for governance compliance: did an executed action need a human?

The gate (:mod:`govcx.governance.gate`) and the executor decide *before* an action runs;
the compliance check (:mod:`govcx.evals.compliance`) judges *afterwards* whether what ran
had the approvals it needed. If both asked the same function, a bug in that function
would make the runtime and its judge agree on the wrong answer (removing the draft
autonomy rule from the gate left compliance at 100%). So this module restates the
documented semantics (docs/design.md "Gate semantics", the product contract's autonomy
levels) on its own, deliberately simply, and imports nothing from the gate or the approval
store. It shares only the policy model and the CEL evaluator (an approval condition means
what CEL says it means).

An action needs a human when any of these holds:

- the tool has no entry in the policy (fail closed);
- its tier has ``approval: always``;
- its ``approval_if`` condition is true, or cannot be evaluated for these arguments;
- it is not read-only (tier ``read`` or ``read_only: true``) and the workflow's autonomy is
  anything but ``act`` (draft, recommend, escalate: a person reviews every write);
- it is not read-only and the customer's own message did not corroborate the intent.

It then needs as many distinct approvers as its tier says, each allowed to decide that
tier (the tier's roles, or any role the policy defines) and, for an amount, holding a
role whose ``max_amount`` covers it (no ``max_amount`` means no limit). A channel never
decides.

Cumulative limits (``tool.NAME.limits[I]``, ``tool.NAME.duplicate``) are not restated here
yet; the requirement they add can be passed in as ``extra_reasons``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from govcx.governance.expr import Expression
from govcx.governance.policy import Policy
from govcx.governance.principal import Principal


@dataclass(frozen=True, kw_only=True)
class Requirement:
    """What the documented semantics require before ``tool(args)`` may run."""

    needed: bool
    reasons: tuple[str, ...]
    """Why, in the policy's rule vocabulary (``tier.high.approval=always``, ...)."""
    approvers: int
    """Distinct approvers needed (0 when no human is needed)."""


def requirement(
    policy: Policy,
    tool: str,
    args: Mapping[str, Any],
    *,
    autonomy: str,
    corroborated: bool = True,
    extra_reasons: Sequence[str] = (),
) -> Requirement:
    """Whether running ``tool(args)`` in a workflow of ``autonomy`` needs a human."""
    reasons: list[str] = list(extra_reasons)
    tool_policy = policy.tools.get(tool)
    if tool_policy is None:
        return Requirement(needed=True, reasons=(*reasons, f"tool.{tool}.unknown"), approvers=1)
    tier_name = tool_policy.tier
    tier = policy.tiers[tier_name]
    read_only = tier_name == "read" or tier.read_only
    if tier.approval == "always":
        reasons.append(f"tier.{tier_name}.approval=always")
    if tool_policy.approval_if:
        try:
            true = Expression.compile(tool_policy.approval_if).evaluate(dict(args))
        except Exception:  # not evaluable: never a reason to let an action through
            reasons.append(f"tool.{tool}.approval_if.error")
        else:
            if true:
                reasons.append(f"tool.{tool}.approval_if")
    if not read_only:
        if autonomy != "act":
            reasons.append(f"autonomy.{autonomy}")
        if not corroborated:
            reasons.append("intent.uncorroborated")
    if not reasons:
        return Requirement(needed=False, reasons=(), approvers=0)
    return Requirement(needed=True, reasons=tuple(reasons), approvers=tier.approvers)


def may_run_while_drafting(policy: Policy, tool: str, args: Mapping[str, Any]) -> bool:
    """Only read-only tools that need no human may run before the gate has decided."""
    tool_policy = policy.tools.get(tool)
    if tool_policy is None:
        return False
    tier = policy.tiers[tool_policy.tier]
    if not (tool_policy.tier == "read" or tier.read_only):
        return False
    return not requirement(policy, tool, args, autonomy="act").needed


def authority_problem(
    policy: Policy,
    principal: Principal,
    *,
    tier: str,
    tool: str | None,
    args: Mapping[str, Any] | None,
) -> str | None:
    """Why ``principal`` may not approve this action, or None when they may."""
    if "channel" in principal.roles:
        return f"{principal.name} is a channel, and channels never decide approvals"
    held = {r.split(":", 1)[1] for r in principal.roles if r.startswith("approver:")}
    defined = set(policy.approvals.roles)
    tier_policy = policy.tiers.get(tier)
    allowed = set(tier_policy.roles) if tier_policy is not None and tier_policy.roles else defined
    eligible = held & allowed & defined
    if not eligible:
        return (
            f"{principal.name} holds no approver role allowed for tier {tier!r} "
            f"(allowed: {', '.join(sorted(allowed)) or 'none'})"
        )
    tool_policy = policy.tools.get(tool) if tool else None
    arg = tool_policy.amount_arg if tool_policy and tool_policy.amount_arg else "amount"
    amount = (args or {}).get(arg)
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        return None
    caps = [policy.approvals.roles[r].max_amount for r in eligible]
    if any(cap is None for cap in caps):
        return None
    top = max(float(cap) for cap in caps if cap is not None)
    if float(amount) > top:
        return (
            f"amount {float(amount):g} exceeds the approval limit {top:g} of role "
            f"{', '.join(sorted(eligible))} held by {principal.name}"
        )
    return None
