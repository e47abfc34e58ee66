"""The audit log: append-only, keyed hash chain, anchored outside the database.

Each event's hash is an HMAC-SHA256, with a key kept outside the database, over its
content, the previous event's hash and the key boundary (below). A head row records the
last sequence number and hash in the same transaction as each append. Whoever can write
the database but does not hold the key cannot recompute the chain: any edited, inserted
or reordered event breaks verification.

Deleting the newest events and moving the head back, or wiping the tables, leaves a
shorter chain that is still consistent; two checks catch it:

* an anchor (``AuditLog.anchor``): the head's seq and hash, signed with the key, kept
  outside the database; ``verify(anchor=...)`` fails when the chain no longer extends it;
* cross-checks: every approval decision, every finished ledger execution and every turn
  the database records must have its audit event.

Events written before the key existed (plain sha256) are verified the old way and
reported as such; ``audit_head.keyed_from`` is the first keyed seq, and every keyed
event's HMAC and every anchor's signature cover it, so the boundary cannot be moved.

Customer text never enters an event raw: callers pass it through the redactor first.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Connection, bindparam, insert, select, update

from govcx.errors import AuditBroken, ConfigError, InvalidAnchor
from govcx.store.db import Database, dumps
from govcx.store.keyfile import secret_key
from govcx.store.schema import approvals, audit_events, audit_head, executions, turns

if TYPE_CHECKING:
    from govcx.settings import Settings

GENESIS = "0" * 64
MAX_SEQ = 2**31 - 1
"""Sequence numbers are INTEGER columns (32-bit on PostgreSQL)."""
KEY_ENV = "GOVCX_AUDIT_KEY"
KEY_FILE_ENV = "GOVCX_AUDIT_KEY_FILE"
KEY_FILE_NAME = "audit.key"
_EVENT_DOMAIN = "govcx.audit.event/2"
_ANCHOR_DOMAIN = "govcx.audit.anchor/1"
_KEY_ID_DOMAIN = b"govcx.audit.key-id"
_BOUNDARY_DOMAIN = "govcx.audit.boundary/1"

# Built once: constructing a statement costs several times executing a built one.
_HEAD = (
    select(audit_head.c.seq, audit_head.c.hash, audit_head.c.keyed_from)
    .where(audit_head.c.id == 1)
    .with_for_update()
)
_INSERT_EVENTS = insert(audit_events)
_MOVE_HEAD = (
    update(audit_head)
    .where(audit_head.c.id == 1)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)


def audit_key(settings: Settings, state_dir: Path, backend: str) -> bytes:
    """The audit chain's key: ``GOVCX_AUDIT_KEY``, else ``GOVCX_AUDIT_KEY_FILE``, else
    ``<state_dir>/audit.key`` (created 0600 on first use) on SQLite or in dev mode.

    On PostgreSQL outside dev mode a key must be configured: several workers, possibly on
    several machines, must share it. Raises ConfigError naming both settings otherwise.
    """
    value = settings.audit_key.get_secret_value() if settings.audit_key is not None else None
    if (
        not value
        and settings.audit_key_file is None
        and backend == "postgresql"
        and not settings.dev
    ):
        raise ConfigError(
            "settings",
            f"no audit key is configured; on PostgreSQL set "
            f"{KEY_ENV} (the key itself, 64 hex characters) or {KEY_FILE_ENV} "
            "(a file holding it), the same on every worker (create one with "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`); "
            "only dev mode (GOVCX_DEV=1) creates one in the state dir",
            field=KEY_ENV,
        )
    return secret_key(
        name="audit key",
        value=value,
        file=settings.audit_key_file,
        default_file=state_dir / KEY_FILE_NAME,
        create=True,
        env=KEY_ENV,
        file_env=KEY_FILE_ENV,
    )


def key_id(key: bytes) -> str:
    """A public fingerprint of the key (names which key signed an anchor; reveals nothing)."""
    return hmac.new(key, _KEY_ID_DOMAIN, hashlib.sha256).hexdigest()[:16]


def boundary_seal(key: bytes, keyed_from: int, boundary_hash: str) -> str:
    """The seal of the key boundary: HMAC over the first keyed seq and the chain's hash
    just before it (GENESIS for a chain keyed from the start)."""
    material = dumps([_BOUNDARY_DOMAIN, keyed_from, boundary_hash])
    return hmac.new(key, material.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True, kw_only=True)
class AuditEvent:
    """One audited fact: who did what, why, under which policy version and content."""

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
    policy_digest: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "event_id": self.event_id,
            "ts": self.ts,
            "conversation_id": self.conversation_id,
            "turn_id": self.turn_id,
            "actor": self.actor,
            "kind": self.kind,
            "policy_version": self.policy_version,
            "policy_digest": self.policy_digest,
            "data": self.data,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def _legacy_digest(
    prev_hash: str,
    seq: int,
    event_id: str,
    ts: float,
    conversation_id: str | None,
    turn_id: str | None,
    actor: str,
    kind: str,
    policy_version: str | None,
    body: str,
) -> str:
    """Events written before the key existed: plain sha256 (anyone can recompute it)."""
    material = dumps(
        [
            prev_hash,
            seq,
            event_id,
            repr(ts),
            conversation_id,
            turn_id,
            actor,
            kind,
            policy_version,
            body,
        ]
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _keyed_digest(
    key: bytes,
    keyed_from: int,
    prev_hash: str,
    seq: int,
    event_id: str,
    ts: float,
    conversation_id: str | None,
    turn_id: str | None,
    actor: str,
    kind: str,
    policy_version: str | None,
    policy_digest: str | None,
    body: str,
) -> str:
    material = dumps(
        [
            _EVENT_DOMAIN,
            keyed_from,
            prev_hash,
            seq,
            event_id,
            repr(ts),
            conversation_id,
            turn_id,
            actor,
            kind,
            policy_version,
            policy_digest,
            body,
        ]
    )
    return hmac.new(key, material.encode("utf-8"), hashlib.sha256).hexdigest()


class AnchorFields(BaseModel):
    """An anchor as read back from a file (a trust boundary)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    seq: int = Field(ge=0, le=2**63 - 1)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    time: str = Field(max_length=64)
    keyed_from: int = Field(ge=1, le=2**63 - 1)
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    signature: str = Field(pattern=r"^[0-9a-f]{64}$")


