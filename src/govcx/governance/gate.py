"""The policy gate: deterministic code, and the only place that decides a route.

Inputs are facts (intent, confidence, guard findings, the proposed action); no text is
interpreted here, so nothing a customer, a document or a model writes can change the
outcome except through those facts, which the gate treats as untrusted: a proposal for a
tool outside the workflow, or for an unknown tool, is refused, and an approval
condition that cannot be evaluated requires approval.

Cumulative limits are judged here too, from a fact: :class:`Usage`, what already ran or
is reserved for the same tool and key within each limit's window (computed and reserved
atomically by :mod:`govcx.governance.limits`). Without that fact, a tool with limits
needs approval: an unknown usage never waves a write through.

Example:
    >>> decide(policy, GateInput(intent="refund", confidence=0.9,
    ...        proposal=Proposal(tool="issue_refund", args={"amount": 80}))).route
    'await_approval'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from govcx.governance import money
from govcx.governance.expr import Expression, ExpressionError
from govcx.governance.finding import Finding
from govcx.governance.policy import Policy

Route = Literal["respond", "execute", "await_approval", "escalate", "block"]


@dataclass(frozen=True, kw_only=True)
class Proposal:
    """An action the engine proposes: a tool and the arguments it supplies."""

    tool: str
    args: dict[str, Any] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    """Required arguments that could not be filled; the agent asks for them."""


@dataclass(frozen=True, kw_only=True)
class Usage:
    """What already counts against a proposal (never including the proposal itself)."""

    used: tuple[float, ...] = ()
    """Per limit of the tool, in the policy's order: the sum or count within its window."""
    duplicate: bool = False
    """An identical write already ran (or is reserved) in the conversation within the
    policy's ``duplicate_window``."""


@dataclass(frozen=True, kw_only=True)
class GateInput:
    intent: str | None
    confidence: float
    findings: Sequence[Finding] = ()
    proposal: Proposal | None = None
    proposal_error: str | None = None
    """Set when the engine proposed something malformed (never executed)."""
    engine_error: str | None = None
    """Set when the engine failed (a model outage); the turn goes to a person."""
    corroborated: bool = True
    """False when the customer's own message does not support the intent a model chose
    (see ``govcx.graphs.corroboration``): no write then runs without a human."""
    ungrounded: tuple[str, ...] = ()
    """Identifier arguments of the proposal (:func:`identifier_args`) whose values the
    customer neither wrote in this conversation nor confirmed (see
    ``govcx.graphs.corroboration``): a write with any is not run; the agent asks which
    one (rule ``identifier.ungrounded``)."""
    amount_ungrounded: str | None = None
    """The proposal's amount argument when its value is neither a number the customer
    wrote in this conversation nor one a read tool returned (a model's own figure, see
    ``govcx.graphs.corroboration``): the write needs a person (rule
    ``amount.ungrounded``), whatever the amount, since ``approval_if`` would judge a
    figure nobody stated."""
    usage: Usage | None = None
    """Cumulative usage for the proposal's tool; None when unknown."""
    money_problems: tuple[str, ...] = ()
    """Amounts in the customer's message that cannot be acted on (malformed, out of
    range, another currency: :func:`govcx.governance.money.problems`)."""


@dataclass(frozen=True, kw_only=True)
class ApprovalNeed:
    needed: bool
    rules: tuple[str, ...]
    tier: str
    approvers: int = 1


@dataclass(frozen=True, kw_only=True)
class GateDecision:
    """The route and why. ``approval`` is set for await_approval."""

    route: Route
    rules: tuple[str, ...]
    reason: str
    policy_version: str
    policy_digest: str = ""
    approval_kind: Literal["action", "reply"] | None = None
    tier: str | None = None
    approvers: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "rules": list(self.rules),
            "reason": self.reason,
            "policy_version": self.policy_version,
            "policy_digest": self.policy_digest,
        }


@lru_cache(maxsize=1024)
def _compiled(source: str) -> Expression:
    return Expression.compile(source)


