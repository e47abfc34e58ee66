"""Record model calls against a server, replay them with no network."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from govcx.agent.agent import Agent
from govcx.engines._llm.calls import cassette_miss
from govcx.engines.engine import TurnContext
from govcx.engines.llm import LLMEngine
from govcx.errors import CassetteMiss, ConfigError
from govcx.pack import EngineConfig, Pack
from govcx.testing import StubOpenAIServer, reply, simple_responder
from tests.conftest import RETURNS
from tests.llm.conftest import FAST

KEYWORDS = {"refund": ["refund"], "order_status": ["where"], "returns_info": ["return"]}
CTX = TurnContext(conversation_id="case-7", customer_id="C-1", turn_id="t-1")
TURNS = [
    ("how do returns work?", "answered"),
    ("refund $20 for order A-1001", "answered"),
    ("refund $80 for order A-1002", "pending_approval"),
]


def _engine(
    shop: Pack,
    mode: str,
    cassette: Path,
    base_url: str | None,
    environ: dict[str, str] | None = None,
) -> LLMEngine:
    config = EngineConfig(
        kind="llm", model="gpt-4o-mini", base_url=base_url, api_key_env="SHOP_LLM_KEY"
    )
    return LLMEngine.from_pack(
        shop,
        mode=mode,  # type: ignore[arg-type]
        cassette=cassette,
        config=config,
        options=FAST,
        environ=environ if environ is not None else {},
    )


def _summary(turn: Any) -> tuple[Any, ...]:
    return (
        turn.status,
        turn.intent,
        turn.reply.text if turn.reply else None,
        [(a.tool, a.args, a.status) for a in turn.actions],
        [c.doc_id for c in (turn.reply.citations if turn.reply else [])],
    )


def test_record_then_replay_a_conversation_offline(
    make_agent: Callable[..., Agent], shop: Pack, tmp_path: Path, network_attempts: list[Any]
) -> None:
    cassette = tmp_path / "shop.jsonl"
    with StubOpenAIServer(simple_responder(KEYWORDS)) as stub:
        engine = _engine(shop, "record", cassette, stub.url, {"SHOP_LLM_KEY": "sk-secret"})
        agent = make_agent(engine=engine)
        recorded = [_summary(agent.respond("rec", text, customer_id="C-1")) for text, _ in TURNS]
        calls = len(stub.requests)
    assert [r[0] for r in recorded] == [status for _, status in TURNS]
    lines = cassette.read_text().splitlines()
    assert len(lines) == calls
    assert "sk-secret" not in cassette.read_text()
    assert {json.loads(line)["label"].split()[0] for line in lines} == {"classify", "plan", "draft"}

    # The server is gone and the base URL points nowhere reachable: replay needs neither.
    engine = _engine(shop, "replay", cassette, "http://192.0.2.1:9/v1")
    agent = make_agent(engine=engine)
    replayed = [_summary(agent.respond("rep", text, customer_id="C-1")) for text, _ in TURNS]
    assert replayed == recorded
    assert engine.transport is not None and engine.transport.hits == calls
    assert network_attempts == []


def test_a_missing_recording_names_the_call_and_prompt(shop: Pack, tmp_path: Path) -> None:
    cassette = tmp_path / "c.jsonl"
    with StubOpenAIServer(simple_responder(KEYWORDS)) as stub:
        _engine(shop, "record", cassette, stub.url, {"SHOP_LLM_KEY": "k"}).classify(
            "where is my order?", CTX
        )
    engine = _engine(shop, "replay", cassette, None)
    with pytest.raises(CassetteMiss) as caught:
        engine.classify("where is my parcel?", CTX)
    message = str(caught.value)
    assert "classify conversation=case-7 turn=t-1" in message
    assert "'where is my parcel?'" in message
    assert "differs in messages" in message
    assert caught.value.code == "cassette_miss"
    # Never retried, never turned into an escalation.
    assert engine.calls.all() == []


def test_streamed_calls_replay_as_streams(shop: Pack, tmp_path: Path) -> None:
    cassette = tmp_path / "s.jsonl"
    with StubOpenAIServer(simple_responder(KEYWORDS)) as stub:
        live = _engine(shop, "record", cassette, stub.url, {"SHOP_LLM_KEY": "k"}).draft(
            "how do returns work?", CTX, intent="returns_info", chunks=[RETURNS]
        )
    entry = json.loads(cassette.read_text().splitlines()[0])
    assert entry["response"]["content_type"].startswith("text/event-stream")
    events: list[tuple[str, str]] = []
    engine = _engine(shop, "replay", cassette, None)
    with engine.stream("case-7", lambda kind, text: events.append((kind, text))):
        again = engine.draft("how do returns work?", CTX, intent="returns_info", chunks=[RETURNS])
    assert again == live
    assert "".join(t for k, t in events if k == "delta") == live.text


def test_modes_need_a_cassette_and_replay_needs_no_key(shop: Pack, tmp_path: Path) -> None:
    config = EngineConfig(kind="llm", model="m", api_key_env="NOT_SET_ANYWHERE")
    with pytest.raises(ConfigError, match="needs a cassette"):
        LLMEngine.from_pack(shop, mode="record", config=config, environ={})
    with pytest.raises(ConfigError, match="cassette not found"):
        LLMEngine.from_pack(
            shop, mode="replay", cassette=tmp_path / "none.jsonl", config=config, environ={}
        )
    (tmp_path / "empty.jsonl").write_text("")
    engine = LLMEngine.from_pack(
        shop, mode="replay", cassette=tmp_path / "empty.jsonl", config=config, environ={}
    )
    assert engine.transport is not None and engine.transport.mode == "replay"


def test_relative_cassette_paths_are_relative_to_the_pack(shop: Pack) -> None:
    config = EngineConfig(kind="llm", model="m")
    with pytest.raises(ConfigError) as caught:
        LLMEngine.from_pack(shop, mode="replay", cassette="evals/missing.jsonl", config=config)
    assert str(shop.root / "evals" / "missing.jsonl") in str(caught.value)


def test_a_corrupt_cassette_names_the_line(shop: Pack, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"key": "a", "response": {"status": 200}}\nnot json\n')
    with pytest.raises(ConfigError, match="line 2"):
        _engine(shop, "replay", path, None)


def test_async_calls_replay_too(shop: Pack, tmp_path: Path, network_attempts: list[Any]) -> None:
    import asyncio

    from langchain_core.messages import HumanMessage

    cassette = tmp_path / "a.jsonl"
    with StubOpenAIServer(lambda request: reply("hello")) as stub:
        recorder = _engine(shop, "record", cassette, stub.url, {"SHOP_LLM_KEY": "k"})
        live = asyncio.run(recorder.model.ainvoke([HumanMessage("hi")]))
    engine = _engine(shop, "replay", cassette, None)
    again = asyncio.run(engine.model.ainvoke([HumanMessage("hi")]))
    assert again.content == live.content == "hello"
    with pytest.raises(Exception) as caught:  # the openai client wraps it
        asyncio.run(engine.model.ainvoke([HumanMessage("bye")]))
    assert cassette_miss(caught.value) is not None
    assert network_attempts == []