@dataclass(frozen=True, kw_only=True)
class Anchor:
    """The chain's head at a moment, signed with the audit key, kept outside the database.

    A later chain must still contain the event at ``seq`` with ``hash``."""

    seq: int
    hash: str
    time: str
    keyed_from: int
    key_id: str
    signature: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "hash": self.hash,
            "time": self.time,
            "keyed_from": self.keyed_from,
            "key_id": self.key_id,
            "signature": self.signature,
        }

    @classmethod
    def parse(cls, data: Any, *, source: str = "anchor") -> Anchor:
        """An Anchor from JSON text or a decoded mapping; InvalidAnchor names what is off."""
        if isinstance(data, str | bytes):
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise InvalidAnchor(
                    f"{source} is not JSON ({exc}); pass the output of `govcx audit anchor --json`"
                ) from None
        try:
            model = AnchorFields.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise InvalidAnchor(
                f"{source}: {where}: {first['msg']}; an anchor is the output "
                "of `govcx audit anchor --json`: {seq, hash, time, keyed_from,"
                " key_id, signature}",
                details={"field": where},
            ) from None
        return cls(**model.model_dump())


def _anchor_signature(key: bytes, seq: int, hash_: str, time_: str, keyed_from: int) -> str:
    material = dumps([_ANCHOR_DOMAIN, seq, hash_, time_, keyed_from])
    return hmac.new(key, material.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True, kw_only=True)
