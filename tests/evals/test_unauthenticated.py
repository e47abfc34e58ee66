"""Compliance reports flag dev-mode (unauthenticated) decisions: counted and listed, not
violations."""

from __future__ import annotations

from govcx.evals.compliance import unauthenticated_decisions
from govcx.evals.runner import run_suites
from govcx.evals.suite import parse_suite
from govcx.governance.approval import ApprovalRequest, Decision
from tests.evals.conftest import DOUBLES


def _request(approval_id: str, *decisions: Decision) -> ApprovalRequest:
    return ApprovalRequest(
        approval_id=approval_id,
        conversation_id="c",
        turn_id="t",
        kind="action",
        tool="issue_refund",
        args={"amount": 80},
        tier="low",
        rules=[],
        rationale="",
        requested_at=0,
        expires_at=1e12,
        decisions=list(decisions),
        status="approved",
        policy_version="t1",
        token="x",
    )


def test_unauthenticated_decisions_are_listed_oldest_first() -> None:
    requests = [
        _request(
            "apr_b",
            Decision(principal="boss", decision="approve", at=5, authenticated=False),
            Decision(principal="boss2", decision="approve", at=6),
        ),
        _request("apr_a", Decision(principal="sup", decision="reject", at=2, authenticated=False)),
        _request("apr_c", Decision(principal="sup", decision="approve", at=1)),
    ]
    assert [
        (d["approval_id"], d["principal"], d["decision"])
        for d in unauthenticated_decisions(requests)
    ] == [("apr_a", "sup", "reject"), ("apr_b", "boss", "approve")]


def test_old_records_without_the_field_count_as_authenticated() -> None:
    decision = Decision.model_validate({"principal": "sup", "decision": "approve", "at": 1})
    assert decision.authenticated is True


def test_an_eval_run_counts_and_lists_dev_mode_decisions() -> None:
    suite = parse_suite(
        {
            "name": "dev",
            "cases": [
                {
                    "id": "by-name",
                    "customer": "C-1",
                    "turns": [
                        {"user": "refund $80 for order A-1002"},
                        {
                            "decide": {"as": "sup", "decision": "approve", "authenticated": False},
                            "expect": {"status": "answered"},
                        },
                    ],
                },
                {
                    "id": "by-key",
                    "customer": "C-1",
                    "turns": [
                        {"user": "refund $80 for order A-1002"},
                        {
                            "decide": {"as": "sup", "decision": "approve"},
                            "expect": {"status": "answered"},
                        },
                    ],
                },
            ],
        }
    )
    report = run_suites([suite], **DOUBLES)
    compliance = report.summary["compliance"]
    assert compliance["unauthenticated_decisions"] == 1
    assert compliance["rate"] == 1.0  # flagged, not a violation
    by_id = {c.case_id: c for c in report.cases}
    [flag] = by_id["by-name"].unauthenticated_decisions
    assert flag["principal"] == "sup" and flag["decision"] == "approve"
    assert by_id["by-key"].unauthenticated_decisions == []
    assert by_id["by-name"].as_dict()["unauthenticated_decisions"] == [flag]
