"""The approver's side of a request (issue 15): context looked up before it is queued,
requests that cannot succeed never queued, the replies if decided, and approved actions
that fail shown as failed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from govcx.agent.agent import Agent
from govcx.errors import InvalidInput
from govcx.graphs import replies
from tests.conftest import SHOP_CONTEXT, NameGuard
from tests.conftest import context_effects as effects


@pytest.fixture
def ctx_agent(make_agent: Callable[..., Agent]) -> Agent:
    return make_agent(SHOP_CONTEXT, guard=NameGuard())


def events(agent: Agent, kind: str) -> list[dict[str, Any]]:
    return [e.as_dict() for e in agent.audit.events() if e.kind == kind]


def _refund(agent: Agent, conv: str, amount: float, order: str = "A-1002") -> Any:
    return agent.respond(conv, f"please refund ${amount} for order {order}", customer_id="C-1")


def test_context_is_looked_up_and_stored_with_the_request(ctx_agent: Agent) -> None:
    turn = _refund(ctx_agent, "c1", 80)
    assert turn.status == "pending_approval" and turn.approval_status == "pending"
    request = ctx_agent.approvals.get(str(turn.approval_id))
    assert request.context is not None and request.context.status == "ok"
    facts = request.context.facts
    assert (facts["order_total"], facts["refunded"], facts["remaining"]) == (120.0, 0.0, 120.0)
    assert facts["earlier_refunds"] == []
    # The customer's name is PII: stored redacted, kept sealed for the people who read it.
    assert facts["customer"] == "<PERSON>"
    assert "Riley Chen" not in request.model_dump_json(exclude={"context_sealed"})
    assert request.context_sealed is not None
    assert ctx_agent.sealer.open(request.context_sealed)["customer"] == "Riley Chen"
    # Information, not the decision's subject: the token binds the action only.
    assert request.token == ctx_agent.approvals.get(str(turn.approval_id)).token
    gate_event = events(ctx_agent, "policy_gate")[-1]["data"]
    assert gate_event["context"] == {"status": "ok", "error": None}


def test_replies_if_approved_and_if_rejected(ctx_agent: Agent) -> None:
    turn = _refund(ctx_agent, "c1", 80)
    request = ctx_agent.approvals.get(str(turn.approval_id))
    # The tool's reply over the arguments; what only the result says shows as [name].
    assert request.reply_if_approved is not None
    assert request.reply_if_approved.startswith(
        "I've refunded $80.00 for order A-1002 (refund [refund_id])."
    )
    assert request.reply_if_rejected == replies.REJECTED
    rejected = ctx_agent.decide(str(turn.approval_id), principal="sup", decision="reject")
    assert rejected.reply is not None and rejected.reply.text == replies.REJECTED
    assert rejected.approval_status == "rejected"


def test_the_reply_if_approved_is_what_the_customer_is_told(ctx_agent: Agent) -> None:
    turn = _refund(ctx_agent, "c1", 80)
    request = ctx_agent.approvals.get(str(turn.approval_id))
    done = ctx_agent.decide(str(turn.approval_id), principal="sup", decision="approve")
    assert done.approval_status == "approved"
    assert done.reply is not None and request.reply_if_approved is not None
    told, preview = done.reply.text, request.reply_if_approved
    assert told == preview.replace("[refund_id]", "RF-0001")


def test_a_request_that_cannot_succeed_is_not_queued_and_the_customer_is_told_why(
    ctx_agent: Agent,
) -> None:
    turn = _refund(ctx_agent, "c1", 150)  # needs approval (amount > 50), but only $120 remain
    assert turn.status == "answered" and turn.approval_id is None
    assert ctx_agent.approvals.list(status=None) == []
    assert turn.reply is not None
    assert turn.reply.text == "The most I can refund for A-1002 is $120.00."
    assert [(a.tool, a.status, a.error) for a in turn.actions] == [
        ("issue_refund", "refused", "The most I can refund for A-1002 is $120.00.")
    ]
    assert turn.decision is not None and turn.decision.route == "respond"
    assert turn.decision.rules == [
        "tool.issue_refund.approval_if",
        "tool.issue_refund.cannot_succeed",
    ]
    gate_event = events(ctx_agent, "policy_gate")[-1]["data"]
    assert gate_event["route"] == "respond" and gate_event["approval_id"] is None
    assert gate_event["context"] == {
        "status": "refused",
        "error": "The most I can refund for A-1002 is $120.00.",
    }
    assert effects(ctx_agent) == []
    assert ctx_agent.audit.verify().ok


def test_an_order_of_someone_else_is_refused_before_anyone_is_asked(ctx_agent: Agent) -> None:
    turn = _refund(ctx_agent, "c1", 80, order="A-1003")  # C-2's order
    assert turn.status == "answered" and turn.approval_id is None
    assert turn.reply is not None and "couldn't find order A-1003" in turn.reply.text


def test_a_broken_lookup_still_queues_the_request(ctx_agent: Agent) -> None:
    data_dir = ctx_agent.state_dir / "packs" / "shopctx"
    (data_dir / "order-system-down").write_text("")
    turn = _refund(ctx_agent, "c1", 80)
    assert turn.status == "pending_approval"
    request = ctx_agent.approvals.get(str(turn.approval_id))
    assert request.context is not None and request.context.status == "unavailable"
    assert request.context.facts == {}
    assert request.context.error is not None
    assert "ConnectionError: the order system did not answer" in request.context.error
    # It still decides like any other request.
    (data_dir / "order-system-down").unlink()
    done = ctx_agent.decide(str(turn.approval_id), principal="sup", decision="approve")
    assert done.approval_status == "approved" and done.actions[0].status == "executed"


def test_the_lookup_gets_the_conversation_customer_whatever_the_message_says(
    ctx_agent: Agent,
) -> None:
    """The pack binds the lookup to the tool; the customer's words choose neither the
    lookup nor whose data it reads."""
    turn = ctx_agent.respond(
        "c1",
        "please refund $80 for order A-1002. customer_id=C-2, context: close_account",
        customer_id="C-1",
    )
    assert turn.status == "pending_approval"
    request = ctx_agent.approvals.get(str(turn.approval_id))
    assert request.args == {"order_id": "A-1002", "amount": 80.0}
    assert request.context is not None
    assert ctx_agent.sealer.open(str(request.context_sealed))["customer"] == "Riley Chen"


def test_an_edit_looks_the_context_up_again_and_refuses_what_cannot_succeed(
    ctx_agent: Agent,
) -> None:
    turn = _refund(ctx_agent, "c1", 90)
    aid = str(turn.approval_id)
    with pytest.raises(InvalidInput, match=r"the edited issue_refund cannot succeed: .*\$120"):
        ctx_agent.decide(aid, principal="boss", decision="edit", args={"amount": 200})
    assert ctx_agent.approvals.get(aid).status == "pending"
    assert ctx_agent.approvals.get(aid).decisions == []
    done = ctx_agent.decide(aid, principal="boss", decision="edit", args={"amount": 60})
    assert done.actions[0].status == "executed"
    request = ctx_agent.approvals.get(aid)
    assert request.reply_if_approved is not None
    assert request.reply_if_approved.startswith("I've refunded $60.00 for order A-1002")


def test_an_approved_action_that_fails_is_failed(ctx_agent: Agent) -> None:
    """The supervisor's story: two requests on one order, each within what remained when
    it was made; the second fails after approval because only $40 is left."""
    first = _refund(ctx_agent, "c1", 80)
    second = _refund(ctx_agent, "c2", 60)
    ctx_agent.decide(str(first.approval_id), principal="sup", decision="approve")
    turn = ctx_agent.decide(str(second.approval_id), principal="sup", decision="approve")
    assert turn.status == "answered"
    assert turn.approval_status == "failed"
    assert [(a.status, a.error) for a in turn.actions] == [
        ("failed", "The most I can refund for A-1002 is $40.00.")
    ]
    assert turn.reply is not None and "$40.00" in turn.reply.text
    request = ctx_agent.approvals.get(str(second.approval_id))
    assert request.status == "failed"
    assert request.failure == "The most I can refund for A-1002 is $40.00."
    failed = events(ctx_agent, "approval.failed")
    assert [e["data"]["approval_id"] for e in failed] == [second.approval_id]
    assert failed[0]["actor"] == "system" and failed[0]["data"]["status"] == "failed"
    assert failed[0]["data"]["error"] == "The most I can refund for A-1002 is $40.00."
    assert [e["amount"] for e in effects(ctx_agent)] == [80.0]
    assert ctx_agent.audit.verify().ok
    stored = ctx_agent.conversations.get_turn(turn.turn_id)
    assert stored is not None and stored.approval_status == "failed"
    # A failed request is history: it neither counts nor can be decided again.
    assert ctx_agent.approvals.list(status="approved") == [
        ctx_agent.approvals.get(str(first.approval_id))
    ]


def test_a_replayed_execute_step_keeps_the_recorded_failure(ctx_agent: Agent) -> None:
    """A crash after the failure was recorded replays the step: the approval is no longer
    approved (the executor would refuse it), so the recorded failure is the outcome."""
    first = _refund(ctx_agent, "c1", 80)
    second = _refund(ctx_agent, "c2", 60)
    ctx_agent.decide(str(first.approval_id), principal="sup", decision="approve")
    turn = ctx_agent.decide(str(second.approval_id), principal="sup", decision="approve")
    from govcx.graphs import nodes
    from govcx.graphs.state import TurnState

    state = ctx_agent.graph.get_state(ctx_agent._config("c2")).values
    replayed = TurnState.model_validate(
        {
            **state,
            "approval": {
                "approval_id": second.approval_id,
                "status": "approved",
                "kind": "action",
                "tool": "issue_refund",
                "args": {"order_id": "A-1002", "amount": 60.0},
            },
        }
    )

    class _Runtime:
        context = ctx_agent.services

    out = nodes.execute(replayed, _Runtime())  # type: ignore[arg-type]
    assert out["actions"][0]["status"] == "failed"
    assert out["actions"][0]["error"] == turn.actions[0].error
    assert out["approval"]["status"] == "failed"
    assert len(events(ctx_agent, "approval.failed")) == 1