def approval_need(
    policy: Policy, tool: str, args: Mapping[str, Any], autonomy: str
) -> ApprovalNeed:
    """Whether running ``tool(args)`` under ``autonomy`` needs a human. Pure and total.

    Unknown tools need approval (and the gate refuses them before this point anyway).
    """
    tool_policy = policy.tools.get(tool)
    if tool_policy is None:
        return ApprovalNeed(needed=True, rules=(f"tool.{tool}.unknown",), tier="unknown")
    tier = policy.tiers[tool_policy.tier]
    rules: list[str] = []
    if tier.approval == "always":
        rules.append(f"tier.{tool_policy.tier}.approval=always")
    if tool_policy.approval_if:
        try:
            if _compiled(tool_policy.approval_if).evaluate(dict(args)):
                rules.append(f"tool.{tool}.approval_if")
        except ExpressionError:
            # A condition we cannot evaluate must not wave an action through.
            rules.append(f"tool.{tool}.approval_if.error")
    if not policy.is_read_only(tool):
        if autonomy == "draft":
            rules.append("autonomy.draft")
        elif autonomy in ("recommend", "escalate"):
            rules.append(f"autonomy.{autonomy}")
    return ApprovalNeed(
        needed=bool(rules), rules=tuple(rules), tier=tool_policy.tier, approvers=tier.approvers
    )


def identifier_args(
    policy: Policy, tool: str, patterns: Mapping[str, Any] | Sequence[str]
) -> tuple[str, ...]:
    """The arguments of ``tool`` that must be grounded: the policy's ``identifiers`` for
    it when set, else every argument with a declared ``pattern`` (``patterns``: the
    names, or a mapping keyed by them). Read-only tools have none (only writes are held)."""
    tool_policy = policy.tools.get(tool)
    if tool_policy is None or policy.is_read_only(tool):
        return ()
    if tool_policy.identifiers is not None:
        return tuple(tool_policy.identifiers)
    return tuple(patterns)


def limit_rules(
    policy: Policy, tool: str, args: Mapping[str, Any], usage: Usage | None
) -> tuple[str, ...]:
    """The cumulative rules ``tool(args)`` breaks given ``usage``. Pure and total.

    A limit is crossed when what is used plus this proposal exceeds ``max``; a sum whose
    argument is not a number, or a usage that is unknown, counts as crossed.
    """
    tool_policy = policy.tools.get(tool)
    if tool_policy is None or policy.is_read_only(tool):
        return ()
    rules: list[str] = []
    for i, limit in enumerate(tool_policy.limits):
        if limit.sum is not None:
            value = args.get(limit.sum)
            amount = (
                float(value)
                if isinstance(value, int | float) and not isinstance(value, bool)
                else float("inf")
            )
        else:
            amount = 1.0
        if (
            usage is None
            or i >= len(usage.used)
            or not amount < float("inf")
            or usage.used[i] + amount > limit.max + 1e-9
        ):
            rules.append(f"tool.{tool}.limits[{i}]")
    if usage is not None and usage.duplicate:
        rules.append(f"tool.{tool}.duplicate")
    return tuple(rules)


def amount_problem(
    policy: Policy, tool: str, args: Mapping[str, Any], text_problems: Sequence[str] = ()
) -> str | None:
    """Why a write's money amount may not run: the proposed amount argument is not a plain
    positive number in range, or the customer's message states amounts that are not
    (``text_problems``). None for read-only tools and tools that take no amount."""
    tool_policy = policy.tools.get(tool)
    if tool_policy is None or policy.is_read_only(tool):
        return None
    key = tool_policy.amount_key
    if key in args:
        problem = money.argument_problem(args[key])
        if problem:
            return f"{key} {problem}"
    if text_problems and (tool_policy.amount_arg is not None or key in args):
        return "; ".join(text_problems)
    return None


