"""Grounded identifiers (issue 18, item 3): a write acts only on an id the customer wrote
in this conversation, or confirmed after the agent offered it from a read tool's result;
otherwise the agent asks which one and nothing runs. The LLM engine runs here over the
scripted model, which proposes whatever the test says; the embedded engine too."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govcx.agent.agent import Agent
from govcx.engines.llm import LLMEngine
from govcx.graphs.corroboration import heard
from govcx.pack import DEFAULT_PACK, load_pack
from govcx.testing import ModelRequest, ModelResponse, ScriptedChatModel, call, classified, reply
from govcx.turn import Turn
from tests.conftest import shop_effects
from tests.llm.conftest import FAST

Make = Callable[..., Agent]
Proposer = Callable[[ModelRequest], ModelResponse]


def _looked_up(request: ModelRequest) -> bool:
    return any(m.get("role") == "tool" for m in request.messages)


def scripted(intent: str, plan: Proposer) -> Proposer:
    """A model that classifies every message as ``intent`` and plans with ``plan``."""

    def answer(request: ModelRequest) -> ModelResponse:
        if request.purpose == "classify":
            return classified(intent, 0.95)
        if request.purpose == "plan":
            return plan(request)
        return reply("Thanks for your message.")

    return answer


def llm_agent(make_agent: Make, script: Proposer, pack: Any = DEFAULT_PACK) -> Agent:
    model = ScriptedChatModel(script=script)
    engine = LLMEngine(model, policy=load_pack(pack).policy, options=FAST, sleep=lambda s: None)
    return make_agent(pack, engine=engine)


def _return(order_id: str) -> Proposer:
    """Lists the customer's orders first, then proposes a return of ``order_id``."""

    def plan(request: ModelRequest) -> ModelResponse:
        if not _looked_up(request):
            return call("list_orders")
        return call("create_return", order_id=order_id, reason="changed my mind")

    return plan


def _rules(turn: Turn) -> list[str]:
    return list(turn.decision.rules) if turn.decision else []


def _executed(turn: Turn) -> list[tuple[str, Any]]:
    return [(a.tool, a.args.get("order_id")) for a in turn.actions if a.status == "executed"]


def test_a_return_on_an_order_the_customer_never_named_asks(make_agent: Make) -> None:
    agent = llm_agent(make_agent, scripted("return_request", _return("A-1002")))
    turn = agent.respond("g1", "I want to return something", customer_id="C-1001")
    assert turn.status == "answered" and turn.actions == []
    assert _rules(turn) == ["identifier.ungrounded"]
    assert turn.reply is not None
    assert "do you mean order number A-1002?" in turn.reply.text
    [gate] = [e for e in agent.audit.events(conversation_id="g1") if e.kind == "policy_gate"]
    assert gate.data["rules"] == ["identifier.ungrounded"]
    assert gate.data["ungrounded"] == ["order_id"]


def test_listed_then_confirmed_proceeds(make_agent: Make) -> None:
    agent = llm_agent(make_agent, scripted("return_request", _return("A-1002")))
    agent.respond("g2", "I want to return something", customer_id="C-1001")
    turn = agent.respond("g2", "yes, that one", customer_id="C-1001")
    assert _executed(turn) == [("create_return", "A-1002")], turn.decision
    [classify] = [
        e
        for e in agent.audit.events(conversation_id="g2")
        if e.kind == "classify" and e.turn_id == turn.turn_id
    ]
    assert classify.data["confirmed"] == ["order_id"]


@pytest.mark.parametrize("answer", ["no", "no, the other one", "what?", "yes but not that one"])
def test_anything_but_a_plain_yes_confirms_nothing(make_agent: Make, answer: str) -> None:
    agent = llm_agent(make_agent, scripted("return_request", _return("A-1002")))
    agent.respond("g3", "I want to return something", customer_id="C-1001")
    turn = agent.respond("g3", answer, customer_id="C-1001")
    assert turn.actions == [] and _rules(turn) == ["identifier.ungrounded"]


def _customer_text(request: ModelRequest) -> str:
    return str([m for m in request.messages if m.get("role") == "user"][-1].get("content"))


def test_named_in_an_earlier_turn_proceeds(make_agent: Make) -> None:
    def plan(request: ModelRequest) -> ModelResponse:
        if "$" not in _customer_text(request):
            # No amount yet: the gate asks for it, and the AI keeps the conversation.
            return call("issue_refund", order_id="A-1002")
        return call("issue_refund", order_id="A-1002", amount=20)

    agent = llm_agent(make_agent, scripted("refund", plan))
    first = agent.respond(
        "g4", "I want a refund, my order A-1002 arrived with a broken zip", customer_id="C-1001"
    )
    assert _executed(first) == [] and first.status == "answered", first
    turn = agent.respond("g4", "please refund $20 for it", customer_id="C-1001")
    assert _executed(turn) == [("issue_refund", "A-1002")], turn.decision


