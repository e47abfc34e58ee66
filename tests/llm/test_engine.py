"""The engine's four methods against the scripted chat model (in process, no HTTP)."""

from __future__ import annotations

from typing import Any

import pytest

from govcx.engines.engine import Classification, TurnContext
from govcx.engines.llm import LLMEngine
from govcx.knowledge.retriever import Chunk
from govcx.pack import Pack
from govcx.testing import (
    ModelRequest,
    ModelResponse,
    ScriptedChatModel,
    ToolCallSpec,
    call,
    classified,
    reply,
)
from govcx.tools.executor import Execution
from tests.conftest import RETURNS
from tests.llm.conftest import FAST

CTX = TurnContext(conversation_id="c-1", customer_id="C-1", turn_id="t-1")
OTHER = Chunk(
    doc_id="shipping",
    version="1",
    title="Shipping",
    chunk_id="ship#1",
    text="Standard shipping takes 3 to 5 business days.",
)


def engine(shop: Pack, *script: Any) -> tuple[LLMEngine, ScriptedChatModel]:
    model = ScriptedChatModel(script=list(script))
    return LLMEngine(model, policy=shop.policy, options=FAST, sleep=lambda s: None), model


def plan(
    eng: LLMEngine,
    shop: Pack,
    text: str,
    intent: str = "refund",
    ctx: TurnContext = CTX,
    reads: list[tuple[str, dict[str, Any]]] | None = None,
    result: dict[str, Any] | None = None,
) -> Any:
    def read(tool: str, args: dict[str, Any]) -> Execution:
        if reads is not None:
            reads.append((tool, args))
        return Execution(
            tool=tool,
            args=args,
            status="executed",
            result=result or {"order_id": args.get("order_id"), "amount": 40.0},
        )

    return eng.plan(
        text,
        ctx,
        intent=intent,
        classification=Classification(intent=intent, confidence=0.9),
        policy=shop.policy,
        registry=shop.registry,
        read=read,
    )


# -- classify -----------------------------------------------------------------------------
def test_classify_returns_a_workflow_with_entities(shop: Pack) -> None:
    eng, model = engine(shop, classified("refund", 0.87, order_id="A-1001"))
    result = eng.classify("refund $20 on A-1001", CTX)
    assert (result.intent, result.confidence) == ("refund", 0.87)
    assert result.entities == {"money": [20.0], "order_id": ["A-1001"]}
    request = model.requests[0]
    assert request.purpose == "classify"
    assert set(request.intents) == set(shop.policy.workflows)
    assert "close my account" in request.system  # workflow examples are shown


def test_out_of_scope_is_no_intent(shop: Pack) -> None:
    eng, _ = engine(shop, classified("out_of_scope", 0.95))
    assert eng.classify("what's the weather", CTX).intent is None


def test_percent_confidence_is_normalised(shop: Pack) -> None:
    eng, _ = engine(shop, classified("refund", 85))
    assert eng.classify("refund", CTX).confidence == 0.85


def test_unknown_intent_is_retried_then_escalated_with_the_reason(shop: Pack) -> None:
    eng, model = engine(shop, *[classified("wire_transfer", 0.99)] * 3)
    result = eng.classify("send money", CTX)
    assert (result.intent, result.confidence) == (None, 0.0)
    assert "'wire_transfer' is not a workflow" in result.entities["engine_error"][0]
    assert len(model.requests) == 3  # 1 + max_retries
    [record] = eng.last_calls
    assert (record.ok, record.attempts, record.purpose) == (False, 3, "classify")
    assert record.input_tokens > 0 and not record.tokens_estimated


def test_malformed_json_is_retried(shop: Pack) -> None:
    eng, _ = engine(
        shop, ModelResponse(raw_structured='{"intent": "ref'), classified("refund", 0.9)
    )
    assert eng.classify("refund me", CTX).intent == "refund"
    [record] = eng.last_calls
    assert record.attempts == 2 and record.ok
    assert record.errors and "malformed" in record.errors[0]


