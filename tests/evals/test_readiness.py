"""Autonomy readiness: counts of unchanged, edited and rejected proposals per workflow."""

from __future__ import annotations

from typing import Any

from govcx.evals.readiness import Thresholds, readiness, wilson
from govcx.governance.approval import ApprovalRequest, Decision
from govcx.pack import load_pack
from tests.conftest import SHOP


def _request(n: int, intent: str, outcome: str, *, tool: str | None = None) -> ApprovalRequest:
    decisions: list[Decision] = []
    status = "approved"
    if outcome == "unchanged":
        decisions = [Decision(principal="sup", decision="approve", at=1)]
    elif outcome == "edited":
        decisions = [Decision(principal="sup", decision="edit", args={"amount": 1}, at=1)]
    elif outcome == "rejected":
        decisions, status = [Decision(principal="sup", decision="reject", at=1)], "rejected"
    else:
        status = outcome
    data: dict[str, Any] = {
        "approval_id": f"apr_{intent}_{n}",
        "conversation_id": f"c{n}",
        "turn_id": f"t{n}",
        "kind": "action" if tool else "reply",
        "intent": intent,
        "tool": tool,
        "tier": "low" if tool else "reply",
        "rules": [],
        "rationale": "",
        "requested_at": 0,
        "expires_at": 1,
        "decisions": decisions,
        "status": status,
        "policy_version": "t1",
        "token": "x",
    }
    return ApprovalRequest.model_validate(data)


def _many(intent: str, **counts: int) -> list[ApprovalRequest]:
    out: list[ApprovalRequest] = []
    for outcome, n in counts.items():
        out += [
            _request(
                len(out) + i, intent, outcome, tool="issue_refund" if intent == "refund" else None
            )
            for i in range(n)
        ]
    return out


def test_counts_rates_and_recommendations() -> None:
    policy = load_pack(SHOP).policy
    requests = (
        _many("greeting_card", unchanged=40)
        + _many("refund", unchanged=6, edited=3, rejected=1, expired=2, pending=1, superseded=2)
        + _many("close_account", unchanged=10, edited=10, rejected=20)
    )
    data = readiness(policy, requests, thresholds=Thresholds(min_sample=30))
    rows = {r["workflow"]: r for r in data["workflows"]}
    card = rows["greeting_card"]
    assert (card["autonomy"], card["decided"], card["unchanged"]) == ("draft", 40, 40)
    assert card["unchanged_rate"] == 1.0
    assert card["recommendation"]["action"] == "promote"
    assert card["recommendation"]["to"] == "act"
    assert "40 of 40" in card["recommendation"]["reason"]
    refund = rows["refund"]
    assert (refund["unchanged"], refund["edited"], refund["rejected"]) == (6, 3, 1)
    assert (refund["expired"], refund["pending"], refund["decided"]) == (2, 1, 10)
    assert refund["superseded"] == 2  # nobody decided them: not counted as decided
    assert refund["edited_rate"] == 0.3
    assert refund["by_action"]["issue_refund"]["decided"] == 10
    assert refund["recommendation"]["action"] == "wait"  # 10 < 30: humans need more data
    closing = rows["close_account"]
    assert closing["recommendation"] == {
        "action": "demote",
        "to": "escalate",
        "reason": closing["recommendation"]["reason"],
    }
    assert "30 of 40" in closing["recommendation"]["reason"]
    assert data["requests"] == len(requests)
    assert "order_status" not in rows  # act workflow with no approvals: nothing to say


def test_wilson_interval() -> None:
    low, high = wilson(40, 40)
    assert 0.91 < low < 0.92 and high == 1.0
    assert wilson(0, 0) == (0.0, 1.0)
