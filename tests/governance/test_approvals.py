"""Approvals: bound to one action, decided once, within authority, four-eyes, expiry."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from govcx.agent.agent import Agent
from govcx.errors import ApprovalStale, DuplicateApprover, NotAuthorized, ToolArgumentError
from tests.conftest import Clock, shop_effects

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


def _refund(agent: Agent, amount: int, conv: str = "c1", order: str = "A-1002") -> str:
    turn = agent.respond(conv, f"please refund ${amount} for order {order}", customer_id="C-1")
    assert turn.status == "pending_approval", turn
    assert turn.actions[0].status == "pending"
    assert turn.approval_id
    return turn.approval_id


def test_request_packages_the_action(agent: Agent) -> None:
    aid = _refund(agent, 80)
    request = agent.approvals.get(aid)
    assert request.kind == "action"
    assert request.tool == "issue_refund"
    assert request.args == {"order_id": "A-1002", "amount": 80.0}
    assert request.tier == "low"
    assert request.rules == ["tool.issue_refund.approval_if"]
    assert request.policy_version == "t1"
    assert request.approvals_needed == 1
    assert "refund" in request.rationale
    assert request.expires_at - request.requested_at == 3600
    assert request.draft_reply


def test_approve_executes_once_and_resumes(agent: Agent) -> None:
    aid = _refund(agent, 80)
    turn = agent.decide(aid, principal="sup", decision="approve")
    assert turn.status == "answered"
    assert [(a.tool, a.status) for a in turn.actions] == [("issue_refund", "executed")]
    assert turn.reply is not None
    assert "refunded $80.00" in turn.reply.text
    with pytest.raises(ApprovalStale, match="already approved"):
        agent.decide(aid, principal="boss", decision="approve")
    with pytest.raises(ApprovalStale, match="already approved"):
        agent.decide(aid, principal="boss", decision="reject")
    assert [e["amount"] for e in shop_effects(agent)] == [80.0]


def test_reject_tells_customer_and_runs_nothing(agent: Agent) -> None:
    aid = _refund(agent, 80)
    turn = agent.decide(aid, principal="sup", decision="reject", comment="duplicate claim")
    assert turn.status == "answered"
    assert turn.actions[0].status == "rejected"
    assert turn.reply is not None
    assert "could not approve" in turn.reply.text
    # No case is opened on a rejection, so the reply promises no follow-up.
    assert "follow up" not in turn.reply.text and agent.cases.open_for("c1") is None
    assert "duplicate claim" not in turn.reply.text
    assert shop_effects(agent) == []
    assert agent.approvals.get(aid).decisions[0].comment == "duplicate claim"


def test_edit_rechecks_authority_and_binds_new_args(agent: Agent) -> None:
    aid = _refund(agent, 80)
    with pytest.raises(NotAuthorized, match="exceeds the approval limit 100"):
        agent.decide(aid, principal="sup", decision="edit", args={"amount": 110})
    with pytest.raises(ToolArgumentError, match="amount"):
        agent.decide(aid, principal="sup", decision="edit", args={"amount": -5})
    with pytest.raises(ToolArgumentError):
        agent.decide(aid, principal="sup", decision="edit", args={"customer_id": "C-2"})
    turn = agent.decide(aid, principal="sup", decision="edit", args={"amount": 60})
    assert turn.status == "answered"
    assert turn.actions[0].args == {"order_id": "A-1002", "amount": 60.0}
    assert [e["amount"] for e in shop_effects(agent)] == [60.0]


def test_authority_limits_and_channel(agent: Agent) -> None:
    aid = _refund(agent, 110)
    with pytest.raises(NotAuthorized, match="channel principals can never decide"):
        agent.decide(aid, principal="web", decision="approve")
    with pytest.raises(NotAuthorized, match="not an approver"):
        agent.decide(aid, principal="audit", decision="approve")
    with pytest.raises(NotAuthorized, match="amount 110 exceeds the approval limit 100"):
        agent.decide(aid, principal="sup", decision="approve")
    assert agent.approvals.get(aid).status == "pending"
    assert agent.decide(aid, principal="boss", decision="approve").status == "answered"


def test_four_eyes_needs_two_distinct_managers(agent: Agent) -> None:
    turn = agent.respond("c4", "close my account", customer_id="C-1")
    assert turn.status == "pending_approval"
    aid = turn.approval_id
    assert aid is not None, turn
    request = agent.approvals.get(aid)
    assert request.tier == "critical" and request.approvals_needed == 2
    with pytest.raises(NotAuthorized, match="tier 'critical' needs one of the roles manager"):
        agent.decide(aid, principal="sup", decision="approve")
    first = agent.decide(aid, principal="boss", decision="approve")
    assert first.status == "pending_approval"
    assert shop_effects(agent) == []
    with pytest.raises(DuplicateApprover):
        agent.decide(aid, principal="boss", decision="approve")
    second = agent.decide(aid, principal="boss2", decision="approve")
    assert second.status == "answered"
    assert [e["tool"] for e in shop_effects(agent)] == ["close_account"]


def test_expiry_applies_on_expiry_escalate(agent: Agent, clock: Clock) -> None:
    aid = _refund(agent, 80)
    clock.now += 3601
    turns = agent.expire_overdue()
    assert len(turns) == 1 and turns[0].status == "escalated"
    assert turns[0].escalation is not None
    assert turns[0].escalation.reason == "approval expired"
    assert agent.approvals.get(aid).status == "expired"
    with pytest.raises(ApprovalStale, match="already expired"):
        agent.decide(aid, principal="sup", decision="approve")
    assert shop_effects(agent) == []


def test_expiry_with_on_expiry_reject_says_nothing_changed(agent: Agent, clock: Clock) -> None:
    """Nobody reviewed it, so the reply does not say a person did, and it promises no
    follow-up: no case is opened."""
    from govcx.graphs import replies
    from govcx.guardrails.promises import promise_in

    rejecting = agent.policy.approvals.model_copy(update={"on_expiry": "reject"})
    newer = {"approvals": rejecting, "version": "t2"}
    agent.set_policy(agent.policy.model_copy(update=newer), actor="admin")
    aid = _refund(agent, 80)
    clock.now += 3601
    [turn] = agent.expire_overdue()
    assert turn.status == "answered" and turn.approval_status == "expired"
    assert turn.reply is not None and turn.reply.text == replies.NOT_APPROVED_IN_TIME
    assert "reviewed" not in turn.reply.text and promise_in(turn.reply.text) is None
    assert agent.cases.open_for("c1") is None
    assert agent.approvals.get(aid).status == "expired" and shop_effects(agent) == []


def test_late_decision_expires_instead(agent: Agent, clock: Clock) -> None:
    aid = _refund(agent, 80)
    clock.now += 7200
    with pytest.raises(ApprovalStale, match="expired"):
        agent.decide(aid, principal="sup", decision="approve")
    assert agent.approvals.get(aid).status == "expired"
    assert agent.conversation("c1")["status"] == "idle"
    assert shop_effects(agent) == []


def test_policy_change_supersedes_pending_approval(agent: Agent) -> None:
    aid = _refund(agent, 80)
    newer = agent.policy.model_copy(update={"version": "t2"})
    agent.set_policy(newer, actor="admin")
    request = agent.approvals.get(aid)
    assert request.status == "superseded"
    with pytest.raises(ApprovalStale, match="already superseded"):
        agent.decide(aid, principal="sup", decision="approve")
    # The conversation went to a person and the customer was told; nothing ran.
    conv = agent.conversation("c1")
    assert conv["status"] == "idle"
    last = conv["turns"][-1]
    assert last["status"] == "escalated"
    assert last["escalation"]["rules"] == ["approval.superseded"]
    assert conv["transcript"][-1]["role"] == "assistant"
    assert shop_effects(agent) == []


def test_store_refuses_a_decision_under_another_policy(agent: Agent) -> None:
    """ApprovalStore.decide checks the binding itself, without the Agent in front."""
    aid = _refund(agent, 80)
    other = agent.policy.model_copy(update={"version": "t9"})
    with pytest.raises(ApprovalStale, match="requested under policy t1"):
        agent.approvals.decide(
            aid, principal=agent.principal("sup"), decision="approve", policy=other
        )
    same_version = agent.policy.model_copy(
        update={"defaults": agent.policy.defaults.model_copy(update={"min_confidence": 0.11})}
    )
    assert same_version.version == "t1" and same_version.digest != agent.policy.digest
    with pytest.raises(ApprovalStale, match="requested under policy t1"):
        agent.approvals.decide(
            aid, principal=agent.principal("sup"), decision="approve", policy=same_version
        )
    assert agent.approvals.get(aid).status == "pending"


def test_concurrent_decisions_exactly_one_wins(make_agent: Callable[..., Agent]) -> None:
    first, second = make_agent(), make_agent()  # two agents = two workers on one state dir
    aid = _refund(first, 80)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def decide(agent: Agent, who: str) -> None:
        barrier.wait()
        try:
            agent.decide(aid, principal=who, decision="approve")
            outcomes.append("won")
        except ApprovalStale:
            outcomes.append("stale")

    threads = [
        threading.Thread(target=decide, args=(a, w)) for a, w in ((first, "sup"), (second, "boss"))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["stale", "won"]
    assert len(shop_effects(first)) == 1


def test_message_while_pending_does_not_lose_the_approval(agent: Agent) -> None:
    aid = _refund(agent, 80)
    turn = agent.respond("c1", "hello? any news?", customer_id="C-1")
    assert turn.status == "pending_approval" and turn.approval_id == aid
    assert agent.decide(aid, principal="sup", decision="approve").status == "answered"
