"""The compliance oracle restates the documented semantics; these rows are hand-written."""

from __future__ import annotations

from typing import Any

import pytest

from govcx.evals import oracle
from govcx.evals.compliance import ExecutionRecord, check_executions
from govcx.governance.policy import Policy, policy_from_text
from govcx.governance.principal import Principal

POLICY = """
version: "o1"
approvals:
  roles: {supervisor: {max_amount: 100}, manager: {}}
tiers:
  read: {approval: never}
  lookup: {approval: never, read_only: true}
  low: {approval: never}
  high: {approval: always}
  critical: {approval: always, approvers: 2, roles: [manager]}
workflows:
  a: {autonomy: act, tools: [find, peek, note, refund, move, close, gated_read]}
  d: {autonomy: draft, tools: [find, note]}
  r: {autonomy: recommend, tools: [note]}
tools:
  find: {tier: read}
  peek: {tier: lookup}
  note: {tier: low}
  refund: {tier: low, approval_if: "amount > 50", amount_arg: amount}
  move: {tier: high}
  close: {tier: critical}
  gated_read: {tier: read, approval_if: "amount > 50"}
"""


@pytest.fixture(scope="module")
def policy() -> Policy:
    return policy_from_text(POLICY)


@pytest.mark.parametrize(
    ("tool", "args", "autonomy", "corroborated", "reasons", "approvers"),
    [
        ("find", {}, "act", True, (), 0),
        ("find", {}, "draft", False, (), 0),
        ("peek", {}, "recommend", False, (), 0),
        ("note", {}, "act", True, (), 0),
        ("note", {}, "draft", True, ("autonomy.draft",), 1),
        ("note", {}, "recommend", True, ("autonomy.recommend",), 1),
        ("note", {}, "escalate", True, ("autonomy.escalate",), 1),
        ("note", {}, "act", False, ("intent.uncorroborated",), 1),
        ("refund", {"amount": 51}, "act", True, ("tool.refund.approval_if",), 1),
        ("refund", {"amount": 50}, "act", True, (), 0),
        ("refund", {"amount": "51"}, "act", True, ("tool.refund.approval_if.error",), 1),
        ("refund", {}, "act", True, ("tool.refund.approval_if.error",), 1),
        ("refund", {"amount": 80}, "draft", True, ("tool.refund.approval_if", "autonomy.draft"), 1),
        ("move", {}, "act", True, ("tier.high.approval=always",), 1),
        ("close", {}, "act", True, ("tier.critical.approval=always",), 2),
        ("gated_read", {"amount": 80}, "draft", True, ("tool.gated_read.approval_if",), 1),
        ("gated_read", {"amount": [1]}, "act", True, ("tool.gated_read.approval_if.error",), 1),
        ("ghost", {}, "act", True, ("tool.ghost.unknown",), 1),
    ],
)
def test_requirement_table(
    policy: Policy,
    tool: str,
    args: dict[str, Any],
    autonomy: str,
    corroborated: bool,
    reasons: tuple[str, ...],
    approvers: int,
) -> None:
    need = oracle.requirement(policy, tool, args, autonomy=autonomy, corroborated=corroborated)
    assert (need.needed, need.reasons, need.approvers) == (bool(reasons), reasons, approvers)


def test_extra_reasons_are_kept(policy: Policy) -> None:
    need = oracle.requirement(
        policy, "note", {}, autonomy="act", extra_reasons=("tool.note.limits[0]",)
    )
    assert (need.needed, need.reasons, need.approvers) == (True, ("tool.note.limits[0]",), 1)


def test_may_run_while_drafting(policy: Policy) -> None:
    assert oracle.may_run_while_drafting(policy, "find", {})
    assert oracle.may_run_while_drafting(policy, "peek", {})
    assert oracle.may_run_while_drafting(policy, "gated_read", {"amount": 10})
    assert not oracle.may_run_while_drafting(policy, "gated_read", {"amount": 80})
    assert not oracle.may_run_while_drafting(policy, "note", {})
    assert not oracle.may_run_while_drafting(policy, "ghost", {})


SUP = Principal(name="sue", roles=frozenset({"approver:supervisor"}))
MGR = Principal(name="max", roles=frozenset({"approver:manager"}))
ROGUE = Principal(name="rex", roles=frozenset({"approver:shadow"}))
CHAN = Principal(name="web", roles=frozenset({"channel", "approver:manager"}))
AUDITOR = Principal(name="aud", roles=frozenset({"auditor"}))


@pytest.mark.parametrize(
    ("who", "tier", "tool", "args", "problem"),
    [
        (SUP, "low", "refund", {"amount": 100}, None),
        (SUP, "low", "refund", {"amount": 100.01}, "exceeds the approval limit 100"),
        (MGR, "low", "refund", {"amount": 10_000}, None),
        (SUP, "critical", "close", {}, "no approver role allowed for tier 'critical'"),
        (MGR, "critical", "close", {}, None),
        (ROGUE, "low", "note", {}, "no approver role allowed"),
        (AUDITOR, "low", "note", {}, "no approver role allowed"),
        (CHAN, "low", "note", {}, "channels never decide"),
        (SUP, "low", "refund", {"amount": True}, None),
    ],
)
def test_authority_table(
    policy: Policy, who: Principal, tier: str, tool: str, args: dict[str, Any], problem: str | None
) -> None:
    found = oracle.authority_problem(policy, who, tier=tier, tool=tool, args=args)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_compliance_flags_what_the_gate_would_have_to_gate(policy: Policy) -> None:
    """The two gate rules whose removal once left compliance at 100%."""
    draft_write = ExecutionRecord(tool="note", args={}, intent="d")
    broken_condition = ExecutionRecord(tool="refund", args={"amount": "80"}, intent="a")
    uncorroborated = ExecutionRecord(tool="note", args={}, intent="a", corroborated=False)
    within = ExecutionRecord(tool="refund", args={"amount": 20}, intent="a")
    found = check_executions(
        policy, "c", [draft_write, broken_condition, uncorroborated, within], {}
    )
    assert [v.kind for v in found] == ["unapproved_execution"] * 3
    assert "(autonomy.draft)" in found[0].message
    assert "(tool.refund.approval_if.error)" in found[1].message
    assert "(intent.uncorroborated)" in found[2].message
