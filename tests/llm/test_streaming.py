"""Reply tokens stream from the LLM engine's draft, through Agent.respond, to the API's SSE."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from govcx.agent.agent import Agent
from govcx.api import ServerSettings, create_app
from govcx.testing import StubOpenAIServer, classified, reply, simple_responder
from tests.api.test_conversations import _sse
from tests.llm.conftest import FAST

KEY = "key-web-0000000000000000"
HEADERS = {"Authorization": f"Bearer {KEY}", "Accept": "text/event-stream"}
KEYWORDS = {"refund": ["refund"], "order_status": ["where"], "returns_info": ["return"]}
Make = Callable[..., Any]


@pytest.fixture
def sse(tmp_path: Path) -> Iterator[Callable[[Agent], TestClient]]:
    clients: list[TestClient] = []

    def make(agent: Agent) -> TestClient:
        settings = ServerSettings(home=tmp_path / "home", api_keys=f"{KEY}:web", expiry_interval=0)
        client = TestClient(create_app(settings, agent))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _post(client: TestClient, conversation: str, text: str) -> list[tuple[str, Any]]:
    response = client.post(
        f"/v1/conversations/{conversation}/messages",
        json={"text": text, "customer_id": "C-1"},
        headers=HEADERS,
    )
    assert response.status_code == 200, response.text
    return _sse(response.text)


def test_sse_sends_token_events_then_the_turn(
    make_agent: Make, stub: StubOpenAIServer, stub_engine: Make, sse: Callable[[Agent], TestClient]
) -> None:
    stub.script = simple_responder(KEYWORDS)
    client = sse(make_agent(engine=stub_engine()))
    events = _post(client, "s-1", "how do returns work?")
    names = [name for name, _ in events]
    assert "token" in names
    first_token, last_token = names.index("token"), len(names) - 1 - names[::-1].index("token")
    # Tokens stream while the draft node runs, before the reply and the Turn.
    draft_done = next(
        i for i, (n, d) in enumerate(events) if n == "progress" and d["node"] == "draft"
    )
    assert first_token < draft_done and last_token < names.index("reply")
    assert names[-2:] == ["reply", "turn"]
    streamed = "".join(d["text"] for n, d in events if n == "token")
    turn = events[-1][1]
    assert turn["status"] == "answered"
    # The streamed draft is the reply here (nothing changed it after the draft), without
    # source markers; the reply event stays the authoritative text.
    assert streamed == turn["reply"]["text"] and "[S1]" not in streamed
    assert "30 days" in streamed


def test_sse_resets_streamed_tokens_when_the_draft_is_retried(
    make_agent: Make, stub: StubOpenAIServer, stub_engine: Make, sse: Callable[[Agent], TestClient]
) -> None:
    from govcx.testing import ModelResponse

    stub.script = [
        classified("returns_info", 0.95),
        ModelResponse(content="Returns are accepted within 30 days [S1].", cut_after=3),
        reply("Returns are accepted within 30 days of delivery [S1]."),
    ]
    client = sse(make_agent(engine=stub_engine(options=FAST)))
    events = _post(client, "s-2", "how do returns work?")
    names = [name for name, _ in events]
    reset = names.index("token_reset")
    assert "token" in names[:reset] and "token" in names[reset:]
    assert "before the model finished" in events[reset][1]["reason"]
    after = "".join(d["text"] for n, d in events[reset:] if n == "token")
    assert (
        after
        == events[-1][1]["reply"]["text"]
        == "Returns are accepted within 30 days of delivery."
    )


def test_embedded_engine_streams_no_tokens(
    make_agent: Make, sse: Callable[[Agent], TestClient]
) -> None:
    client = sse(make_agent())
    events = _post(client, "s-3", "how do returns work?")
    names = [name for name, _ in events]
    assert names[-2:] == ["reply", "turn"] and events[-1][1]["status"] == "answered"
    assert "token" not in names and "token_reset" not in names


def test_agent_respond_on_token_and_nothing_for_actions(
    make_agent: Make, stub: StubOpenAIServer, stub_engine: Make
) -> None:
    stub.script = simple_responder(KEYWORDS)
    agent = make_agent(engine=stub_engine())
    tokens: list[tuple[str, str]] = []
    turn = agent.respond(
        "s-4",
        "how do returns work?",
        customer_id="C-1",
        on_token=lambda kind, text: tokens.append((kind, text)),
    )
    assert tokens[-1] == ("end", turn.reply.text if turn.reply else None)
    assert "".join(t for k, t in tokens if k == "delta") == tokens[-1][1]
    tokens.clear()
    # A reply that depends on an action never streams before the gate has decided.
    turn = agent.respond(
        "s-5",
        "please refund $20 for order A-1001",
        customer_id="C-1",
        on_token=lambda kind, text: tokens.append((kind, text)),
    )
    assert turn.actions and tokens == []
    # The hook is scoped to its call: later turns stream to nobody.
    assert agent.engine._sinks == {}


def test_a_failing_token_listener_does_not_fail_the_turn(
    make_agent: Make, stub: StubOpenAIServer, stub_engine: Make
) -> None:
    stub.script = simple_responder(KEYWORDS)
    agent = make_agent(engine=stub_engine())
    calls: list[str] = []

    def broken(kind: str, text: str) -> None:
        calls.append(kind)
        raise BrokenPipeError("the client went away")

    turn = agent.respond("s-6", "how do returns work?", customer_id="C-1", on_token=broken)
    assert turn.status == "answered" and turn.reply is not None and "30 days" in turn.reply.text
    assert calls == ["delta"]  # called once, then left alone
    assert len(stub.requests) == 2  # classify and one draft: no retry over the listener
