"""The audit chain: complete, redacted, and any tampering is detected."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from govcx.agent.agent import Agent
from govcx.governance.audit import AuditLog

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)

def _run(agent: Agent) -> None:
    turn = agent.respond("a1", "please refund $80 for order A-1002", customer_id="C-1")
    agent.decide(turn.approval_id, principal="sup", decision="approve")
    agent.respond("a2", "where is my order A-1001", customer_id="C-1")


def test_every_node_decision_approval_and_tool_call_is_audited(agent: Agent) -> None:
    _run(agent)
    kinds = [e.kind for e in agent.audit.events(conversation_id="a1")]
    for kind in ("guard_input", "classify", "retrieve", "draft", "confidence_check",
                 "policy_gate", "approval.approve", "execute", "guard_output", "respond"):
        assert kind in kinds
    gate = next(e for e in agent.audit.events(conversation_id="a1") if e.kind == "policy_gate")
    assert gate.data["rules"] == ["tool.issue_refund.approval_if"]
    assert gate.policy_version == "t1"
    approve = next(e for e in agent.audit.events() if e.kind == "approval.approve")
    assert approve.actor == "sup"
    assert agent.audit.verify().ok


def _tamper(agent: Agent, sql: str) -> list[str]:
    with agent.db.engine.begin() as conn:
        conn.execute(text(sql))
    result = AuditLog(agent.db).verify()
    assert not result.ok
    return result.problems


def test_edit_is_detected(agent: Agent) -> None:
    _run(agent)
    problems = _tamper(agent, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 5")
    assert any("seq 5" in p and "edited" in p for p in problems)


def test_deletion_in_the_middle_is_detected(agent: Agent) -> None:
    _run(agent)
    problems = _tamper(agent, "DELETE FROM audit_events WHERE seq = 7")
    assert any("seq 8" in p for p in problems)


def test_deletion_of_the_newest_is_detected(agent: Agent) -> None:
    _run(agent)
    last = agent.audit.verify().events
    problems = _tamper(agent, f"DELETE FROM audit_events WHERE seq = {last}")
    assert any("newest" in p for p in problems)


def test_reordering_is_detected(agent: Agent) -> None:
    _run(agent)
    _tamper(agent, "UPDATE audit_events SET seq = -1 WHERE seq = 3")
    _tamper(agent, "UPDATE audit_events SET seq = 3 WHERE seq = 4")
    problems = _tamper(agent, "UPDATE audit_events SET seq = 4 WHERE seq = -1")
    assert any("seq 3" in p or "seq 4" in p for p in problems)


def test_customer_text_is_redacted_in_audit(make_agent) -> None:  # type: ignore[no-untyped-def]
    from govcx.guardrails import build_guard

    agent = make_agent(guard=build_guard(make_agent().policy.guards))
    agent.respond("p1", "my email is jane.doe@example.com and card 4111 1111 1111 1111, "
                  "where is order A-1001", customer_id="C-1")
    dump = "\n".join(str(e.data) for e in agent.audit.events())
    assert "jane.doe@example.com" not in dump
    assert "4111 1111 1111 1111" not in dump
    transcript = agent.conversation("p1")["transcript"]
    assert "jane.doe@example.com" not in transcript[0]["text"]
