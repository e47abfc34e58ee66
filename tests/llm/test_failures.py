"""An engine that fails (a replay miss, an unforeseen error) never leaves a conversation
running: the turn fails with a clear error or escalates with the reason, and the
conversation takes its next message."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from govcx.agent.agent import Agent
from govcx.api import ServerSettings, create_app
from govcx.engines._llm import planning, prompts
from govcx.engines.llm import LLMEngine
from govcx.errors import CassetteMiss
from govcx.pack import EngineConfig, Pack
from govcx.testing import StubOpenAIServer, simple_responder
from tests.api.test_conversations import _sse
from tests.llm.conftest import FAST
from tests.llm.test_streaming import HEADERS, KEY

KEYWORDS = {"refund": ["refund"], "order_status": ["where"], "returns_info": ["return"]}
Make = Callable[..., Any]


@pytest.fixture
def replaying(shop: Pack, tmp_path: Path) -> Callable[[], LLMEngine]:
    """Replay engines over a cassette holding one recorded turn ("how do returns work?")."""
    cassette = tmp_path / "one-turn.jsonl"
    config = EngineConfig(kind="llm", model="gpt-4o-mini")
    with StubOpenAIServer(simple_responder(KEYWORDS)) as stub:
        recorder = LLMEngine.from_pack(
            shop,
            mode="record",
            cassette=cassette,
            options=FAST,
            config=config.model_copy(update={"base_url": stub.url}),
        )
        from govcx.engines.engine import TurnContext

        ctx = TurnContext(conversation_id="rec", customer_id="C-1", turn_id="t")
        recorder.classify("how do returns work?", ctx)
        from tests.conftest import RETURNS

        recorder.draft("how do returns work?", ctx, intent="returns_info", chunks=[RETURNS])

    def make() -> LLMEngine:
        return LLMEngine.from_pack(
            shop, mode="replay", cassette=cassette, options=FAST, config=config
        )

    return make


def test_a_replay_miss_fails_the_turn_and_the_conversation_goes_on(
    make_agent: Make, replaying: Callable[[], LLMEngine]
) -> None:
    agent: Agent = make_agent(engine=replaying())
    with pytest.raises(CassetteMiss) as caught:
        agent.respond("eval-case-9", "where is my order A-1001?", customer_id="C-1")
    assert "classify conversation=eval-case-9" in str(caught.value)
    conv = agent.conversations.get("eval-case-9")
    assert conv["status"] == "idle" and conv["last_turn_status"] == "failed"
    failed = [
        e for e in agent.audit.events(conversation_id="eval-case-9") if e.kind == "turn.failed"
    ]
    assert [e.data["error"] for e in failed] == ["cassette_miss"]
    assert agent.recover() == []  # nothing left half-run for recovery to replay
    turn = agent.respond("eval-case-9", "how do returns work?", customer_id="C-1")
    assert turn.status == "answered" and turn.reply is not None
    assert agent.conversations.get("eval-case-9")["status"] == "idle"
    assert agent.audit.verify().ok


def test_a_replay_miss_over_sse_is_an_error_event(
    make_agent: Make, tmp_path: Path, replaying: Callable[[], LLMEngine]
) -> None:
    agent: Agent = make_agent(engine=replaying())
    settings = ServerSettings(home=tmp_path / "home", api_keys=f"{KEY}:web", expiry_interval=0)
    with TestClient(create_app(settings, agent)) as client:
        response = client.post(
            "/v1/conversations/m-1/messages",
            headers=HEADERS,
            json={"text": "where is my order A-1001?", "customer_id": "C-1"},
        )
        events = _sse(response.text)
        assert events[-1][0] == "error"
        assert events[-1][1]["error"]["code"] == "cassette_miss"
        assert "classify conversation=m-1" in events[-1][1]["error"]["message"]
        assert agent.conversations.get("m-1")["status"] == "idle"
        again = _sse(
            client.post(
                "/v1/conversations/m-1/messages",
                headers=HEADERS,
                json={"text": "how do returns work?"},
            ).text
        )
        assert again[-1][0] == "turn" and again[-1][1]["status"] == "answered"


def test_an_unforeseen_engine_error_escalates_with_the_reason(
    make_agent: Make, stub: StubOpenAIServer, stub_engine: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub.script = simple_responder(KEYWORDS)
    agent: Agent = make_agent(engine=stub_engine())

    def broken(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("prompt template exploded")

    monkeypatch.setattr(prompts, "classify_prompt", broken)
    turn = agent.respond("u-1", "how do returns work?", customer_id="C-1")
    assert turn.status == "escalated" and turn.actions == []
    classify = next(e for e in agent.audit.events(conversation_id="u-1") if e.kind == "classify")
    assert "RuntimeError: prompt template exploded" in str(classify.data["engine_error"])
    assert agent.conversations.get("u-1")["status"] == "idle"
    monkeypatch.undo()
    # The escalation handed the conversation to a person: the AI stays silent until they
    # hand it back, and then answers again.
    assert agent.respond("u-1", "how do returns work?", customer_id="C-1").status == "with_human"
    case = agent.cases.open_for("u-1")
    assert case is not None and case.team == "support"
    pat = agent.pack.principal("pat")
    agent.cases.claim(case.case_id, pat)
    agent.cases.hand_back(case.case_id, pat)
    assert agent.respond("u-1", "how do returns work?", customer_id="C-1").status == "answered"


def test_an_unforeseen_planning_error_never_acts(
    make_agent: Make, stub: StubOpenAIServer, stub_engine: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub.script = simple_responder(KEYWORDS)
    agent: Agent = make_agent(engine=stub_engine())

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("args")

    monkeypatch.setattr(planning, "proposal", broken)
    turn = agent.respond("u-2", "please refund $20 for order A-1001", customer_id="C-1")
    assert turn.status == "escalated"
    assert all(a.status != "executed" for a in turn.actions)
    assert (
        turn.decision is not None
        and "LLM engine failed while it tried to plan" in turn.decision.reason
    )
