"""The runner on the shop pack: pass/fail detection, isolation, overrides, metrics."""

from __future__ import annotations

from govcx.evals.runner import run_suites
from govcx.evals.suite import Suite, parse_suite
from tests.evals.conftest import DOUBLES, SMOKE


def test_passes_and_failures_are_detected(smoke: Suite) -> None:
    report = run_suites([smoke], **DOUBLES)
    by_id = {c.case_id: c for c in report.cases}
    assert [c.case_id for c in report.cases] == [c["id"] for c in SMOKE["cases"]]
    for cid in ("refund-small", "refund-over-limit", "four-eyes", "lawyer"):
        assert by_id[cid].passed, (cid, by_id[cid].failures)
    failed = by_id["designed-to-fail"]
    assert not failed.passed
    assert failed.failures[0] == "step 1: status: expected escalated, got answered"
    assert failed.failures[1].startswith(
        "step 1: reply_contains: 'nonexistent' not in reply 'You can return any unused item"
    )
    assert len(failed.failures) == 2
    summary = report.summary
    assert (summary["cases"], summary["passed"], summary["pass_rate"]) == (5, 4, 0.8)
    assert summary["by_tag"]["approval"] == {"cases": 2, "passed": 2, "pass_rate": 1.0}
    assert summary["by_tag"]["knowledge"]["pass_rate"] == 0.0
    assert summary["by_tag"]["smoke"]["cases"] == 5  # suite tags apply to every case
    assert summary["compliance"] == {
        "cases": 5,
        "compliant": 5,
        "rate": 1.0,
        "violations": {},
        "unauthenticated_decisions": 0,
    }
    matrix = summary["confusion"]["matrix"]
    assert matrix["escalated"]["answered"] == 1 and matrix["escalated"]["escalated"] == 1
    assert matrix["pending_approval"]["pending_approval"] == 3
    assert matrix["pending_approval"]["error"] == 0
    assert summary["escalation"] == {
        "tp": 1,
        "fp": 0,
        "fn": 1,
        "tn": 6,
        "precision": 1.0,
        "recall": 0.5,
    }
    assert summary["latency_ms"]["p50"] > 0
    assert summary["failing"] == ["designed-to-fail"]


def test_expectation_failures_are_specific() -> None:
    suite = parse_suite(
        {
            "name": "s",
            "cases": [
                {
                    "id": "wrong",
                    "customer": "C-1",
                    "turns": [
                        {
                            "user": "refund $80 for order A-1002",
                            "expect": {
                                "status": "answered",
                                "intent": "order_status",
                                "approval_needed": False,
                                "actions": [{"tool": "issue_refund", "args": {"amount": 70}}],
                                "citations": True,
                                "findings": ["PROMPT_INJECTION"],
                                "rules": ["within_policy"],
                            },
                        },
                        {
                            "decide": {"as": "sup", "decision": "reject"},
                            "expect": {"error": "not_authorized"},
                        },
                        {"decide": {"as": "sup", "decision": "approve"}},
                    ],
                }
            ],
        }
    )
    case = run_suites([suite], **DOUBLES).cases[0]
    text = "\n".join(case.failures)
    assert "status: expected answered, got pending_approval" in text
    assert "intent: expected order_status, got refund" in text
    assert "approval_needed: expected false, got true" in text
    assert "actions: expected issue_refund({'amount': 70})" in text
    assert "citations: expected the reply to cite" in text
    assert "findings: expected PROMPT_INJECTION" in text
    assert "rules: expected a rule containing 'within_policy'" in text
    assert "step 2: error: expected not_authorized, the step succeeded" in text
    assert "step 3: the step failed: no_pending_approval" in text


def test_each_case_gets_fresh_state() -> None:
    # The same refund twice: if state leaked, the second run would see the first refund
    # (same conversation id, same ledger) and the shop tool's effect log.
    case = {
        "id": "refund",
        "customer": "C-1",
        "turns": [
            {
                "user": "please refund $20 for order A-1001",
                "expect": {"actions": [{"tool": "issue_refund", "status": "executed"}]},
            }
        ],
    }
    first = parse_suite({"name": "a", "cases": [case]})
    second = parse_suite({"name": "b", "cases": [{**case, "id": "refund-again"}]})
    report = run_suites([first, second], **DOUBLES)
    assert [c.passed for c in report.cases] == [True, True]


def test_case_policy_override_changes_the_gate() -> None:
    suite = parse_suite(
        {
            "name": "s",
            "cases": [
                {
                    "id": "strict",
                    "customer": "C-1",
                    "policy": {"tools": {"issue_refund": {"approval_if": "amount > 10"}}},
                    "turns": [
                        {
                            "user": "please refund $20 for order A-1001",
                            "expect": {"status": "pending_approval"},
                        }
                    ],
                },
                {
                    "id": "default",
                    "customer": "C-1",
                    "turns": [
                        {
                            "user": "please refund $20 for order A-1001",
                            "expect": {"status": "answered"},
                        }
                    ],
                },
            ],
        }
    )
    report = run_suites([suite], **DOUBLES)
    assert [c.passed for c in report.cases] == [True, True]
    assert report.cases[0].policy_version == "t1+strict"


def test_tag_filter_and_parallel_run_match_serial(smoke: Suite) -> None:
    tagged = run_suites([smoke], tags=["approval"], **DOUBLES)
    assert [c.case_id for c in tagged.cases] == ["refund-over-limit", "four-eyes"]
    serial = run_suites([smoke], **DOUBLES)
    parallel = run_suites([smoke], workers=2, **DOUBLES)
    assert [(c.case_id, c.passed, c.failures) for c in parallel.cases] == [
        (c.case_id, c.passed, c.failures) for c in serial.cases
    ]
    assert parallel.run["workers"] == 2


def test_edit_and_expiry_paths() -> None:
    suite = parse_suite(
        {
            "name": "s",
            "cases": [
                {
                    "id": "edit-down",
                    "customer": "C-1",
                    "turns": [
                        {
                            "user": "refund $80 for order A-1002",
                            "expect": {"status": "pending_approval"},
                        },
                        {
                            "decide": {"as": "sup", "decision": "edit", "args": {"amount": 40}},
                            "expect": {
                                "status": "answered",
                                "actions": [
                                    {
                                        "tool": "issue_refund",
                                        "args": {"amount": 40},
                                        "status": "executed",
                                    }
                                ],
                                "reply_contains": ["$40.00"],
                            },
                        },
                    ],
                },
                {
                    "id": "edit-over-authority",
                    "customer": "C-1",
                    "turns": [
                        {"user": "refund $80 for order A-1002"},
                        {
                            "decide": {"as": "sup", "decision": "edit", "args": {"amount": 400}},
                            "expect": {"error": "not_authorized"},
                        },
                    ],
                },
                {
                    "id": "expires",
                    "customer": "C-1",
                    "turns": [
                        {"user": "refund $80 for order A-1002"},
                        {
                            "advance": "2h",
                            "expect": {"status": "escalated", "rules": ["on_expiry"]},
                        },
                    ],
                },
            ],
        }
    )
    report = run_suites([suite], **DOUBLES)
    assert {c.case_id: c.failures for c in report.cases} == {
        "edit-down": [],
        "edit-over-authority": [],
        "expires": [],
    }
