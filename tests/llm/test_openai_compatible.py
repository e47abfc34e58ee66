"""ChatOpenAI over HTTP against the stub OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal

import pytest

from govcx.engines.engine import Classification, TurnContext
from govcx.engines.llm import LLMEngine
from govcx.pack import Pack
from govcx.testing import (
    ModelResponse,
    StubOpenAIServer,
    call,
    classified,
    fault,
    reply,
    slow,
)
from govcx.tools.executor import Execution
from tests.conftest import RETURNS
from tests.llm.conftest import FAST

CTX = TurnContext(conversation_id="c-1", customer_id="C-1", turn_id="t-1")
Make = Callable[..., LLMEngine]


def _plan(engine: LLMEngine, shop: Pack, text: str) -> Any:
    def read(tool: str, args: dict[str, Any]) -> Execution:
        return Execution(tool=tool, args=args, status="executed", result={"amount": 40.0})

    return engine.plan(
        text,
        CTX,
        intent="refund",
        classification=Classification(intent="refund", confidence=0.9),
        policy=shop.policy,
        registry=shop.registry,
        read=read,
    )


@pytest.mark.parametrize("method", ["json_schema", "function_calling", "json_mode"])
def test_structured_classification_over_http(
    stub: StubOpenAIServer,
    stub_engine: Make,
    method: Literal["json_schema", "function_calling", "json_mode"],
) -> None:
    stub.push(classified("refund", 0.9, order_id="A-1001"))
    engine = stub_engine(options=replace(FAST, structured_output=method))
    result = engine.classify("refund A-1001", CTX)
    assert (result.intent, result.entities["order_id"]) == ("refund", ["A-1001"])
    body = stub.bodies[0]
    if method == "json_schema":
        assert body["response_format"]["type"] == "json_schema"
        assert body["response_format"]["json_schema"]["strict"] is True
    elif method == "function_calling":
        assert body["tool_choice"]["function"]["name"] == "govcx_classification"
    else:
        assert body["response_format"] == {"type": "json_object"}
    assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0.0
    [record] = engine.last_calls
    assert record.ok and record.input_tokens > 0 and not record.tokens_estimated


def test_tool_call_over_http(stub: StubOpenAIServer, stub_engine: Make, shop: Pack) -> None:
    stub.push(
        call("lookup_order", order_id="A-1001"), call("issue_refund", order_id="A-1001", amount=40)
    )
    result = _plan(stub_engine(), shop, "refund A-1001")
    assert result.proposal is not None and result.proposal.args["amount"] == 40.0
    sent = stub.bodies[1]["messages"]
    assert sent[-2]["tool_calls"][0]["function"]["name"] == "lookup_order"
    assert sent[-1]["role"] == "tool" and sent[-1]["content"] == '{"amount": 40.0}'
    names = [t["function"]["name"] for t in stub.bodies[0]["tools"]]
    assert names == ["lookup_order", "issue_refund", "request_missing_information"]


def test_malformed_tool_arguments_over_http_never_become_a_proposal(
    stub: StubOpenAIServer, stub_engine: Make, shop: Pack
) -> None:
    stub.push(*[call("issue_refund", '{"order_id": "A-1001", "amount": ')] * 3)
    result = _plan(stub_engine(), shop, "refund A-1001")
    assert result.proposal is None
    assert result.error is not None and "not valid JSON" in result.error


def test_streamed_draft_over_http(stub: StubOpenAIServer, stub_engine: Make) -> None:
    stub.push(
        reply("You can return unused items within 30 days [S1]. Refunds take 5 business days [S1].")
    )
    engine = stub_engine()
    events: list[tuple[str, str]] = []
    with engine.stream("c-1", lambda kind, text: events.append((kind, text))):
        draft = engine.draft("how do returns work?", CTX, intent="returns_info", chunks=[RETURNS])
    assert stub.bodies[0]["stream"] is True
    assert stub.bodies[0]["stream_options"] == {"include_usage": True}
    assert len([k for k, _ in events if k == "delta"]) > 3
    assert "".join(t for k, t in events if k == "delta") == draft.text
    assert draft.citations == [RETURNS.citation()]
    [record] = engine.last_calls
    assert record.output_tokens > 0 and not record.tokens_estimated


def test_server_error_then_success(stub: StubOpenAIServer, stub_engine: Make) -> None:
    stub.push(fault(500), fault(502), classified("refund"))
    result = stub_engine().classify("refund", CTX)
    assert result.intent == "refund"
    assert len(stub.requests) == 3


def test_rate_limit_honours_retry_after(stub: StubOpenAIServer, shop: Pack) -> None:
    from govcx.engines._llm.calls import RetryPolicy
    from govcx.pack import EngineConfig

    waits: list[float] = []
    stub.push(fault(429, retry_after=1.5), classified("refund"))
    options = replace(FAST, retry=RetryPolicy(backoff=0.1, backoff_max=4.0, jitter=0.0))
    engine = LLMEngine.from_pack(
        shop,
        config=EngineConfig(kind="llm", model="m", base_url=stub.url),
        options=options,
        sleep=waits.append,
    )
    assert engine.classify("refund", CTX).intent == "refund"
    assert waits == [1.5]
    assert engine.last_calls[0].errors == ("rate limited (429)",)


def test_persistent_failure_escalates_with_the_reason(
    stub: StubOpenAIServer, stub_engine: Make
) -> None:
    stub.push(fault(503), fault(503), fault(503))
    engine = stub_engine()
    result = engine.classify("refund", CTX)
    assert result.intent is None
    assert result.entities["engine_error"] == ["the model server failed (503) after 3 attempts"]
    assert len(stub.requests) == 3


def test_client_errors_are_not_retried(stub: StubOpenAIServer, stub_engine: Make) -> None:
    stub.push(fault(400))
    result = stub_engine().classify("refund", CTX)
    assert result.intent is None
    assert "refused the request (400)" in result.entities["engine_error"][0]
    assert len(stub.requests) == 1


def test_timeout_is_retried_within_bounds(stub: StubOpenAIServer, stub_engine: Make) -> None:
    stub.push(slow(1.0, classified("refund")), classified("refund", 0.7))
    engine = stub_engine(timeout=0.2)
    start = time.perf_counter()
    result = engine.classify("refund", CTX)
    assert (result.intent, result.confidence) == ("refund", 0.7)
    assert time.perf_counter() - start < 1.0
    assert engine.last_calls[0].errors == ("the model did not answer in time",)


def test_a_stream_cut_short_is_never_used(stub: StubOpenAIServer, stub_engine: Make) -> None:
    cut = ModelResponse(content="You can return anything, any time, for cash [S1].", cut_after=3)
    stub.push(cut, cut, cut)
    draft = stub_engine().draft("returns?", CTX, intent="returns_info", chunks=[RETURNS])
    assert (draft.text, draft.citations) == ("", [])


def test_usage_is_recorded_per_call(stub: StubOpenAIServer, stub_engine: Make) -> None:
    stub.push(
        ModelResponse(
            structured={"intent": "refund", "confidence": 0.9, "entities": []}, usage=(321, 12)
        )
    )
    engine = stub_engine()
    engine.classify("refund", CTX)
    [record] = engine.calls_for("t-1")
    assert (record.input_tokens, record.output_tokens, record.total_tokens) == (321, 12, 333)
    assert record.model == "gpt-4o-mini" and record.latency_ms > 0
    assert record.as_dict()["total_tokens"] == 333
