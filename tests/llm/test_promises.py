"""No reply promises follow-up that nothing backs, whichever engine wrote it.

A model whose output cannot be used (no tool call, prose instead, a failure after
retries) or a draft that says "a member of our team will follow up" while no case,
approval or action exists: the turn escalates, a case is opened, and the reply says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from govcx.agent.agent import Agent
from govcx.engines.llm import LLMEngine
from govcx.graphs import replies
from govcx.guardrails.promises import Backing, promise_in, unbacked_promise
from govcx.knowledge.retriever import Chunk
from govcx.testing import (
    InMemoryRetriever,
    ModelRequest,
    ModelResponse,
    StubOpenAIServer,
    call,
    classified,
    reply,
)
from govcx.turn import Turn

PROMISES = [
    "Thanks for your message. A member of our team will follow up shortly.",
    "We'll get back to you within a day.",
    "We will get back to you soon.",
    "Someone will be in touch.",
    "Our billing team will review your case.",
    "A colleague will contact you tomorrow.",
    "I'll look into this and let you know.",
    "I will process your refund now.",
    "I'm going to escalate this to a manager.",
    "I have escalated your request to our billing team.",
    "I've passed your request to a specialist.",
    "Your case has been forwarded to the right team.",
    "You will hear back from us within 24 hours.",
    "I've asked a colleague to look at it.",
    "They'll be following up with you.",
    "We’ll be in touch.",
]
NOT_PROMISES = [
    "You can return any unused item within 30 days of delivery.",
    "Refunds are issued within 5 business days.",
    "If a refund has not appeared after 10 business days, contact us and we will trace it.",
    "Our support team is available 9am to 5pm.",
    "We will never ask for your password.",
    "Please contact our team if anything else comes up.",
    "I can help with that.",
    "Your order A-1002 was delivered on May 2.",
    "If a problem needs more time, we tell you who is handling it and when you will hear back.",
]


@pytest.mark.parametrize("text", PROMISES)
def test_promises_of_follow_up_are_found(text: str) -> None:
    assert promise_in(text) is not None


@pytest.mark.parametrize("text", NOT_PROMISES)
def test_policy_statements_are_not_promises(text: str) -> None:
    assert promise_in(text) is None


@pytest.mark.parametrize(
    "backing",
    [Backing(case_id="case-1"), Backing(approval_id="apr-1"), Backing(executed=1)],
)
def test_a_case_an_approval_or_an_action_backs_a_promise(backing: Backing) -> None:
    assert unbacked_promise(PROMISES[0], backing) is None
    assert unbacked_promise(PROMISES[0], Backing()) is not None


@given(
    before=st.text(alphabet=st.characters(categories=["L", "N", "Zs"]), max_size=60),
    promise=st.sampled_from(PROMISES),
    after=st.text(alphabet=st.characters(categories=["L", "N", "Zs"]), max_size=60),
)
def test_a_promise_is_found_whatever_surrounds_it(before: str, promise: str, after: str) -> None:
    """Text before and after a promise (as separate sentences) never hides it."""
    assert promise_in(f"{before}. {promise} {after}") is not None


def test_the_runtime_texts_that_promise_are_the_backed_ones() -> None:
    """Every fixed text of the runtime that promises follow-up is only said where a case
    or an approval exists (ESCALATED, SELF_HARM, NO_KNOWLEDGE: a case; PENDING_ACTION,
    BUSY_WITH_APPROVAL: a waiting approval); the old fallback promised with neither. The
    texts said once an approval ends unapproved promise nothing: no case is opened then
    (REJECTED used to say "They will follow up with you")."""
    promising = {
        name
        for name in (
            "ESCALATED",
            "SELF_HARM",
            "NO_KNOWLEDGE",
            "PENDING_ACTION",
            "BUSY_WITH_APPROVAL",
            "REJECTED",
            "REJECTED_REPLY",
            "NOT_APPROVED_IN_TIME",
            "FALLBACK",
            "BLOCKED",
        )
        if promise_in(getattr(replies, name))
    }
    assert promising == {
        "ESCALATED",
        "SELF_HARM",
        "NO_KNOWLEDGE",
        "PENDING_ACTION",
        "BUSY_WITH_APPROVAL",
        "FALLBACK",
    }


# -- through the graph ---------------------------------------------------------------------
Make = Callable[..., LLMEngine]


def _escalated_with_case(agent: Agent, turn: Turn, rule: str) -> None:
    assert turn.status == "escalated"
    assert turn.reply is not None and turn.reply.text == replies.ESCALATED
    assert turn.escalation is not None and turn.escalation.rules == [rule]
    assert turn.case_id is not None
    case = agent.cases.open_for(turn.conversation_id)
    assert case is not None and case.case_id == turn.case_id
    assert turn.actions == [] or all(a.status != "executed" for a in turn.actions)


def test_a_plan_in_prose_escalates_with_a_case_not_a_hollow_promise(
    make_agent: Callable[..., Agent], stub: StubOpenAIServer, stub_engine: Make
) -> None:
    """The model answers the planning call in prose (no tool call, nothing parseable):
    there is nothing to do and nothing to say, so a person takes it, with a case."""

    def script(request: ModelRequest) -> ModelResponse:
        if request.purpose == "classify":
            return classified("refund", 0.9)
        if request.purpose == "plan":
            return reply("Sure! A member of our team will follow up shortly about your refund.")
        return reply("NO_ANSWER")

    stub.script = script
    agent = make_agent(engine=stub_engine())
    turn = agent.respond("p1", "please refund $20 for order A-1001", customer_id="C-1")
    _escalated_with_case(agent, turn, "reply.empty")


def test_a_drafted_promise_escalates_with_a_case(
    make_agent: Callable[..., Agent], stub: StubOpenAIServer, stub_engine: Make
) -> None:
    """A knowledge answer whose draft promises follow-up (cited or not) is not sent."""

    def script(request: ModelRequest) -> ModelResponse:
        if request.purpose == "classify":
            return classified("returns_info", 0.9)
        return reply(
            "You can return any unused item within 30 days of delivery [S1]. "
            "A member of our team will follow up with you shortly."
        )

    stub.script = script
    agent = make_agent(engine=stub_engine())
    turn = agent.respond("p2", "how do returns work?", customer_id="C-1")
    _escalated_with_case(agent, turn, "reply.unbacked_promise")
    audited = [e.data for e in agent.audit.events(conversation_id="p2") if e.kind == "guard_output"]
    assert [d["action"] for d in audited] == ["escalate"]
    assert "A member of our team will follow up" in audited[0]["problems"][0]


def test_a_model_that_fails_every_retry_escalates_with_a_case(
    make_agent: Callable[..., Agent], stub: StubOpenAIServer, stub_engine: Make
) -> None:
    """Malformed output on every attempt of every call: escalated with a case."""
    stub.script = lambda request: reply("I am not sure what you mean.")
    agent = make_agent(engine=stub_engine())
    turn = agent.respond("p3", "please refund $20 for order A-1001", customer_id="C-1")
    assert turn.status == "escalated" and turn.case_id is not None
    assert turn.reply is not None and turn.reply.text == replies.ESCALATED
    assert agent.cases.open_for("p3") is not None


def test_an_executed_action_backs_its_confirmation(
    make_agent: Callable[..., Agent], stub: StubOpenAIServer, stub_engine: Make
) -> None:
    """The rule does not stop a turn whose action ran: its reply is the tool's."""

    def script(request: ModelRequest) -> ModelResponse:
        if request.purpose == "classify":
            return classified("refund", 0.9)
        if request.purpose == "plan":
            return call("issue_refund", {"order_id": "A-1001", "amount": 20})
        return reply("NO_ANSWER")

    stub.script = script
    agent = make_agent(engine=stub_engine())
    turn = agent.respond("p4", "please refund $20 for order A-1001", customer_id="C-1")
    assert turn.status == "answered"
    assert [(a.tool, a.status) for a in turn.actions] == [("issue_refund", "executed")]
    assert agent.cases.open_for("p4") is None


PROMISING_ARTICLE = Chunk(
    doc_id="callbacks",
    version="1",
    title="Callbacks",
    chunk_id="callbacks#1",
    text="How do callbacks work? A member of our team will follow up with you by phone "
    "about returns within one business day.",
    tags=("returns",),
)


def test_the_same_rule_holds_for_the_embedded_engine(make_agent: Callable[..., Agent]) -> None:
    """The embedded engine drafts extractively: an article that promises a call back is
    not a promise this turn can keep, so it escalates the same way (one rule in
    ``check_reply`` for every engine)."""
    agent = make_agent(retriever=InMemoryRetriever([PROMISING_ARTICLE]))
    assert agent.engine.name == "embedded"
    turn: Any = agent.respond("p5", "how do returns callbacks work?", customer_id="C-1")
    if turn.status != "escalated" or turn.escalation.rules != ["reply.unbacked_promise"]:
        pytest.fail(f"expected an unbacked-promise escalation, got {turn.status}: {turn.reply}")
    _escalated_with_case(agent, turn, "reply.unbacked_promise")
