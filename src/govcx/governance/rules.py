"""What a rule id means, in the words of the policy that produced it.

The gate names the rules it applied by id (``tool.issue_refund.approval_if``,
``tool.issue_refund.limits[0]``, ``autonomy.draft``); an approver needs the rule itself:
``amount > 50``, ``limits: sum of amount per customer within 1d at most 100``. This
module is the one place that turns an id into that text, from the policy the request was
decided under (a later policy may say something else). The API's approval view, the
console and ``govcx approvals show|list`` all use :func:`explain`.

Example:
    >>> explain(policy, "tool.issue_refund.approval_if")
    'amount > 50'
    >>> explain(policy, "tool.issue_refund.limits[0]")
    'limits: sum of amount per customer within 1d at most 100'
"""

from __future__ import annotations

import re
from collections.abc import Callable, MutableMapping, Sequence
from datetime import timedelta

from govcx.errors import GovcxError
from govcx.governance.approval import ApprovalRequest
from govcx.governance.policy import Policy
from govcx.governance.policy_store import PolicyStore

_TOOL_RULE = re.compile(r"^tool\.(?P<tool>[^.\[]+)\.(?P<rule>.+)$")
_LIMIT = re.compile(r"^limits\[(?P<index>\d+)\]$")
_TIER_ALWAYS = re.compile(r"^tier\.(?P<tier>.+)\.approval=always$")
_WORKFLOW_AUTONOMY = re.compile(r"^workflow\.(?P<workflow>.+)\.autonomy=(?P<level>\w+)$")

_FIXED = {
    "intent.out_of_scope": "the request matches no workflow this deployment handles",
    "intent.uncorroborated": (
        "the model's intent is not supported by the customer's own words (the embedded "
        "classifier disagrees): a write needs a person"
    ),
    "engine.unavailable": "the engine could not handle the request",
    "proposal.invalid": "the proposed action was malformed",
    "slot.missing": "a required argument is missing: the customer is asked for it",
    "slot.invalid": "the amount cannot be acted on as written: the customer is asked again",
    "identifier.ungrounded": (
        "an identifier the action would use (an order, account or ticket id) was neither "
        "written nor confirmed by the customer: the customer is asked which one"
    ),
    "amount.ungrounded": (
        "the amount the action would use was neither written by the customer nor returned "
        "by a read tool in this conversation: a person checks it"
    ),
    "approvals.on_expiry=escalate": "nobody decided in time; on_expiry: escalate",
    "approval.superseded": "the policy changed while the request waited",
    "guard.output": "the drafted reply failed the output checks",
    "reply.empty": "there was nothing to reply (no usable engine output): a person follows up",
    "reply.unbacked_promise": (
        "the reply promised follow-up that no case, approval or executed action backed"
    ),
}
_AUTONOMY = {
    "draft": "autonomy draft: a person approves every action and reply of this workflow",
    "recommend": "autonomy recommend: the AI only recommends; a person approves every action",
    "escalate": "autonomy escalate: every request of this workflow goes to a person",
}


def explain(policy: Policy, rule: str, *, intent: str | None = None) -> str:
    """The condition or reason behind ``rule`` under ``policy``; the id itself when the
    policy does not know it (a rule of a tool the policy no longer has, a newer id).

    ``intent`` (the request's workflow) names the workflow where a rule depends on it
    (autonomy, confidence)."""
    for explainer in _EXPLAINERS:
        text = explainer(policy, rule, intent)
        if text is not None:
            return text
    return rule


def explain_all(
    policy: Policy | None, rules: Sequence[str], *, intent: str | None = None
) -> list[tuple[str, str]]:
    """``(rule, explanation)`` for each rule, in order; without a policy (it cannot be
    loaded) each rule explains as itself."""
    return [(r, explain(policy, r, intent=intent) if policy else r) for r in rules]


def policy_of(
    request: ApprovalRequest,
    policies: PolicyStore,
    *,
    active: Policy | None = None,
    cache: MutableMapping[tuple[str, str], Policy | None] | None = None,
) -> Policy | None:
    """The policy ``request`` was evaluated under: ``active`` when it is that one, else
    its registered version (None when that is missing or holds other content). Versions
    never change content, so ``cache`` may keep them for the life of a process."""
    if active is not None and request.bound_to(active):
        return active
    key = (request.policy_version, request.policy_digest)
    if cache is not None and key in cache:
        return cache[key]
    try:
        loaded: Policy | None = policies.load(request.policy_version)
    except GovcxError:
        loaded = None
    if loaded is not None and loaded.digest != request.policy_digest:
        loaded = None
    if cache is not None:
        cache[key] = loaded
    return loaded


