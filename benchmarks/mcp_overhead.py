"""The governed gateway's overhead on an MCP tool call, against calling the server directly.

Both sides talk to the same real MCP server program (tests/fixtures/mcp_crm/crm_server.py,
the SDK over stdio, a CRM over SQLite), one server process each, in one run, with their
calls interleaved:

- ``direct``: the SDK's ``Client.call_tool`` awaited on an asyncio loop (the floor);
- ``governed``: ``Executor.run`` on a loaded pack, what a turn does for an approved or
  allowed call: validation against the tool's JSON schema, the policy re-check, the
  cumulative limits, the execution ledger (a SQLite row before and after) and the call
  through govcx's sync/async bridge (a private event loop thread).

Two tools: ``lookup_customer`` (a read) and ``issue_refund`` (a write under the approval
threshold, with a cumulative limit and an idempotency key). Every governed call is a new
step (a new idempotency key), so the ledger never replays: each is a real call.

Usage:
    python benchmarks/mcp_overhead.py [--n 200]

Prints one JSON object on the last line: medians in milliseconds, overhead = governed -
direct (median of each), and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SERVER = ROOT / "tests" / "fixtures" / "mcp_crm" / "crm_server.py"
POLICY = """\
version: "1"
currency: USD
approvals: {roles: {supervisor: {max_amount: 500}}}
tiers:
  read: {approval: never, read_only: true}
  low: {approval: never}
workflows:
  refund: {autonomy: act, tools: [crm.lookup_customer, crm.issue_refund], examples: [refund]}
tools:
  crm.lookup_customer: {tier: read}
  crm.issue_refund:
    tier: low
    approval_if: "amount > 50"
    amount_arg: amount
    limits: [{sum: amount, per: customer, window: 24h, max: 1000000}]
"""


async def _measure(root: Path, db: Path, n: int) -> dict[str, dict[str, list[float]]]:
    """Both sides open at once, calls interleaved (direct, governed, direct, ...) so that
    noise on this shared machine hits both alike."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    from govcx.governance.approval import ApprovalStore
    from govcx.pack import load_pack
    from govcx.store.db import Database
    from govcx.tools.executor import Executor
    from govcx.tools.review import reviewed, write_lock

    pack = load_pack(root)
    assert pack.gateway is not None
    write_lock(pack.gateway.lock_path, [reviewed(e.tool) for e in pack.gateway.entries])
    pack.close()
    pack = load_pack(root)
    ledger = Database(f"sqlite:///{root / 'ledger.db'}")
    ledger.create_schema()
    executor = Executor(
        db=ledger, registry=pack.registry, approvals=ApprovalStore(ledger), data_dir=root
    )

    def governed(tool: str, args: dict[str, Any], step: str) -> None:
        done = executor.run(
            policy=pack.policy,
            conversation_id=f"bench-{step}",  # one call per conversation: no duplicate rule
            customer_id="C-1001",
            tool=tool,
            args=args,
            autonomy="act",
            step=step,
        )
        if done.status != "executed" or done.replayed:
            raise SystemExit(f"{tool} did not run: {done}")

    params = StdioServerParameters(
        command=sys.executable, args=[str(SERVER)], env={"CRM_DB": str(db)}
    )
    out: dict[str, dict[str, list[float]]] = {
        side: {"lookup_customer": [], "issue_refund": []} for side in ("direct", "governed")
    }
    try:
        async with Client(params, read_timeout_seconds=30) as client:
            await client.list_tools()
            for i in range(n + 5):
                t0 = time.perf_counter()
                await client.call_tool("lookup_customer", {"customer_id": "C-1001"})
                t1 = time.perf_counter()
                governed("crm.lookup_customer", {}, f"l{i}")
                t2 = time.perf_counter()
                await client.call_tool(
                    "issue_refund",
                    {
                        "order_id": "A-1002",
                        "amount": 1.0,
                        "idempotency_key": f"direct-{i}",
                        "customer_id": "C-1001",
                    },
                )
                t3 = time.perf_counter()
                governed("crm.issue_refund", {"order_id": "A-1002", "amount": 1.0}, f"r{i}")
                t4 = time.perf_counter()
                if i >= 5:  # warm-up
                    out["direct"]["lookup_customer"].append((t1 - t0) * 1000)
                    out["governed"]["lookup_customer"].append((t2 - t1) * 1000)
                    out["direct"]["issue_refund"].append((t3 - t2) * 1000)
                    out["governed"]["issue_refund"].append((t4 - t3) * 1000)
    finally:
        pack.close()
        ledger.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="calls per tool and side")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="govcx-mcp-bench-") as tmp:
        work = Path(tmp)
        root = work / "pack"
        root.mkdir()
        server = {
            "command": [sys.executable, str(SERVER)],
            "env": {"CRM_DB": str(work / "governed.sqlite3")},
        }
        config = {
            "name": "bench",
            "knowledge": None,
            "tools": None,
            "evals": None,
            "mcp_servers": {"crm": server},
        }
        (root / "govcx.yaml").write_text(json.dumps(config), encoding="utf-8")
        (root / "policy.yaml").write_text(POLICY, encoding="utf-8")
        measured = asyncio.run(_measure(root, work / "direct.sqlite3", args.n))
        direct, governed = measured["direct"], measured["governed"]
    result: dict[str, Any] = {"benchmark": "mcp_overhead", "n": args.n, "unit": "ms"}
    for tool in ("lookup_customer", "issue_refund"):
        d = statistics.median(direct[tool])
        g = statistics.median(governed[tool])
        result[tool] = {
            "direct_median": round(d, 3),
            "governed_median": round(g, 3),
            "overhead_median": round(g - d, 3),
            "ratio": round(g / d, 2),
        }
        print(
            f"{tool}: direct {d:.2f} ms, governed {g:.2f} ms, overhead {g - d:.2f} ms "
            f"({g / d:.2f}x), median of {args.n}"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
