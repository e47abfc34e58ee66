"""Several workers on one database: no lost turns, one valid audit chain, migrations."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from govcx.agent.agent import Agent
from govcx.errors import SchemaBehind
from govcx.store import migrate
from govcx.store.db import Database
from tests.conftest import shop_effects

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


def test_workers_share_one_valid_chain_and_lose_nothing(make_agent: Callable[..., Agent]) -> None:
    workers = [make_agent() for _ in range(3)]
    errors: list[BaseException] = []

    def work(agent: Agent, w: int) -> None:
        try:
            for i in range(4):
                # Two workers write to the same conversation; runs must serialise.
                agent.respond(f"shared-{i % 2}", "where is my order A-1001", customer_id="C-1")
                agent.respond(
                    f"own-{w}-{i}", "please refund $5 for order A-1001", customer_id="C-1"
                )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(a, n)) for n, a in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    checker = workers[0]
    result = checker.audit.verify()
    assert result.ok, result.problems
    turns = [t for cid in ("shared-0", "shared-1") for t in checker.conversations.turns(cid)]
    assert len(turns) == 12 and all(t.status == "answered" for t in turns)
    assert len(shop_effects(checker)) == 12  # one refund per own conversation, none twice
    kinds = [e.kind for e in checker.audit.events(conversation_id="shared-0")]
    # Serialised: each turn's events are contiguous (guard_input ... respond).
    starts = [i for i, k in enumerate(kinds) if k == "guard_input"]
    ends = [i for i, k in enumerate(kinds) if k == "respond"]
    assert all(s < e for s, e in zip(starts, ends, strict=True))
    assert all(e < s for e, s in zip(ends, starts[1:], strict=False))


def test_old_schema_is_refused_until_upgrade(
    tmp_path: Path, database_url: str | None, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent()
    db: Database = agent.db
    assert migrate.current_revision(db) == migrate.head_revision()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0000'")
    with pytest.raises(SchemaBehind, match="run `govcx db upgrade`"):
        make_agent()


def test_prune_keeps_audit_and_transcript(make_agent: Callable[..., Agent], clock) -> None:  # type: ignore[no-untyped-def]
    agent = make_agent()
    agent.respond("old", "where is my order A-1001", customer_id="C-1")
    clock.now += 40 * 86400
    agent.respond("new", "where is my order A-1001", customer_id="C-1")
    assert agent.prune(older_than=30 * 86400) == ["old"]
    assert agent.graph.get_state({"configurable": {"thread_id": "old"}}).values == {}
    assert agent.graph.get_state({"configurable": {"thread_id": "new"}}).values
    assert agent.conversation("old")["transcript"]
    assert agent.audit.verify().ok
    assert any(e.kind == "retention.prune" for e in agent.audit.events())
    again = agent.respond("old", "where is my order A-1001", customer_id="C-1")
    assert again.status == "answered"


def test_workers_starting_together_on_a_new_database_all_start(
    tmp_path: Path, database_url: str | None
) -> None:
    """N workers opening one fresh database at the same moment (``serve --workers N``):
    schema, LangGraph's checkpoint tables and the policy activation are set up once."""
    import os
    import subprocess
    import sys
    import textwrap

    from tests.conftest import SHOP

    script = tmp_path / "worker.py"
    script.write_text(
        textwrap.dedent("""
        import sys
        from pathlib import Path
        from govcx.agent.agent import Agent
        from govcx.pack import load_pack
        from govcx.settings import Settings
        from govcx.testing import InMemoryRetriever, PassThroughGuard
        home, url = sys.argv[1], sys.argv[2] or None
        agent = Agent(load_pack(sys.argv[3]), Settings(home=Path(home), database_url=url),
                      retriever=InMemoryRetriever([]), guard=PassThroughGuard())
        print(agent.policy.version, agent.policies.active_seq())
        agent.close()
    """)
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / "home"), database_url or "", str(SHOP)],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    outputs = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], [err for _, err in outputs]
    assert {out.strip() for out, _ in outputs} == {"t1 1"}  # one activation, not three
