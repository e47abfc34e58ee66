"""The audit log: append-only, hash-chained events.

Each event's hash covers its content and the previous event's hash, and a head row
records the last sequence number and hash in the same transaction as each append. Any
edited, deleted (also the newest), inserted or reordered event breaks verification.

Customer text never enters an event raw: callers pass it through the redactor first.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from govcx.store.db import Database, dumps
from govcx.store.schema import audit_events, audit_head

GENESIS = "0" * 64

# Built once: constructing a statement costs several times executing a built one.
_HEAD = select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
_INSERT_EVENTS = insert(audit_events)
_MOVE_HEAD = update(audit_head).where(audit_head.c.id == 1).values(
    seq=bindparam("new_seq"), hash=bindparam("new_hash"))


@dataclass(frozen=True, kw_only=True)
class AuditEvent:
    """One audited fact: who did what, why, under which policy version."""

    seq: int
    event_id: str
    ts: float
    conversation_id: str | None
    turn_id: str | None
    actor: str
    kind: str
    policy_version: str | None
    data: dict[str, Any]
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "event_id": self.event_id, "ts": self.ts,
            "conversation_id": self.conversation_id, "turn_id": self.turn_id,
            "actor": self.actor, "kind": self.kind, "policy_version": self.policy_version,
            "data": self.data, "prev_hash": self.prev_hash, "hash": self.hash,
        }


def _digest(prev_hash: str, seq: int, event_id: str, ts: float, conversation_id: str | None,
            turn_id: str | None, actor: str, kind: str, policy_version: str | None,
            body: str) -> str:
    material = dumps([prev_hash, seq, event_id, repr(ts), conversation_id, turn_id, actor,
                      kind, policy_version, body])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


@dataclass(frozen=True, kw_only=True)
class VerifyResult:
    ok: bool
    events: int
    problems: list[str]


class AuditLog:
    """Appends to and verifies the hash chain."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, *, kind: str, actor: str, data: Mapping[str, Any],
               conversation_id: str | None = None, turn_id: str | None = None,
               policy_version: str | None = None) -> AuditEvent:
        return self.append_many([{
            "kind": kind, "actor": actor, "data": data, "conversation_id": conversation_id,
            "turn_id": turn_id, "policy_version": policy_version,
        }])[0]

    def append_many(self, items: list[Mapping[str, Any]], *,
                    conn: Connection | None = None) -> list[AuditEvent]:
        """Append events in one transaction, in order: the caller's ``conn`` (to commit
        them with what they record) or a new one."""
        if conn is None:
            with self.db.begin() as own:
                return self.append_many(items, conn=own)
        out: list[AuditEvent] = []
        head = conn.execute(_HEAD).first()
        seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
        rows = []
        for item in items:
            seq += 1
            event_id = uuid.uuid4().hex
            ts = float(item.get("ts") or time.time())
            body = dumps(dict(item.get("data") or {}))
            conv = item.get("conversation_id")
            turn = item.get("turn_id")
            actor = str(item["actor"])
            kind = str(item["kind"])
            pv = item.get("policy_version")
            digest = _digest(prev, seq, event_id, ts, conv, turn, actor, kind, pv, body)
            rows.append({"seq": seq, "event_id": event_id, "ts": ts, "conversation_id": conv,
                         "turn_id": turn, "actor": actor, "kind": kind,
                         "policy_version": pv, "body": body, "prev_hash": prev,
                         "hash": digest})
            out.append(AuditEvent(seq=seq, event_id=event_id, ts=ts, conversation_id=conv,
                                  turn_id=turn, actor=actor, kind=kind, policy_version=pv,
                                  data=dict(item.get("data") or {}), prev_hash=prev,
                                  hash=digest))
            prev = digest
        conn.execute(_INSERT_EVENTS, rows)
        if head:
            conn.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": prev})
        else:
            conn.execute(insert(audit_head).values(id=1, seq=seq, hash=prev))
        return out

    def events(self, *, conversation_id: str | None = None,
               after_seq: int = 0, limit: int | None = None) -> Iterator[AuditEvent]:
        import json

        query = select(audit_events).where(audit_events.c.seq > after_seq)
        if conversation_id is not None:
            query = query.where(audit_events.c.conversation_id == conversation_id)
        query = query.order_by(audit_events.c.seq)
        if limit is not None:
            query = query.limit(limit)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        for row in rows:
            yield AuditEvent(seq=row.seq, event_id=row.event_id, ts=row.ts,
                             conversation_id=row.conversation_id, turn_id=row.turn_id,
                             actor=row.actor, kind=row.kind, policy_version=row.policy_version,
                             data=json.loads(row.body), prev_hash=row.prev_hash, hash=row.hash)

    def verify(self) -> VerifyResult:
        """Walk the whole chain; report every break with its sequence number."""
        problems: list[str] = []
        prev = GENESIS
        expected_seq = 0
        count = 0
        with self.db.read() as conn:
            head = conn.execute(select(audit_head).where(audit_head.c.id == 1)).first()
            result = conn.execute(select(audit_events).order_by(audit_events.c.seq))
            for row in result:
                count += 1
                expected_seq += 1
                if row.seq != expected_seq:
                    problems.append(f"event seq {row.seq}: expected seq {expected_seq} "
                                    "(an event was deleted or inserted)")
                    expected_seq = row.seq
                if row.prev_hash != prev:
                    problems.append(f"event seq {row.seq}: previous-hash link is broken "
                                    "(events were reordered, deleted or inserted)")
                digest = _digest(row.prev_hash, row.seq, row.event_id, row.ts,
                                 row.conversation_id, row.turn_id, row.actor, row.kind,
                                 row.policy_version, row.body)
                if digest != row.hash:
                    problems.append(f"event seq {row.seq}: content does not match its hash "
                                    "(the event was edited)")
                prev = row.hash
        if head is None:
            if count:
                problems.append("the chain head is missing")
        else:
            if head.seq != expected_seq or head.hash != prev:
                problems.append(f"the chain ends at seq {expected_seq} but the head says "
                                f"seq {head.seq} (the newest events were deleted or edited)")
        return VerifyResult(ok=not problems, events=count, problems=problems)
