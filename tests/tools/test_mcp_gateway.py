"""MCP tools in a pack, against a real SDK-written MCP server (a CRM over SQLite) started
over stdio by the pack and over streamable HTTP (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from govcx.agent.agent import Agent
from govcx.cli.main import app
from govcx.engines.embedded import EmbeddedEngine
from govcx.errors import ApprovalStale, GateViolation
from govcx.governance.approval import ApprovalStore
from govcx.pack import Pack, load_pack
from govcx.settings import Settings
from govcx.store.db import Database
from govcx.testing import InMemoryRetriever, PassThroughGuard
from govcx.tools.executor import Execution, Executor
from govcx.tools.review import read_lock, reviewed, write_lock

SERVER = Path(__file__).resolve().parents[1] / "fixtures" / "mcp_crm" / "crm_server.py"

POLICY = """\
version: "1"
currency: USD
approvals: {roles: {supervisor: {max_amount: 500}}}
tiers:
  read: {approval: never, read_only: true}
  low: {approval: never}
workflows:
  refund:
    autonomy: act
    tools: [crm.lookup_customer, crm.issue_refund]
    description: The customer wants money back on an order.
    examples:
      - "I want a refund for order A-1002"
      - "Please refund $80 for order A-1002"
      - "Can I get my money back?"
      - "Give me a partial refund of $30 on A-1002"
      - "refund A-1002 pls"
      - "I'd like $15 back on A-1005"
  order_status:
    autonomy: act
    tools: [crm.lookup_customer]
    description: The customer asks where an order is.
    examples:
      - "Where is my order?"
      - "Has my order shipped yet?"
      - "What's the status of my order"
      - "Did my order A-1002 get delivered?"
tools:
  crm.lookup_customer: {tier: read}
  crm.issue_refund:
    tier: low
    approval_if: "amount > 50"
    amount_arg: amount
  crm.broken: {tier: low}
  crm.slow: {tier: read}
  crm.crash: {tier: low}
