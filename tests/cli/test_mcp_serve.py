"""`govcx mcp serve` over stdio: a real subprocess (`python -m govcx mcp serve`) driven by
the official MCP SDK's ClientSession, with the approval decided by a person through the
Python API on the same state dir, as `govcx approvals approve` or the HTTP API would."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError

from govcx.agent.agent import Agent

ROOT = Path(__file__).parents[2]
MCP_SHOP = ROOT / "tests" / "fixtures" / "mcp_shop"
IDE_KEY = "key-ide-0000000000000000"
KEYS = f"{IDE_KEY}:ide,key-web-0000000000000000:web"

pytestmark = pytest.mark.slow


def server_env(home: Path, key: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GOVCX_HOME=str(home),
        GOVCX_API_KEYS=KEYS,
        GOVCX_API_KEY=key,
        PYTHONPATH=str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", ""),
    )
    return env


def run_client(env: dict[str, str], steps: Callable[[ClientSession], Awaitable[Any]]) -> Any:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "govcx", "mcp", "serve", "--pack", str(MCP_SHOP)],
        env=env,
    )

    async def main() -> Any:
        async with (
            stdio_client(params) as (read, write),
            ClientSession(read, write, read_timeout_seconds=120) as session,
        ):
            await session.initialize()
            return await steps(session)

    try:
        return anyio.run(main)
    except BaseExceptionGroup as group:
        error: BaseException = group
        while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
            error = error.exceptions[0]
        raise error from None


def out(result: types.CallToolResult) -> dict[str, Any]:
    data: dict[str, Any] = result.structured_content
    return data


def effects(home: Path) -> list[dict[str, Any]]:
    path = home / "packs" / "mcpshop" / "effects.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_stdio_read_approval_limits_and_ownership(
    tmp_path: Path, make_agent: Callable[..., Agent]
) -> None:
    home = tmp_path / "home"  # make_agent's state dir too: the server and the person share it
    person = make_agent(MCP_SHOP, clock=time.time)
    person.respond("web-conv", "where is my order A-1001", customer_id="C-1", owner="web")
    seen: dict[str, Any] = {}

    async def steps(session: ClientSession) -> None:
        names = {t.name for t in (await session.list_tools()).tools}
        assert names == {"lookup_order", "issue_refund", "close_account", "govcx.approval_status"}
        where = {"conversation_id": "stdio-1", "customer_id": "C-1"}
        read = out(await session.call_tool("lookup_order", {"order_id": "A-1002", **where}))
        assert read["status"] == "executed" and read["result"]["amount"] == 120.0

        pending = out(
            await session.call_tool("issue_refund", {"order_id": "A-1002", "amount": 80, **where})
        )
        assert pending["status"] == "pending_approval"
        approval_id = pending["approval_id"]
        assert effects(home) == []
        # A person approves (the server process keeps running meanwhile).
        turn = await anyio.to_thread.run_sync(
            lambda: person.decide(approval_id, principal="sup", decision="approve")
        )
        assert turn.actions[0].status == "executed"
        status = out(await session.call_tool("govcx.approval_status", {"approval_id": approval_id}))
        assert status["status"] == "approved" and status["outcome"]["status"] == "executed"

        # Split refunds: 80 + 15 fits in 100 a day, the next 10 does not.
        split = {"conversation_id": "stdio-2", "customer_id": "C-1"}
        small = out(
            await session.call_tool("issue_refund", {"order_id": "A-1001", "amount": 15, **split})
        )
        assert small["status"] == "executed"
        over = out(
            await session.call_tool(
                "issue_refund",
                {
                    "order_id": "A-1001",
                    "amount": 10,
                    "conversation_id": "stdio-3",
                    "customer_id": "C-1",
                },
            )
        )
        assert over["status"] == "pending_approval"
        assert over["decision"]["rules"] == ["tool.issue_refund.limits[0]"]

        # The web channel's conversation is not the tool client's.
        with pytest.raises(MCPError, match="no conversation with id 'web-conv'"):
            await session.call_tool(
                "issue_refund",
                {
                    "order_id": "A-1001",
                    "amount": 5,
                    "conversation_id": "web-conv",
                    "customer_id": "C-1",
                },
            )
        seen["done"] = True

    run_client(server_env(home, IDE_KEY), steps)
    assert seen == {"done": True}
    assert sorted(e["amount"] for e in effects(home)) == [15, 80]  # each ran once
    refunds = [r for r in person.executor.ledger("stdio-1") if r["tool"] == "issue_refund"]
    assert len(refunds) == 1 and refunds[0]["status"] == "succeeded"
    verified = person.audit.verify()
    assert verified.ok, verified.problems
    kinds = [e.kind for e in person.audit.events(conversation_id="stdio-1")]
    assert "approval.approve" in kinds and kinds.count("call") == 2


@pytest.mark.parametrize("key", ["key-wrong-000000000000000", "key-web-0000000000000000"])
def test_stdio_refuses_a_wrong_key_or_a_principal_without_role_mcp(
    tmp_path: Path, key: str
) -> None:
    async def steps(session: ClientSession) -> None:
        raise AssertionError("the session must not open")

    # The SDK's client fails when the server exits before it answers.
    with pytest.raises(Exception) as info:
        run_client(server_env(tmp_path / "home", key), steps)
    assert not isinstance(info.value, AssertionError)
    assert effects(tmp_path / "home") == []