def conditions(
    request: ApprovalRequest,
    policies: PolicyStore,
    *,
    active: Policy | None = None,
    cache: MutableMapping[tuple[str, str], Policy | None] | None = None,
) -> list[tuple[str, str]]:
    """``(rule, condition)`` for each rule of ``request``, in the policy it was made under."""
    policy = policy_of(request, policies, active=active, cache=cache)
    return explain_all(policy, request.rules, intent=request.intent)


def _fixed(policy: Policy, rule: str, intent: str | None) -> str | None:
    return _FIXED.get(rule)


def _autonomy(policy: Policy, rule: str, intent: str | None) -> str | None:
    level = rule.removeprefix("autonomy.") if rule.startswith("autonomy.") else None
    if level not in _AUTONOMY:
        return None
    text = _AUTONOMY[level]
    return f"{text} ({intent})" if intent else text


def _workflow(policy: Policy, rule: str, intent: str | None) -> str | None:
    match = _WORKFLOW_AUTONOMY.match(rule)
    if match is None:
        return None
    workflow, level = match["workflow"], match["level"]
    if level == "escalate":
        return f"workflow {workflow} has autonomy escalate: every request goes to a person"
    return f"workflow {workflow} has autonomy {level}"


def _confidence(policy: Policy, rule: str, intent: str | None) -> str | None:
    if rule != "confidence.below_minimum":
        return None
    if intent and intent in policy.workflows:
        return f"confidence below the minimum {policy.min_confidence_of(intent):.2f} ({intent})"
    return f"confidence below the minimum {policy.defaults.min_confidence:.2f}"


def _guard(policy: Policy, rule: str, intent: str | None) -> str | None:
    if not rule.startswith("guard.") or rule == "guard.output":
        return None
    kind = rule.removeprefix("guard.")
    action = getattr(policy.guards, kind, None)
    found = kind.replace("_", " ")
    return f"guard found {found} (policy: {action})" if isinstance(action, str) else None


def _tier(policy: Policy, rule: str, intent: str | None) -> str | None:
    match = _TIER_ALWAYS.match(rule)
    if match is None:
        return None
    name = match["tier"]
    tier = policy.tiers.get(name)
    if tier is None:
        return None
    parts = [f"tier {name}: approval always"]
    if tier.approvers > 1:
        parts.append(f"{tier.approvers} distinct approvers")
    if tier.roles:
        parts.append(f"roles {', '.join(tier.roles)}")
    return ", ".join(parts)


def _tool(policy: Policy, rule: str, intent: str | None) -> str | None:
    match = _TOOL_RULE.match(rule)
    if match is None:
        return None
    name, what = match["tool"], match["rule"]
    tool = policy.tools.get(name)
    if what == "not_allowed":
        return f"{name} is not among the tools of workflow {intent or '(unknown)'}"
    if what == "unknown":
        return f"{name} has no tier in the policy"
    if what == "within_policy":
        return f"{name} is within policy"
    if what == "cannot_succeed":
        return f"{name} cannot succeed (its context lookup refused it)"
    if tool is None:
        return None
    if what == "approval_if" and tool.approval_if:
        return tool.approval_if
    if what == "approval_if.error" and tool.approval_if:
        return f"{tool.approval_if} (could not be evaluated, so a person decides)"
    if what == "duplicate":
        window = _duration(policy.duplicate_window)
        return f"duplicate: the same {name} call already ran in this conversation within {window}"
    limit = _LIMIT.match(what)
    if limit is not None and int(limit["index"]) < len(tool.limits):
        return f"limits: {tool.limits[int(limit['index'])].describe()}"
    return None


_EXPLAINERS: tuple[Callable[[Policy, str, str | None], str | None], ...] = (
    _fixed,
    _autonomy,
    _workflow,
    _confidence,
    _guard,
    _tier,
    _tool,
)


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
