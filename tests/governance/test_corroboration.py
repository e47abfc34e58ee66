"""Intent corroboration: a write a model chose runs alone only when the customer's own
words support the intent (property-based over generated policies, plus examples)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from govcx.governance.gate import GateInput, Proposal, decide
from govcx.graphs.corroboration import corroborate
from govcx.pack import load_pack
from tests.governance.test_invariant import _policy, policies


@settings(max_examples=300, deadline=None)
@given(
    p=policies,
    amount=st.floats(0.01, 10_000, allow_nan=False).map(lambda x: round(x, 2)),
    corroborated=st.booleans(),
)
def test_an_uncorroborated_write_never_executes(
    p: dict[str, Any], amount: float, corroborated: bool
) -> None:
    policy = _policy(p, "v1")
    facts = GateInput(
        intent="w",
        confidence=0.99,
        corroborated=corroborated,
        proposal=Proposal(tool="pay", args={"order_id": "A-1002", "amount": amount}),
    )
    decision = decide(policy, facts)
    if not corroborated and not p["read_only"]:
        assert decision.route != "execute"
    if decision.route == "await_approval" and not corroborated and not p["read_only"]:
        assert "intent.uncorroborated" in decision.rules
    # Corroboration only ever adds a human: with it, the route is what the policy says.
    baseline = decide(policy, GateInput(intent="w", confidence=0.99, proposal=facts.proposal))
    if corroborated:
        assert decision == baseline
    elif baseline.route != "execute":
        assert decision.route == baseline.route


@pytest.fixture(scope="module")
def acme_policy() -> Any:
    return load_pack(None).policy


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("I forgot my password and can't log in", "password_reset"),
        ("please refund $20 for order A-1002", "refund"),
        ("where is my order A-1002?", "order_status"),
    ],
)
def test_the_customers_words_support_their_intent(acme_policy: Any, text: str, intent: str) -> None:
    assert corroborate(acme_policy, text, intent).supported


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Thanks. Please go ahead with whatever else is needed.", "password_reset"),
        ("where is my order A-1002?", "close_account"),
        ("what is your return policy?", "refund"),
    ],
)
def test_a_workflow_the_customer_never_asked_for_is_not_supported(
    acme_policy: Any, text: str, intent: str
) -> None:
    check = corroborate(acme_policy, text, intent)
    assert not check.supported
    assert check.probability < 0.15
