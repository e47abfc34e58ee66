"""The audit chain: complete, redacted, keyed, anchored; any tampering is detected.

Attacks of issue 13 item 6, each on SQLite and PostgreSQL:
(a) delete the newest events and move the head row back;
(b) wipe both audit tables (and re-create a plausible head);
(c) edit an event and recompute the whole chain and head without the key
    (with plain sha256 as before the key, also moving the key boundary, or with a guessed key).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import stat
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from govcx.agent.agent import Agent
from govcx.errors import ConfigError
from govcx.governance.audit import (
    GENESIS,
    Anchor,
    _anchor_signature,
    _legacy_digest,
    audit_key,
    key_id,
)
from govcx.pack import load_pack
from govcx.settings import Settings
from govcx.store import migrate
from govcx.store.db import Database, dumps, resolve_url
from govcx.testing import InMemoryRetriever, PassThroughGuard
from tests.conftest import RETURNS, SHOP, Clock

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


def _run(agent: Agent) -> None:
    turn = agent.respond("a1", "please refund $80 for order A-1002", customer_id="C-1")
    assert turn.approval_id is not None, turn
    agent.decide(turn.approval_id, principal="sup", decision="approve")
    agent.respond("a2", "where is my order A-1001", customer_id="C-1")


def _sql(agent: Agent, sql: str, **params: Any) -> None:
    with agent.db.engine.begin() as conn:
        conn.execute(text(sql), params)


def _problems(agent: Agent, anchor: Anchor | None = None) -> list[str]:
    result = agent.audit.verify(anchor=anchor)
    assert not result.ok, "tampering went undetected"
    return result.problems


def _tamper(agent: Agent, sql: str) -> list[str]:
    _sql(agent, sql)
    return _problems(agent)


def _last_seq(agent: Agent) -> int:
    return max(e.seq for e in agent.audit.events())


def _truncate(agent: Agent, keep: int) -> None:
    """Attack (a): delete every event after ``keep`` and move the head row back."""
    kept = next(e for e in agent.audit.events(after_seq=keep - 1, limit=1))
    _sql(agent, "DELETE FROM audit_events WHERE seq > :keep", keep=keep)
    _sql(agent, "UPDATE audit_head SET seq = :seq, hash = :hash", seq=keep, hash=kept.hash)


def _recompute_unkeyed(agent: Agent, *, move_boundary: bool, key: bytes | None = None) -> None:
    """Attack (c): rewrite every event's hash (plain sha256, or HMAC with ``key``, a key
    that is not the deployment's) and the head, optionally declaring every event legacy."""
    with agent.db.engine.begin() as conn:
        rows = conn.execute(text("SELECT * FROM audit_events ORDER BY seq")).all()
        prev = GENESIS
        for row in rows:
            if key is None:
                digest = _legacy_digest(
                    prev,
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
            else:
                material = dumps(
                    [
                        "govcx.audit.event/2",
                        1,
                        prev,
                        row.seq,
                        row.event_id,
                        repr(row.ts),
                        row.conversation_id,
                        row.turn_id,
                        row.actor,
                        row.kind,
                        row.policy_version,
                        row.policy_digest,
                        row.body,
                    ]
                )
                digest = hmac.new(key, material.encode(), hashlib.sha256).hexdigest()
            conn.execute(
                text(
                    "UPDATE audit_events SET prev_hash = :p, hash = :h, "
                    "policy_digest = CASE WHEN :legacy THEN NULL "
                    "ELSE policy_digest END WHERE seq = :s"
                ),
                {"p": prev, "h": digest, "s": row.seq, "legacy": move_boundary},
            )
            prev = digest
        conn.execute(
            text("UPDATE audit_head SET seq = :s, hash = :h"), {"s": rows[-1].seq, "h": prev}
        )
        if move_boundary:
            conn.execute(text("UPDATE audit_head SET keyed_from = :k"), {"k": rows[-1].seq + 1})


# -- a normal run ----------------------------------------------------------------------------
def test_every_node_decision_approval_and_tool_call_is_audited(agent: Agent) -> None:
    _run(agent)
    kinds = [e.kind for e in agent.audit.events(conversation_id="a1")]
    for kind in (
        "guard_input",
        "classify",
        "retrieve",
        "draft",
        "confidence_check",
        "policy_gate",
        "approval.approve",
        "execute",
        "guard_output",
        "respond",
    ):
        assert kind in kinds
    gate = next(e for e in agent.audit.events(conversation_id="a1") if e.kind == "policy_gate")
    assert gate.data["rules"] == ["tool.issue_refund.approval_if"]
    assert gate.policy_version == "t1"
    approve = next(e for e in agent.audit.events() if e.kind == "approval.approve")
    assert approve.actor == "sup"
    assert agent.audit.verify().ok


def test_an_untouched_run_verifies_and_extends_its_anchors(agent: Agent) -> None:
    early = agent.audit.anchor()  # the chain at start-up: the pack's policy activated
    assert [e.kind for e in agent.audit.events()] == ["policy.activated"]
    assert early.seq == 1 and early.hash != GENESIS
    _run(agent)
    middle = agent.audit.anchor()
    agent.respond("a3", "where is my order A-1001", customer_id="C-1")
    for anchor in (early, middle, agent.audit.anchor()):
        result = agent.audit.verify(anchor=anchor)
        assert result.ok, result.problems
        assert result.legacy_events == 0 and result.keyed_from == 1
    assert agent.audit.verify().events == _last_seq(agent)
    # An anchor survives its JSON form (what an operator keeps outside the database).
    again = Anchor.parse(json.dumps(middle.as_dict()))
    assert again == middle and agent.audit.verify(anchor=again).ok


def test_policy_digest_is_stored_exported_and_covered(agent: Agent) -> None:
    event = agent.audit.append(
        kind="policy.activated", actor="root", data={}, policy_version="t2", policy_digest="ab" * 32
    )
    assert event.as_dict()["policy_digest"] == "ab" * 32
    assert next(agent.audit.events(after_seq=event.seq - 1)).policy_digest == "ab" * 32
    # The start-up activation carries the pack policy's digest.
    assert next(agent.audit.events()).policy_digest == agent.policy.digest
    many = agent.audit.append_many(
        [{"kind": "x", "actor": "a", "data": {}, "policy_digest": "cd" * 32}]
    )
    assert many[0].policy_digest == "cd" * 32
    assert agent.audit.verify().ok
    problems = _tamper(
        agent, f"UPDATE audit_events SET policy_digest = '{'ef' * 32}' WHERE seq = {event.seq}"
    )
    assert any(f"seq {event.seq}" in p and "edited" in p for p in problems)


# -- single edits (as before the key) ------------------------------------------------------
def test_edit_is_detected(agent: Agent) -> None:
    _run(agent)
    problems = _tamper(agent, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 5")
    assert any("seq 5" in p and "edited" in p for p in problems)


def test_deletion_in_the_middle_is_detected(agent: Agent) -> None:
    _run(agent)
    problems = _tamper(agent, "DELETE FROM audit_events WHERE seq = 7")
    assert any("seq 8" in p for p in problems)


def test_deletion_of_the_newest_is_detected(agent: Agent) -> None:
    _run(agent)
    last = agent.audit.verify().events
    problems = _tamper(agent, f"DELETE FROM audit_events WHERE seq = {last}")
    assert any("newest" in p for p in problems)


def test_reordering_is_detected(agent: Agent) -> None:
    _run(agent)
    _sql(agent, "UPDATE audit_events SET seq = -1 WHERE seq = 3")
    _sql(agent, "UPDATE audit_events SET seq = 3 WHERE seq = 4")
    problems = _tamper(agent, "UPDATE audit_events SET seq = 4 WHERE seq = -1")
    assert any("seq 3" in p or "seq 4" in p for p in problems)


# -- attack (a): truncate the tail and move the head back ------------------------------------
def test_truncated_tail_with_moved_head_is_detected_by_the_anchor(agent: Agent) -> None:
    _run(agent)
    anchor = agent.audit.anchor()
    _truncate(agent, anchor.seq - 3)
    problems = _problems(agent, anchor)
    assert any(f"anchored event seq {anchor.seq}" in p and "missing" in p for p in problems)


def test_truncated_turn_is_detected_without_an_anchor(agent: Agent) -> None:
    _run(agent)
    first_of_a2 = min(e.seq for e in agent.audit.events(conversation_id="a2"))
    _truncate(agent, first_of_a2 - 1)
    turn_id = agent.conversations.turns("a2")[0].turn_id
    problems = _problems(agent)
    assert any(f"turn {turn_id} has no audit event" in p for p in problems)


def test_truncated_decision_and_execution_are_detected_without_an_anchor(agent: Agent) -> None:
    turn = agent.respond("a1", "please refund $80 for order A-1002", customer_id="C-1")
    before = _last_seq(agent)
    agent.decide(str(turn.approval_id), principal="sup", decision="approve")
    _truncate(agent, before)
    problems = _problems(agent)
    assert any(
        f"approval {turn.approval_id}: the approve decision by sup has no audit event" in p
        for p in problems
    )
    assert any(p.startswith("execution ") and "issue_refund, succeeded" in p for p in problems)


# -- attack (b): wipe both tables ---------------------------------------------------------
def test_wiped_tables_are_detected_by_the_anchor_and_by_the_records(agent: Agent) -> None:
    _run(agent)
    anchor = agent.audit.anchor()
    _sql(agent, "DELETE FROM audit_events")
    _sql(agent, "DELETE FROM audit_head")
    problems = _problems(agent, anchor)
    assert any("head row is missing" in p for p in problems)
    assert any(f"anchored event seq {anchor.seq}" in p for p in problems)
    # Without the anchor: the turns, the decision and the executions name their events.
    problems = _problems(agent)
    assert any("turn " in p and "has no audit event" in p for p in problems)
    assert any("approve decision by sup has no audit event" in p for p in problems)


def test_wiped_tables_with_a_recreated_head_are_detected(agent: Agent) -> None:
    """The attacker re-creates the head exactly as a fresh database has it (its seal for
    an empty chain keyed from 1 is the same for every empty chain under this key)."""
    _run(agent)
    anchor = agent.audit.anchor()
    _sql(agent, "DELETE FROM audit_events")
    _sql(agent, "UPDATE audit_head SET seq = 0, hash = :h", h=GENESIS)
    problems = _problems(agent, anchor)
    assert any(f"anchored event seq {anchor.seq}" in p and "missing" in p for p in problems)
    assert any("has no audit event" in p for p in _problems(agent))


# -- attack (c): edit and recompute the chain without the key -------------------------------
def test_edit_with_recomputed_unkeyed_chain_is_detected(agent: Agent) -> None:
    _run(agent)
    _sql(agent, "UPDATE audit_events SET actor = 'mallory' WHERE kind = 'approval.approve'")
    _recompute_unkeyed(agent, move_boundary=False)
    problems = _problems(agent)
    assert any("seq 1:" in p and "does not match its hash" in p for p in problems)


def test_recomputed_chain_declared_legacy_is_detected_by_the_seal(agent: Agent) -> None:
    """Moving the key boundary past the end so that every event looks pre-key."""
    _run(agent)
    anchor = agent.audit.anchor()
    _sql(agent, "UPDATE audit_events SET actor = 'mallory' WHERE kind = 'approval.approve'")
    _recompute_unkeyed(agent, move_boundary=True)
    problems = _problems(agent)
    assert any("boundary seal" in p and "does not verify" in p for p in problems)
    problems = _problems(agent, anchor)
    assert any("boundary moved" in p for p in problems)
    # Nulling the seal as well is no way out.
    assert any("not sealed" in p for p in _tamper(agent, "UPDATE audit_head SET keyed_seal = NULL"))


def test_chain_recomputed_with_a_guessed_key_is_detected(agent: Agent) -> None:
    _run(agent)
    _sql(agent, "UPDATE audit_events SET actor = 'mallory' WHERE kind = 'approval.approve'")
    _recompute_unkeyed(agent, move_boundary=False, key=b"not-the-real-key-0123456789")
    assert any("does not match its hash" in p for p in _problems(agent))


# -- the anchor itself -----------------------------------------------------------------------
def test_forged_anchor_is_detected(agent: Agent) -> None:
    _run(agent)
    real = agent.audit.anchor()
    # The attacker truncates, then "re-anchors" at the new head without the key.
    _truncate(agent, real.seq - 4)
    head = next(e for e in agent.audit.events(after_seq=real.seq - 5, limit=1))
    forged = dataclasses.replace(real, seq=head.seq, hash=head.hash)
    problems = _problems(agent, forged)
    assert any(
        "does not verify with the audit key" in p and "altered or forged" in p for p in problems
    )
    other = b"another-deployment-key-0123456789"
    foreign = dataclasses.replace(
        forged,
        key_id=key_id(other),
        signature=_anchor_signature(other, forged.seq, forged.hash, forged.time, forged.keyed_from),
    )
    problems = _problems(agent, foreign)
    assert any(f"signed with another key (key id {key_id(other)}" in p for p in problems)


def test_anchor_refuses_to_sign_a_broken_chain(agent: Agent) -> None:
    from govcx.errors import AuditBroken

    _run(agent)
    _sql(agent, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
    with pytest.raises(AuditBroken, match="seq 2"):
        agent.audit.anchor()


# -- pre-key (legacy) chains ----------------------------------------------------------------
def _legacy_database(tmp_path: Path, database_url: str | None, events: int) -> Database:
    """A database at revision 0001 whose chain was written with plain sha256, as before."""
    state_dir = tmp_path / "home"
    state_dir.mkdir(parents=True, exist_ok=True)
    pack = load_pack(SHOP)
    db = Database(resolve_url(database_url or pack.config.storage.url, state_dir))
    migrate.upgrade(db, "0001")
    prev = GENESIS
    with db.engine.begin() as conn:
        for seq in range(1, events + 1):
            event_id, ts, body = uuid.uuid4().hex, 1_700_000_000.0 + seq, dumps({"n": seq})
            row = {
                "seq": seq,
                "event_id": event_id,
                "ts": ts,
                "conversation_id": "old",
                "turn_id": None,
                "actor": "agent",
                "kind": "respond",
                "policy_version": "t0",
                "body": body,
            }
            digest = _legacy_digest(
                prev, seq, event_id, ts, "old", None, "agent", "respond", "t0", body
            )
            conn.execute(
                text(
                    "INSERT INTO audit_events (seq, event_id, ts, conversation_id, "
                    "turn_id, actor, kind, policy_version, body, prev_hash, hash) "
                    "VALUES (:seq, :event_id, :ts, :conversation_id, :turn_id, "
                    ":actor, :kind, :policy_version, :body, :prev, :hash)"
                ),
                {**row, "prev": prev, "hash": digest},
            )
            prev = digest
        conn.execute(text("UPDATE audit_head SET seq = :s, hash = :h"), {"s": events, "h": prev})
    return db


def _upgraded_agent(
    tmp_path: Path, database_url: str | None, clock: Clock, events: int = 6, *, upgrade: bool = True
) -> Agent:
    """The legacy database upgraded at start-up (auto_migrate), as a deployment would."""
    db = _legacy_database(tmp_path, database_url, events)
    if not upgrade:
        migrate.upgrade(db)  # e.g. an upgrade that did not pass the key
    db.dispose()
    settings = Settings(home=tmp_path / "home", database_url=database_url, auto_migrate=True)
    return Agent(
        load_pack(SHOP),
        settings,
        retriever=InMemoryRetriever([RETURNS]),
        guard=PassThroughGuard(),
        clock=clock,
    )


def test_upgraded_legacy_chain_verifies_and_reports_its_pre_key_events(
    tmp_path: Path, database_url: str | None, clock: Clock
) -> None:
    agent = _upgraded_agent(tmp_path, database_url, clock)
    try:
        result = agent.audit.verify()
        assert result.ok, result.problems
        assert result.legacy_events == 6 and result.keyed_from == 7
        assert "6 event(s) (seq 1-6) predate the audit key" in result.notes[0]
        _run(agent)
        result = agent.audit.verify(anchor=agent.audit.anchor())
        assert result.ok, result.problems
        assert result.legacy_events == 6 and result.events > 6
        # A pre-key event rewritten with its sha256 chain recomputed: the first keyed event
        # (and the boundary seal) still hold the old hash.
        _sql(agent, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
        with agent.db.engine.begin() as conn:
            rows = conn.execute(
                text("SELECT * FROM audit_events WHERE seq <= 6 ORDER BY seq")
            ).all()
            prev = GENESIS
            for row in rows:
                digest = _legacy_digest(
                    prev,
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
                conn.execute(
                    text("UPDATE audit_events SET prev_hash = :p, hash = :h WHERE seq = :s"),
                    {"p": prev, "h": digest, "s": row.seq},
                )
                prev = digest
        problems = _problems(agent)
        assert any("seq 7: previous-hash link is broken" in p for p in problems)
        assert any("boundary seal" in p for p in problems)
    finally:
        agent.close()


def test_legacy_rewrite_before_any_keyed_event_is_detected_by_the_seal(
    tmp_path: Path, database_url: str | None, clock: Clock
) -> None:
    agent = _upgraded_agent(tmp_path, database_url, clock, events=4)
    try:
        _sql(agent, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 4")
        digest = _legacy_digest(
            *(
                lambda r: (
                    r.prev_hash,
                    r.seq,
                    r.event_id,
                    r.ts,
                    r.conversation_id,
                    r.turn_id,
                    r.actor,
                    r.kind,
                    r.policy_version,
                    r.body,
                )
            )(_row(agent, 4))
        )
        _sql(agent, "UPDATE audit_events SET hash = :h WHERE seq = 4", h=digest)
        _sql(agent, "UPDATE audit_head SET hash = :h", h=digest)
        assert any("boundary seal" in p for p in _problems(agent))
    finally:
        agent.close()


def _row(agent: Agent, seq: int) -> Any:
    with agent.db.engine.connect() as conn:
        return conn.execute(text("SELECT * FROM audit_events WHERE seq = :s"), {"s": seq}).one()


def test_upgrade_without_the_key_needs_an_explicit_seal(
    tmp_path: Path, database_url: str | None, clock: Clock
) -> None:
    agent = _upgraded_agent(tmp_path, database_url, clock, events=3, upgrade=False)
    try:
        assert any("not sealed" in p and "govcx audit seal" in p for p in _problems(agent))
        assert agent.audit.seal() is True
        assert agent.audit.seal() is False
        assert agent.audit.verify().ok
    finally:
        agent.close()


# -- the key --------------------------------------------------------------------------------
def test_key_resolution(tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOVCX_AUDIT_KEY", raising=False)
    monkeypatch.delenv("GOVCX_AUDIT_KEY_FILE", raising=False)
    monkeypatch.delenv("GOVCX_DEV", raising=False)
    state = tmp_path / "state"
    state.mkdir()
    if backend == "postgresql":
        with pytest.raises(ConfigError, match=r"GOVCX_AUDIT_KEY .*GOVCX_AUDIT_KEY_FILE"):
            audit_key(Settings(), state, "postgresql")
        assert not (state / "audit.key").exists()
        key = audit_key(Settings(dev=True), state, "postgresql")
    else:
        key = audit_key(Settings(), state, "sqlite")
    made = state / "audit.key"
    assert stat.S_IMODE(made.stat().st_mode) == 0o600 and len(key) == 32
    assert audit_key(Settings(), state, "sqlite") == key  # the same file next time
    env = audit_key(Settings(audit_key="11" * 32), state, backend)
    assert env == bytes.fromhex("11" * 32)
    other = tmp_path / "elsewhere.key"
    other.write_text("22" * 32)
    assert audit_key(Settings(audit_key_file=other), state, backend) == bytes.fromhex("22" * 32)
    with pytest.raises(ConfigError, match="does not exist"):
        audit_key(Settings(audit_key_file=tmp_path / "missing"), state, backend)
    with pytest.raises(ConfigError, match="at least 16"):
        audit_key(Settings(audit_key="short"), state, backend)


def test_postgresql_outside_dev_mode_refuses_to_start_without_a_key(
    backend: str, make_agent: Callable[..., Agent], monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite keeps its key in the state dir")
    monkeypatch.delenv("GOVCX_AUDIT_KEY", raising=False)
    with pytest.raises(ConfigError, match="GOVCX_AUDIT_KEY"):
        make_agent()


def test_the_key_is_never_stored_exported_or_logged(
    tmp_path: Path,
    backend: str,
    make_agent: Callable[..., Agent],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "5ec7e7" * 8
    monkeypatch.setenv("GOVCX_AUDIT_KEY", secret)
    caplog.set_level(logging.DEBUG)
    agent = make_agent()
    _run(agent)
    anchor = agent.audit.anchor()
    needles = [secret, secret.upper(), bytes.fromhex(secret).decode("latin-1")]
    dumped = [json.dumps(e.as_dict()) for e in agent.audit.events()]
    dumped.append(json.dumps(anchor.as_dict()))
    dumped.append(json.dumps(agent.audit.verify(anchor=anchor).as_dict()))
    dumped += [repr(agent.audit), repr(agent.settings), str(agent.settings.model_dump())]
    dumped.append(caplog.text)
    with agent.db.engine.connect() as conn:
        from govcx.store.schema import metadata

        for table in metadata.sorted_tables:
            dumped += [repr(tuple(r)) for r in conn.execute(table.select())]
    blob = "\n".join(dumped)
    for needle in needles:
        assert needle not in blob
    if backend == "sqlite":
        for path in (tmp_path / "home").rglob("*"):
            if path.is_file():
                raw = path.read_bytes()
                assert secret.encode() not in raw and bytes.fromhex(secret) not in raw, path
    assert not (tmp_path / "home" / "audit.key").exists()  # the env key: no file written
