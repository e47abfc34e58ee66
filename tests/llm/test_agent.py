"""The LLM engine in the full governed graph, over HTTP against the stub server."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from govcx.agent.agent import Agent, build_engine
from govcx.engines.llm import LLMEngine
from govcx.errors import ConfigError
from govcx.pack import Pack, load_pack
from govcx.testing import (
    ModelRequest,
    ModelResponse,
    StubOpenAIServer,
    classified,
    fault,
    simple_responder,
)
from tests.conftest import SHOP, shop_effects

KEYWORDS = {
    "refund": ["refund"],
    "order_status": ["where"],
    "returns_info": ["return"],
    "lawyer": ["sue"],
}
Make = Callable[..., LLMEngine]


@pytest.fixture
def llm_agent(make_agent: Callable[..., Agent], stub: StubOpenAIServer, stub_engine: Make) -> Agent:
    stub.script = simple_responder(KEYWORDS)
    engine = stub_engine()
    agent = make_agent(engine=engine)
    engine.attach(policy=lambda: agent.policy, audit=agent.audit)  # a second attach: no-op
    return agent


def test_answer_grounded_in_knowledge(llm_agent: Agent) -> None:
    turn = llm_agent.respond("a1", "how do returns work?", customer_id="C-1")
    assert turn.status == "answered" and turn.intent == "returns_info"
    assert turn.reply is not None and "30 days" in turn.reply.text
    assert [(c.doc_id, c.version) for c in turn.reply.citations] == [("returns", "2")]
    assert "[S1]" not in turn.reply.text


def test_refund_within_policy_executes(llm_agent: Agent) -> None:
    turn = llm_agent.respond("a2", "please refund $20 for order A-1001", customer_id="C-1")
    assert turn.status == "answered"
    assert [(a.tool, a.status, a.args) for a in turn.actions] == [
        ("issue_refund", "executed", {"order_id": "A-1001", "amount": 20.0})
    ]
    assert turn.reply is not None and "refunded $20.00" in turn.reply.text
    assert [e["amount"] for e in shop_effects(llm_agent)] == [20.0]


def test_refund_over_limit_waits_then_runs_once_approved(llm_agent: Agent) -> None:
    turn = llm_agent.respond("a3", "refund $80 for order A-1002", customer_id="C-1")
    assert turn.status == "pending_approval"
    assert shop_effects(llm_agent) == []
    done = llm_agent.decide(str(turn.approval_id), principal="sup", decision="approve")
    assert done.status == "answered"
    assert [e["amount"] for e in shop_effects(llm_agent)] == [80.0]


def test_clarifying_question_then_continuation(llm_agent: Agent) -> None:
    first = llm_agent.respond("a4", "I want a refund of $20", customer_id="C-1")
    assert first.decision is not None and first.decision.rules == ["slot.missing"]
    assert first.reply is not None and "order number" in first.reply.text
    second = llm_agent.respond("a4", "refund order A-1001", customer_id="C-1")
    assert [(a.tool, a.args) for a in second.actions] == [
        ("issue_refund", {"order_id": "A-1001", "amount": 20.0})
    ]


def test_model_calls_are_in_the_audit_trail(llm_agent: Agent) -> None:
    turn = llm_agent.respond("a5", "how do returns work?", customer_id="C-1")
    events = [e for e in llm_agent.audit.events(conversation_id="a5") if e.kind == "llm.call"]
    assert [e.data["purpose"] for e in events] == ["classify", "draft"]
    assert all(e.turn_id == turn.turn_id and e.data["input_tokens"] > 0 for e in events)
    assert "how do returns work" not in str([e.data for e in events])  # no prompt text
    assert llm_agent.audit.verify().ok


def test_model_outage_escalates_with_the_reason_in_the_audit(
    make_agent: Callable[..., Agent], stub: StubOpenAIServer, stub_engine: Make
) -> None:
    stub.script = lambda request: fault(503)
    engine = stub_engine()
    agent = make_agent(engine=engine)
    engine.attach(policy=lambda: agent.policy, audit=agent.audit)  # a second attach: no-op
    turn = agent.respond("a6", "refund $20 for order A-1001", customer_id="C-1")
    assert turn.status == "escalated" and turn.actions == []
    [event] = [e for e in agent.audit.events(conversation_id="a6") if e.kind == "llm.call"]
    assert event.data["ok"] is False
    assert event.data["error"] == "the model server failed (503) after 3 attempts"
    state = agent.graph.get_state({"configurable": {"thread_id": "a6"}}).values
    assert state["classification"]["entities"]["engine_error"] == [event.data["error"]]


def test_planning_failure_escalates_and_never_executes(
    make_agent: Callable[..., Agent], stub: StubOpenAIServer, stub_engine: Make
) -> None:
    good = simple_responder(KEYWORDS)

    def script(request: ModelRequest) -> ModelResponse:
        return fault(500) if request.purpose == "plan" else good(request)

    stub.script = script
    agent = make_agent(engine=stub_engine())
    turn = agent.respond("a7", "refund $20 for order A-1001", customer_id="C-1")
    assert turn.status == "escalated"
    assert turn.decision is not None and turn.decision.rules == ["proposal.invalid"]
    assert "the model server failed (500)" in turn.decision.reason
    assert shop_effects(agent) == []


def test_reply_tokens_stream_through_a_turn(llm_agent: Agent) -> None:
    engine = llm_agent.engine
    assert isinstance(engine, LLMEngine)
    events: list[tuple[str, str]] = []
    with engine.stream("a8", lambda kind, text: events.append((kind, text))):
        turn = llm_agent.respond("a8", "how do returns work?", customer_id="C-1")
    assert turn.reply is not None
    assert "".join(t for k, t in events if k == "delta") == turn.reply.text
    assert events[-1] == ("end", turn.reply.text)


def test_low_confidence_escalates(
    make_agent: Callable[..., Agent], stub: StubOpenAIServer, stub_engine: Make
) -> None:
    stub.script = lambda request: classified("refund", 0.1)
    agent = make_agent(engine=stub_engine())
    turn = agent.respond("a9", "hmm money?", customer_id="C-1")
    assert turn.status == "escalated"
    assert turn.decision is not None and turn.decision.rules == ["confidence.below_minimum"]


def _llm_pack(tmp_path: Path, engine_block: str) -> Path:
    root = tmp_path / "llmpack"
    shutil.copytree(SHOP, root)
    config = (root / "govcx.yaml").read_text()
    (root / "govcx.yaml").write_text(config + f"engine: {engine_block}\n")
    return root


def test_a_pack_selects_the_llm_engine(
    tmp_path: Path, stub: StubOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _llm_pack(
        tmp_path,
        f"{{kind: llm, model: gpt-4o-mini, base_url: '{stub.url}', "
        "api_key_env: SHOP_TEST_KEY, timeout: 5, max_tokens: 300, "
        "temperature: 0.2, max_retries: 1}",
    )
    monkeypatch.setenv("SHOP_TEST_KEY", "sk-test-123")
    stub.script = lambda request: classified("returns_info", 0.9)
    engine = build_engine(load_pack(root))
    assert isinstance(engine, LLMEngine) and engine.options.retry.max_retries == 1
    from govcx.engines.engine import TurnContext

    engine.classify("returns?", TurnContext(conversation_id="c", customer_id=None, turn_id="t"))
    body = stub.bodies[0]
    assert (body["model"], body["temperature"], body["max_completion_tokens"]) == (
        "gpt-4o-mini",
        0.2,
        300,
    )


def test_a_missing_api_key_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _llm_pack(tmp_path, "{kind: llm, model: gpt-4o, api_key_env: SHOP_ABSENT_KEY}")
    monkeypatch.delenv("SHOP_ABSENT_KEY", raising=False)
    with pytest.raises(ConfigError) as caught:
        build_engine(load_pack(root))
    assert "SHOP_ABSENT_KEY" in str(caught.value)
    assert caught.value.field == "engine.api_key_env"


def test_a_model_name_is_required(shop: Pack) -> None:
    from govcx.pack import EngineConfig

    with pytest.raises(ConfigError, match="needs a model name"):
        LLMEngine.from_pack(shop, config=EngineConfig(kind="llm"))


def test_an_unreachable_server_escalates_and_nothing_leaves_loopback(
    make_agent: Callable[..., Agent], shop: Pack, network_attempts: list[Any]
) -> None:
    from govcx.pack import EngineConfig
    from tests.llm.conftest import FAST

    # No base_url: api.openai.com. The test guard refuses it; the turn must escalate.
    engine = LLMEngine.from_pack(
        shop, config=EngineConfig(kind="llm", model="gpt-4o-mini"), options=FAST
    )
    agent = make_agent(engine=engine)
    turn = agent.respond("a10", "how do returns work?", customer_id="C-1")
    assert turn.status == "escalated"
    assert network_attempts and all("openai.com" in str(a) for a in network_attempts)
    network_attempts.clear()
