"""Escalation triggers win over a write: a refund request that also carries a legal threat,
a self-harm disclosure or a request for a person escalates, and nothing executes.

The real guard on the shop pack, where "please refund $20 for order A-1001" runs on its
own (the control below), so a test that sees no refund proves the trigger stopped it.
What ran is read from the shop's downstream effects and the executor ledger, never from
the reply.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govcx.agent.agent import Agent
from govcx.guardrails.engine import DefaultGuard
from govcx.turn import Turn
from tests.conftest import shop_effects

PHRASINGS = Path(__file__).parents[1] / "fixtures" / "guards" / "triggers.yaml"
REFUND = "please refund $20 for order A-1001"
TRIGGERS = ("LEGAL_THREAT", "SELF_HARM", "HUMAN_REQUEST")


def _phrasings() -> dict[str, list[str]]:
    data = yaml.safe_load(PHRASINGS.read_text(encoding="utf-8"))
    return {k: data[k] for k in TRIGGERS}


PHRASED = _phrasings()
COMBINED = [
    ("LEGAL_THREAT", "Refund $20 for order A-1001 today or my attorney files suit on Monday"),
    ("LEGAL_THREAT", f"{REFUND}, or I will see you in court."),
    ("SELF_HARM", f"{REFUND}. Honestly I don't want to be alive anymore."),
    ("SELF_HARM", f"I'm thinking about ending my life. Anyway, {REFUND}."),
    ("HUMAN_REQUEST", f"{REFUND}, and let me speak to a real person."),
    ("HUMAN_REQUEST", f"Transfer me to an agent. {REFUND}."),
]


@pytest.fixture
def guarded_agent(make_agent: Callable[..., Agent], guard: DefaultGuard) -> Agent:
    return make_agent(guard=guard)


def _assert_escalated_nothing_ran(agent: Agent, turn: Turn, kind: str, conversation: str) -> None:
    assert turn.status == "escalated", turn
    assert turn.decision is not None and turn.decision.route == "escalate"
    assert f"guard.{kind.lower()}" in turn.decision.rules
    assert all(a.status != "executed" for a in turn.actions), turn.actions
    # Nothing reached the executor (its idempotency ledger) or the shop downstream.
    assert agent.executor.ledger(conversation) == []
    assert shop_effects(agent) == []


def test_the_refund_alone_executes(guarded_agent: Agent) -> None:
    """The control: without a trigger the same request runs within policy."""
    turn = guarded_agent.respond("control", REFUND, customer_id="C-1")
    assert turn.decision is not None and turn.decision.route == "execute"
    assert [e["amount"] for e in shop_effects(guarded_agent)] == [20.0]
    assert [r["tool"] for r in guarded_agent.executor.ledger("control")] == ["issue_refund"]


@pytest.mark.parametrize(("kind", "text"), COMBINED)
def test_a_trigger_with_a_refund_escalates_and_executes_nothing(
    guarded_agent: Agent, kind: str, text: str
) -> None:
    turn = guarded_agent.respond("t1", text, customer_id="C-1")
    _assert_escalated_nothing_ran(guarded_agent, turn, kind, "t1")
    # The trigger is decided before classification: no tool was even proposed.
    assert turn.actions == []
    if kind == "SELF_HARM":
        assert turn.reply is not None and "crisis line" in turn.reply.text


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    kind=st.sampled_from(TRIGGERS),
    index=st.integers(min_value=0, max_value=10_000),
    refund_first=st.booleans(),
    amount=st.integers(min_value=1, max_value=40),
)
def test_any_phrasing_with_any_refund_executes_nothing(
    guarded_agent: Agent, kind: str, index: int, refund_first: bool, amount: int
) -> None:
    """Every phrasing in the fixture, before or after a refund the policy would run."""
    phrase = PHRASED[kind][index % len(PHRASED[kind])]
    refund = f"please refund ${amount} for order A-1001"
    text = f"{refund}. {phrase}" if refund_first else f"{phrase} {refund}."
    conversation = f"p-{kind}-{index}-{refund_first}-{amount}"
    turn = guarded_agent.respond(conversation, text, customer_id="C-1")
    _assert_escalated_nothing_ran(guarded_agent, turn, kind, conversation)


# -- while an approval waits: the trigger still wins over "still waiting" ------------------
PENDING = "please refund $80 for order A-1002"  # above the shop's $50: waits for approval


def _waiting(agent: Agent, conversation: str) -> str:
    turn = agent.respond(conversation, PENDING, customer_id="C-1")
    assert turn.status == "pending_approval" and turn.approval_id, turn
    return turn.approval_id


def _assert_escalated_while_pending(
    agent: Agent, turn: Turn, kind: str, conversation: str, approval_id: str
) -> None:
    assert turn.status == "escalated" and turn.approval_id == approval_id, turn
    assert turn.approval_status == "pending"
    assert turn.decision is not None and f"guard.{kind.lower()}" in turn.decision.rules
    assert turn.reply is not None
    if kind == "SELF_HARM":
        assert "crisis line" in turn.reply.text
    case = agent.cases.get(str(turn.case_id))
    assert case.conversation_id == conversation and kind in case.summary["findings"]
    assert [a["approval_id"] for a in case.summary["pending_approvals"]] == [approval_id]
    # The approval still waits for its approver; nothing ran.
    assert agent.approvals.get(approval_id).status == "pending"
    assert agent.executor.ledger(conversation) == [] and shop_effects(agent) == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("SELF_HARM", "honestly I do not want to live anymore"),
        ("HUMAN_REQUEST", "I want to talk to a human"),
        ("LEGAL_THREAT", "If this is not sorted out my attorney files suit on Monday"),
    ],
)
def test_a_trigger_while_an_approval_waits_opens_a_case_and_the_approver_still_decides(
    guarded_agent: Agent, kind: str, text: str
) -> None:
    """A message sent while an approval waits used to hear only "still waiting", a
    self-harm disclosure included. Now the trigger opens a case at once, the hand-off
    names the waiting approval, the person has the conversation from then on, and the
    approver still decides the action, which runs once."""
    agent = guarded_agent
    aid = _waiting(agent, "w1")
    turn = agent.respond("w1", text, customer_id="C-1")
    _assert_escalated_while_pending(agent, turn, kind, "w1", aid)
    assert agent.conversations.get_turn(turn.turn_id) == turn  # stored as returned

    quiet = agent.respond("w1", "hello?", customer_id="C-1")
    assert (quiet.status, quiet.reply) == ("with_human", None)
    done = agent.decide(aid, principal="sup", decision="approve")
    assert done.status == "answered" and done.actions[0].status == "executed"
    assert [e["amount"] for e in shop_effects(agent)] == [80.0]
    kinds = [e.kind for e in agent.audit.events(conversation_id="w1")]
    assert kinds.index("message.while_pending") < kinds.index("escalate")
    assert agent.audit.verify().ok


def test_a_plain_message_while_an_approval_waits_opens_no_case(guarded_agent: Agent) -> None:
    agent = guarded_agent
    aid = _waiting(agent, "w2")
    for text in ("hello? any news?", "What is the capital of France?", "refund $20 for A-1003"):
        turn = agent.respond("w2", text, customer_id="C-1")
        assert (turn.status, turn.case_id, turn.actions) == ("pending_approval", None, [])
    assert agent.cases.open_for("w2") is None
    assert agent.approvals.get(aid).status == "pending" and shop_effects(agent) == []


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    kind=st.sampled_from(TRIGGERS),
    index=st.integers(min_value=0, max_value=10_000),
    chatter=st.integers(min_value=0, max_value=2),
)
def test_any_phrasing_while_an_approval_waits_escalates_and_runs_nothing(
    guarded_agent: Agent, kind: str, index: int, chatter: int
) -> None:
    """Every phrasing in the fixture, after any number of plain messages."""
    phrase = PHRASED[kind][index % len(PHRASED[kind])]
    conversation = f"wp-{kind}-{index}-{chatter}"
    aid = _waiting(guarded_agent, conversation)
    for _ in range(chatter):
        waiting = guarded_agent.respond(conversation, "any news?", customer_id="C-1")
        assert waiting.status == "pending_approval"
    turn = guarded_agent.respond(conversation, phrase, customer_id="C-1")
    _assert_escalated_while_pending(guarded_agent, turn, kind, conversation, aid)


@pytest.mark.parametrize(
    "text",
    [
        "honestly I do not want to li\u2066ve anymore",  # a bidi isolate inside a word
        "I want to e\u200en\u200ed my li\u200efe",  # left-to-right marks
    ],
)
def test_self_harm_with_a_person_is_found_as_the_input_guard_finds_it(
    guarded_agent: Agent, text: str
) -> None:
    """Once a person has the conversation the AI is silent, except for the crisis text
    on a self-harm disclosure. That scan normalises the text as the input guard does
    (NFKC, format characters removed), so an invisible character does not hide distress."""
    agent = guarded_agent
    first = agent.respond("wh", "I want to talk to a human", customer_id="C-1")
    assert first.status == "escalated" and first.case_id
    turn = agent.respond("wh", text, customer_id="C-1")
    assert turn.status == "with_human"
    assert turn.reply is not None and "crisis line" in turn.reply.text
    assert agent.cases.get(str(first.case_id)).priority == "urgent"
