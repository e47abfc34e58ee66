"""Who may decide what, and what a decision is bound to: hand-written expectations for
``check_authority`` and ``action_token`` (no govcx function computes an expected value)."""

from __future__ import annotations

from typing import Any

import pytest

from govcx.errors import NotAuthorized
from govcx.governance.approval import ApprovalRequest, action_token, check_authority
from govcx.governance.policy import Policy, policy_from_text
from govcx.governance.principal import Principal

POLICY = """
version: "auth-1"
approvals:
  roles:
    agent: {max_amount: 50}
    supervisor: {max_amount: 100}
    manager: {}
tiers:
  low: {approval: never}
  high: {approval: always, roles: [supervisor, manager]}
  critical: {approval: always, approvers: 2, roles: [manager]}
workflows: {w: {tools: [refund, credit, close, note]}}
tools:
  refund: {tier: low, approval_if: "amount > 10", amount_arg: amount}
  credit: {tier: high, amount_arg: value}
  close: {tier: critical}
  note: {tier: low}
"""


@pytest.fixture(scope="module")
def policy() -> Policy:
    return policy_from_text(POLICY)


def _p(name: str, *roles: str) -> Principal:
    return Principal(name=name, roles=frozenset(roles))


AGENT = _p("al", "approver:agent")
SUP = _p("sue", "approver:supervisor")
MGR = _p("max", "approver:manager")
BOTH = _p("bo", "approver:agent", "approver:supervisor")
GHOST = _p("gus", "approver:ghost")
CHANNEL_MGR = _p("web", "channel", "approver:manager")
ADMIN = _p("ada", "admin", "auditor")


def _request(tool: str | None, tier: str, args: dict[str, Any] | None) -> ApprovalRequest:
    return ApprovalRequest(
        approval_id="a",
        conversation_id="c",
        turn_id="t",
        kind="action" if tool else "reply",
        tool=tool,
        args=args,
        tier=tier,
        rules=[],
        rationale="",
        requested_at=0,
        expires_at=1,
        policy_version="auth-1",
        token="x",
    )


# (principal, tool, tier, args) -> None when allowed, else a fragment of the refusal
AUTHORITY: list[tuple[Principal, str | None, str, dict[str, Any] | None, str | None]] = [
    (AGENT, "refund", "low", {"amount": 50}, None),
    (
        AGENT,
        "refund",
        "low",
        {"amount": 50.01},
        "amount 50.01 exceeds the approval limit 50 of role agent",
    ),
    (SUP, "refund", "low", {"amount": 100}, None),
    (SUP, "refund", "low", {"amount": 101}, "exceeds the approval limit 100"),
    (MGR, "refund", "low", {"amount": 1_000_000}, None),
    (BOTH, "refund", "low", {"amount": 80}, None),  # the larger of the two limits counts
    (
        BOTH,
        "refund",
        "low",
        {"amount": 120},
        "exceeds the approval limit 100 of role agent, supervisor",
    ),
    (SUP, "refund", "low", {"amount": "lots"}, None),  # not a number: no amount to cap
    (SUP, "refund", "low", {"amount": True}, None),
    (SUP, "refund", "low", None, None),
    # the amount argument is the tool's amount_arg
    (SUP, "credit", "high", {"value": 150, "amount": 1}, "exceeds the approval limit 100"),
    (SUP, "credit", "high", {"value": 90, "amount": 1000}, None),
    (
        AGENT,
        "credit",
        "high",
        {"value": 1},
        "tier 'high' needs one of the roles manager, supervisor; al has agent",
    ),
    (BOTH, "credit", "high", {"value": 90}, None),  # only supervisor is eligible: 100 caps
    (BOTH, "credit", "high", {"value": 101}, "exceeds the approval limit 100 of role supervisor"),
    (SUP, "close", "critical", {}, "tier 'critical' needs one of the roles manager"),
    (MGR, "close", "critical", {}, None),
    (GHOST, "note", "low", {}, "needs one of the roles agent, manager, supervisor"),
    (ADMIN, "note", "low", {}, "not an approver"),
    (CHANNEL_MGR, "close", "critical", {}, "channel principals can never decide"),
    (SUP, None, "reply", None, None),  # reply approvals: any defined role
    (GHOST, None, "reply", None, "needs one of the roles"),
]


@pytest.mark.parametrize(
    ("who", "tool", "tier", "args", "refusal"),
    AUTHORITY,
    ids=[f"{r[0].name}-{r[1]}-{r[3]}" for r in AUTHORITY],
)
def test_authority_table(
    policy: Policy,
    who: Principal,
    tool: str | None,
    tier: str,
    args: dict[str, Any] | None,
    refusal: str | None,
) -> None:
    request = _request(tool, tier, args)
    if refusal is None:
        check_authority(policy, who, request, args)
        return
    with pytest.raises(NotAuthorized) as info:
        check_authority(policy, who, request, args)
    assert refusal in info.value.reason
    assert info.value.principal == who.name


BASE: dict[str, Any] = {
    "conversation_id": "c1",
    "kind": "action",
    "tool": "refund",
    "args": {"amount": 80, "order_id": "A-1"},
    "policy_version": "v1",
    "policy_digest": "d1" * 32,
}


@pytest.mark.parametrize(
    ("field", "other"),
    [
        ("conversation_id", "c2"),
        ("kind", "reply"),
        ("tool", "credit"),
        ("args", {"amount": 81, "order_id": "A-1"}),
        ("args", {"amount": 80}),
        ("policy_version", "v2"),
        ("policy_digest", "d2" * 32),
    ],
)
def test_the_token_binds_every_field(field: str, other: Any) -> None:
    assert action_token(**{**BASE, field: other}) != action_token(**BASE)


def test_the_token_is_canonical_and_hex() -> None:
    token = action_token(**BASE)
    assert len(token) == 64 and int(token, 16) >= 0
    reordered = {**BASE, "args": {"order_id": "A-1", "amount": 80}}
    assert action_token(**reordered) == token
    assert action_token(**{**BASE, "args": None}) == action_token(**{**BASE, "args": {}})


def test_the_reply_binds_reply_approvals_only() -> None:
    reply = {**BASE, "kind": "reply", "tool": None, "args": None}
    assert action_token(**reply, draft_reply="a") != action_token(**reply, draft_reply="b")
    assert (
        action_token(**BASE, draft_reply="a")
        == action_token(**BASE, draft_reply="b")
        == action_token(**BASE)
    )