@pytest.mark.parametrize("method", ["json_schema", "function_calling", "json_mode"])
def test_each_structured_output_method(shop: Pack, method: str) -> None:
    from dataclasses import replace

    eng, model = engine(shop, classified("order_status", 0.8))
    eng.options = replace(eng.options, structured_output=method)  # type: ignore[arg-type]
    assert eng.classify("where is my order", CTX).intent == "order_status"
    assert model.requests[0].method == method


# -- plan ---------------------------------------------------------------------------------
def test_only_the_workflows_tools_are_bound_without_runtime_parameters(shop: Pack) -> None:
    eng, model = engine(shop, call("issue_refund", order_id="A-1001", amount=20))
    result = plan(eng, shop, "refund $20 on A-1001")
    assert result.proposal is not None
    assert (result.proposal.tool, result.proposal.args) == (
        "issue_refund",
        {"order_id": "A-1001", "amount": 20.0},
    )
    tools = {t["name"]: t for t in model.requests[0].tools}
    assert set(tools) == {"lookup_order", "issue_refund", "request_missing_information"}
    params = tools["issue_refund"]["parameters"]["properties"]
    assert set(params) == {"order_id", "amount"}  # no customer_id, idempotency_key, data_dir


def test_read_tools_run_through_the_callback_during_planning(shop: Pack) -> None:
    eng, model = engine(
        shop,
        call("lookup_order", order_id="A-1001"),
        call("issue_refund", order_id="A-1001", amount=40),
    )
    reads: list[tuple[str, dict[str, Any]]] = []
    result = plan(eng, shop, "refund all of A-1001", reads=reads)
    assert reads == [("lookup_order", {"order_id": "A-1001"})]
    assert result.proposal is not None and result.proposal.args["amount"] == 40.0
    assert result.evidence[0]["tool"] == "lookup_order"
    # The tool's result went back to the model as a tool message.
    assert model.requests[1].messages[-1]["role"] == "tool"
    assert '"amount": 40.0' in model.requests[1].messages[-1]["content"]


def test_lookup_rounds_are_bounded(shop: Pack) -> None:
    eng, model = engine(shop, *[call("lookup_order", order_id="A-1001")] * 10)
    result = plan(eng, shop, "refund A-1001")
    assert result.proposal is None
    assert result.error is not None and "after 3 rounds" in result.error
    assert len(model.requests) == 4


def test_malformed_tool_arguments_are_retried_then_an_error(shop: Pack) -> None:
    bad = call("issue_refund", '{"order_id": "A-1001", "amount": 2')
    eng, model = engine(shop, bad, bad, bad)
    result = plan(eng, shop, "refund A-1001")
    assert result.proposal is None
    assert result.error is not None and "not valid JSON" in result.error
    assert len(model.requests) == 3


def test_arguments_that_break_the_schema_are_an_error(shop: Pack) -> None:
    eng, _ = engine(shop, call("issue_refund", order_id="order one", amount=-5))
    result = plan(eng, shop, "refund order one")
    assert result.proposal is None
    assert result.error is not None
    assert "order_id" in result.error and "amount" in result.error


def test_missing_value_becomes_a_question_and_pending_slots(shop: Pack) -> None:
    eng, _ = engine(
        shop,
        call(
            "request_missing_information",
            tool="issue_refund",
            missing=["order_id"],
            known={"amount": 20},
        ),
    )
    result = plan(eng, shop, "refund me $20")
    assert result.proposal is not None and result.proposal.missing == ("order_id",)
    assert result.question == (
        "I can help with that. Could you tell me the order number, like A-1001?"
    )
    assert result.pending == {
        "intent": "refund",
        "tool": "issue_refund",
        "args": {"amount": 20},
        "awaiting": ["order_id"],
    }


def test_pending_values_carry_into_the_next_turn(shop: Pack) -> None:
    eng, model = engine(shop, call("issue_refund", order_id="A-1001"))
    ctx = TurnContext(
        conversation_id="c-1",
        customer_id="C-1",
        turn_id="t-2",
        pending={
            "intent": "refund",
            "tool": "issue_refund",
            "args": {"amount": 20},
            "awaiting": ["order_id"],
        },
    )
    result = plan(eng, shop, "it's A-1001", ctx=ctx)
    assert result.proposal is not None
    assert result.proposal.args == {"order_id": "A-1001", "amount": 20.0}
    assert "values known so far" in model.requests[0].system


