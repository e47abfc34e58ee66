"""The operations report and suggestions, checked against a seeded history.

The history is written straight into the tables (turns, approvals, cases, activations) with
figures chosen by hand, so every number of the report is known in advance; one test also
runs real turns through the agent and reads them back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert

from govcx.agent.agent import Agent
from govcx.errors import InvalidInput, NotFound
from govcx.governance.policy import parse_policy
from govcx.governance.report import build_report, day_of, window
from govcx.governance.suggestions import find, round_down, suggest
from govcx.store.db import Database
from govcx.store.schema import approvals, cases, policy_activations, turns

BACKENDS = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)

DAY = 86_400.0
T0 = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC
SINCE, UNTIL = T0 - DAY, T0 + 3 * DAY


def _turn(
    db: Database,
    turn_id: str,
    at: float,
    *,
    status: str,
    intent: str | None = "refund",
    rules: list[str] | None = None,
    approval_id: str | None = None,
    escalation: bool = False,
    findings: list[str] = (),  # type: ignore[assignment]
    version: str = "v1",
    conversation: str = "c1",
) -> None:
    body = {
        "turn_id": turn_id,
        "conversation_id": conversation,
        "status": status,
        "intent": intent,
        "approval_id": approval_id,
        "decision": {"route": "x", "rules": rules or [], "policy_version": version},
        "escalation": {"reason": "r", "summary": "s", "rules": rules or []} if escalation else None,
        "findings": [{"type": f, "source": "input", "action": "escalate"} for f in findings],
    }
    with db.begin() as conn:
        conn.execute(
            insert(turns).values(
                turn_id=turn_id,
                conversation_id=conversation,
                status=status,
                body=json.dumps(body),
                created_at=at,
                updated_at=at,
            )
        )


def _approval(
    db: Database,
    approval_id: str,
    at: float,
    *,
    status: str,
    decisions: list[tuple[str, float]] = (),  # type: ignore[assignment]
    amount: float = 70.0,
    tool: str = "issue_refund",
    rules: list[str] | None = None,
    intent: str = "refund",
    conversation: str = "c1",
) -> None:
    body = {
        "approval_id": approval_id,
        "conversation_id": conversation,
        "turn_id": "t-" + approval_id,
        "kind": "action",
        "intent": intent,
        "tool": tool,
        "args": {"order_id": "A-1001", "amount": amount},
        "tier": "low",
        "rules": rules or [f"tool.{tool}.approval_if"],
        "rationale": "",
        "requested_at": at,
        "expires_at": at + DAY,
        "decisions": [
            {"principal": "sup", "decision": kind, "at": when} for kind, when in decisions
        ],
        "status": status,
        "policy_version": "v1",
    }
    with db.begin() as conn:
        conn.execute(
            insert(approvals).values(
                approval_id=approval_id,
                conversation_id=conversation,
                turn_id="t-" + approval_id,
                status=status,
                expires_at=at + DAY,
                body=json.dumps(body),
                version=0,
                requested_at=at,
                updated_at=at,
            )
        )


def _case(
    db: Database,
    case_id: str,
    at: float,
    *,
    turn_id: str,
    team: str = "support",
    first_due: float | None = None,
    first_at: float | None = None,
    res_due: float | None = None,
    closed_at: float | None = None,
) -> None:
    with db.begin() as conn:
        conn.execute(
            insert(cases).values(
                case_id=case_id,
                conversation_id="c1",
                turn_id=turn_id,
                status="resolved" if closed_at else "waiting",
                team=team,
                priority="normal",
                tags="[]",
                reason="r",
                summary="{}",
                first_response_due=first_due,
                resolution_due=res_due,
                first_response_at=first_at,
                closed_at=closed_at,
                breached="[]",
                version=0,
                created_at=at,
                updated_at=at,
            )
        )


def _clear(db: Database) -> None:
    with db.begin() as conn:
        for table in (turns, approvals, cases, policy_activations):
            conn.execute(delete(table))


@pytest.fixture
def db(agent: Agent) -> Database:
    _clear(agent.db)
    return agent.db


def _seed(db: Database) -> None:
    # Day 1 (T0): 4 turns. Contained: t1 (answered), t2 (blocked). Not: t3 (approval),
    # t4 (escalated on a legal threat, no intent). One turn outside the window.
    _turn(db, "t1", T0, status="answered", intent="order_status")
    _turn(db, "t2", T0 + 10, status="blocked", intent="order_status", findings=["PROMPT_INJECTION"])
    _turn(db, "t3", T0 + 20, status="answered", approval_id="a1")
    _turn(
        db,
        "t4",
        T0 + 30,
        status="escalated",
        intent=None,
        rules=["guard.legal_threat"],
        escalation=True,
        findings=["LEGAL_THREAT"],
    )
    _turn(db, "old", SINCE - 10, status="escalated", rules=["x"], escalation=True)
    # Day 2: under v2, 2 turns: one contained, one escalated on low confidence.
    _turn(db, "t5", T0 + DAY, status="answered", intent="order_status", version="v2")
    _turn(
        db,
        "t6",
        T0 + DAY + 5,
        status="escalated",
        rules=["confidence.below_minimum"],
        escalation=True,
        version="v2",
    )
    # Approvals: approved in 6 minutes, edited in 12, rejected in 30, expired, pending.
    _approval(db, "a1", T0 + 20, status="approved", decisions=[("approve", T0 + 20 + 360)])
    _approval(db, "a2", T0 + 40, status="approved", decisions=[("edit", T0 + 40 + 720)])
    _approval(db, "a3", T0 + 50, status="rejected", decisions=[("reject", T0 + 50 + 1800)])
    _approval(db, "a4", T0 + 60, status="expired")
    _approval(db, "a5", T0 + DAY, status="pending")
    # Cases: t4's first response in time, resolution late; t6's still open, first-response
    # deadline passed (missed), resolution ahead (open).
    _case(
        db,
        "k1",
        T0 + 30,
        turn_id="t4",
        team="legal",
        first_due=T0 + 930,
        first_at=T0 + 600,
        res_due=T0 + 3600,
        closed_at=T0 + 7200,
    )
    _case(db, "k2", T0 + DAY + 5, turn_id="t6", first_due=T0 + DAY + 60, res_due=UNTIL + DAY)
    with db.begin() as conn:
        conn.execute(
            insert(policy_activations).values(
                version="v2", digest="d" * 64, actor="lee", source="test", activated_at=T0 + DAY - 1
            )
        )


@BACKENDS
def test_report_figures_match_a_seeded_history(db: Database) -> None:
    _seed(db)
    r = build_report(db, since=SINCE, until=UNTIL)
    assert r["turns"]["turns"] == 6
    assert r["turns"]["contained"] == 3  # t1, t2, t5
    assert r["turns"]["containment"] == 0.5
    assert r["turns"]["by_status"] == {"answered": 3, "blocked": 1, "escalated": 2}
    assert r["escalations"]["total"] == 2
    assert r["escalations"]["rate"] == round(2 / 6, 4)
    assert {x["rule"]: x["count"] for x in r["escalations"]["top_reasons"]} == {
        "guard.legal_threat": 1,
        "confidence.below_minimum": 1,
    }
    a = r["approvals"]
    assert (a["requested"], a["approved"], a["edited"], a["rejected"]) == (5, 1, 1, 1)
    assert (a["expired"], a["pending"]) == (1, 1)
    assert (a["approve_rate"], a["edit_rate"], a["reject_rate"]) == (0.3333, 0.3333, 0.3333)
    assert a["minutes_to_decision_median"] == 12.0
    assert a["minutes_to_decision_p90"] == 30.0
    assert a["by_rule"]["tool.issue_refund.approval_if"]["requested"] == 5
    s = r["sla"]
    assert s["cases"] == 2
    assert s["first_response"] == {"met": 1, "missed": 1, "open": 0, "attainment": 0.5}
    assert s["resolution"] == {"met": 0, "missed": 1, "open": 1, "attainment": 0.0}
    assert s["by_team"]["legal"]["first_response"]["met"] == 1
    assert r["guard_findings"] == {"PROMPT_INJECTION": 1, "LEGAL_THREAT": 1}
    wf = r["by_workflow"]
    assert wf["order_status"]["turns"] == 3 and wf["order_status"]["containment"] == 1.0
    assert wf["unclassified"]["escalated"] == 1
    assert wf["refund"]["turns"] == 2 and wf["refund"]["with_approval"] == 1
    assert r["by_policy_version"]["v1"]["turns"] == 4
    assert r["by_policy_version"]["v2"] == {
        "turns": 2,
        "contained": 1,
        "containment": 0.5,
        "escalated": 1,
        "escalation_rate": 0.5,
        "with_approval": 0,
        "pending_approval": 0,
    }
    days = [d["day"] for d in r["by_day"]]
    # A 4-day window that starts and ends mid-day touches 5 UTC days.
    assert days == [day_of(SINCE + i * DAY) for i in range(5)]
    first = r["by_day"][days.index(day_of(T0))]
    assert (first["turns"], first["contained"], first["escalated"]) == (4, 2, 1)
    assert first["approvals"]["requested"] == 4
    assert first["guard_findings"] == {"PROMPT_INJECTION": 1, "LEGAL_THREAT": 1}
    marker = {"version": "v2", "digest": "d" * 64, "actor": "lee", "at": T0 + DAY - 1}
    assert r["activations"] == [marker]
    # Nothing in the report is customer text.
    assert "A-1001" not in json.dumps(r)


@BACKENDS
def test_report_per_workflow_keeps_its_turns_approvals_and_cases(db: Database) -> None:
    _seed(db)
    r = build_report(db, since=SINCE, until=UNTIL, workflow="refund")
    assert r["turns"]["turns"] == 2  # t3, t6
    assert r["approvals"]["requested"] == 5  # all five are refund requests
    assert r["sla"]["cases"] == 1  # k2 (t6); k1 escalated t4, unclassified
    assert r["workflows"] == ["order_status", "refund", "unclassified"]
    empty = build_report(db, since=SINCE, until=UNTIL, workflow="nope")
    assert empty["turns"]["turns"] == 0 and empty["turns"]["containment"] is None


@BACKENDS
def test_report_of_real_turns(make_agent: Callable[..., Agent]) -> None:
    agent = make_agent()
    _clear(agent.db)
    now = agent.clock()
    agent.respond("r1", "please refund $80 for order A-1002", customer_id="C-1")
    agent.respond("r2", "where is my order A-1001", customer_id="C-1")
    agent.respond("r3", "I will sue you", customer_id="C-2")
    r = build_report(agent.db, since=now - 60, until=now + 60)
    assert r["turns"]["turns"] == 3
    assert r["turns"]["by_status"] == {"answered": 1, "escalated": 1, "pending_approval": 1}
    assert r["turns"]["contained"] == 1
    assert r["approvals"]["pending"] == 1
    assert r["sla"]["cases"] == 1 and r["sla"]["by_team"] == {
        "legal": {
            "first_response": {"met": 0, "missed": 0, "open": 1, "attainment": None},
            "resolution": {"met": 0, "missed": 0, "open": 1, "attainment": None},
        }
    }


def test_window_parses_durations_and_dates() -> None:
    assert window("7d", None, now=T0) == (T0 - 7 * DAY, T0)
    assert window("2026-05-01", "2026-05-02T00:00", now=T0) == (1777593600.0, 1777680000.0)
    for bad in ("yesterday", "99999999999d"):
        with pytest.raises(InvalidInput, match="duration back from now"):
            window(bad, None, now=T0)
    with pytest.raises(InvalidInput, match="must be after"):
        window("1d", "2d", now=T0)


# -- suggestions ---------------------------------------------------------------------------
def _refunds(db: Database, amounts: list[float], *, outcome: str = "approve") -> None:
    for i, amount in enumerate(amounts):
        status = {"approve": "approved", "edit": "approved", "reject": "rejected"}[outcome]
        _approval(
            db,
            f"r{outcome}{i}",
            T0 + i,
            status=status,
            amount=amount,
            decisions=[(outcome, T0 + i + 60)],
            conversation=f"c{outcome}{i}",
        )


def _thresholds(agent: Agent, db: Database) -> list[Any]:
    found = suggest(db, agent.policy, since=SINCE, until=UNTIL)
    return [s for s in found if s.kind == "raise_threshold"]


@BACKENDS
def test_unchanged_approvals_suggest_a_higher_threshold(agent: Agent, db: Database) -> None:
    _refunds(db, [51 + i for i in range(29)])  # 51..79, all approved unchanged
    found = suggest(db, agent.policy, since=SINCE, until=UNTIL)
    [item] = [s for s in found if s.kind == "raise_threshold"]
    assert item.subject == "issue_refund"
    assert item.change == {
        "path": ["tools", "issue_refund", "approval_if"],
        "from": "amount > 50",
        "to": "amount > 70",
    }
    assert item.evidence["approvals"] == 20  # 51..70
    assert "raise the threshold to $70" in item.text
    candidate = parse_policy(item.candidate)
    assert candidate.tools["issue_refund"].approval_if == "amount > 70"
    assert candidate.version != agent.policy.version
    assert candidate.tools["issue_refund"].limits == agent.policy.tools["issue_refund"].limits
    assert find(found, item.suggestion_id) is item
    with pytest.raises(NotFound, match="current suggestions"):
        find(found, "sug_000000000000")


@BACKENDS
def test_a_rejection_or_edit_caps_the_suggestion(agent: Agent, db: Database) -> None:
    _refunds(db, [51 + i for i in range(25)])  # 51..75 approved
    _refunds(db, [66.0], outcome="reject")
    found = suggest(db, agent.policy, since=SINCE, until=UNTIL, min_evidence=10)
    [item] = [s for s in found if s.kind == "raise_threshold"]
    assert item.change is not None and item.change["to"] == "amount > 60"
    assert item.evidence["stopped_by"] == "rejected at $66"
    # Too little evidence below the rejection: no suggestion at the default bar.
    assert not _thresholds(agent, db)


@BACKENDS
def test_a_later_escalation_in_those_conversations_blocks_the_suggestion(
    agent: Agent, db: Database
) -> None:
    _refunds(db, [51 + i for i in range(25)])
    _turn(
        db,
        "after",
        T0 + 3600,
        status="escalated",
        rules=["guard.legal_threat"],
        escalation=True,
        conversation="capprove3",
    )
    assert not _thresholds(agent, db)


@BACKENDS
def test_low_confidence_workflow_suggests_examples_without_a_candidate(
    agent: Agent, db: Database
) -> None:
    for i in range(20):
        low = i < 8
        _turn(
            db,
            f"w{i}",
            T0 + i,
            status="escalated" if low else "answered",
            intent="returns_info",
            rules=["confidence.below_minimum"] if low else [],
            escalation=low,
        )
    found = suggest(db, agent.policy, since=SINCE, until=UNTIL)
    [item] = [s for s in found if s.kind == "add_examples"]
    assert item.subject == "returns_info" and item.candidate is None
    assert item.evidence == {"turns": 20, "low_confidence_escalations": 8, "share": 0.4}
    assert "40%" in item.text


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    points=st.lists(
        st.tuples(
            st.floats(min_value=50.01, max_value=400, allow_nan=False).map(lambda x: round(x, 2)),
            st.sampled_from(["approve", "approve", "approve", "edit", "reject"]),
        ),
        min_size=0,
        max_size=40,
    )
)
def test_a_suggested_threshold_never_covers_a_refusal(
    agent: Agent, points: list[tuple[float, str]]
) -> None:
    """Whatever people decided, a suggested threshold lies above the current one and below
    every amount a person edited or rejected, and only unchanged approvals lie under it."""
    db = agent.db
    _clear(db)
    for i, (amount, outcome) in enumerate(points):
        status = "rejected" if outcome == "reject" else "approved"
        _approval(
            db,
            f"p{i}",
            T0 + i,
            status=status,
            amount=amount,
            decisions=[(outcome, T0 + i + 1)],
            conversation=f"p{i}",
        )
    for item in suggest(db, agent.policy, since=SINCE, until=UNTIL, min_evidence=1):
        if item.kind != "raise_threshold":
            continue
        assert item.change is not None
        proposed = float(item.change["to"].split(">")[1])
        assert proposed > 50
        refused = [a for a, o in points if o != "approve"]
        assert all(proposed < a for a in refused)
        under = [a for a, o in points if o == "approve" and a <= proposed]
        assert item.evidence["approvals"] == len(under)


def test_round_down_stays_above_the_floor() -> None:
    assert round_down(79.0, 50) == 70
    assert round_down(57.5, 50) == 55
    assert round_down(51.2, 50) == 51
    assert round_down(2300, 500) == 2300
    assert round_down(50.5, 50) == 50.5
