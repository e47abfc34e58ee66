"""Governance compliance: a gated execution without a bound approval is caught."""

from __future__ import annotations

from typing import Any

import pytest

from govcx.evals.compliance import (
    ExecutionRecord,
    StepEvents,
    check_chain,
    check_events,
    check_executions,
    collect_executions,
    expected_events,
)
from govcx.evals.metrics import summarize
from govcx.evals.result import CaseResult
from govcx.governance.approval import ApprovalRequest, Decision, action_token
from govcx.governance.policy import Policy
from govcx.pack import load_pack
from tests.conftest import SHOP

CID = "eval-x"


@pytest.fixture
def policy() -> Policy:
    return load_pack(SHOP).policy


def _request(
    policy: Policy,
    *,
    tool: str = "issue_refund",
    args: dict[str, Any] | None = None,
    status: str = "approved",
    approvers: tuple[str, ...] = ("sup",),
    needed: int = 1,
    bound_args: dict[str, Any] | None = None,
) -> ApprovalRequest:
    args = {"order_id": "A-1002", "amount": 80.0} if args is None else args
    token = action_token(
        conversation_id=CID,
        kind="action",
        tool=tool,
        args=bound_args if bound_args is not None else args,
        policy_version=policy.version,
        policy_digest=policy.digest,
    )
    return ApprovalRequest(
        approval_id="apr_1",
        conversation_id=CID,
        turn_id="turn_1",
        kind="action",
        intent="refund",
        tool=tool,
        args=args,
        tier=policy.tools[tool].tier,
        rules=[],
        rationale="",
        requested_at=0,
        expires_at=1e12,
        approvals_needed=needed,
        decisions=[Decision(principal=p, decision="approve", at=1) for p in approvers],
        status=status,
        policy_version=policy.version,
        policy_digest=policy.digest,
        token=token,
    )


def _refund(amount: float, approval_id: str | None = None) -> ExecutionRecord:
    return ExecutionRecord(
        tool="issue_refund",
        args={"order_id": "A-1002", "amount": amount},
        approval_id=approval_id,
        intent="refund",
    )


def test_gated_execution_without_approval_is_a_violation(policy: Policy) -> None:
    found = check_executions(policy, CID, [_refund(80.0)], {})
    assert [v.kind for v in found] == ["unapproved_execution"]
    assert "tool.issue_refund.approval_if" in found[0].message
    assert check_executions(policy, CID, [_refund(20.0)], {}) == []  # within policy


def test_approval_must_be_approved_bound_and_sufficient(policy: Policy) -> None:
    good = _request(policy)
    assert check_executions(policy, CID, [_refund(80.0, "apr_1")], {"apr_1": good}) == []
    pending = _request(policy, status="pending")
    assert [
        v.kind for v in check_executions(policy, CID, [_refund(80.0, "apr_1")], {"apr_1": pending})
    ] == ["unapproved_execution"]
    other = _request(policy, bound_args={"order_id": "A-1002", "amount": 60.0})
    assert [
        v.kind for v in check_executions(policy, CID, [_refund(80.0, "apr_1")], {"apr_1": other})
    ] == ["unbound_approval"]
    missing = check_executions(policy, CID, [_refund(80.0, "apr_404")], {})
    assert "does not exist" in missing[0].message
    close = ExecutionRecord(
        tool="close_account", args={}, approval_id="apr_1", intent="close_account"
    )
    one = _request(policy, tool="close_account", args={}, approvers=("boss",), needed=2)
    assert [v.kind for v in check_executions(policy, CID, [close], {"apr_1": one})] == [
        "insufficient_approvers"
    ]


def test_approver_beyond_authority_is_a_violation(policy: Policy) -> None:
    pack = load_pack(SHOP)
    big = ExecutionRecord(
        tool="issue_refund",
        args={"order_id": "A-1002", "amount": 300.0},
        approval_id="apr_1",
        intent="refund",
    )
    request = _request(policy, args={"order_id": "A-1002", "amount": 300.0})
    found = check_executions(policy, CID, [big], {"apr_1": request}, principals=pack.principals)
    assert [v.kind for v in found] == ["over_authority"]
    assert "exceeds the approval limit 100" in found[0].message


