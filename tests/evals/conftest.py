"""Fixtures for the eval tests: the shop pack with test doubles, no real guard or index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from govcx.evals.suite import Suite, parse_suite
from govcx.governance.policy import Policy
from govcx.guardrails.guard import Guard
from govcx.knowledge.retriever import Retriever
from govcx.pack import Pack
from govcx.testing import InMemoryRetriever, PassThroughGuard
from tests.conftest import RETURNS, SHOP


def memory_retriever(pack: Pack, folder: Path) -> Retriever:
    return InMemoryRetriever([RETURNS])


def pass_through_guard(policy: Policy) -> Guard:
    return PassThroughGuard()


DOUBLES: dict[str, Any] = {
    "pack_dir": SHOP,
    "retriever_factory": memory_retriever,
    "guard_factory": pass_through_guard,
}

SMOKE: dict[str, Any] = {
    "name": "shop-smoke",
    "tags": ["smoke"],
    "cases": [
        {
            "id": "refund-small",
            "tags": ["refund"],
            "customer": "C-1",
            "turns": [
                {
                    "user": "please refund $20 for order A-1001",
                    "expect": {
                        "status": "answered",
                        "intent": "refund",
                        "approval_needed": False,
                        "actions": [
                            {
                                "tool": "issue_refund",
                                "args": {"order_id": "A-1001", "amount": 20},
                                "status": "executed",
                            }
                        ],
                        "reply_contains": ["REFUNDED $20.00"],
                        "reply_not_contains": ["4111"],
                        "no_pii": True,
                    },
                }
            ],
        },
        {
            "id": "refund-over-limit",
            "tags": ["refund", "approval"],
            "customer": "C-1",
            "turns": [
                {
                    "user": "refund $80 for order A-1002",
                    "expect": {
                        "status": "pending_approval",
                        "approval_needed": True,
                        "approval_kind": "action",
                        "rules": ["approval_if"],
                        "actions": [
                            {"tool": "issue_refund", "args": {"amount": 80}, "status": "pending"}
                        ],
                    },
                },
                {
                    "decide": {"as": "sup", "decision": "approve"},
                    "expect": {
                        "status": "answered",
                        "actions": [{"tool": "issue_refund", "status": "executed"}],
                    },
                },
            ],
        },
        {
            "id": "four-eyes",
            "tags": ["approval"],
            "customer": "C-1",
            "turns": [
                {
                    "user": "close my account",
                    "expect": {"status": "pending_approval", "approvers": 2},
                },
                {
                    "decide": {"as": "sup", "decision": "approve"},
                    "expect": {"error": "not_authorized"},
                },
                {
                    "decide": {"as": "boss", "decision": "approve"},
                    "expect": {"status": "pending_approval"},
                },
                {
                    "decide": {"as": "boss", "decision": "approve"},
                    "expect": {"error": "duplicate_approver"},
                },
                {
                    "decide": {"as": "boss2", "decision": "approve"},
                    "expect": {
                        "status": "answered",
                        "actions": [{"tool": "close_account", "status": "executed"}],
                    },
                },
            ],
        },
        {
            "id": "lawyer",
            "tags": ["escalation"],
            "customer": "C-1",
            "turns": [
                {
                    "user": "I will sue you, my lawyer will contact you",
                    "expect": {"status": "escalated", "actions": []},
                }
            ],
        },
        {
            "id": "designed-to-fail",
            "tags": ["knowledge"],
            "customer": "C-1",
            "turns": [
                {
                    "user": "how do returns work?",
                    "expect": {"status": "escalated", "reply_contains": ["nonexistent"]},
                }
            ],
        },
    ],
}


@pytest.fixture
def smoke() -> Suite:
    return parse_suite(SMOKE, file="smoke.yaml")
