"""The typed state, the graph's shape, and checkpoints written before either."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from govcx.agent.agent import Agent
from govcx.governance.finding import Finding
from govcx.graphs.graph import NODES, build_graph, mermaid
from govcx.graphs.state import TurnState, dump
from govcx.store.sealed import checkpoint_serde
from govcx.turn import Reply

# Channel values as the dict-based state wrote them (a run waiting for an approval).
OLD_VALUES: dict[str, Any] = {
    "conversation_id": "c1",
    "customer_id": "C-1",
    "turn_id": "turn_1",
    "text": "refund $80 for order A-1002",
    "redacted": "refund $80 for order A-1002",
    "findings": [
        {
            "type": "EMAIL",
            "start": 0,
            "end": 3,
            "score": 0.9,
            "source": "input",
            "action": "redact",
            "detail": "",
        }
    ],
    "intent": "refund",
    "confidence": 0.91,
    "classification": {
        "intent": "refund",
        "confidence": 0.91,
        "alternatives": {},
        "continued_from_question": False,
        "engine": "embedded",
        "engine_error": None,
        "corroborated": True,
        "corroboration": None,
        "entities": {"order_id": ["A-1002"]},
    },
    "chunks": [
        {
            "doc_id": "returns",
            "version": "2",
            "title": "Returns",
            "text": "30 days",
            "chunk_id": "returns#0",
            "heading": "",
            "score": 0.7,
            "tags": ["refund"],
            "metadata": {},
        }
    ],
    "plan": {
        "proposal": {
            "tool": "issue_refund",
            "args": {"order_id": "A-1002", "amount": 80.0},
            "missing": [],
        },
        "question": None,
        "pending": None,
        "evidence": [],
        "error": None,
    },
    "draft": {"text": "", "citations": [], "support": 0.0, "trusted": ""},
    "decision": {
        "route": "await_approval",
        "rules": ["tool.issue_refund.amount"],
        "reason": "over the limit",
        "policy_version": "3",
        "policy_digest": "d",
        "approval_kind": "action",
        "tier": "high",
    },
    "approval_id": "apr_1",
    "approval": None,
    "actions": [],
    "reply": None,
    "status": "running",
    "escalation": None,
    "pending": None,
    "audit_buffer": [],
}


def test_old_dict_values_load_typed() -> None:
    state = TurnState.model_validate(OLD_VALUES)
    assert state.plan is not None and state.plan.proposal is not None
    assert state.plan.proposal.tool == "issue_refund"
    assert state.plan.proposal.args == {"order_id": "A-1002", "amount": 80.0}
    assert state.decision is not None and state.decision.route == "await_approval"
    assert state.classification is not None
    assert state.classification.entities == {"order_id": ["A-1002"]}
    assert isinstance(state.findings[0], Finding) and state.findings[0].action == "redact"
    assert state.chunks[0].tags == ("refund",)


def test_old_empty_parts_are_none() -> None:
    """The dict state reset its parts to ``{}`` at the start of a turn."""
    old = {**OLD_VALUES, "classification": {}, "plan": {}, "draft": {}, "decision": {}}
    state = TurnState.model_validate(old)
    assert (state.classification, state.plan, state.draft, state.decision) == (
        None,
        None,
        None,
        None,
    )


def test_parts_round_trip_through_the_encrypted_serializer() -> None:
    """Nodes write plain data: what a checkpoint holds loads back into the same state,
    through the AES-GCM serializer and a strict msgpack allowlist alike."""
    state = TurnState.model_validate(OLD_VALUES).model_copy(update={"reply": Reply(text="ok")})
    values = {k: dump(v) for k, v in state}
    for serde in (checkpoint_serde(b"k" * 32), JsonPlusSerializer(allowed_msgpack_modules=None)):
        loaded = serde.loads_typed(serde.dumps_typed(values))
        assert TurnState.model_validate(loaded) == state


def test_the_diagram_names_routes_and_the_pending_path() -> None:
    chart = mermaid()
    for node in ("still_waiting", "check_reply", "finish_turn", "policy_gate"):
        assert node in chart and node in NODES
    assert "guard_output" not in chart and "respond" not in NODES
    assert "policy_gate -. &nbsp;answer&nbsp; .-> check_reply" in chart
    assert "__start__ -. &nbsp;while_pending&nbsp; .-> still_waiting" in chart


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
@pytest.mark.parametrize(
    ("stop_before", "old_name"), [("check_reply", "guard_output"), ("finish_turn", "respond")]
)
def test_a_run_stopped_before_a_renamed_node_is_recovered(
    agent: Agent, stop_before: str, old_name: str
) -> None:
    """A crash left a run (of the version with the old node names) about to run
    ``guard_output`` or ``respond``: recovery finishes it under the new names."""
    config: Any = {"configurable": {"thread_id": "old-1"}}
    agent.conversations.ensure("old-1", "C-1", start=True)
    stopped = build_graph(agent.checkpointer).copy(update={"interrupt_before_nodes": [stop_before]})
    stopped.invoke(
        {
            "conversation_id": "old-1",
            "customer_id": "C-1",
            "turn_id": "turn_old",
            "text": "how do returns work?",
        },
        config,
        context=agent.services,
    )
    saved = agent.checkpointer.get_tuple(config)
    assert saved is not None
    old = json.loads(
        json.dumps(saved.checkpoint, default=list).replace(
            f"branch:to:{stop_before}", f"branch:to:{old_name}"
        )
    )
    old["id"] = str(uuid6(clock_seq=-2))
    agent.checkpointer.put(saved.config, old, saved.metadata, {})
    assert agent.graph.get_state(config).next == ()  # the old name means nothing now
    agent.conversations.set_status("old-1", "running")
    [turn] = agent.recover()
    assert turn.status == "answered" and "30 days" in (turn.reply.text if turn.reply else "")
    assert agent.conversations.get("old-1")["status"] == "idle"
    kinds = [e.kind for e in agent.audit.events(conversation_id="old-1")]
    assert kinds[-2:] == ["guard_output", "respond"] and kinds.count("respond") == 1
