"""What govcx's MCP server adds to a tool call, in one run, on the acme pack.

Three ways to run acme's ``lookup_order`` (a read; it runs at once):

1. ``direct``: the tool function itself, as a pack's code would call it;
2. ``governed``: ``Agent.call_tool`` (the governed graph: lock, owner check, gate,
   executor and ledger, audit chain, transcript, Turn stored), in process;
3. ``mcp_http``: the same through a real MCP client (the SDK's ClientSession, one session)
   over streamable HTTP to ``/mcp`` of ``govcx serve`` (uvicorn on 127.0.0.1).

Each call uses a new conversation (a new turn), so nothing is answered from a cache.
Prints median and p95 milliseconds of each and the ratios of medians; one JSON object on
the last line.

Usage: python benchmarks/mcp_server_call.py [--calls 50]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
import uvicorn
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from govcx.agent.agent import Agent
from govcx.api import ServerSettings, create_app
from govcx.governance.principal import Principal

KEY = "bench-ide-key-000000000000"


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 3),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="govcx-mcp-bench-"))
    os.environ.setdefault("GOVCX_DATA_KEY", "7e" * 32)
    settings = ServerSettings(home=home, api_keys=f"{KEY}:ide", expiry_interval=0)
    agent = Agent.open(None, settings)
    spec = agent.pack.registry.get("lookup_order")
    ide = Principal(name="ide", roles=frozenset({"mcp"}))
    order = {"order_id": "A-1002"}
    data_dir = agent.state_dir / "packs" / agent.pack.name

    direct = []
    for _ in range(args.calls):
        started = time.perf_counter()
        spec.fn(order_id="A-1002", customer_id="C-1001", data_dir=data_dir)
        direct.append(time.perf_counter() - started)

    governed = []
    for i in range(args.calls):
        started = time.perf_counter()
        turn = agent.call_tool(
            f"bench-g-{i}", "lookup_order", order, customer_id="C-1001", principal=ide
        )
        governed.append(time.perf_counter() - started)
        assert turn.actions[0].status == "executed", turn

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, agent),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)

    async def over_http() -> list[float]:
        samples = []
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as http,
            streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http) as (r, w),
            ClientSession(r, w) as session,
        ):
            await session.initialize()
            for i in range(args.calls):
                started = time.perf_counter()
                result = await session.call_tool(
                    "lookup_order",
                    {**order, "conversation_id": f"bench-h-{i}", "customer_id": "C-1001"},
                )
                samples.append(time.perf_counter() - started)
                assert (result.structured_content or {}).get("status") == "executed", result
        return samples

    try:
        mcp_http = anyio.run(over_http)
    finally:
        server.should_exit = True
        thread.join(10)
        agent.close()
    figures: dict[str, Any] = {
        "calls": args.calls,
        "direct": _stats(direct),
        "governed": _stats(governed),
        "mcp_http": _stats(mcp_http),
    }
    figures["governed_over_direct"] = round(
        figures["governed"]["median_ms"] / max(figures["direct"]["median_ms"], 1e-6), 1
    )
    figures["mcp_http_over_governed"] = round(
        figures["mcp_http"]["median_ms"] / figures["governed"]["median_ms"], 2
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
