"""Rule ids in the words of the policy that produced them (what an approver reads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from govcx.governance import gate
from govcx.governance.policy import Policy, load_policy
from govcx.governance.rules import explain, explain_all

ACME = Path(__file__).resolve().parents[2] / "src" / "govcx" / "packs" / "acme" / "policy.yaml"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(ACME)


@pytest.mark.parametrize(
    ("rule", "intent", "expected"),
    [
        ("tool.issue_refund.approval_if", None, "amount > 50"),
        (
            "tool.issue_refund.approval_if.error",
            None,
            "amount > 50 (could not be evaluated, so a person decides)",
        ),
        (
            "tool.issue_refund.limits[0]",
            None,
            "limits: sum of amount per customer within 1d at most 100",
        ),
        (
            "tool.issue_refund.limits[1]",
            None,
            "limits: count per order_id within 30d at most 2",
        ),
        (
            "tool.issue_refund.duplicate",
            None,
            "duplicate: the same issue_refund call already ran in this conversation within 10m",
        ),
        ("tier.high.approval=always", None, "tier high: approval always"),
        (
            "tier.critical.approval=always",
            None,
            "tier critical: approval always, 2 distinct approvers, roles manager",
        ),
        (
            "autonomy.draft",
            "change_address",
            "autonomy draft: a person approves every action and reply of this workflow "
            "(change_address)",
        ),
        (
            "autonomy.recommend",
            None,
            "autonomy recommend: the AI only recommends; a person approves every action",
        ),
        (
            "intent.uncorroborated",
            None,
            "the model's intent is not supported by the customer's own words (the embedded "
            "classifier disagrees): a write needs a person",
        ),
        (
            "workflow.legal_threat.autonomy=escalate",
            None,
            "workflow legal_threat has autonomy escalate: every request goes to a person",
        ),
        (
            "confidence.below_minimum",
            "billing_dispute",
            "confidence below the minimum 0.60 (billing_dispute)",
        ),
        ("guard.legal_threat", None, "guard found legal threat (policy: escalate)"),
        (
            "tool.lookup_order.not_allowed",
            "refund",
            "lookup_order is not among the tools of workflow refund",
        ),
        (
            "tool.issue_refund.cannot_succeed",
            None,
            "issue_refund cannot succeed (its context lookup refused it)",
        ),
        ("slot.missing", None, "a required argument is missing: the customer is asked for it"),
    ],
)
def test_each_rule_kind_reads_as_its_condition(
    policy: Policy, rule: str, intent: str | None, expected: str
) -> None:
    assert explain(policy, rule, intent=intent) == expected


def test_an_id_the_policy_does_not_know_reads_as_itself(policy: Policy) -> None:
    for rule in ("tool.gone.approval_if", "tool.issue_refund.limits[7]", "brand.new", "tier.x"):
        assert explain(policy, rule) == rule
    assert explain_all(None, ["tool.issue_refund.approval_if"]) == [
        ("tool.issue_refund.approval_if", "tool.issue_refund.approval_if")
    ]


def test_every_rule_the_gate_sends_to_approval_has_an_explanation(policy: Policy) -> None:
    """The ids come from the gate itself: a new rule kind without words fails here."""
    cases: list[tuple[str, str, dict[str, Any], gate.Usage | None]] = [
        ("refund", "issue_refund", {"order_id": "A-1002", "amount": 80.0}, None),
        (
            "refund",
            "issue_refund",
            {"order_id": "A-1002", "amount": 40.0},
            gate.Usage(used=(90.0, 2.0), duplicate=True),
        ),
        (
            "change_address",
            "update_shipping_address",
            {"order_id": "A-1", "new_address": "x"},
            gate.Usage(),
        ),
        ("account_closure", "close_account", {}, gate.Usage()),
    ]
    seen: set[str] = set()
    for intent, tool, args, usage in cases:
        decision = gate.decide(
            policy,
            gate.GateInput(
                intent=intent,
                confidence=0.99,
                proposal=gate.Proposal(tool=tool, args=args),
                usage=usage,
                corroborated=False,
            ),
        )
        assert decision.route == "await_approval", decision
        for rule in decision.rules:
            seen.add(rule)
            assert explain(policy, rule, intent=intent) != rule, rule
    assert {
        "tool.issue_refund.approval_if",
        "tool.issue_refund.limits[0]",
        "tool.issue_refund.limits[1]",
        "tool.issue_refund.duplicate",
        "autonomy.draft",
        "autonomy.recommend",
        "tier.high.approval=always",
        "tier.critical.approval=always",
        "intent.uncorroborated",
    } <= seen