def test_a_call_without_required_values_asks_for_them(shop: Pack) -> None:
    eng, _ = engine(shop, call("issue_refund", order_id="A-1001"))
    result = plan(eng, shop, "refund A-1001")
    assert result.proposal is not None and result.proposal.missing == ("amount",)
    assert result.question is not None


def test_two_different_actions_at_once_are_an_error(shop: Pack) -> None:
    both = ModelResponse(
        tool_calls=(
            ToolCallSpec(name="issue_refund", args={"order_id": "A-1001", "amount": 5}),
            ToolCallSpec(name="issue_refund", args={"order_id": "A-1002", "amount": 5}),
        )
    )
    eng, _ = engine(shop, both)
    result = plan(eng, shop, "refund both")
    assert result.error is not None and "one per turn" in result.error


def test_no_tool_call_means_no_action(shop: Pack) -> None:
    eng, _ = engine(shop, reply("Nothing to do."))
    result = plan(eng, shop, "has my refund been processed?")
    assert (result.proposal, result.error) == (None, None)


def test_a_lookup_only_workflow_proposes_the_lookup(shop: Pack) -> None:
    eng, _ = engine(shop, call("lookup_order", order_id="A-1001"))
    reads: list[tuple[str, dict[str, Any]]] = []
    result = plan(eng, shop, "where is A-1001", intent="order_status", reads=reads)
    assert result.proposal is not None and result.proposal.tool == "lookup_order"
    assert reads == []  # it runs after the gate, like any proposal


def test_failed_planning_call_is_an_error_not_an_action(shop: Pack) -> None:
    eng, _ = engine(shop, *[ModelResponse(error=TimeoutError())] * 3)
    result = plan(eng, shop, "refund A-1001")
    assert result.proposal is None
    assert result.error == (
        "the model call failed: the model did not answer in time after 3 attempts"
    )


# -- draft --------------------------------------------------------------------------------
def test_draft_cites_only_retrieved_chunks(shop: Pack) -> None:
    eng, model = engine(
        shop,
        reply(
            "You have 30 days to return an item [S1]. "
            "Shipping is free [S7]. Refunds take 5 days [S1, S2]."
        ),
    )
    draft = eng.draft("how do returns work?", CTX, intent="returns_info", chunks=[RETURNS, OTHER])
    assert draft.text == (
        "You have 30 days to return an item. Shipping is free. Refunds take 5 days."
    )
    assert [c["doc_id"] for c in draft.citations] == ["returns", "shipping"]
    assert draft.support == pytest.approx(2 / 3, abs=1e-3)
    assert "[S1] Returns policy" in model.requests[0].system


def test_no_answer_from_sources_is_an_unsupported_empty_draft(shop: Pack) -> None:
    eng, _ = engine(shop, reply("NO_ANSWER"))
    draft = eng.draft("do you sell bikes?", CTX, intent="returns_info", chunks=[RETURNS])
    assert (draft.text, draft.citations, draft.support) == ("", [], 0.0)


def test_uncited_draft_has_no_support(shop: Pack) -> None:
    eng, _ = engine(shop, reply("Sure, returns are easy and free forever."))
    draft = eng.draft("returns?", CTX, intent="returns_info", chunks=[RETURNS])
    assert draft.citations == [] and draft.support == 0.0


def test_no_model_call_without_knowledge_or_for_escalated_workflows(shop: Pack) -> None:
    eng, model = engine(shop)
    assert eng.draft("hi", CTX, intent="returns_info", chunks=[]).text == ""
    assert eng.draft("I will sue", CTX, intent="lawyer", chunks=[RETURNS]).text == ""
    assert eng.draft("weather?", CTX, intent=None, chunks=[RETURNS]).text == ""
    assert model.requests == []


