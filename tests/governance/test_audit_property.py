"""Property: any single edit, deletion or swap of audit events is detected.

The chain is built once (SQLite, the real AuditLog and migrations); each example copies it,
applies one mutation with SQL as an attacker with database access would, and verifies.
Truncation that moves the head back (a consistent shorter chain) is checked against an
anchor taken before it, which is what the anchor is for.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from govcx.errors import InvalidAnchor
from govcx.governance.audit import Anchor, AuditLog
from govcx.store import migrate
from govcx.store.db import Database

KEY = bytes.fromhex("a1" * 32)
EVENTS = 8
FIELDS = [
    "event_id",
    "ts",
    "conversation_id",
    "turn_id",
    "actor",
    "kind",
    "policy_version",
    "policy_digest",
    "body",
    "prev_hash",
    "hash",
]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("chain") / "govcx.db"
    db = Database(f"sqlite:///{path}")
    migrate.prepare(db, audit_key=KEY)
    log = AuditLog(db, key=KEY)
    for n in range(EVENTS):
        log.append(
            kind=f"k{n % 3}",
            actor=f"a{n % 2}",
            data={"n": n, "text": "x" * n},
            conversation_id=f"c{n % 2}" if n % 4 else None,
            turn_id=f"t{n}" if n % 3 else None,
            policy_version="v1" if n % 2 else None,
            policy_digest=("d" * 64) if n % 2 else None,
        )
    anchor = log.anchor().as_dict()
    assert log.verify(anchor=Anchor.parse(anchor)).ok
    db.dispose()
    return path, anchor


def _value(field: str, old: Any, draw: Any) -> Any:
    if field == "ts":
        return float(old) + draw(st.sampled_from([1e-6, 1.0, -3.5, 1e6]))
    if field in ("prev_hash", "hash", "policy_digest"):
        return draw(st.text("0123456789abcdef", min_size=64, max_size=64))
    if field == "body":
        return draw(st.sampled_from(['{"n":99}', "{}", '{"n":0,"text":""}', "[]"]))
    return draw(st.text("abcdefxyz019", min_size=1, max_size=12))


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_single_edit_deletion_or_swap_is_detected(
    template: tuple[Path, dict[str, Any]], tmp_path: Path, data: st.DataObject
) -> None:
    source, anchor = template
    target = tmp_path / f"t{data.draw(st.integers(0, 10**9))}.db"
    shutil.copy(source, target)
    db = Database(f"sqlite:///{target}")
    try:
        op = data.draw(st.sampled_from(["edit", "delete", "swap", "truncate", "renumber"]))
        seq = data.draw(st.integers(1, EVENTS))
        with db.engine.begin() as conn:
            row = (
                conn.execute(text("SELECT * FROM audit_events WHERE seq = :s"), {"s": seq})
                .one()
                ._asdict()
            )
            if op == "edit":
                field = data.draw(st.sampled_from(FIELDS))
                value = _value(field, row[field], data.draw)
                if value == row[field]:
                    return
                conn.execute(
                    text(f"UPDATE audit_events SET {field} = :v WHERE seq = :s"),
                    {"v": value, "s": seq},
                )
            elif op == "delete":
                conn.execute(text("DELETE FROM audit_events WHERE seq = :s"), {"s": seq})
            elif op == "renumber":
                conn.execute(
                    text("UPDATE audit_events SET seq = :n WHERE seq = :s"),
                    {"n": EVENTS + data.draw(st.integers(1, 5)), "s": seq},
                )
            elif op == "swap":
                other = data.draw(st.integers(1, EVENTS).filter(lambda o: o != seq))
                orow = (
                    conn.execute(text("SELECT * FROM audit_events WHERE seq = :s"), {"s": other})
                    .one()
                    ._asdict()
                )
                conn.execute(
                    text("DELETE FROM audit_events WHERE seq IN (:a, :b)"), {"a": seq, "b": other}
                )
                for at, content in ((seq, orow), (other, row)):
                    conn.execute(
                        text(
                            "INSERT INTO audit_events (seq, event_id, ts, conversation_id, turn_id,"
                            " actor, kind, policy_version, policy_digest, body, prev_hash, hash) "
                            "VALUES (:seq, :event_id, :ts, :conversation_id, :turn_id, :actor, "
                            ":kind, :policy_version, :policy_digest, :body, :prev_hash, :hash)"
                        ),
                        {**content, "seq": at},
                    )
            else:  # truncate to seq-1 and move the head back: only the anchor can tell
                keep = seq - 1
                conn.execute(text("DELETE FROM audit_events WHERE seq > :k"), {"k": keep})
                prev = (
                    conn.execute(
                        text("SELECT hash FROM audit_events WHERE seq = :k"), {"k": keep}
                    ).scalar()
                    or "0" * 64
                )
                conn.execute(
                    text("UPDATE audit_head SET seq = :k, hash = :h"), {"k": keep, "h": prev}
                )
        result = AuditLog(db, key=KEY).verify(anchor=Anchor.parse(anchor))
        assert not result.ok, (op, seq)
        assert result.problems
    finally:
        db.dispose()


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        "[]",
        '{"seq": 1}',
        '{"seq": -1, "hash": "' + "0" * 64 + '", "time": "t", "keyed_from": 1, '
        '"key_id": "' + "0" * 16 + '", "signature": "' + "0" * 64 + '"}',
        '{"seq": "1", "hash": "' + "0" * 64 + '", "time": "t", "keyed_from": 1, '
        '"key_id": "' + "0" * 16 + '", "signature": "' + "0" * 64 + '"}',
    ],
)
def test_malformed_anchor_is_bad_input(bad: str) -> None:
    with pytest.raises(InvalidAnchor) as info:
        Anchor.parse(bad, source="anchor.json")
    assert info.value.exit_code == 2 and "anchor.json" in info.value.message
