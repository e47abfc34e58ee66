"""The history of requests: filter by status, customer, approver and tool, newest first."""

from __future__ import annotations

import pytest

from govcx.agent.agent import Agent
from govcx.governance.approval import CLOSED
from tests.conftest import Clock

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


def _request(agent: Agent, clock: Clock, conv: str, text: str, customer: str = "C-1") -> str:
    clock.now += 10
    turn = agent.respond(conv, text, customer_id=customer)
    assert turn.status == "pending_approval", turn
    return str(turn.approval_id)


def test_history_filters_by_customer_approver_tool_and_outcome(agent: Agent, clock: Clock) -> None:
    approved = _request(agent, clock, "h1", "please refund $80 for order A-1002")
    rejected = _request(agent, clock, "h2", "please refund $60 for order A-1002")
    closed = _request(agent, clock, "h3", "close my account", customer="C-2")
    pending = _request(agent, clock, "h4", "please refund $70 for order A-1002")
    agent.decide(approved, principal="sup", decision="approve")
    agent.decide(rejected, principal="Boss", decision="reject")
    agent.decide(closed, principal="boss", decision="approve")
    agent.decide(closed, principal="boss2", decision="approve")

    def ids(**filters: object) -> list[str]:
        return [r.approval_id for r in agent.approvals.list(**filters)]  # type: ignore[arg-type]

    # The history is newest first; the queue oldest first.
    assert ids(status=CLOSED, newest_first=True) == [closed, rejected, approved]
    assert ids(status="pending") == [pending]
    assert ids(status=CLOSED, customer_id="C-2") == [closed]
    # Every principal who decided counts, names compared canonically.
    assert ids(status=CLOSED, decided_by="boss", newest_first=True) == [closed, rejected]
    assert ids(status=CLOSED, decided_by=" BOSS2 ") == [closed]
    assert ids(status=CLOSED, decided_by="nobody") == []
    assert ids(status=None, tool="issue_refund") == [approved, rejected, pending]
    assert ids(status=["approved", "rejected"], tool="issue_refund") == [approved, rejected]
    assert ids(status="rejected", customer_id="C-1", decided_by="boss") == [rejected]
    # The limit counts matches, not rows read.
    assert ids(status=None, tool="issue_refund", newest_first=True, limit=2) == [
        pending,
        rejected,
    ]