def test_streaming_sends_clean_deltas_and_the_end(shop: Pack) -> None:
    eng, _ = engine(shop, reply("You have 30 days [S1]. Refunds take 5 days [S1]."))
    events: list[tuple[str, str]] = []
    with eng.stream("c-1", lambda kind, text: events.append((kind, text))):
        draft = eng.draft("returns?", CTX, intent="returns_info", chunks=[RETURNS])
    deltas = "".join(t for k, t in events if k == "delta")
    assert deltas == draft.text == "You have 30 days. Refunds take 5 days."
    assert events[-1] == ("end", draft.text)


def test_a_retried_stream_is_reset(shop: Pack) -> None:
    eng, _ = engine(
        shop,
        ModelResponse(content="You have 30 days to", cut_after=2),
        reply("You have 30 days [S1]."),
    )
    events: list[tuple[str, str]] = []
    with eng.stream("c-1", lambda kind, text: events.append((kind, text))):
        draft = eng.draft("returns?", CTX, intent="returns_info", chunks=[RETURNS])
    kinds = [k for k, _ in events]
    assert "reset" in kinds
    after = kinds.index("reset")
    assert "".join(t for k, t in events[after:] if k == "delta") == draft.text
    assert eng.last_calls[-1].attempts == 2


def test_nothing_streams_for_workflows_a_human_reviews_first(shop: Pack) -> None:
    eng, _ = engine(shop, reply("A gift message [S1]."))
    events: list[tuple[str, str]] = []
    with eng.stream("c-1", lambda kind, text: events.append((kind, text))):
        eng.draft("gift note", CTX, intent="greeting_card", chunks=[RETURNS])
    assert events == []


def test_failed_draft_is_empty(shop: Pack) -> None:
    eng, _ = engine(shop, *[ModelResponse(status=503)] * 3)
    draft = eng.draft("returns?", CTX, intent="returns_info", chunks=[RETURNS])
    assert (draft.text, draft.support) == ("", 0.0)


def test_handler_scripts_see_the_request(shop: Pack) -> None:
    seen: list[ModelRequest] = []

    def handler(request: ModelRequest) -> ModelResponse:
        seen.append(request)
        return classified("refund")

    model = ScriptedChatModel(script=handler)
    LLMEngine(model, policy=shop.policy).classify("refund please", CTX)
    assert seen[0].user == "refund please"


def test_models_without_finish_reasons_still_draft(shop: Pack) -> None:
    from langchain_core.language_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    model = GenericFakeChatModel(messages=iter([AIMessage("Returns take 30 days [S1].")]))
    eng = LLMEngine(model, policy=shop.policy, options=FAST)
    draft = eng.draft("returns?", CTX, intent="returns_info", chunks=[RETURNS])
    assert (draft.text, draft.support) == ("Returns take 30 days.", 1.0)


def test_compose_confirms_from_the_template_and_adds_one_supported_sentence(shop: Pack) -> None:
    from govcx.engines.engine import Draft

    eng, model = engine(shop)
    executed = Execution(
        tool="issue_refund",
        args={"order_id": "A-1001", "amount": 20.0},
        status="executed",
        result={},
    )
    draft = Draft(
        text="Refunds take 5 days. Returns are free.",
        support=1.0,
        citations=[RETURNS.citation(), OTHER.citation()],
    )
    out = eng.compose(
        CTX, intent="refund", executions=[executed], draft=draft, registry=shop.registry
    )
    assert out.text == "I've refunded $20.00 for order A-1001. Refunds take 5 days."
    assert out.citations == [RETURNS.citation()]
    failed = Execution(tool="issue_refund", args={}, status="failed", error="no such order")
    out = eng.compose(
        CTX, intent="refund", executions=[failed], draft=draft, registry=shop.registry
    )
    assert (out.text, out.citations) == ("no such order", [])  # the ToolError's own message
    assert model.requests == []


