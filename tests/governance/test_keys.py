"""API keys in the database (SQLite and PostgreSQL): hashed, found by key id, verified in
constant time, revoked at once in every process; and the Python API's decisions by name
(trusted code) stay canonical for four-eyes and can be flagged unauthenticated."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select

from govcx.agent.agent import Agent
from govcx.errors import DuplicateApprover, NotFound, Unauthenticated
from govcx.governance.keys import KeyStore, looks_like_key
from govcx.governance.principal import Principal

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


def _all_stored_text(agent: Agent) -> str:
    """Every value of every table of the database, as text."""
    meta = MetaData()
    meta.reflect(agent.db.engine)
    parts: list[str] = []
    with agent.db.read() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)).all():
                parts.extend(str(v) for v in row)
    return "\n".join(parts)


def test_create_verify_list_revoke(agent: Agent) -> None:
    store = KeyStore(agent.db)
    issued = store.create("sup", created_by="test")
    assert looks_like_key(issued.key) and issued.key.startswith(f"gcx_{issued.key_id}_")
    assert store.verify(issued.key).principal == "sup"
    assert store.verify(issued.key).principal == "sup"  # cached: still checks revocation
    [listed] = store.list()
    assert listed.key_id == issued.key_id and listed.active and listed.created_by == "test"
    assert "key" not in listed.as_dict() and issued.key not in repr(listed)
    assert store.count_active() == 1
    revoked = store.revoke(issued.key_id, revoked_by="test")
    assert revoked.revoked_at is not None and not revoked.active
    assert store.count_active() == 0
    with pytest.raises(Unauthenticated, match="revoked"):
        store.verify(issued.key)
    with pytest.raises(NotFound, match="govcx keys list"):
        store.revoke("0123456789ab")


def test_revocation_reaches_every_process_at_once(agent: Agent) -> None:
    """Two KeyStores on one database stand for two workers: a key verified (and cached)
    in one stops working there as soon as the other revokes it."""
    worker_a, worker_b = KeyStore(agent.db), KeyStore(agent.db)
    issued = worker_a.create("boss")
    assert worker_a.authenticate(issued.key) is not None  # now in worker_a's cache
    worker_b.revoke(issued.key_id)
    assert worker_a.authenticate(issued.key) is None


def test_wrong_secret_malformed_and_unknown_keys_are_refused(agent: Agent) -> None:
    store = KeyStore(agent.db)
    issued = store.create("sup")
    forged = issued.key[:-4] + ("AAAA" if not issued.key.endswith("AAAA") else "BBBB")
    with pytest.raises(Unauthenticated, match="unknown API key"):
        store.verify(forged)  # the right key id with another secret
    with pytest.raises(Unauthenticated, match="unknown API key"):
        store.verify("gcx_0123456789ab_" + "x" * 43)
    for bad in ("", "sup", "gcx_dev_abc", "Bearer " + issued.key):
        with pytest.raises(Unauthenticated, match=r"malformed.*govcx keys create"):
            store.verify(bad)


def test_keys_are_never_stored_in_clear(agent: Agent, backend: str) -> None:
    store = KeyStore(agent.db)
    issued = [store.create(name) for name in ("sup", "boss", "web")]
    assert all(store.authenticate(i.key) for i in issued)
    stored = _all_stored_text(agent)
    raw = b""
    if backend == "sqlite":  # the database file itself, free pages included
        raw = b"".join(p.read_bytes() for p in Path(agent.state_dir).rglob("*.db*"))
    for i in issued:
        secret = i.key.split("_", 2)[2]
        for needle in (i.key, secret, hashlib.sha256(i.key.encode()).hexdigest()):
            assert needle not in stored
            assert needle.encode() not in raw
        assert i.key_id in stored  # the public part is what finds the row


def test_the_same_key_twice_cannot_satisfy_four_eyes(agent: Agent) -> None:
    """Authenticated by one key twice, or by names that differ only in case and spaces,
    one principal never counts twice."""
    turn = agent.respond("c-4eyes", "close my account", customer_id="C-1")
    aid = str(turn.approval_id)
    store = KeyStore(agent.db)
    boss = store.create("boss")
    who = agent.pack.principal(store.verify(boss.key).principal)
    assert agent.decide(aid, principal=who, decision="approve").status == "pending_approval"
    with pytest.raises(DuplicateApprover):
        agent.decide(
            aid,
            principal=agent.pack.principal(store.verify(boss.key).principal),
            decision="approve",
        )
    with pytest.raises(DuplicateApprover):
        agent.decide(aid, principal=" BOSS ", decision="approve")
    with pytest.raises(DuplicateApprover):  # a hand-built Principal (trusted code)
        agent.decide(
            aid,
            principal=Principal(name="Boss", roles=frozenset({"approver:manager"})),
            decision="approve",
        )
    assert agent.approvals.get(aid).status == "pending"


def test_python_api_flags_unauthenticated_decisions(agent: Agent) -> None:
    turn = agent.respond("c-dev", "please refund $80 for order A-1002", customer_id="C-1")
    aid = str(turn.approval_id)
    agent.decide(aid, principal="sup", decision="approve", authenticated=False)
    [decision] = agent.approvals.get(aid).decisions
    assert decision.authenticated is False
    [event] = [
        e for e in agent.audit.events(conversation_id="c-dev") if e.kind == "approval.approve"
    ]
    assert event.data["authenticated"] is False and event.actor == "sup"
    turn = agent.respond("c-key", "please refund $80 for order A-1002", customer_id="C-1")
    agent.decide(str(turn.approval_id), principal="sup", decision="approve")
    assert agent.approvals.get(str(turn.approval_id)).decisions[0].authenticated is True