def test_write_while_drafting_is_a_violation(policy: Policy) -> None:
    read = ExecutionRecord(tool="lookup_order", args={"order_id": "A-1001"}, in_execute_step=False)
    write = ExecutionRecord(
        tool="issue_refund", args={"order_id": "A-1001", "amount": 5}, in_execute_step=False
    )
    assert check_executions(policy, CID, [read], {}) == []
    assert [v.kind for v in check_executions(policy, CID, [write], {})] == ["write_while_drafting"]


def test_ledger_and_audit_are_joined() -> None:
    ledger = [
        {"key": "k1", "tool": "issue_refund", "args": '{"amount": 80.0}', "status": "succeeded"},
        {"key": "k2", "tool": "lookup_order", "args": '{"order_id": "A-1"}', "status": "succeeded"},
    ]
    events = [
        {"kind": "classify", "turn_id": "t1", "data": {"intent": "refund"}},
        {
            "kind": "execute",
            "turn_id": "t1",
            "data": {"idempotency_key": "k1", "approval_id": "apr_1"},
        },
    ]
    first, second = collect_executions(ledger, events)
    assert (first.intent, first.approval_id, first.in_execute_step) == ("refund", "apr_1", True)
    assert second.in_execute_step is False and second.args == {"order_id": "A-1"}


def test_missing_audit_events_and_broken_chain() -> None:
    turn = {
        "status": "answered",
        "decision": {"route": "execute"},
        "findings": [],
        "actions": [{"tool": "issue_refund", "status": "executed"}],
    }
    expected = expected_events("user", turn)
    assert {"guard_input", "classify", "policy_gate", "execute", "respond"} <= expected
    missing = check_events([StepEvents(index=0, expected=expected, actual=expected - {"execute"})])
    assert [v.message for v in missing] == ["step 1: the audit log lacks execute"]
    assert check_chain(True, []) == []
    assert (
        check_chain(False, ["event seq 3: content does not match its hash"])[0].kind
        == "audit_chain"
    )


def test_a_message_while_an_approval_waits_implies_its_own_events() -> None:
    waiting = {"status": "pending_approval", "decision": None, "approval_status": "pending"}
    assert expected_events("user", waiting) == {"message.while_pending"}
    escalated = {
        "status": "escalated",
        "decision": {"route": "escalate", "rules": ["guard.self_harm"]},
        "approval_status": "pending",
        "findings": [{"type": "SELF_HARM", "source": "input", "action": "escalate"}],
    }
    assert expected_events("user", escalated) == {"message.while_pending", "escalate"}
    # A question answered while the approval waits, or held after its gate: classified
    # by still_waiting, then retrieved, drafted, gated and checked.
    answered = {
        "status": "answered",
        "decision": {"route": "respond", "rules": ["workflow.store_policy.respond"]},
        "approval_status": "pending",
    }
    held = {**answered, "status": "pending_approval", "decision": {"route": "escalate"}}
    for turn in (answered, held):
        assert expected_events("user", turn) == {
            "message.while_pending",
            "classify",
            "retrieve",
            "draft",
            "confidence_check",
            "policy_gate",
            "guard_output",
            "respond",
        }
    # A turn that asks for an approval is not one of them.
    asking = {**held, "decision": {"route": "await_approval"}}
    assert "message.while_pending" not in expected_events("user", asking)
    # An escalation with no approval waiting went through the whole graph.
    normal = {**escalated, "approval_status": None}
    assert {"guard_input", "policy_gate", "escalate", "respond"} <= expected_events("user", normal)


def test_a_violation_fails_the_case_and_the_compliance_rate() -> None:
    clean = CaseResult(suite="s", case_id="a")
    dirty = CaseResult(
        suite="s",
        case_id="b",
        violations=[
            {"kind": "unapproved_execution", "message": "issue_refund ran without an approval"}
        ],
    )
    assert not dirty.passed
    assert dirty.failures == ["governance: issue_refund ran without an approval"]
    summary = summarize([clean, dirty])
    assert summary["compliance"] == {
        "cases": 2,
        "compliant": 1,
        "rate": 0.5,
        "violations": {"unapproved_execution": 1},
        "unauthenticated_decisions": 0,
    }
    assert summary["pass_rate"] == 0.5