@pytest.mark.parametrize(
    ("executions", "draft_text", "support", "text", "trusted"),
    [
        # a failed call without a message of its own: the generic line
        (
            [Execution(tool="issue_refund", args={}, status="failed")],
            "Ok.",
            1.0,
            "I couldn't complete that request.",
            "I couldn't complete that request.",
        ),
        # refused by the runtime: a colleague looks at it; no knowledge sentence after it
        (
            [Execution(tool="issue_refund", args={}, status="refused", error="limit")],
            "Refunds take 5 days.",
            1.0,
            "I couldn't do that automatically, so I've asked a colleague to look at it.",
            "I couldn't do that automatically, so I've asked a colleague to look at it.",
        ),
        # a tool the registry lacks; "e.g. a" does not end the supporting sentence
        (
            [Execution(tool="gone", args={}, status="executed", result={})],
            "Refunds go to the card, e.g. a Visa. Returns are free.",
            0.5,
            "Done: gone. Refunds go to the card, e.g. a Visa.",
            "Done: gone.",
        ),
        # weakly supported knowledge is left out
        (
            [Execution(tool="gone", args={}, status="executed", result={})],
            "Refunds take 5 days.",
            0.49,
            "Done: gone.",
            "Done: gone.",
        ),
        # how to write the identifier the call took: the customer already wrote it
        (
            [Execution(tool="gone", args={"order_id": "A-1002"}, status="executed", result={})],
            "Acme order numbers start with A- followed by four digits, like A-1009.",
            1.0,
            "Done: gone.",
            "Done: gone.",
        ),
        # how to ask for the action that just ran (the tool's first word, any form)
        (
            [Execution(tool="cancel_it", args={}, status="executed", result={})],
            "Ask our assistant in chat to cancel the order. Cancelled orders are refunded.",
            1.0,
            "Done: cancel_it.",
            "Done: cancel_it.",
        ),
        # a sentence about another value of a field the call returned: not this order
        (
            [
                Execution(
                    tool="get_order", args={}, status="executed", result={"status": "returned"}
                )
            ],
            "An order can be cancelled while its status is processing. Returns are free.",
            1.0,
            "Done: get_order.",
            "Done: get_order.",
        ),
        # ... the same value (two words for in_transit) or no value named: it stays
        (
            [
                Execution(
                    tool="get_order", args={}, status="executed", result={"status": "in_transit"}
                )
            ],
            "While the status is in transit, the carrier has it.",
            1.0,
            "Done: get_order. While the status is in transit, the carrier has it.",
            "Done: get_order.",
        ),
        (
            [
                Execution(
                    tool="get_order", args={}, status="executed", result={"status": "returned"}
                )
            ],
            "Status updates are emailed every day.",
            1.0,
            "Done: get_order. Status updates are emailed every day.",
            "Done: get_order.",
        ),
        # a sentence about what follows stays, identifiers of another shape too
        (
            [Execution(tool="cancel_it", args={"order_id": "A-1002"}, status="executed")],
            "Refunds reach card 4111 within 5 days.",
            1.0,
            "Done: cancel_it. Refunds reach card 4111 within 5 days.",
            "Done: cancel_it.",
        ),
    ],
)
def test_both_engines_compose_one_reply(
    shop: Pack,
    executions: list[Execution],
    draft_text: str,
    support: float,
    text: str,
    trusted: str,
) -> None:
    """``compose`` is one function (``engines.engine.compose_reply``): the embedded and
    the LLM engine give the same reply, word for word, for the same executions."""
    from govcx.engines.embedded import EmbeddedEngine
    from govcx.engines.engine import Draft

    draft = Draft(text=draft_text, support=support, citations=[RETURNS.citation()])
    llm, model = engine(shop)
    embedded = EmbeddedEngine(classifier=None)  # type: ignore[arg-type]  # compose needs none
    outs = [
        e.compose(CTX, intent="refund", executions=executions, draft=draft, registry=shop.registry)
        for e in (llm, embedded)
    ]
    assert outs[0] == outs[1]
    assert (outs[0].text, outs[0].trusted) == (text, trusted)
    assert outs[0].citations == ([RETURNS.citation()] if text != trusted else [])
    assert model.requests == []