class VerifyResult:
    ok: bool
    events: int
    problems: list[str]
    legacy_events: int = 0
    """Events that predate the key (checked with unkeyed sha256): information, not a fault."""
    keyed_from: int = 1
    anchor: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "problems": self.problems,
            "legacy_events": self.legacy_events,
            "keyed_from": self.keyed_from,
            "anchor": self.anchor,
            "notes": self.notes,
        }


@dataclass
class _Seen:
    """What the chain records, to cross-check the other tables against."""

    turns: set[str] = field(default_factory=set)
    decisions: set[tuple[str, str, str]] = field(default_factory=set)
    executions: set[str] = field(default_factory=set)
    anchored: str | None = None


class AuditLog:
    """Appends to, verifies and anchors the keyed chain.

    ``key`` is the audit key (see ``audit_key``); ``None`` gives a read-only log (events
    only: appending, verifying and anchoring need the key).
    """

    def __init__(self, db: Database, *, key: bytes | None) -> None:
        self.db = db
        self._key = key

    def _need_key(self) -> bytes:
        if self._key is None:
            raise ConfigError(
                "settings",
                f"this audit log was opened without its key; set {KEY_ENV} or {KEY_FILE_ENV}",
                field=KEY_ENV,
            )
        return self._key

    def __repr__(self) -> str:  # never the key
        return f"AuditLog({self.db.backend}, keyed={self._key is not None})"

    def append(
        self,
        *,
        kind: str,
        actor: str,
        data: Mapping[str, Any],
        conversation_id: str | None = None,
        turn_id: str | None = None,
        policy_version: str | None = None,
        policy_digest: str | None = None,
    ) -> AuditEvent:
        return self.append_many(
            [
                {
                    "kind": kind,
                    "actor": actor,
                    "data": data,
                    "conversation_id": conversation_id,
                    "turn_id": turn_id,
                    "policy_version": policy_version,
                    "policy_digest": policy_digest,
                }
            ]
        )[0]

    def append_many(
        self, items: list[Mapping[str, Any]], *, conn: Connection | None = None
    ) -> list[AuditEvent]:
        """Append events in one transaction, in order: the caller's ``conn`` (to commit
        them with what they record) or a new one. Items: kind, actor, data and optionally
        conversation_id, turn_id, policy_version, policy_digest, ts."""
        key = self._need_key()
        if conn is None:
            with self.db.begin() as own:
                return self.append_many(items, conn=own)
        out: list[AuditEvent] = []
        head = conn.execute(_HEAD).first()
        seq, prev, keyed_from = (head.seq, head.hash, head.keyed_from) if head else (0, GENESIS, 1)
        rows = []
        for item in items:
            seq += 1
            event_id = uuid.uuid4().hex
            ts = float(item.get("ts") or time.time())
            data = dict(item.get("data") or {})
            body = dumps(data)
            conv = item.get("conversation_id")
            turn = item.get("turn_id")
            actor = str(item["actor"])
            kind = str(item["kind"])
            pv = item.get("policy_version")
            pd = item.get("policy_digest")
            digest = _keyed_digest(
                key, keyed_from, prev, seq, event_id, ts, conv, turn, actor, kind, pv, pd, body
            )
            rows.append(
                {
                    "seq": seq,
                    "event_id": event_id,
                    "ts": ts,
                    "conversation_id": conv,
                    "turn_id": turn,
                    "actor": actor,
                    "kind": kind,
                    "policy_version": pv,
                    "policy_digest": pd,
                    "body": body,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            out.append(
                AuditEvent(
                    seq=seq,
                    event_id=event_id,
                    ts=ts,
                    conversation_id=conv,
                    turn_id=turn,
                    actor=actor,
                    kind=kind,
                    policy_version=pv,
                    policy_digest=pd,
                    data=data,
                    prev_hash=prev,
                    hash=digest,
                )
            )
            prev = digest
        conn.execute(_INSERT_EVENTS, rows)
        if head:
            conn.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": prev})
        else:
            conn.execute(
                insert(audit_head).values(
                    id=1,
                    seq=seq,
                    hash=prev,
                    keyed_from=1,
                    keyed_seal=boundary_seal(key, 1, GENESIS),
                )
            )
        return out

    def seal(self) -> bool:
        """Seal the key boundary of a database upgraded without the key (``govcx db
        upgrade`` and start-up seal it themselves). Returns False when it already was.

        Only right after such an upgrade: a sealed boundary never becomes unsealed, so an
        unsealed one on a database that was not just upgraded means tampering."""
        key = self._need_key()
        with self.db.begin() as conn:
            head = conn.execute(_HEAD.add_columns(audit_head.c.keyed_seal)).first()
            if head is None:
                if conn.execute(select(audit_events.c.seq).limit(1)).first() is not None:
                    raise AuditBroken(["the chain head row is missing"])
                conn.execute(
                    insert(audit_head).values(
                        id=1,
                        seq=0,
                        hash=GENESIS,
                        keyed_from=1,
                        keyed_seal=boundary_seal(key, 1, GENESIS),
                    )
                )
                return True
            if head.keyed_seal is not None:
                return False
            boundary = GENESIS
            if head.keyed_from > 1:
                row = conn.execute(
                    select(audit_events.c.hash).where(audit_events.c.seq == head.keyed_from - 1)
                ).first()
                if row is None:
                    raise AuditBroken(
                        [
                            f"event seq {head.keyed_from - 1}, just before the key "
                            "boundary, is missing"
                        ]
                    )
                boundary = row.hash
            conn.execute(
                update(audit_head)
                .where(audit_head.c.id == 1)
                .values(keyed_seal=boundary_seal(key, head.keyed_from, boundary))
            )
        return True

    def events(
        self, *, conversation_id: str | None = None, after_seq: int = 0, limit: int | None = None
    ) -> Iterator[AuditEvent]:
        if after_seq >= MAX_SEQ:  # nothing lies beyond the column's range
            return
        query = select(audit_events).where(audit_events.c.seq > after_seq)
        if conversation_id is not None:
            query = query.where(audit_events.c.conversation_id == conversation_id)
        query = query.order_by(audit_events.c.seq)
        if limit is not None:
            query = query.limit(limit)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        for row in rows:
            yield AuditEvent(
                seq=row.seq,
                event_id=row.event_id,
                ts=row.ts,
                conversation_id=row.conversation_id,
                turn_id=row.turn_id,
                actor=row.actor,
                kind=row.kind,
                policy_version=row.policy_version,
                policy_digest=row.policy_digest,
                data=json.loads(row.body),
                prev_hash=row.prev_hash,
                hash=row.hash,
            )

    # -- anchoring ------------------------------------------------------------------------
    def anchor(self, *, now: float | None = None) -> Anchor:
        """Sign the current head. Refuses (AuditBroken) to sign a chain that does not
        verify: an anchor vouches for everything up to its seq."""
        key = self._need_key()
        result = self.verify()
        if not result.ok:
            raise AuditBroken(result.problems)
        with self.db.read() as conn:
            head = conn.execute(select(audit_head).where(audit_head.c.id == 1)).first()
        seq, hash_, keyed_from = (head.seq, head.hash, head.keyed_from) if head else (0, GENESIS, 1)
        moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
        stamp = moment.isoformat(timespec="seconds").replace("+00:00", "Z")
        return Anchor(
            seq=seq,
            hash=hash_,
            time=stamp,
            keyed_from=keyed_from,
            key_id=key_id(key),
            signature=_anchor_signature(key, seq, hash_, stamp, keyed_from),
        )

    # -- verifying ------------------------------------------------------------------------
    def verify(self, *, anchor: Anchor | None = None) -> VerifyResult:
        """Walk the whole chain and cross-check the other tables; ``problems`` names every
        break (with its seq), every record without its audit event, and an anchor the
        chain no longer extends."""
        key = self._need_key()
        problems: list[str] = []
        notes: list[str] = []
        seen = _Seen()
        prev = GENESIS
        expected_seq = 0
        count = legacy = 0
        boundary: str | None = None
        with self.db.read() as conn:
            head = conn.execute(select(audit_head).where(audit_head.c.id == 1)).first()
            keyed_from = int(head.keyed_from) if head is not None else 1
            result = conn.execute(select(audit_events).order_by(audit_events.c.seq))
            for row in result:
                count += 1
                expected_seq += 1
                if row.seq != expected_seq:
                    problems.append(
                        f"event seq {row.seq}: expected seq {expected_seq} "
                        "(an event was deleted or inserted)"
                    )
                    expected_seq = row.seq
                if row.prev_hash != prev:
                    problems.append(
                        f"event seq {row.seq}: previous-hash link is broken "
                        "(events were reordered, deleted or inserted)"
                    )
                if row.seq < keyed_from:
                    legacy += 1
                    digest = _legacy_digest(
                        row.prev_hash,
                        row.seq,
                        row.event_id,
                        row.ts,
                        row.conversation_id,
                        row.turn_id,
                        row.actor,
                        row.kind,
                        row.policy_version,
                        row.body,
                    )
                    if row.policy_digest is not None:
                        problems.append(
                            f"event seq {row.seq}: predates the audit key but "
                            "carries a policy digest (the event was edited)"
                        )
                else:
                    digest = _keyed_digest(
                        key,
                        keyed_from,
                        row.prev_hash,
                        row.seq,
                        row.event_id,
                        row.ts,
                        row.conversation_id,
                        row.turn_id,
                        row.actor,
                        row.kind,
                        row.policy_version,
                        row.policy_digest,
                        row.body,
                    )
                if not hmac.compare_digest(digest, row.hash):
                    problems.append(
                        f"event seq {row.seq}: content does not match its hash "
                        "(the event was edited, the chain recomputed without the "
                        "key, or the key boundary moved)"
                    )
                if anchor is not None and row.seq == anchor.seq:
                    seen.anchored = row.hash
                if row.seq == keyed_from - 1:
                    boundary = row.hash
                _record(seen, row.kind, row.actor, row.turn_id, row.body)
                prev = row.hash
            self._cross_check(conn, seen, problems)
        if head is None:
            problems.append("the chain head row is missing (the audit tables were wiped or edited)")
        else:
            if head.seq != expected_seq or head.hash != prev:
                problems.append(
                    f"the chain ends at seq {expected_seq} but the head says "
                    f"seq {head.seq} (the newest events were deleted or edited)"
                )
            if keyed_from < 1 or keyed_from > expected_seq + 1:
                problems.append(
                    f"the key boundary (keyed from seq {keyed_from}) lies beyond "
                    f"the chain's end (seq {expected_seq}): keyed events were "
                    "deleted or the boundary moved"
                )
            self._check_seal(
                key, head.keyed_seal, keyed_from, GENESIS if keyed_from == 1 else boundary, problems
            )
        if legacy:
            notes.append(
                f"{legacy} event(s) (seq 1-{keyed_from - 1}) predate the audit key "
                "and were checked with unkeyed sha256"
            )
        anchor_view = None
        if anchor is not None:
            self._check_anchor(key, anchor, seen.anchored, keyed_from, problems)
            anchor_view = anchor.as_dict()
        return VerifyResult(
            ok=not problems,
            events=count,
            problems=problems,
            legacy_events=legacy,
            keyed_from=keyed_from,
            anchor=anchor_view,
            notes=notes,
        )

    @staticmethod
    def _check_seal(
        key: bytes, seal: str | None, keyed_from: int, boundary: str | None, problems: list[str]
    ) -> None:
        if seal is None:
            problems.append(
                f"the key boundary (keyed from seq {keyed_from}) is not sealed: "
                "if this database was just upgraded without the audit key, run "
                "`govcx audit seal`; otherwise the boundary was tampered with"
            )
        elif boundary is None or not hmac.compare_digest(
            boundary_seal(key, keyed_from, boundary), seal
        ):
            problems.append(
                f"the key boundary seal (keyed from seq {keyed_from}) does not "
                "verify: the boundary was moved or the events before it were "
                "rewritten"
            )

    @staticmethod
    def _check_anchor(
        key: bytes, anchor: Anchor, found: str | None, keyed_from: int, problems: list[str]
    ) -> None:
        expected = _anchor_signature(key, anchor.seq, anchor.hash, anchor.time, anchor.keyed_from)
        if not hmac.compare_digest(expected, anchor.signature):
            which = (
                "it was signed with another key (key id "
                f"{anchor.key_id}, this deployment's is {key_id(key)})"
                if anchor.key_id != key_id(key)
                else "it was altered or forged"
            )
            problems.append(
                f"the anchor of {anchor.time} (seq {anchor.seq}) does not verify "
                f"with the audit key: {which}"
            )
            return
        if anchor.keyed_from != keyed_from:
            problems.append(
                f"the key boundary moved: the anchor of {anchor.time} says keyed "
                f"from seq {anchor.keyed_from}, the database says {keyed_from}"
            )
        if anchor.seq == 0:
            return
        if found is None:
            problems.append(
                f"the anchored event seq {anchor.seq} (anchor of {anchor.time}) "
                "is missing: the chain was truncated or wiped after the anchor"
            )
        elif not hmac.compare_digest(found, anchor.hash):
            problems.append(
                f"event seq {anchor.seq} has hash {found[:16]}... but the anchor "
                f"of {anchor.time} says {anchor.hash[:16]}...: the chain was "
                "rewritten after the anchor"
            )

    @staticmethod
    def _cross_check(conn: Connection, seen: _Seen, problems: list[str]) -> None:
        """Every decision, finished execution and turn the database records has its
        event; otherwise events were deleted (a wiped or truncated chain)."""
        missing: list[str] = []
        for row in conn.execute(
            select(approvals.c.approval_id, approvals.c.body).order_by(approvals.c.requested_at)
        ):
            try:
                decisions = json.loads(row.body).get("decisions") or []
            except (ValueError, AttributeError):
                problems.append(f"approval {row.approval_id}: its record is not valid JSON")
                continue
            for d in decisions:
                principal, kind = str(d.get("principal")), str(d.get("decision"))
                if (row.approval_id, f"approval.{kind}", principal) not in seen.decisions:
                    missing.append(
                        f"approval {row.approval_id}: the {kind} decision by "
                        f"{principal} has no audit event"
                    )
        for ex in conn.execute(
            select(executions.c.key, executions.c.tool, executions.c.status)
            .where(executions.c.status.in_(("succeeded", "failed")))
            .order_by(executions.c.started_at)
        ):
            if ex.key not in seen.executions:
                missing.append(f"execution {ex.key} ({ex.tool}, {ex.status}) has no audit event")
        for turn in conn.execute(select(turns.c.turn_id).order_by(turns.c.created_at)):
            if turn.turn_id not in seen.turns:
                missing.append(f"turn {turn.turn_id} has no audit event")
        if len(missing) > 20:
            problems.extend(missing[:20])
            problems.append(
                f"... and {len(missing) - 20} more records without an audit event "
                "(audit events were deleted)"
            )
        else:
            problems.extend(missing)


def _record(seen: _Seen, kind: str, actor: str, turn_id: str | None, body: str) -> None:
    if turn_id:
        seen.turns.add(turn_id)
    if not (kind.startswith("approval.") or kind in ("execute", "draft")):
        return
    try:
        data = json.loads(body)
    except ValueError:
        return  # its hash check reports it
    if not isinstance(data, dict):
        return
    if kind == "execute" and data.get("idempotency_key"):
        seen.executions.add(str(data["idempotency_key"]))
    elif kind == "draft":
        # Read-only tool calls made while drafting are recorded in the draft event.
        seen.executions.update(str(k) for k in data.get("reads") or [] if k)
    elif data.get("approval_id"):
        seen.decisions.add((str(data["approval_id"]), kind, actor))
