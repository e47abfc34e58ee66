"""What small real models write: tool calls as text, arguments that echo the schema, and
the NO_ANSWER sentinel in wrappings. Over HTTP against the stub server."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from govcx.agent.agent import Agent
from govcx.engines._llm.prompts import StreamFilter, no_answer, parse_draft
from govcx.engines._llm.textcalls import schema_echo, text_calls
from govcx.engines.engine import Classification, TurnContext
from govcx.engines.llm import LLMEngine
from govcx.pack import Pack
from govcx.testing import (
    ModelRequest,
    ModelResponse,
    StubOpenAIServer,
    call,
    reply,
    simple_responder,
)
from govcx.tools.executor import Execution
from tests.conftest import RETURNS, shop_effects

CTX = TurnContext(conversation_id="c-1", customer_id="C-1", turn_id="t-1")
KEYWORDS = {"refund": ["refund"], "order_status": ["where"], "returns_info": ["return"]}
Make = Callable[..., LLMEngine]
REFUND = {"order_id": "A-1001", "amount": 40}
ARGS = json.dumps(REFUND)
OFFERED = {"lookup_order", "issue_refund", "request_missing_information"}

WRITTEN = {
    "bare name/arguments": f'{{"name": "issue_refund", "arguments": {ARGS}}}',
    "bare tool/args": f'{{"tool": "issue_refund", "args": {ARGS}}}',
    "bare tool/parameters": f'{{"tool": "issue_refund", "parameters": {ARGS}}}',
    "arguments as a string": json.dumps({"name": "issue_refund", "arguments": ARGS}),
    "fenced json": f'Here you go:\n```json\n{{"name": "issue_refund", "arguments": {ARGS}}}\n```',
    "hermes tags": f'<tool_call>\n{{"name": "issue_refund", "arguments": {ARGS}}}\n</tool_call>',
    "qwen tag left open": f'<tool_call>{{"name": "issue_refund", "arguments": {ARGS}}}',
    "llama": f'{{"type": "function", "name": "issue_refund", "parameters": {ARGS}}}',
    "openai shape": json.dumps(
        {"type": "function", "function": {"name": "issue_refund", "arguments": ARGS}}
    ),
    "mistral": f'[TOOL_CALLS] [{{"name": "issue_refund", "arguments": {ARGS}}}]',
    "one-call list": f'[{{"name": "issue_refund", "arguments": {ARGS}}}]',
    "prose around a call": f'I will refund it. {{"name": "issue_refund", "arguments": {ARGS}}}',
}

NOT_CALLS = {
    "unknown tool": f'{{"name": "delete_everything", "arguments": {ARGS}}}',
    "data, not a call": ARGS,
    "prose around data": f"Your order is {ARGS}, thanks.",
    "a name that is not a tool": '{"name": "Alice", "age": 31}',
    "two calls": (
        f'<tool_call>{{"name": "lookup_order", "arguments": {{"order_id": "A-1001"}}}}</tool_call>'
        f'<tool_call>{{"name": "issue_refund", "arguments": {ARGS}}}</tool_call>'
    ),
    "an unknown and a known call": (
        f'[{{"name": "wire_money", "arguments": {{}}}}, {{"name": "issue_refund", '
        f'"arguments": {ARGS}}}]'
    ),
    "arguments not an object": '{"name": "issue_refund", "arguments": [1, 2]}',
    "broken json": '{"name": "issue_refund", "arguments": {"order_id": "A-1001"',
    "plain prose": "I cannot do that, sorry.",
}


def _plan(engine: LLMEngine, shop: Pack, text: str = "refund $40 for A-1001") -> Any:
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


@pytest.mark.parametrize("content", WRITTEN.values(), ids=WRITTEN.keys())
def test_a_call_written_as_text_becomes_the_proposal(
    stub: StubOpenAIServer, stub_engine: Make, shop: Pack, content: str
) -> None:
    stub.push(reply(content))
    result = _plan(stub_engine(), shop)
    assert result.error is None
    assert result.proposal is not None
    assert (result.proposal.tool, result.proposal.args) == (
        "issue_refund",
        {"order_id": "A-1001", "amount": 40.0},
    )


@pytest.mark.parametrize("content", NOT_CALLS.values(), ids=NOT_CALLS.keys())
def test_text_that_is_not_one_offered_call_is_no_call(
    stub: StubOpenAIServer, stub_engine: Make, shop: Pack, content: str
) -> None:
    stub.push(reply(content))
    result = _plan(stub_engine(), shop)
    assert result.proposal is None and result.error is None and result.question is None
    assert text_calls(content, OFFERED) == []


def test_a_lookup_written_as_text_runs_and_the_round_goes_on(
    stub: StubOpenAIServer, stub_engine: Make, shop: Pack
) -> None:
    stub.push(
        reply('<tool_call>{"name": "lookup_order", "arguments": {"order_id": "A-1001"}}'),
        reply(f'{{"name": "issue_refund", "arguments": {ARGS}}}'),
    )
    result = _plan(stub_engine(), shop)
    assert result.proposal is not None and result.proposal.tool == "issue_refund"
    assert result.evidence[0]["tool"] == "lookup_order"
    sent = stub.bodies[1]["messages"]
    assert sent[-2]["tool_calls"][0]["function"]["name"] == "lookup_order"
    assert sent[-1]["role"] == "tool" and sent[-1]["tool_call_id"] == "text_call_0"


def test_an_ask_written_as_text_is_a_question(
    stub: StubOpenAIServer, stub_engine: Make, shop: Pack
) -> None:
    stub.push(
        reply(
            '{"name": "request_missing_information", "arguments": '
            '{"tool": "issue_refund", "missing": ["order_id"], "known": {"amount": 40}}}'
        )
    )
    result = _plan(stub_engine(), shop, "refund me $40")
    assert result.question is not None and result.pending["awaiting"] == ["order_id"]


def test_a_text_call_with_invalid_arguments_is_an_error_like_a_native_one(
    stub: StubOpenAIServer, stub_engine: Make, shop: Pack
) -> None:
    stub.push(reply('{"name": "issue_refund", "arguments": {"order_id": "one", "amount": -5}}'))
    result = _plan(stub_engine(), shop)
    assert result.proposal is None and result.error is not None


ECHOES = {
    "schema object": {"order_id": {"type": "string", "description": "order number"}, "amount": 4},
    "type name": {"order_id": "string", "amount": 40},
    "description": {"order_id": "order number, like A-1001", "amount": 40},
    "title": {"order_id": "Order Id", "amount": 40},
    "pattern": {"order_id": "^A-\\d{4}$", "amount": 40},
    "number schema": {"order_id": "A-1001", "amount": {"type": "number", "maximum": 5000}},
}


@pytest.mark.parametrize("args", ECHOES.values(), ids=ECHOES.keys())
@pytest.mark.parametrize("native", [True, False], ids=["native", "text"])
def test_arguments_that_echo_the_schema_are_rejected(
    stub: StubOpenAIServer,
    stub_engine: Make,
    shop: Pack,
    args: dict[str, Any],
    native: bool,
) -> None:
    stub.push(
        call("issue_refund", args)
        if native
        else reply(json.dumps({"name": "issue_refund", "arguments": args}))
    )
    result = _plan(stub_engine(), shop)
    assert result.proposal is None
    assert result.error is not None and "copies the tool's schema" in result.error


def test_schema_echo_leaves_real_values_alone(shop: Pack) -> None:
    params = shop.registry.get("issue_refund").params
    assert schema_echo(params, {"order_id": "A-1001", "amount": 40}) is None
    assert schema_echo(params, {"order_id": "A-1001", "amount": 40, "note": {"x": 1}}) is None
    assert schema_echo(params, {"order_id": "String"}) == "order_id"


def _text_caller(content: str) -> Callable[[ModelRequest], ModelResponse]:
    good = simple_responder(KEYWORDS)

    def script(request: ModelRequest) -> ModelResponse:
        if request.purpose == "plan":
            return reply(content)
        return good(request)

    return script


@pytest.mark.parametrize("content", WRITTEN.values(), ids=WRITTEN.keys())
def test_a_text_call_over_the_approval_threshold_still_waits_for_approval(
    make_agent: Callable[..., Agent], stub: StubOpenAIServer, stub_engine: Make, content: str
) -> None:
    stub.script = _text_caller(content.replace("40", "80"))
    agent = make_agent(engine=stub_engine())
    turn = agent.respond("t1", "refund $80 for order A-1001", customer_id="C-1")
    assert turn.status == "pending_approval"
    assert shop_effects(agent) == []
    assert agent.audit.verify().ok


def test_a_text_call_to_a_tool_outside_the_workflow_never_runs(
    make_agent: Callable[..., Agent], stub: StubOpenAIServer, stub_engine: Make
) -> None:
    stub.script = _text_caller('{"name": "close_account", "arguments": {}}')
    agent = make_agent(engine=stub_engine())
    turn = agent.respond("t2", "refund $20 for order A-1001", customer_id="C-1")
    assert turn.status != "pending_approval"
    assert [a for a in turn.actions if a.status == "executed"] == []
    assert shop_effects(agent) == []


def test_schema_echo_escalates_as_an_invalid_proposal(
    make_agent: Callable[..., Agent], stub: StubOpenAIServer, stub_engine: Make
) -> None:
    stub.script = _text_caller(
        '{"name": "issue_refund", "arguments": {"order_id": {"type": "string"}, "amount": 20}}'
    )
    agent = make_agent(engine=stub_engine())
    turn = agent.respond("t3", "refund $20 for order A-1001", customer_id="C-1")
    assert turn.status == "escalated"
    assert turn.decision is not None and turn.decision.rules == ["proposal.invalid"]
    assert shop_effects(agent) == []


SENTINELS = [
    "NO_ANSWER",
    "[NO_ANSWER]",
    "[ NO_ANSWER ]",
    '"NO_ANSWER".',
    "'no_answer'",
    "**NO_ANSWER**",
    "`NO_ANSWER`",
    "NO ANSWER.",
    "No-Answer",
    "(NO_ANSWER)",
    "NO_ANSWER [S1]",
    "\n  NO_ANSWER\n",
    "[]",
    "...",
    "  ",
    "**.**",
]


@pytest.mark.parametrize("draft", SENTINELS)
def test_sentinel_wrappings_and_empty_drafts_are_no_answer(draft: str) -> None:
    assert no_answer(draft)
    assert parse_draft(draft, [RETURNS]) == ("", [], 0.0)
    gate = StreamFilter()
    streamed = "".join(gate.feed(ch) for ch in draft) + gate.finish()
    assert streamed.strip(" .[]()*`'\"\n") == ""


def test_prose_is_not_no_answer() -> None:
    assert not no_answer("There is no answer to that in our policy [S1].")
    text, _, _ = parse_draft("There is no answer to that in our policy [S1].", [RETURNS])
    assert text == "There is no answer to that in our policy."


@pytest.mark.parametrize("draft", ["[NO_ANSWER]", '"no answer."', "[]", "**NO_ANSWER**"])
def test_sentinel_drafts_over_http_never_reach_the_customer(
    make_agent: Callable[..., Agent], stub: StubOpenAIServer, stub_engine: Make, draft: str
) -> None:
    good = simple_responder(KEYWORDS)

    def script(request: ModelRequest) -> ModelResponse:
        return reply(draft) if request.purpose == "draft" else good(request)

    stub.script = script
    engine = stub_engine()
    events: list[tuple[str, str]] = []
    with engine.stream("c-1", lambda kind, text: events.append((kind, text))):
        result = engine.draft("how do returns work?", CTX, intent="returns_info", chunks=[RETURNS])
    assert result.text == ""
    assert "".join(t for k, t in events if k == "delta").strip() == ""
    agent = make_agent(engine=stub_engine())
    turn = agent.respond("s1", "how do returns work?", customer_id="C-1")
    text = turn.reply.text if turn.reply is not None else ""
    assert "NO_ANSWER" not in text.upper().replace(" ", "_")
    assert turn.status == "escalated" and text.strip(" .[]()*`'\"") != ""
