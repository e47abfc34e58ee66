"""`langgraph dev` (langgraph-cli's in-memory server) serving langgraph.json on 127.0.0.1,
driven by the langgraph-sdk client: a turn and an approval's resume go through govcx's
Agent (gate, approvals, ledger, audit), and LangGraph's custom auth over govcx keys
decides who may do what.

Needs the optional extra `studio` (langgraph-cli[inmem]). It pins protobuf<7, which the dev
extra's schemathesis does not allow beside it, so `make studio` installs it in a venv of its
own (.venv-studio) and `make test` sets GOVCX_LANGGRAPH_CLI to that venv's `langgraph`.
Without GOVCX_LANGGRAPH_CLI, a `langgraph` beside this interpreter or on PATH is used, and
the test is skipped (with what to set) when there is none; a GOVCX_LANGGRAPH_CLI that names
no executable fails it, so a broken studio venv is never a silent skip.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from govcx.agent.agent import Agent
from tests.api.conftest import free_port

ROOT = Path(__file__).parents[2]
MCP_SHOP = ROOT / "tests" / "fixtures" / "mcp_shop"
KEYS = {
    "web": "key-web-0000000000000000",
    "web2": "key-web2-000000000000000",
    "ide": "key-ide-0000000000000000",
    "sup": "key-sup-0000000000000000",
}

pytestmark = pytest.mark.slow


STUDIO_CLI = ROOT / ".venv-studio" / "bin" / "langgraph"


def langgraph_cli() -> str:
    """The `langgraph` command to run; fails on a GOVCX_LANGGRAPH_CLI that is not one, skips
    (saying what to set) when none is named or found."""
    given = os.environ.get("GOVCX_LANGGRAPH_CLI")
    if given:
        if not os.access(given, os.X_OK) or not Path(given).is_file():
            pytest.fail(f"GOVCX_LANGGRAPH_CLI={given} is not an executable (run `make studio`)")
        return given
    beside = Path(sys.executable).parent / "langgraph"
    found = str(beside) if beside.exists() else shutil.which("langgraph")
    if found is None:
        pytest.skip(
            f"no langgraph command: run `make studio` and set GOVCX_LANGGRAPH_CLI={STUDIO_CLI}"
            " (`make test` does both)"
        )
    return found


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    cli = langgraph_cli()
    port = free_port()
    env = dict(os.environ)
    env.update(
        GOVCX_HOME=str(tmp_path / "home"),
        GOVCX_PACK=str(MCP_SHOP),
        GOVCX_API_KEYS=",".join(f"{k}:{n}" for n, k in KEYS.items()),
        LANGGRAPH_CLI_NO_ANALYTICS="1",
        PYTHONPATH=str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", ""),
    )
    log = (tmp_path / "langgraph-dev.log").open("w")
    process = subprocess.Popen(
        [
            cli,
            "dev",
            "--no-browser",
            "--no-reload",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--config",
            str(ROOT / "langgraph.json"),
        ],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError((tmp_path / "langgraph-dev.log").read_text()[-3000:])
            try:
                if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("langgraph dev did not start within 180 s")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def client(url: str, who: str | None) -> Any:
    from langgraph_sdk import get_sync_client

    headers = {"Authorization": f"Bearer {KEYS[who]}"} if who else {}
    return get_sync_client(url=url, api_key=None, headers=headers)


def effects(home: Path) -> list[dict[str, Any]]:
    path = home / "packs" / "mcpshop" / "effects.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_turn_and_an_approval_through_langgraph_dev(
    server: str, tmp_path: Path, make_agent: Callable[..., Agent]
) -> None:
    from langgraph_sdk.errors import AuthenticationError, NotFoundError, PermissionDeniedError

    home = tmp_path / "home"
    web, web2, ide, sup = (client(server, n) for n in ("web", "web2", "ide", "sup"))
    assert any(a["graph_id"] == "govcx" for a in web.assistants.search())

    thread = web.threads.create()
    tid = thread["thread_id"]
    assert thread["metadata"]["owner"] == "web"
    out = web.runs.wait(
        tid, "govcx", input={"message": "please refund $80 for order A-1002", "customer_id": "C-1"}
    )
    turn = out["turn"]
    assert turn["status"] == "pending_approval" and turn["conversation_id"] == tid
    approval_id = out["approval_id"]
    assert approval_id == turn["approval_id"]

    # The channel cannot approve, not even with a forged user in the run's config.
    forged = web.runs.wait(
        tid,
        "govcx",
        command={"resume": {"decision": "approve"}},
        config={"configurable": {"langgraph_auth_user": {"identity": "sup", "govcx_key_id": "x"}}},
    )
    assert forged["error"]["code"] == "not_authorized"
    assert forged["approval_id"] == approval_id and effects(home) == []

    # Nobody without a govcx key, no tool client, no other channel gets at the thread.
    with pytest.raises(AuthenticationError):
        client(server, None).threads.get(tid)
    with pytest.raises(PermissionDeniedError):
        ide.threads.create()
    with pytest.raises((NotFoundError, PermissionDeniedError)):
        web2.threads.get(tid)

    # A supervisor resumes the run with a decision: the refund runs, once.
    done = sup.runs.wait(tid, "govcx", command={"resume": {"decision": "approve"}})
    assert done["error"] is None and done["approval_id"] is None
    assert done["turn"]["status"] == "answered"
    assert done["turn"]["actions"][0]["status"] == "executed"
    assert [e["amount"] for e in effects(home)] == [80]

    # govcx's own stores recorded it all, as through its API.
    agent = make_agent(MCP_SHOP, clock=time.time)
    request = agent.approvals.get(approval_id)
    assert request.status == "approved" and [d.principal for d in request.decisions] == ["sup"]
    kinds = [e.kind for e in agent.audit.events(conversation_id=tid)]
    assert "approval.approve" in kinds and "execute" in kinds
    assert agent.audit.verify().ok
