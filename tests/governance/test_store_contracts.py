"""The stores the governance checks read, called directly: what they return and filter.

Written to kill mutants that survived the agent-level tests (`make mutation`): the audit
log's reads and verification, the approval store's listing and expiry sweep, and the
execution ledger that compliance and recovery replay.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text, update

from govcx.governance.approval import ApprovalRequest, ApprovalStore, request_json
from govcx.governance.audit import GENESIS, AuditLog
from govcx.store.db import Database
from govcx.store.schema import audit_head
from govcx.tools.executor import Executor
from govcx.tools.registry import ToolRegistry

KEY = b"store-contracts-audit-key-0123456789"
EDITED = (
    "event seq {n}: content does not match its hash (the event was edited, the chain "
    "recomputed without the key, or the key boundary moved)"
)
NOW = 1_800_000_000.0


@pytest.fixture
def db(tmp_path: Path) -> Any:
    database = Database(f"sqlite:///{tmp_path / 'govcx.db'}")
    database.create_schema()
    yield database
    database.dispose()


# -- audit ------------------------------------------------------------------------------


def _fill(log: AuditLog) -> list[Any]:
    out = []
    out += log.append_many(
        [
            {
                "kind": "a",
                "actor": "agent",
                "data": {"n": 1},
                "conversation_id": "c1",
                "turn_id": "t1",
                "policy_version": "v1",
                "ts": NOW,
            },
            {
                "kind": "b",
                "actor": "agent",
                "data": {"n": 2},
                "conversation_id": "c2",
                "turn_id": "t2",
                "policy_version": "v1",
                "ts": NOW + 1,
            },
        ]
    )
    out.append(
        log.append(
            kind="c",
            actor="sup",
            data={"n": 3},
            conversation_id="c1",
            turn_id="t3",
            policy_version="v2",
        )
    )
    out += log.append_many([{"kind": "d", "actor": "agent", "ts": NOW + 3}])
    return out


def test_audit_events_round_trip_every_field(db: Database) -> None:
    log = AuditLog(db, key=KEY)
    appended = _fill(log)
    assert [e.seq for e in appended] == [1, 2, 3, 4]
    assert appended[0].prev_hash == GENESIS
    assert [e.prev_hash for e in appended[1:]] == [e.hash for e in appended[:-1]]
    assert appended[3].data == {} and appended[3].conversation_id is None
    assert [e.policy_version for e in appended] == ["v1", "v1", "v2", None]
    assert [(e.actor, e.kind, e.turn_id) for e in appended] == [
        ("agent", "a", "t1"),
        ("agent", "b", "t2"),
        ("sup", "c", "t3"),
        ("agent", "d", None),
    ]
    assert appended[0].ts == NOW and abs(appended[2].ts - time.time()) < 60
    read = list(log.events())
    assert read == appended
    assert [e.as_dict() for e in read] == [e.as_dict() for e in appended]
    assert read[1].as_dict() == {
        "seq": 2,
        "event_id": appended[1].event_id,
        "ts": NOW + 1,
        "conversation_id": "c2",
        "turn_id": "t2",
        "actor": "agent",
        "kind": "b",
        "policy_version": "v1",
        "policy_digest": None,
        "data": {"n": 2},
        "prev_hash": appended[0].hash,
        "hash": appended[1].hash,
    }


def test_audit_events_filter_page_and_order(db: Database) -> None:
    log = AuditLog(db, key=KEY)
    _fill(log)
    assert [e.seq for e in log.events(conversation_id="c1")] == [1, 3]
    assert [e.seq for e in log.events(after_seq=1)] == [2, 3, 4]
    assert [e.seq for e in log.events(after_seq=2, conversation_id="c1")] == [3]
    assert [e.seq for e in log.events(limit=2)] == [1, 2]
    assert [e.seq for e in log.events(after_seq=1, limit=1)] == [2]
    assert list(log.events(after_seq=4)) == []


def test_audit_verify_counts_and_names_each_break(db: Database) -> None:
    log = AuditLog(db, key=KEY)
    _fill(log)
    good = log.verify()
    assert (good.ok, good.events, good.problems) == (True, 4, [])
    with db.begin() as conn:
        conn.execute(text("UPDATE audit_events SET body = '{\"n\": 9}' WHERE seq = 2"))
    assert log.verify().problems == [EDITED.format(n=2)]


@pytest.mark.parametrize(
    "column, value",
    [
        ("event_id", "'x'"),
        ("ts", "1.5"),
        ("conversation_id", "'c9'"),
        ("turn_id", "'t9'"),
        ("actor", "'mallory'"),
        ("kind", "'z'"),
        ("policy_version", "'v9'"),
        ("body", "'{}'"),
    ],
)
def test_audit_hash_covers_every_column(db: Database, column: str, value: str) -> None:
    log = AuditLog(db, key=KEY)
    _fill(log)
    with db.begin() as conn:
        conn.execute(text(f"UPDATE audit_events SET {column} = {value} WHERE seq = 3"))
    result = log.verify()
    assert not result.ok
    assert EDITED.format(n=3) in result.problems


def test_audit_verify_deleted_and_relinked(db: Database) -> None:
    log = AuditLog(db, key=KEY)
    _fill(log)
    with db.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 2"))
    problems = log.verify().problems
    assert "event seq 3: expected seq 2 (an event was deleted or inserted)" in problems
    assert (
        "event seq 3: previous-hash link is broken (events were reordered, deleted or inserted)"
    ) in problems
    assert not any("the head says" in p for p in problems)  # seq resynchronised at 3


@pytest.mark.parametrize("field", ["seq", "hash"])
def test_audit_head_moved_alone_is_detected(db: Database, field: str) -> None:
    log = AuditLog(db, key=KEY)
    _fill(log)
    with db.begin() as conn:
        conn.execute(update(audit_head).values(**{field: 3 if field == "seq" else "0" * 64}))
    assert log.verify().problems == [
        "the chain ends at seq 4 but the head says seq "
        f"{3 if field == 'seq' else 4} (the newest events were deleted or edited)"
    ]


def test_audit_missing_head_is_detected(db: Database) -> None:
    log = AuditLog(db, key=KEY)
    _fill(log)
    with db.begin() as conn:
        conn.execute(text("DELETE FROM audit_head"))
    assert log.verify().problems == [
        "the chain head row is missing (the audit tables were wiped or edited)"
    ]


# -- approvals: listing and the expiry sweep ---------------------------------------------


def _request(aid: str, *, at: float, expires: float, conv: str = "c1") -> ApprovalRequest:
    return ApprovalRequest(
        approval_id=aid,
        conversation_id=conv,
        turn_id="t",
        kind="reply",
        tier="reply",
        rules=[],
        rationale="",
        requested_at=at,
        expires_at=expires,
        policy_version="v1",
        token="x",
    )


def test_approval_list_filters_orders_and_limits(db: Database) -> None:
    store = ApprovalStore(db)
    store.create(_request("b", at=NOW + 2, expires=NOW + 100))
    store.create(_request("a", at=NOW + 2, expires=NOW + 100, conv="c2"))
    store.create(_request("c", at=NOW + 1, expires=NOW + 100))
    assert [r.approval_id for r in store.list()] == ["c", "a", "b"]
    assert [r.approval_id for r in store.list(limit=2)] == ["c", "a"]
    assert [r.approval_id for r in store.list(conversation_id="c1")] == ["c", "b"]
    assert store.create(_request("c", at=0, expires=0)).requested_at == NOW + 1  # no-op
    store.expire("a", now=NOW)
    assert [r.approval_id for r in store.list(status="pending")] == ["c", "b"]
    assert [r.approval_id for r in store.list(status="expired")] == ["a"]
    assert request_json(store.get("a"))["status"] == "expired"
    assert request_json(store.get("a"))["approval_id"] == "a"


def test_overdue_is_pending_and_due_at_the_instant_of_expiry(db: Database) -> None:
    store = ApprovalStore(db)
    store.create(_request("due", at=NOW, expires=NOW + 10))
    store.create(_request("later", at=NOW, expires=NOW + 11))
    store.create(_request("gone", at=NOW, expires=NOW + 5))
    store.expire("gone", now=NOW + 6)
    assert [r.approval_id for r in store.overdue(now=NOW + 9.99)] == []
    assert [r.approval_id for r in store.overdue(now=NOW + 10)] == ["due"]
    assert sorted(r.approval_id for r in store.overdue(now=NOW + 11)) == ["due", "later"]
    assert store.expire("gone", now=NOW + 20) is None  # already expired
    expired = store.expire("due", now=NOW + 10)
    assert expired is not None and expired.status == "expired"
    assert store.get("due").status == "expired"


def test_overdue_defaults_to_the_current_time(db: Database) -> None:
    store = ApprovalStore(db)
    now = time.time()
    store.create(_request("past", at=now - 100, expires=now - 1))
    store.create(_request("future", at=now, expires=now + 3600))
    assert [r.approval_id for r in store.overdue()] == ["past"]


# -- the execution ledger ---------------------------------------------------------------


def test_ledger_lists_one_conversation_in_order(db: Database, tmp_path: Path) -> None:
    from tests.tools.test_executor import POLICY, notify

    executor = Executor(
        db=db,
        registry=ToolRegistry([notify.__govcx_tool__]),  # type: ignore[attr-defined]
        approvals=ApprovalStore(db),
        data_dir=tmp_path,
    )
    for conv, channel in (("c1", "sms"), ("c2", "sms"), ("c1", "email")):
        result = executor.run(
            policy=POLICY,
            conversation_id=conv,
            customer_id="C-1",
            tool="notify",
            args={"channel": channel},
            autonomy="act",
            step=f"t-{conv}-{channel}",
        )
        assert result.status == "executed"
        time.sleep(0.01)
    rows = executor.ledger("c1")
    assert [(r["conversation_id"], r["tool"]) for r in rows] == [("c1", "notify")] * 2
    assert [json.loads(r["args"]) for r in rows] == [
        {"channel": "sms", "note": ""},
        {"channel": "email", "note": ""},
    ]
    assert [r["status"] for r in rows] == ["succeeded", "succeeded"]
    assert rows[0]["started_at"] <= rows[1]["started_at"]
    assert executor.ledger("c3") == []


def test_execution_as_action() -> None:
    from govcx.tools.executor import Execution

    ok = Execution(tool="t", args={"a": 1}, status="executed", result={"r": 2}, key="k")
    assert ok.as_action() == {
        "tool": "t",
        "args": {"a": 1},
        "status": "executed",
        "result": {"r": 2},
    }
    failed = Execution(tool="t", args={}, status="failed", error="boom")
    assert failed.as_action() == {"tool": "t", "args": {}, "status": "failed", "error": "boom"}
    assert Execution(tool="t", args={}, status="refused").as_action() == {
        "tool": "t",
        "args": {},
        "status": "refused",
    }
