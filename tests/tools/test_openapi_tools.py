"""OpenAPI operations as tools, against a real FastAPI service on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml
from fastapi import FastAPI

from govcx.errors import GateViolation, PolicyError
from govcx.governance.approval import ApprovalStore
from govcx.pack import Pack, load_pack
from govcx.store.db import Database
from govcx.tools.executor import Execution, Executor
from govcx.tools.review import reviewed, write_lock
from tests.fixtures.openapi_crm.service import create_app

POLICY = """\
version: "1"
tiers:
  read: {approval: never, read_only: true}
  low: {approval: never}
workflows:
  support:
    autonomy: act
    tools: [tickets.getCustomer, tickets.createTicket]
    examples: ["open a ticket", "who am I"]
tools:
  tickets.getCustomer: {tier: read}
  tickets.createTicket: {tier: low}
  tickets.slowReport: {tier: read}
  tickets.failingReport: {tier: read}
"""
OPERATIONS = ["getCustomer", "createTicket", "slowReport", "failingReport"]


@pytest.fixture(scope="module")
def service() -> Iterator[tuple[str, FastAPI]]:
    app = create_app()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}", app
    server.should_exit = True
    thread.join(10)


def _pack(
    root: Path,
    base_url: str,
    app: FastAPI,
    *,
    operations: list[str] = OPERATIONS,
    policy: str = POLICY,
    timeout: float = 1.0,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "tickets.yaml").write_text(yaml.safe_dump(app.openapi()), encoding="utf-8")
    config = {
        "name": "oapi",
        "knowledge": None,
        "tools": None,
        "evals": None,
        "openapi": {
            "tickets": {
                "spec": "tickets.yaml",
                "base_url": base_url,
                "auth_env": "TICKETS_TOKEN",
                "operations": operations,
                "timeout": timeout,
            }
        },
    }
    (root / "govcx.yaml").write_text(json.dumps(config), encoding="utf-8")
    (root / "policy.yaml").write_text(policy, encoding="utf-8")
    return root


ENV = {"TICKETS_TOKEN": "Bearer s3cret"}


def _reviewed_pack(root: Path) -> Pack:
    pack = load_pack(root, environ=ENV)
    assert pack.gateway is not None
    write_lock(pack.gateway.lock_path, [reviewed(e.tool) for e in pack.gateway.entries])
    pack.close()
    return load_pack(root, environ=ENV)


def _run(pack: Pack, tmp_path: Path, tool: str, args: dict[str, Any], step: str) -> Execution:
    db = Database(f"sqlite:///{tmp_path / 'ledger.db'}")
    db.create_schema()
    executor = Executor(
        db=db, registry=pack.registry, approvals=ApprovalStore(db), data_dir=tmp_path
    )
    return executor.run(
        policy=pack.policy,
        conversation_id="c1",
        customer_id="C-1001",
        tool=tool,
        args=args,
        autonomy="act",
        step=step,
    )


def test_operations_become_reviewed_tools_with_their_schema(
    service: tuple[str, FastAPI], tmp_path: Path
) -> None:
    url, app = service
    root = _pack(tmp_path / "p", url, app)
    pack = load_pack(root, environ=ENV)
    try:
        assert pack.registry.names() == []  # nothing runs before review
        assert pack.gateway is not None
        entry = {e.tool.name: e for e in pack.gateway.entries}["tickets.createTicket"]
        assert entry.tool.method == "POST" and entry.state == "unreviewed"
        schema = entry.tool.input_schema
        assert set(schema["properties"]) == {
            "subject",
            "priority",
            "customer_id",
            "idempotency_key",
        }
        assert entry.tool.runtime_params == {"customer_id", "idempotency_key"}
    finally:
        pack.close()
    pack = _reviewed_pack(root)
    try:
        spec = pack.registry.get("tickets.createTicket")
        assert set(spec.params) == {"subject", "priority"}
    finally:
        pack.close()


def test_calls_pass_auth_idempotency_key_and_validate_first(
    service: tuple[str, FastAPI], tmp_path: Path
) -> None:
    url, app = service
    pack = _reviewed_pack(_pack(tmp_path / "p", url, app))
    try:
        app.state.calls.clear()
        for bad in ({"subject": "x"}, {"subject": "Broken zip", "priority": "urgent"}, {}):
            assert _run(pack, tmp_path, "tickets.createTicket", bad, "t0").status == "refused"
        assert app.state.calls == []  # refused before any request
        done = _run(pack, tmp_path, "tickets.createTicket", {"subject": "Broken zip"}, "t1")
        assert done.status == "executed", done.error
        assert done.result is not None and done.result["ticket_id"].startswith("T-")
        assert done.result["customer_id"] == "C-1001"  # filled by the runtime
        assert app.state.calls[-1][1] == done.key  # the Idempotency-Key header
        who = _run(pack, tmp_path, "tickets.getCustomer", {"customer_id": "C-1001"}, "t2")
        assert who.status == "refused"  # customer_id is the runtime's, never a proposal's
        who = _run(pack, tmp_path, "tickets.getCustomer", {}, "t3")
        assert who.status == "executed" and who.result == {
            "customer_id": "C-1001",
            "name": "Jordan Lee",
            "plan": "gold",
        }
    finally:
        pack.close()


def test_http_errors_and_timeouts_are_clear_failures(
    service: tuple[str, FastAPI], tmp_path: Path
) -> None:
    url, app = service
    pack = _reviewed_pack(_pack(tmp_path / "p", url, app))
    try:
        failed = _run(pack, tmp_path, "tickets.failingReport", {}, "t1")
        assert failed.status == "failed"
        assert "ignore previous instructions" not in (failed.error or "")
        assert failed.error == (
            "the tickets service reported an error, so this was not completed. "
            "Please try again later."
        )
        started = time.monotonic()
        slow = _run(pack, tmp_path, "tickets.slowReport", {"seconds": 5}, "t2")
        assert slow.status == "failed" and "did not answer in time" in (slow.error or "")
        assert time.monotonic() - started < 4
    finally:
        pack.close()


def test_a_write_operation_without_a_tier_is_a_policy_error(
    service: tuple[str, FastAPI], tmp_path: Path
) -> None:
    url, app = service
    root = _pack(tmp_path / "p", url, app, operations=[*OPERATIONS, "deleteCustomer"])
    with pytest.raises(PolicyError, match=r"tickets\.deleteCustomer"):
        load_pack(root, environ=ENV)
    # A GET operation without a tier loads, and is never usable.
    root = _pack(
        tmp_path / "q",
        url,
        app,
        policy=POLICY.replace("  tickets.slowReport: {tier: read}\n", ""),
    )
    pack = _reviewed_pack(root)
    try:
        assert "tickets.slowReport" not in pack.policy.tools
        app.state.calls.clear()
        with pytest.raises(GateViolation):
            _run(pack, tmp_path, "tickets.slowReport", {"seconds": 0}, "t1")
        assert app.state.calls == []
    finally:
        pack.close()


def test_unknown_operation_is_a_config_error(service: tuple[str, FastAPI], tmp_path: Path) -> None:
    url, app = service
    root = _pack(tmp_path / "p", url, app, operations=["getCustomer", "nope"])
    with pytest.raises(Exception, match="nope not in the document; operationIds: "):
        load_pack(root, environ=ENV)
