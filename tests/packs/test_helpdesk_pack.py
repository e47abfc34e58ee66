"""The bundled helpdesk pack: its MCP server and OpenAPI service run for real."""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml

from govcx.agent.agent import Agent
from govcx.evals.runner import run_suites
from govcx.evals.suite import load_suites
from govcx.pack import BUNDLED_PACKS, load_pack
from govcx.settings import Settings

HELPDESK = BUNDLED_PACKS / "helpdesk"


def _tickets_module() -> Any:
    """The pack's FastAPI tickets service (a pack is a folder, not a Python package)."""
    spec = importlib.util.spec_from_file_location(
        "helpdesk_tickets", HELPDESK / "tickets_service.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("helpdesk_tickets", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def crm_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "crm.sqlite3"
    monkeypatch.setenv("HELPDESK_CRM_DB", str(db))
    return db


def test_every_tool_is_reviewed_and_tiered(crm_db: Path) -> None:
    pack = load_pack(HELPDESK)
    try:
        assert pack.gateway is not None and not pack.gateway.disabled
        assert pack.registry.names() == [
            "crm.issue_refund",
            "crm.list_orders",
            "crm.lookup_order",
            "tickets.createTicket",
            "tickets.getTicket",
        ]
    finally:
        pack.close()


def test_the_openapi_document_is_the_service_s_own() -> None:
    create_app = _tickets_module().create_app
    on_disk = yaml.safe_load((HELPDESK / "tickets_openapi.yaml").read_text(encoding="utf-8"))
    assert on_disk == create_app().openapi()


def test_the_eval_suite_passes(crm_db: Path) -> None:
    report = run_suites(load_suites([HELPDESK / "evals"]), pack_dir=HELPDESK, workers=1)
    assert report.summary["pass_rate"] == 1.0, report.summary


@pytest.fixture
def tickets_service() -> Iterator[str]:
    create_app = _tickets_module().create_app
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_a_ticket_is_opened_through_the_openapi_service(
    crm_db: Path, tickets_service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPDESK_TICKETS_URL", tickets_service)
    agent = Agent.open(HELPDESK, Settings(home=tmp_path / "home"))
    try:
        # The embedded engine cannot write a ticket's subject itself (it asks the
        # customer); the pack's executor runs the call as the graph would.
        done = agent.executor.run(
            policy=agent.policy,
            conversation_id="t-1",
            customer_id="C-2001",
            tool="tickets.createTicket",
            args={"subject": "The app crashes at login"},
            autonomy="act",
            step="turn-1",
        )
        assert done.status == "executed", done.error
        assert done.result is not None and done.result["ticket_id"] == "T-1001"
        assert done.result["customer_id"] == "C-2001"
        read = agent.executor.run(
            policy=agent.policy,
            conversation_id="t-1",
            customer_id="C-2001",
            tool="tickets.getTicket",
            args={"ticket_id": "T-1001"},
            autonomy="act",
            step="turn-2",
        )
        assert read.status == "executed" and read.result is not None
        assert read.result["subject"] == "The app crashes at login"
    finally:
        agent.close()