def decide(policy: Policy, facts: GateInput) -> GateDecision:
    """Route one turn. First matching rule wins; the order is the policy's priority."""
    pv, digest = policy.version, policy.digest

    def out(route: Route, rules: Sequence[str], reason: str, **kw: Any) -> GateDecision:
        return GateDecision(
            route=route,
            rules=tuple(rules),
            reason=reason,
            policy_version=pv,
            policy_digest=digest,
            **kw,
        )

    blocking = [f for f in facts.findings if f.action == "block"]
    if blocking:
        kinds = sorted({f.type for f in blocking})
        return out(
            "block", [f"guard.{k.lower()}" for k in kinds], f"blocked by guard: {', '.join(kinds)}"
        )
    escalating = [f for f in facts.findings if f.action == "escalate"]
    if escalating:
        kinds = sorted({f.type for f in escalating})
        return out(
            "escalate",
            [f"guard.{k.lower()}" for k in kinds],
            f"escalation trigger: {', '.join(kinds)}",
        )
    if facts.engine_error:
        return out(
            "escalate",
            ["engine.unavailable"],
            f"the engine could not handle the request: {facts.engine_error}",
        )
    intent = facts.intent
    if intent is None or intent not in policy.workflows:
        return out(
            "escalate",
            ["intent.out_of_scope"],
            "the request matches no workflow this deployment handles",
        )
    threshold = policy.min_confidence_of(intent)
    if facts.confidence < threshold:
        return out(
            "escalate",
            ["confidence.below_minimum"],
            f"confidence {facts.confidence:.2f} is below the minimum {threshold:.2f}",
        )
    autonomy = policy.autonomy_of(intent)
    if autonomy == "escalate":
        return out(
            "escalate",
            [f"workflow.{intent}.autonomy=escalate"],
            f"policy hands every {intent} request to a human",
        )
    if facts.proposal_error:
        return out(
            "escalate",
            ["proposal.invalid"],
            f"the proposed action was malformed: {facts.proposal_error}",
        )
    proposal = facts.proposal
    if proposal is not None:
        workflow = policy.workflows[intent]
        if proposal.tool not in workflow.tools:
            return out(
                "escalate",
                [f"tool.{proposal.tool}.not_allowed"],
                f"{proposal.tool} is not among the tools of workflow {intent}",
            )
        if proposal.tool not in policy.tools:
            return out(
                "escalate",
                [f"tool.{proposal.tool}.unknown"],
                f"{proposal.tool} has no tier in the policy",
            )
        if proposal.missing:
            return out(
                "respond",
                ["slot.missing"],
                f"asking the customer for {', '.join(proposal.missing)}",
            )
        invalid = amount_problem(policy, proposal.tool, proposal.args, facts.money_problems)
        if invalid:
            return out("respond", ["slot.invalid"], f"asking the customer again: {invalid}")
        if facts.ungrounded and not policy.is_read_only(proposal.tool):
            return out(
                "respond",
                ["identifier.ungrounded"],
                f"asking the customer which one: {', '.join(facts.ungrounded)} of "
                f"{proposal.tool} not named or confirmed by the customer",
            )
        need = approval_need(policy, proposal.tool, proposal.args, autonomy)
        cumulative = limit_rules(policy, proposal.tool, proposal.args, facts.usage)
        if cumulative:
            need = ApprovalNeed(
                needed=True,
                rules=(*need.rules, *cumulative),
                tier=need.tier,
                approvers=need.approvers,
            )
        if not facts.corroborated and not policy.is_read_only(proposal.tool):
            need = ApprovalNeed(
                needed=True,
                rules=(*need.rules, "intent.uncorroborated"),
                tier=need.tier,
                approvers=need.approvers,
            )
        if facts.amount_ungrounded and not policy.is_read_only(proposal.tool):
            need = ApprovalNeed(
                needed=True,
                rules=(*need.rules, "amount.ungrounded"),
                tier=need.tier,
                approvers=need.approvers,
            )
        if need.needed:
            return out(
                "await_approval",
                need.rules,
                f"{proposal.tool} needs approval: {', '.join(need.rules)}",
                approval_kind="action",
                tier=need.tier,
                approvers=need.approvers,
            )
        return out(
            "execute",
            [f"tool.{proposal.tool}.within_policy"],
            f"{proposal.tool} is within policy for autonomy {autonomy}",
            tier=need.tier,
        )
    if autonomy in ("draft", "recommend"):
        return out(
            "await_approval",
            [f"autonomy.{autonomy}"],
            f"workflow {intent} has autonomy {autonomy}: a human reviews the reply",
            approval_kind="reply",
            tier="reply",
            approvers=1,
        )
    return out("respond", [f"workflow.{intent}.autonomy=act"], "answer within policy")
