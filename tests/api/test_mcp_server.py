"""govcx as an MCP server, over streamable HTTP at /mcp of `govcx serve` (a real uvicorn
on 127.0.0.1), driven by the official MCP SDK's ClientSession.

The same gate, approvals, limits, ledger and audit as a chat turn: a read runs at once; a
refund over the limit waits for a person and runs once after approval through the API;
split refunds hit the cumulative limit, counted together with chat turns; another
principal's conversation is refused; a wrong or missing key is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import mcp_types as types
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from govcx.agent.agent import Agent
from govcx.api import ServerSettings, create_app
from tests.api.conftest import LiveServer
from tests.conftest import shop_effects

MCP_SHOP = Path(__file__).parents[1] / "fixtures" / "mcp_shop"
KEYS = {
    "web": "key-web-0000000000000000",
    "ide": "key-ide-0000000000000000",
    "ide2": "key-ide2-000000000000000",
    "sup": "key-sup-0000000000000000",
    "audit": "key-audit-00000000000000",
}


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name]}"}


@pytest.fixture
def mcp_agent(make_agent: Callable[..., Agent]) -> Agent:
    return make_agent(MCP_SHOP)


@pytest.fixture
def server(mcp_agent: Agent, tmp_path: Path) -> Iterator[LiveServer]:
    settings = ServerSettings(
        home=tmp_path / "home",
        api_keys=",".join(f"{k}:{n}" for n, k in KEYS.items()),
        expiry_interval=0,
    )
    with LiveServer(create_app(settings, mcp_agent)) as live:
        yield live


def effects(agent: Agent) -> list[dict[str, Any]]:
    path = agent.state_dir / "packs" / "mcpshop" / "effects.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def mcp(server: LiveServer, who: str | None, steps: Callable[[ClientSession], Any]) -> Any:
    """Open a real MCP client session on /mcp as ``who`` and run ``steps`` in it."""

    async def main() -> Any:
        headers = bearer(who) if who else {}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http,
            streamable_http_client(f"{server.url}/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return await steps(session)

    try:
        return anyio.run(main)
    except BaseExceptionGroup as group:  # the session's task group wraps the call's error
        raise _leaf(group) from None


def _leaf(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def data(result: types.CallToolResult) -> dict[str, Any]:
    structured: dict[str, Any] = result.structured_content
    assert json.loads(result.content[0].text) == structured  # type: ignore[union-attr]
    return structured


def call(tool: str, **args: Any) -> Callable[[ClientSession], Any]:
    async def steps(session: ClientSession) -> types.CallToolResult:
        return await session.call_tool(tool, args)

    return steps


def test_lists_only_governed_tools_with_their_schemas(server: LiveServer) -> None:
    async def steps(session: ClientSession) -> types.ListToolsResult:
        return await session.list_tools()

    listed = {t.name: t for t in mcp(server, "ide", steps).tools}
    assert set(listed) == {"lookup_order", "issue_refund", "close_account", STATUS}
    refund = listed["issue_refund"].input_schema
    assert set(refund["required"]) == {"order_id", "amount", "conversation_id", "customer_id"}
    assert "idempotency_key" in refund["properties"] and "data_dir" not in refund["properties"]
    annotations = listed["lookup_order"].annotations
    assert annotations is not None and annotations.read_only_hint is True


STATUS = "govcx.approval_status"


def test_a_read_runs_at_once_and_is_audited(server: LiveServer, mcp_agent: Agent) -> None:
    result = mcp(
        server,
        "ide",
        call("lookup_order", order_id="A-1001", conversation_id="ide-c1", customer_id="C-1"),
    )
    out = data(result)
    assert not result.is_error
    assert out["status"] == "executed"
    assert out["result"]["status"] == "delivered"
    assert out["decision"]["rules"] == ["tool.lookup_order.within_policy"]
    kinds = [e.kind for e in mcp_agent.audit.events(conversation_id="ide-c1")]
    assert kinds[:3] == ["call", "policy_gate", "execute"]
    call_event = next(e for e in mcp_agent.audit.events(conversation_id="ide-c1"))
    assert call_event.actor == "ide"
    assert mcp_agent.conversations.get("ide-c1")["owner"] == "ide"


def test_refund_over_the_limit_waits_and_runs_once_after_approval(
    server: LiveServer, mcp_agent: Agent
) -> None:
    result = mcp(
        server,
        "ide",
        call(
            "issue_refund",
            order_id="A-1002",
            amount=80,
            conversation_id="ide-c2",
            customer_id="C-1",
        ),
    )
    out = data(result)
    assert out["status"] == "pending_approval", out
    assert "tool.issue_refund.approval_if" in out["decision"]["rules"]
    approval_id = out["approval_id"]
    assert effects(mcp_agent) == []  # nothing ran

    status = data(mcp(server, "ide", call(STATUS, approval_id=approval_id)))
    assert status["status"] == "pending" and status["outcome"] is None

    # The tool client cannot approve its own call, through MCP or the API.
    refused = httpx.post(
        f"{server.url}/v1/approvals/{approval_id}/decision",
        json={"decision": "approve"},
        headers=bearer("ide"),
    )
    assert refused.status_code == 403
    # A person approves through the existing API: the refund runs, once.
    turn = httpx.post(
        f"{server.url}/v1/approvals/{approval_id}/decision",
        json={"decision": "approve"},
        headers=bearer("sup"),
    ).json()
    assert turn["approval_status"] == "approved" and turn["actions"][0]["status"] == "executed"
    again = httpx.post(
        f"{server.url}/v1/approvals/{approval_id}/decision",
        json={"decision": "approve"},
        headers=bearer("sup"),
    )
    assert again.status_code == 409
    assert [e["amount"] for e in effects(mcp_agent)] == [80]

    status = data(mcp(server, "ide", call(STATUS, approval_id=approval_id)))
    assert status["status"] == "approved"
    assert status["outcome"]["status"] == "executed"
    assert status["outcome"]["result"]["amount"] == 80

    events = list(mcp_agent.audit.events(conversation_id="ide-c2"))
    kinds = [e.kind for e in events]
    assert kinds.index("call") < kinds.index("policy_gate") < kinds.index("approval.approve")
    assert kinds.index("approval.approve") < kinds.index("execute")
    execute = next(e for e in events if e.kind == "execute")
    assert execute.data["approval_id"] == approval_id
    verified = httpx.get(f"{server.url}/v1/audit/verify", headers=bearer("audit")).json()
    assert verified["ok"] is True, verified


def test_a_rejected_call_never_runs(server: LiveServer, mcp_agent: Agent) -> None:
    out = data(
        mcp(
            server,
            "ide",
            call(
                "issue_refund",
                order_id="A-1002",
                amount=90,
                conversation_id="ide-c3",
                customer_id="C-1",
            ),
        )
    )
    httpx.post(
        f"{server.url}/v1/approvals/{out['approval_id']}/decision",
        json={"decision": "reject"},
        headers=bearer("sup"),
    ).raise_for_status()
    status = data(mcp(server, "ide", call(STATUS, approval_id=out["approval_id"])))
    assert status["status"] == "rejected" and status["outcome"]["status"] == "rejected"
    assert effects(mcp_agent) == []


def test_split_refunds_hit_the_cumulative_limit_with_chat_turns(
    server: LiveServer, mcp_agent: Agent
) -> None:
    # $40 through a chat turn of the web channel, for the same customer.
    chat = httpx.post(
        f"{server.url}/v1/conversations/web-c1/messages",
        json={"text": "please refund $40 for order A-1001", "customer_id": "C-1"},
        headers=bearer("web"),
    ).json()
    assert chat["actions"][0]["status"] == "executed", chat

    async def steps(session: ClientSession) -> list[dict[str, Any]]:
        outs = []
        for amount in (40, 30):
            result = await session.call_tool(
                "issue_refund",
                {
                    "order_id": "A-1002",
                    "amount": amount,
                    "conversation_id": f"ide-split-{amount}",
                    "customer_id": "C-1",
                },
            )
            outs.append(data(result))
        return outs

    first, second = mcp(server, "ide", steps)
    assert first["status"] == "executed"  # 40 + 40 = 80, within the 100 a day
    assert second["status"] == "pending_approval"  # 80 + 30 > 100
    assert second["decision"]["rules"] == ["tool.issue_refund.limits[0]"]
    assert sorted(e["amount"] for e in effects(mcp_agent)) == [40, 40]


def test_another_principals_conversation_is_refused(server: LiveServer, mcp_agent: Agent) -> None:
    mcp(
        server,
        "ide",
        call("lookup_order", order_id="A-1001", conversation_id="ide-own", customer_id="C-1"),
    )
    httpx.post(
        f"{server.url}/v1/conversations/web-own/messages",
        json={"text": "where is my order A-1001", "customer_id": "C-1"},
        headers=bearer("web"),
    ).raise_for_status()
    for who, conversation in (("ide2", "ide-own"), ("ide", "web-own")):
        with pytest.raises(MCPError, match="no conversation with id"):
            mcp(
                server,
                who,
                call(
                    "issue_refund",
                    order_id="A-1001",
                    amount=10,
                    conversation_id=conversation,
                    customer_id="C-1",
                ),
            )
    # ... and its approvals are not there either.
    pending = data(
        mcp(
            server,
            "ide",
            call(
                "issue_refund",
                order_id="A-1002",
                amount=60,
                conversation_id="ide-own-2",
                customer_id="C-1",
            ),
        )
    )
    with pytest.raises(MCPError, match="no approval with id"):
        mcp(server, "ide2", call(STATUS, approval_id=pending["approval_id"]))
    assert effects(mcp_agent) == []


def test_malformed_arguments_are_an_error_and_nothing_runs(
    server: LiveServer, mcp_agent: Agent
) -> None:
    bad: list[dict[str, Any]] = [
        {"order_id": "A-1002", "amount": "lots", "conversation_id": "ide-m", "customer_id": "C-1"},
        {"order_id": "nope", "amount": 10, "conversation_id": "ide-m", "customer_id": "C-1"},
        {"order_id": "A-1002", "amount": 10, "conversation_id": "ide-m"},
        {"order_id": "A-1002", "amount": 10, "conversation_id": "ide-m", "customer_id": "C-2"},
        {
            "order_id": "A-1002",
            "amount": 10,
            "conversation_id": "ide-m",
            "customer_id": "C-1",
            "data_dir": "/tmp",
        },
    ]
    # The conversation exists, for C-1: naming another customer is refused too.
    mcp(
        server,
        "ide",
        call("lookup_order", order_id="A-1001", conversation_id="ide-m", customer_id="C-1"),
    )
    for args in bad:
        with pytest.raises(MCPError) as info:
            mcp(server, "ide", call("issue_refund", **args))
        assert info.value.error.code == types.INVALID_PARAMS, args
    with pytest.raises(MCPError, match="no tool with id 'drop_tables'"):
        mcp(server, "ide", call("drop_tables", conversation_id="ide-m", customer_id="C-1"))
    assert effects(mcp_agent) == []
    kinds = [e.kind for e in mcp_agent.audit.events(conversation_id="ide-m")]
    assert kinds.count("call") == 1  # only the lookup


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer key-wrong-0000000000000"}, 401),
        ({"Authorization": f"Bearer {KEYS['web']}"}, 403),  # a channel is no tool client
        ({"Authorization": f"Bearer {KEYS['sup']}"}, 403),
    ],
)
def test_unauthenticated_or_wrong_role_is_refused(
    server: LiveServer, mcp_agent: Agent, headers: dict[str, str], status: int
) -> None:
    async def main() -> None:
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30) as http,
            streamable_http_client(f"{server.url}/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()

    # The SDK's client cannot even initialize (it raises from its task group).
    with pytest.raises(BaseExceptionGroup, match="unhandled errors"):
        anyio.run(main)
    # The endpoint answers with govcx's JSON error shape.
    raw = httpx.post(
        f"{server.url}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={**headers, "Accept": "application/json, text/event-stream"},
    )
    assert raw.status_code == status
    assert raw.json()["error"]["code"] in ("unauthorized", "forbidden")
    assert shop_effects(mcp_agent) == [] and effects(mcp_agent) == []
