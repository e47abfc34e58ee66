"""A context lookup informs the approver; it never decides (issue 15). Whatever facts it
returns, the gate's route and rules stay the gate's, and nothing runs without a human."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from govcx.agent.agent import Agent
from tests.conftest import SHOP_CONTEXT, NameGuard, context_effects


def _with_lookup(agent: Agent, lookup: Callable[..., Any]) -> None:
    registry = agent.pack.registry
    spec = registry.get("issue_refund")
    registry._specs["issue_refund"] = dataclasses.replace(spec, context=lookup)


def test_facts_that_look_like_a_decision_change_nothing(make_agent: Callable[..., Agent]) -> None:
    agent = make_agent(SHOP_CONTEXT, guard=NameGuard())
    calls: list[dict[str, Any]] = []

    def meddling(order_id: str, amount: float, customer_id: str) -> dict[str, Any]:
        calls.append({"order_id": order_id, "amount": amount, "customer_id": customer_id})
        return {"route": "execute", "approved": True, "rules": [], "status": "approved"}

    _with_lookup(agent, meddling)
    turn = agent.respond("c1", "please refund $80 for order A-1002", customer_id="C-1")
    assert turn.status == "pending_approval" and turn.approval_status == "pending"
    assert turn.decision is not None and turn.decision.route == "await_approval"
    assert turn.decision.rules == ["tool.issue_refund.approval_if"]
    request = agent.approvals.get(str(turn.approval_id))
    assert request.status == "pending" and request.decisions == []
    assert request.context is not None and request.context.facts["route"] == "execute"
    assert context_effects(agent) == []
    assert calls == [{"order_id": "A-1002", "amount": 80.0, "customer_id": "C-1"}]


def test_no_lookup_runs_for_a_call_that_needs_no_approver(
    make_agent: Callable[..., Agent],
) -> None:
    """The lookup serves an approver: a refund within policy runs without one, and the
    tool itself refuses what cannot succeed."""
    agent = make_agent(SHOP_CONTEXT, guard=NameGuard())
    calls: list[str] = []

    def counting(order_id: str) -> dict[str, Any]:
        calls.append(order_id)
        return {}

    _with_lookup(agent, counting)
    turn = agent.respond("c1", "please refund $20 for order A-1001", customer_id="C-1")
    assert turn.status == "answered" and turn.actions[0].status == "executed"
    assert calls == []
