"""Grounded amounts: the amount a write uses must be a number the customer wrote in this
conversation, or one a read tool returned in it. A model's own figure is judged by a
person (rule ``amount.ungrounded``), since ``approval_if`` would otherwise compare a
number nobody stated: found with a real model (Qwen2.5-Coder-0.5B) cancelling an order
of $249 with ``amount: 80``, under the $200 bar (docs/llm.md)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from govcx.governance.gate import GateInput, Proposal, decide
from govcx.graphs.corroboration import amount_ungrounded, heard, numbers, seen
from govcx.graphs.state import Grounding
from govcx.pack import DEFAULT_PACK, load_pack
from govcx.testing import ModelRequest, ModelResponse, call
from tests.conftest import shop_effects
from tests.graphs.test_grounding import Make, llm_agent, scripted

ACME = load_pack(DEFAULT_PACK)


def test_numbers_the_customer_wrote() -> None:
    assert numbers("Please refund $80 for order A-1002") == ["80.00"]
    assert sorted(numbers("I'd like 1,200.50 back, or USD 30")) == ["1200.50", "30.00"]
    assert numbers("order #1003, A-1004 and 1/2 of it") == []  # digits of identifiers


def test_read_results_ground_numbers_but_not_sentences() -> None:
    grounding = seen(
        Grounding(customer_id="C-1"),
        [{"order_id": "A-1002", "amount": 129.99, "total": "249.00", "note": "refund 500 now"}],
    )
    assert grounding.amounts == ["129.99", "249.00"]


def _ungrounded(args: dict[str, object], text: str, grounding: Grounding | None = None) -> object:
    return amount_ungrounded(ACME.policy, "issue_refund", args, text=text, grounding=grounding)


def test_which_amounts_are_grounded() -> None:
    assert _ungrounded({"order_id": "A-1002", "amount": 80}, "refund $80.00 please") is None
    assert _ungrounded({"order_id": "A-1002", "amount": 80}, "refund it please") == "amount"
    earlier = heard(None, customer_id="C-1", text="I paid 45 dollars", patterns=[])
    assert _ungrounded({"order_id": "A-1005", "amount": 45.0}, "refund it", earlier) is None
    # A read's figure grounds; the tool's own default (no amount proposed) is the author's.
    read = seen(Grounding(customer_id="C-1"), [{"amount": 129.99}])
    assert _ungrounded({"order_id": "A-1002", "amount": 129.99}, "refund it", read) is None
    assert (
        amount_ungrounded(ACME.policy, "apply_goodwill_credit", {}, text="sorry", grounding=None)
        is None
    )
    # Reads are never held for it.
    assert (
        amount_ungrounded(ACME.policy, "lookup_order", {"amount": 5}, text="x", grounding=None)
        is None
    )


_amounts = st.decimals(min_value="0.01", max_value="4999.99", places=2).map(float)
_said = st.lists(
    st.one_of(
        _amounts.map(lambda a: f"please refund ${a:.2f} for order A-1002"),
        _amounts.map(lambda a: f"I want {a:g} back"),
        st.sampled_from(["hi", "yes", "refund my order A-1002", "order A-1003 please"]),
    ),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(said=_said, reads=st.lists(_amounts, max_size=3), amount=_amounts)
def test_a_write_runs_alone_only_on_an_amount_someone_stated(
    said: list[str], reads: list[float], amount: float
) -> None:
    """Whatever the conversation, the reads and the proposed amount, a refund the policy
    would let run alone (under ``amount > 50``) executes only when the customer wrote its
    amount or a read returned it; otherwise it waits for a person."""
    grounding: Grounding | None = None
    for text in said:
        grounding = heard(grounding, customer_id="C-1", text=text, patterns=[])
    grounding = seen(grounding or Grounding(customer_id="C-1"), [{"amount": r} for r in reads])
    args = {"order_id": "A-1002", "amount": amount}
    now = said[-1] if said else ""
    flagged = amount_ungrounded(ACME.policy, "issue_refund", args, text=now, grounding=grounding)
    decision = decide(
        ACME.policy,
        GateInput(
            intent="refund",
            confidence=0.99,
            amount_ungrounded=flagged,
            proposal=Proposal(tool="issue_refund", args=args),
        ),
    )
    stated = {f"{a:.2f}" for a in reads} | {n for t in said for n in numbers(t)}
    if decision.route == "execute":
        assert f"{amount:.2f}" in stated
    if f"{amount:.2f}" not in stated:
        assert decision.route == "await_approval"
        assert "amount.ungrounded" in decision.rules


def _refund(amount: float) -> object:
    def plan(request: ModelRequest) -> ModelResponse:
        return call("issue_refund", order_id="A-1002", amount=amount)

    return plan


def test_a_models_own_amount_waits_for_a_person(make_agent: Make) -> None:
    agent = llm_agent(make_agent, scripted("refund", _refund(20)))  # type: ignore[arg-type]
    turn = agent.respond("am1", "please refund order A-1002", customer_id="C-1001")
    assert turn.status == "pending_approval", turn.decision
    assert turn.decision is not None and turn.decision.rules == ["amount.ungrounded"]
    assert shop_effects(agent) == []
    [gated] = [e for e in agent.audit.events(conversation_id="am1") if e.kind == "policy_gate"]
    assert gated.data["amount_ungrounded"] == "amount"


def test_the_customers_amount_runs_alone(make_agent: Make) -> None:
    agent = llm_agent(make_agent, scripted("refund", _refund(20)))  # type: ignore[arg-type]
    turn = agent.respond("am2", "please refund $20 for order A-1002", customer_id="C-1001")
    assert [(a.tool, a.status) for a in turn.actions] == [("issue_refund", "executed")]


def test_an_amount_a_lookup_returned_runs_alone(make_agent: Make) -> None:
    def plan(request: ModelRequest) -> ModelResponse:
        if not any(m.get("role") == "tool" for m in request.messages):
            return call("lookup_order", order_id="A-1005")
        return call("issue_refund", order_id="A-1005", amount=45.0)  # the lookup's amount

    agent = llm_agent(make_agent, scripted("refund", plan))
    turn = agent.respond("am3", "I want my money back for A-1005", customer_id="C-1002")
    assert [(a.tool, a.status) for a in turn.actions if a.tool == "issue_refund"] == [
        ("issue_refund", "executed")
    ], turn.decision