def test_a_refund_on_an_order_the_customer_never_named_asks(make_agent: Make) -> None:
    def plan(request: ModelRequest) -> ModelResponse:
        return call("issue_refund", order_id="A-1003", amount=20)

    agent = llm_agent(make_agent, scripted("refund", plan))
    turn = agent.respond("g5", "please refund $20 for order A-1002", customer_id="C-1001")
    assert turn.actions == [] and _rules(turn) == ["identifier.ungrounded"]
    # A-1003 came from no read either: nothing is offered, the customer is asked which.
    assert turn.reply is not None and "Could you tell me which order number" in turn.reply.text
    turn = agent.respond("g5", "yes", customer_id="C-1001")
    assert turn.actions == [] and _rules(turn) == ["identifier.ungrounded"]


def test_an_id_another_customer_wrote_does_not_ground(make_agent: Make) -> None:
    def plan(request: ModelRequest) -> ModelResponse:
        return call("issue_refund", order_id="A-1005", amount=20)

    agent = llm_agent(make_agent, scripted("refund", plan))
    # Another conversation's customer names A-1005 (their own order).
    agent.respond("other", "please refund $20 for order A-1005", customer_id="C-1002")
    turn = agent.respond("g6", "please refund $20 for my order", customer_id="C-1002")
    assert turn.actions == [] and _rules(turn) == ["identifier.ungrounded"]
    # (A conversation keeps one customer; the grounding starts again if that ever changed.)
    kept = heard(None, customer_id="C-1001", text="order A-1005 please", patterns=())
    assert kept.said == ["a-1005"]
    assert heard(kept, customer_id="C-1002", text="refund it", patterns=()).said == []


def test_an_id_from_knowledge_is_never_offered_and_a_yes_does_not_ground_it(
    make_agent: Make,
) -> None:
    from govcx.knowledge.retriever import Chunk
    from govcx.testing import InMemoryRetriever

    article = Chunk(
        doc_id="returns",
        version="1",
        title="Returns",
        chunk_id="returns#1",
        text="Example: to return order A-1006, open the returns page.",
    )

    def plan(request: ModelRequest) -> ModelResponse:
        return call("create_return", order_id="A-1006", reason="changed my mind")

    agent = llm_agent(make_agent, scripted("return_request", plan))
    agent.retriever = InMemoryRetriever([article])
    turn = agent.respond("g8", "I want to return something", customer_id="C-1001")
    assert turn.actions == [] and _rules(turn) == ["identifier.ungrounded"]
    assert turn.reply is not None and "which order number" in turn.reply.text
    assert "A-1006" not in turn.reply.text
    turn = agent.respond("g8", "yes", customer_id="C-1001")
    assert turn.actions == [] and _rules(turn) == ["identifier.ungrounded"]


def test_the_embedded_engine_offers_the_only_order_and_acts_on_yes(make_agent: Make) -> None:
    agent = make_agent(DEFAULT_PACK)
    turn = agent.respond("g9", "I'd like to send back what I bought", customer_id="C-1002")
    assert turn.actions == [] and _rules(turn) == ["identifier.ungrounded"]
    assert turn.reply is not None and "A-1005" in turn.reply.text
    turn = agent.respond("g9", "yes", customer_id="C-1002")
    assert _executed(turn) == [("create_return", "A-1005")], turn.decision


# -- the invariant, over random conversations ---------------------------------------------
IDS = ("A-1001", "A-1002", "A-1003")
_messages = st.one_of(
    st.sampled_from(IDS).map(lambda i: f"please refund $20 for order {i}"),
    st.sampled_from(IDS).map(lambda i: f"it's {i.lower()}"),
    st.sampled_from(["refund me please", "yes", "yes, that one", "no", "correct"]),
)
_plans = st.tuples(st.sampled_from(IDS), st.booleans())
"""What the model proposes each turn: an order id, and whether it looks it up first."""


def _written(value: str, text: str) -> bool:
    import re

    return re.search(rf"(?<![\w-]){re.escape(value.lower())}(?![\w])", text.lower()) is not None


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(turns=st.lists(st.tuples(_messages, _plans), min_size=1, max_size=4))
def test_a_write_never_runs_on_an_identifier_the_customer_did_not_give(
    make_agent: Make, turns: list[tuple[str, tuple[str, bool]]]
) -> None:
    plans = iter([p for _, p in turns])
    current: list[tuple[str, bool]] = []

    def plan(request: ModelRequest) -> ModelResponse:
        order_id, look = current[-1]
        if look and not _looked_up(request):
            return call("lookup_order", order_id=order_id)
        return call("issue_refund", order_id=order_id, amount=20)

    from tests.conftest import SHOP

    agent = llm_agent(make_agent, scripted("refund", plan), pack=SHOP)
    conversation = f"p-{uuid.uuid4().hex[:8]}"
    said: list[str] = []
    confirmed: set[str] = set()
    offered: str | None = None
    before = len(shop_effects(agent))  # the state dir outlives one example
    for text, _ in turns:
        current.append(next(plans))
        turn = agent.respond(conversation, text, customer_id="C-1")
        said.append(text)
        yes = text in ("yes", "yes, that one", "correct")
        if offered is not None and yes:
            confirmed.add(offered)
        effects = shop_effects(agent)
        for effect in effects[before:]:
            order_id = effect["order_id"]
            assert any(_written(order_id, t) for t in said) or order_id in confirmed, (
                order_id,
                said,
            )
        before = len(effects)
        reply_text = turn.reply.text if turn.reply else ""
        offered = next((i for i in IDS if f"do you mean order number {i}?" in reply_text), None)
