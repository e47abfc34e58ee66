"""Per-turn cost of the governed graph against a bare LangGraph graph, in one run.

1. Median and p95 time per turn of the embedded engine with the SQLite checkpointer,
   against a bare StateGraph with the same number of nodes and the same saver
   (durability "sync" for both). Target: ratio of medians at most 2x.
2. One long conversation: the time of turn 1, 50 and 200, and checkpoint bytes after
   each, to show per-turn cost and storage stay flat. Its refunds add up to the
   customer's limits, so the approvals they then need are decided as they come (the
   decision's time is not counted, its checkpoint bytes are).

Usage: python benchmarks/core_turn.py [--pack DIR] [--turns 200] [--light]
Prints one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, TypedDict

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph

from govcx.agent.agent import Agent
from govcx.errors import NotAuthorized
from govcx.graphs.graph import NODES
from govcx.pack import load_pack
from govcx.settings import Settings
from govcx.turn import Turn

MESSAGES = [
    ("where is my order A-1002?", "C-1001"),
    ("please refund $20 for order A-1002", "C-1001"),
    ("what is your return policy?", "C-1001"),
    ("what's the weather like tomorrow", "C-1001"),
]
APPROVERS = ("dana", "lee", "sam")


class BareState(TypedDict, total=False):
    text: str
    step: int


def no_op_graph(checkpointer: Any) -> Any:
    """A StateGraph with the governed graph's nodes in a line, each a no-op (less
    still_waiting, which a turn never runs with the others: eleven, as before)."""
    graph: StateGraph[Any] = StateGraph(BareState)
    names = [n for n in NODES if n != "still_waiting"]
    for name in names:
        graph.add_node(name, lambda s: {"step": s.get("step", 0) + 1})
    graph.add_edge(START, names[0])
    for a, b in itertools.pairwise(names):
        graph.add_edge(a, b)
    graph.add_edge(names[-1], END)
    return graph.compile(checkpointer=checkpointer)


def sqlite_saver(path: Path) -> SqliteSaver:
    """The SqliteSaver as govcx opens it (WAL, synchronous NORMAL)."""
    conn = sqlite3.connect(str(path), check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    saver = SqliteSaver(conn)
    saver.setup()
    return saver


def bare_graph(path: Path) -> Any:
    return no_op_graph(sqlite_saver(path))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def checkpoint_bytes(path: Path, thread: str) -> int:
    conn = sqlite3.connect(str(path))
    try:
        rows = conn.execute(
            "SELECT length(checkpoint) + length(metadata) FROM checkpoints WHERE thread_id = ?",
            (thread,),
        ).fetchall()
        writes = conn.execute(
            "SELECT coalesce(sum(length(value)), 0) FROM writes WHERE thread_id = ?", (thread,)
        ).fetchone()[0]
    finally:
        conn.close()
    return int(sum(r[0] or 0 for r in rows) + writes)


def approve(agent: Agent, turn: Turn) -> int:
    """Approve a pending turn with the pack's approvers, as many as its tier needs."""
    if turn.status != "pending_approval" or turn.approval_id is None:
        return 0
    for principal in APPROVERS:
        try:
            turn = agent.decide(str(turn.approval_id), principal=principal, decision="approve")
        except NotAuthorized:
            continue
        if turn.status != "pending_approval":
            return 1
    raise SystemExit(f"approval {turn.approval_id} could not be decided by {APPROVERS}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pack", default=None, help="pack folder (default: bundled acme)")
    parser.add_argument("--turns", type=int, default=200, help="turns in the long conversation")
    parser.add_argument("--samples", type=int, default=120, help="turns for the ratio")
    parser.add_argument(
        "--light", action="store_true", help="use the in-memory retriever and a pass-through guard"
    )
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="govcx-bench-"))
    kwargs: dict[str, Any] = {}
    if args.light:
        from govcx.testing import InMemoryRetriever, PassThroughGuard

        kwargs = {"retriever": InMemoryRetriever([]), "guard": PassThroughGuard()}
    agent = Agent(load_pack(args.pack), Settings(home=home / "state"), **kwargs)
    bare = bare_graph(home / "bare.db")

    # Warm up both.
    for i in range(5):
        agent.respond(
            f"warm-{i}", MESSAGES[i % len(MESSAGES)][0], customer_id=MESSAGES[i % len(MESSAGES)][1]
        )
        bare.invoke({"text": "x"}, {"configurable": {"thread_id": f"warm-{i}"}}, durability="sync")

    # Interleave the two so machine noise hits both alike.
    ours: list[float] = []
    base: list[float] = []
    for i in range(args.samples):
        text, customer = MESSAGES[i % len(MESSAGES)]
        t0 = time.perf_counter()
        agent.respond(f"s-{i}", text, customer_id=customer)
        ours.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        bare.invoke({"text": text}, {"configurable": {"thread_id": f"s-{i}"}}, durability="sync")
        base.append((time.perf_counter() - t0) * 1000)

    # One long conversation.
    long_ms: list[float] = []
    long_bytes: list[int] = []
    cp_path = agent.state_dir / "checkpoints.db"
    approved = 0
    for i in range(args.turns):
        text, customer = MESSAGES[i % 3]  # stays in scope, no escalation
        t0 = time.perf_counter()
        turn = agent.respond("long", text, customer_id=customer)
        long_ms.append((time.perf_counter() - t0) * 1000)
        # The refunds add up to the customer's limits: decide the approval that follows,
        # or every later message would only hear "still waiting" and run no graph.
        approved += approve(agent, turn)
        long_bytes.append(checkpoint_bytes(cp_path, "long"))

    def window(i: int) -> float:
        """Median of the 9 turns around turn i (1-based), robust to one noisy turn."""
        lo, hi = max(0, i - 5), min(len(long_ms), i + 4)
        return statistics.median(long_ms[lo:hi])

    marks = [m for m in (1, 50, 200) if m <= args.turns]
    per_turn_bytes = [b - a for a, b in zip([0, *long_bytes], long_bytes, strict=False)]
    result = {
        "benchmark": "core_turn",
        "pack": agent.pack.name,
        "light": args.light,
        "samples": args.samples,
        "govcx_ms_p50": round(statistics.median(ours), 2),
        "govcx_ms_p95": round(pct(ours, 0.95), 2),
        "bare_ms_p50": round(statistics.median(base), 2),
        "bare_ms_p95": round(pct(base, 0.95), 2),
        "ratio_p50": round(statistics.median(ours) / statistics.median(base), 2),
        "long_turn_ms": {str(m): round(window(m), 2) for m in marks},
        "turn_last_over_first": round(window(marks[-1]) / window(1), 2),
        "checkpoint_bytes": {str(m): long_bytes[m - 1] for m in marks},
        "bytes_per_turn": {str(m): per_turn_bytes[m - 1] for m in marks},
        "bytes_per_turn_mean": round((long_bytes[-1] - long_bytes[0]) / max(1, args.turns - 1)),
        "long_approvals": approved,
        "bytes_per_turn_last_over_second": round(
            per_turn_bytes[marks[-1] - 1] / max(1, per_turn_bytes[1]), 2
        )
        if args.turns > 2
        else None,
    }
    agent.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
