"""Direct tool calls (govcx's MCP server): which workflow's autonomy governs a call, and
that a tool client (role mcp) never decides an approval."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from govcx.governance.approval import ApprovalRequest, can_decide
from govcx.governance.cases import may_work
from govcx.governance.policy import parse_policy, policy_from_text
from govcx.governance.principal import Principal
from govcx.governance.tool_calls import STRICTNESS, callable_tools, workflow_for

POLICY = """
version: "calls-1"
defaults: {autonomy: draft}
approvals: {roles: {supervisor: {max_amount: 1000}}}
tiers:
  read: {approval: never}
  low: {approval: never}
workflows:
  status: {autonomy: act, tools: [lookup]}
  refund: {autonomy: act, tools: [lookup, refund]}
  complaint: {tools: [refund, credit]}
  legal: {autonomy: escalate}
tools:
  lookup: {tier: read}
  refund: {tier: low}
  credit: {tier: low}
  unlisted: {tier: low}
"""


def test_the_strictest_workflow_listing_a_tool_governs_its_calls() -> None:
    policy = policy_from_text(POLICY)
    assert workflow_for(policy, "lookup") == "status"  # a tie: the first named
    assert workflow_for(policy, "refund") == "complaint"  # draft (the default) over act
    assert workflow_for(policy, "unlisted") is None  # tiered, but no workflow lists it
    assert workflow_for(policy, "drop_tables") is None  # no tier
    assert callable_tools(policy, ["unlisted", "refund", "lookup", "credit", "nope"]) == [
        "credit",
        "lookup",
        "refund",
    ]


@given(
    st.lists(
        st.tuples(st.sampled_from(STRICTNESS), st.sets(st.sampled_from(["a", "b", "c"]))),
        min_size=1,
        max_size=6,
    )
)
def test_a_call_is_never_more_autonomous_than_any_workflow_that_lists_its_tool(
    workflows: list[tuple[str, set[str]]],
) -> None:
    data: dict[str, Any] = {
        "version": "p",
        "tiers": {"low": {"approval": "never"}},
        "workflows": {
            f"w{i}": {"autonomy": autonomy, "tools": sorted(tools)}
            for i, (autonomy, tools) in enumerate(workflows)
        },
        "tools": {name: {"tier": "low"} for name in ("a", "b", "c")},
    }
    policy = parse_policy(data)
    for tool in ("a", "b", "c"):
        listing = [policy.autonomy_of(w) for w, wf in policy.workflows.items() if tool in wf.tools]
        chosen = workflow_for(policy, tool)
        if not listing:
            assert chosen is None
            continue
        assert chosen is not None and tool in policy.workflows[chosen].tools
        strictest = max(STRICTNESS.index(a) for a in listing)
        assert STRICTNESS.index(policy.autonomy_of(chosen)) == strictest


@pytest.mark.parametrize(
    "roles",
    [{"mcp", "approver:supervisor"}, {"mcp", "approver:supervisor", "admin"}],
)
def test_a_tool_client_never_decides_nor_works_cases(roles: set[str]) -> None:
    policy = policy_from_text(POLICY)
    who = Principal(name="ide", roles=frozenset(roles))
    request = ApprovalRequest(
        approval_id="a",
        conversation_id="c",
        turn_id="t",
        kind="action",
        tool="refund",
        args={"amount": 5},
        tier="low",
        rules=[],
        rationale="",
        requested_at=0,
        expires_at=10,
        policy_version="calls-1",
        policy_digest=policy.digest,
        token="x",
    )
    verdict = can_decide(policy, who, request, now=1)
    assert not verdict.allowed
    assert "mcp (tool client) principals can never decide approvals" in str(verdict.reason)
    assert may_work(who, team="support") is not None