"""


def _write_pack(root: Path, server: dict[str, Any], *, policy: str = POLICY) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    config = {
        "name": "mcptest",
        "knowledge": None,
        "tools": None,
        "evals": None,
        "engine": {"kind": "embedded"},
        "mcp_servers": {"crm": server},
        "principals": {"web": {"roles": ["channel"]}, "dana": {"roles": ["approver:supervisor"]}},
    }
    (root / "govcx.yaml").write_text(json.dumps(config), encoding="utf-8")
    (root / "policy.yaml").write_text(policy, encoding="utf-8")
    return root


def _stdio(db: Path, *, variant: str = "v1", timeout: float = 3.0) -> dict[str, Any]:
    return {
        "command": ["python", str(SERVER)],
        "env": {"CRM_DB": str(db), "CRM_VARIANT": variant},
        "timeout": timeout,
    }


def _review(root: Path, *names: str) -> None:
    pack = load_pack(root)
    try:
        assert pack.gateway is not None
        lock = read_lock(pack.gateway.lock_path)
        for entry in pack.gateway.entries:
            if entry.tool.name in names:
                lock[entry.tool.name] = reviewed(entry.tool)
        write_lock(pack.gateway.lock_path, lock.values())
    finally:
        pack.close()


def _calls(db: Path, tool: str | None = None) -> list[tuple[str, str]]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT tool, args FROM calls ORDER BY at").fetchall()
    return [r for r in rows if tool is None or r[0] == tool]


def _executor(pack: Pack, tmp_path: Path) -> Executor:
    db = Database(f"sqlite:///{tmp_path / 'ledger.db'}")
    db.create_schema()
    return Executor(db=db, registry=pack.registry, approvals=ApprovalStore(db), data_dir=tmp_path)


def _run(executor: Executor, pack: Pack, tool: str, args: dict[str, Any], step: str) -> Execution:
    return executor.run(
        policy=pack.policy,
        conversation_id="conv-1",
        customer_id="C-1001",
        tool=tool,
        args=args,
        autonomy="act",
        step=step,
    )


ALL = ("crm.lookup_customer", "crm.issue_refund", "crm.broken", "crm.slow", "crm.crash")


@pytest.fixture
def crm(tmp_path: Path) -> Iterator[tuple[Pack, Path]]:
    db = tmp_path / "crm.sqlite3"
    root = _write_pack(tmp_path / "pack", _stdio(db))
    _review(root, *ALL)
    pack = load_pack(root)
    yield pack, db
    pack.close()


def test_unlisted_or_unreviewed_tools_are_never_offered_or_called(tmp_path: Path) -> None:
    db = tmp_path / "crm.sqlite3"
    root = _write_pack(tmp_path / "pack", _stdio(db))
    # Reviewed: lookup and delete_customer (which the policy never lists). Not reviewed:
    # issue_refund (which the policy lists with a tier).
    _review(root, "crm.lookup_customer", "crm.delete_customer")
    pack = load_pack(root)
    try:
        assert "crm.lookup_customer" in pack.registry
        assert "crm.issue_refund" not in pack.registry  # listed, but not reviewed
        assert "unreviewed" in (pack.registry.why_disabled("crm.issue_refund") or "")
        engine = EmbeddedEngine.from_policy(pack.policy)
        offered = {t for wf in pack.policy.workflows.values() for t in wf.tools}
        assert "crm.delete_customer" not in offered
        executor = _executor(pack, tmp_path)
        refused = _run(
            executor, pack, "crm.issue_refund", {"order_id": "A-1002", "amount": 5}, "t1"
        )
        assert refused.status == "refused"
        # Reviewed but given no tier: the executor demands an approval that cannot exist.
        with pytest.raises(GateViolation, match="needs approval"):
            _run(executor, pack, "crm.delete_customer", {}, "t2")
        assert _calls(db, "issue_refund") == [] and _calls(db, "delete_customer") == []
        assert engine is not None
    finally:
        pack.close()


def test_tools_list_and_review_commands(tmp_path: Path) -> None:
    db = tmp_path / "crm.sqlite3"
    root = _write_pack(tmp_path / "pack", _stdio(db))
    runner = CliRunner()
    env = {"GOVCX_HOME": str(tmp_path / "home")}
    listed = runner.invoke(app, ["tools", "list", "--pack", str(root), "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    rows = {r["name"]: r for r in json.loads(listed.output)["tools"]}
    assert rows["crm.issue_refund"]["review"] == "unreviewed"
    assert rows["crm.issue_refund"]["tier"] == "low" and not rows["crm.issue_refund"]["usable"]
    assert rows["crm.issue_refund"]["runtime_filled"] == ["customer_id", "idempotency_key"]
    assert rows["crm.delete_customer"]["tier"] is None
    bare = runner.invoke(app, ["tools", "review", "--pack", str(root)], env=env)
    assert bare.exit_code == 2 and "--all" in bare.output
    unknown = runner.invoke(app, ["tools", "review", "crm.nope", "--pack", str(root)], env=env)
    assert unknown.exit_code == 2 and "crm.lookup_customer" in unknown.output
    done = runner.invoke(app, ["tools", "review", "crm.issue_refund", "--pack", str(root)], env=env)
    assert done.exit_code == 0, done.output
    listed = runner.invoke(app, ["tools", "list", "--pack", str(root), "--json"], env=env)
    rows = {r["name"]: r for r in json.loads(listed.output)["tools"]}
    assert rows["crm.issue_refund"]["usable"] and rows["crm.issue_refund"]["review"] == "reviewed"
    assert not rows["crm.lookup_customer"]["usable"]


def test_a_schema_change_disables_the_tool_until_it_is_reviewed_again(tmp_path: Path) -> None:
    db = tmp_path / "crm.sqlite3"
    root = _write_pack(tmp_path / "pack", _stdio(db))
    _review(root, *ALL)
    # The server now renames order_id to order_ref.
    _write_pack(root, _stdio(db, variant="v2"))
    pack = load_pack(root)
    try:
        assert "crm.issue_refund" not in pack.registry
        reason = pack.registry.why_disabled("crm.issue_refund") or ""
        assert "argument added: order_ref" in reason and "argument removed: order_id" in reason
        assert "crm.lookup_customer" in pack.registry  # unchanged tools keep working
        executor = _executor(pack, tmp_path)
        refused = _run(
            executor, pack, "crm.issue_refund", {"order_ref": "A-1002", "amount": 5}, "t"
        )
        assert refused.status == "refused"
        assert _calls(db, "issue_refund") == []
    finally:
        pack.close()
    # Re-reviewed (the policy's approval_if still names amount): usable again.
    _review(root, "crm.issue_refund")
    pack = load_pack(root)
    try:
        executor = _executor(pack, tmp_path)
        done = _run(executor, pack, "crm.issue_refund", {"order_ref": "A-1002", "amount": 5}, "t2")
        assert done.status == "executed", done.error
    finally:
        pack.close()


def test_malformed_arguments_fail_closed_before_any_call(
    crm: tuple[Pack, Path], tmp_path: Path
) -> None:
    pack, db = crm
    executor = _executor(pack, tmp_path)
    bad: list[dict[str, Any]] = [
        {"order_id": "A-1002"},  # amount missing
        {"order_id": "A-1002", "amount": "lots"},
        {"order_id": "B-99", "amount": 10},  # the server's pattern
        {"order_id": "A-1002", "amount": -5},  # the server's minimum
        {"order_id": "A-1002", "amount": 10, "note": "extra"},
        {"order_id": "A-1002", "amount": 10, "idempotency_key": "forged"},
        {"order_id": "A-1002", "amount": 10, "customer_id": "C-1002"},
    ]
    for i, args in enumerate(bad):
        result = _run(executor, pack, "crm.issue_refund", args, f"t{i}")
        assert result.status == "refused", args
    assert _calls(db, "issue_refund") == []


def test_idempotency_key_and_customer_are_filled_by_the_runtime(
    crm: tuple[Pack, Path], tmp_path: Path
) -> None:
    pack, db = crm
    executor = _executor(pack, tmp_path)
    done = _run(executor, pack, "crm.issue_refund", {"order_id": "A-1002", "amount": 20}, "t1")
    assert done.status == "executed", done.error
    assert done.result is not None and done.result["refund_id"] == "R-" + done.key[-8:]
    again = _run(executor, pack, "crm.issue_refund", {"order_id": "A-1002", "amount": 20}, "t1")
    assert again.replayed and again.result == done.result  # the ledger: nothing called
    calls = _calls(db, "issue_refund")
    assert len(calls) == 1
    assert f"('idempotency_key', '{done.key}')" in calls[0][1]
    assert "('customer_id', 'C-1001')" in calls[0][1]


def test_server_error_timeout_and_disconnect_are_clear_failures(
    crm: tuple[Pack, Path], tmp_path: Path
) -> None:
    pack, _ = crm
    executor = _executor(pack, tmp_path)
    failed = _run(executor, pack, "crm.broken", {"note": "x"}, "t1")
    assert failed.status == "failed"
    assert failed.error == (
        "MCP server crm reported an error, so this was not completed. Please try again later."
    )  # govcx's words: the server's own text is never shown to the customer
    started = time.monotonic()
    slow = _run(executor, pack, "crm.slow", {"seconds": 30}, "t2")
    assert slow.status == "failed" and "did not answer in time" in (slow.error or "")
    assert time.monotonic() - started < 15
    started = time.monotonic()
    gone = _run(executor, pack, "crm.crash", {"note": "x"}, "t3")
    assert gone.status == "failed" and "could not be reached" in (gone.error or "")
    assert time.monotonic() - started < 15
    # The next call reconnects (a new server process) and works.
    back = _run(executor, pack, "crm.lookup_customer", {}, "t4")
    assert back.status == "executed", back.error
    assert back.result == {"customer_id": "C-1001", "name": "Jordan Lee", "tier": "gold"}
    ledger = {row["tool"]: row["status"] for row in executor.ledger("conv-1")}
    assert ledger == {
        "crm.broken": "failed",
        "crm.slow": "failed",
        "crm.crash": "failed",
        "crm.lookup_customer": "succeeded",
    }


def _children() -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            text = (task / "children").read_text().split()
        except FileNotFoundError:
            continue  # the thread ended while we looked
        found |= {int(p) for p in text}
    return found


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
def test_closing_the_pack_stops_the_stdio_server(tmp_path: Path) -> None:
    before = _children()
    root = _write_pack(tmp_path / "pack", _stdio(tmp_path / "crm.sqlite3"))
    pack = load_pack(root)
    assert _children() - before  # the server process runs
    pack.close()
    deadline = time.monotonic() + 10
    while _children() - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _children() - before
    pack.close()  # idempotent


def test_refund_over_the_limit_waits_for_a_human_and_runs_once(
    crm: tuple[Pack, Path], tmp_path: Path
) -> None:
    pack, db = crm
    agent = Agent(
        pack,
        Settings(home=tmp_path / "home"),
        engine=EmbeddedEngine.from_policy(pack.policy),
        retriever=InMemoryRetriever([]),
        guard=PassThroughGuard(),
    )
    try:
        turn = agent.respond("conv-9", "Please refund $80 for order A-1002", customer_id="C-1001")
        assert turn.status == "pending_approval", turn
        assert _calls(db, "issue_refund") == []  # nothing runs before a human decides
        pending = agent.approvals.list(status="pending")
        assert [p.tool for p in pending] == ["crm.issue_refund"]
        done = agent.decide(pending[0].approval_id, principal="dana", decision="approve")
        assert [a.status for a in done.actions] == ["executed"], done.actions
        with pytest.raises(ApprovalStale):  # already decided: a second approve runs nothing
            agent.decide(pending[0].approval_id, principal="dana", decision="approve")
        assert len(_calls(db, "issue_refund")) == 1
        rows = [r for r in agent.executor.ledger("conv-9") if r["tool"] == "crm.issue_refund"]
        assert len(rows) == 1 and rows[0]["status"] == "succeeded"
        assert rows[0]["approval_id"] == pending[0].approval_id
        assert agent.audit.verify().ok
    finally:
        agent.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    port = _free_port()
    db = tmp_path / "crm-http.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "http", str(port)],
        env={**os.environ, "CRM_DB": str(db)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("the MCP HTTP server did not start")
    yield f"http://127.0.0.1:{port}/mcp", db, proc
    proc.kill()
    proc.wait(10)


def test_streamable_http_server(
    http_server: tuple[str, Path, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    url, db, proc = http_server
    root = _write_pack(tmp_path / "pack", {"url": url, "headers_env": "CRM_AUTH", "timeout": 3})
    env = {"CRM_AUTH": json.dumps({"Authorization": "Bearer t0ken"})}
    pack = load_pack(root, environ=env)
    try:
        assert pack.registry.names() == []  # nothing reviewed yet
    finally:
        pack.close()
    _review_env(root, env, *ALL)
    pack = load_pack(root, environ=env)
    try:
        executor = _executor(pack, tmp_path)
        done = _run(executor, pack, "crm.issue_refund", {"order_id": "A-1003", "amount": 12}, "t1")
        assert done.status == "executed", done.error
        assert f"('idempotency_key', '{done.key}')" in _calls(db, "issue_refund")[0][1]
        proc.kill()
        proc.wait(10)
        started = time.monotonic()
        gone = _run(executor, pack, "crm.lookup_customer", {}, "t2")
        assert gone.status == "failed" and "so this was not completed" in (gone.error or "")
        assert time.monotonic() - started < 30
    finally:
        pack.close()


def test_missing_header_secret_is_a_config_error(tmp_path: Path) -> None:
    root = _write_pack(tmp_path / "pack", {"url": "http://127.0.0.1:9/mcp", "headers_env": "NOPE"})
    with pytest.raises(Exception, match="NOPE is not set"):
        load_pack(root, environ={})


def test_an_unreachable_server_disables_its_tools_but_the_pack_loads(tmp_path: Path) -> None:
    root = _write_pack(
        tmp_path / "pack", {"url": f"http://127.0.0.1:{_free_port()}/mcp", "connect_timeout": 5}
    )
    pack = load_pack(root, environ={})
    try:
        assert pack.gateway is not None and "crm" in pack.gateway.unavailable
        assert "unavailable" in (pack.registry.why_disabled("crm.issue_refund") or "")
        assert "crm.issue_refund" not in pack.registry
    finally:
        pack.close()


def _review_env(root: Path, env: dict[str, str], *names: str) -> None:
    pack = load_pack(root, environ=env)
    try:
        assert pack.gateway is not None
        write_lock(
            pack.gateway.lock_path,
            [reviewed(e.tool) for e in pack.gateway.entries if e.tool.name in names],
        )
    finally:
        pack.close()
