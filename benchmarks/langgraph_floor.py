"""What the prescribed stack costs per turn before govcx does anything.

A StateGraph with the governed graph's node count (11), every node a no-op, run with no
checkpointer, LangGraph's InMemorySaver, and the SqliteSaver govcx uses (durability
"sync", as DESIGN.md asks around approvals, and "exit"), interleaved in one run. This is
the floor under any per-turn target: issue 7's "under 10 ms of overhead" and issue 5's
20 ms of CPU per turn at 100 turns/s on 2 cores.

Usage: python benchmarks/langgraph_floor.py [--turns 300]
Prints one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from core_turn import no_op_graph, sqlite_saver  # benchmarks/ is on sys.path
from langgraph.checkpoint.memory import InMemorySaver

from govcx.graphs.graph import NODES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=300)
    args = parser.parse_args()
    sqlite = sqlite_saver(Path(tempfile.mkdtemp()) / "floor.db")
    runs: dict[str, tuple[Any, str | None]] = {
        "no_checkpointer": (no_op_graph(None), None),
        "memory_sync": (no_op_graph(InMemorySaver()), "sync"),
        "sqlite_sync": (no_op_graph(sqlite), "sync"),
        "sqlite_exit": (no_op_graph(sqlite), "exit"),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(args.turns):
        for name, (graph, durability) in runs.items():
            started = time.perf_counter()
            if durability is None:
                graph.invoke({"text": "x"})
            else:
                graph.invoke(
                    {"text": "x"},
                    {"configurable": {"thread_id": f"{name}-{i}"}},
                    durability=durability,
                )
            times[name].append((time.perf_counter() - started) * 1000)
    print(
        json.dumps(
            {
                "benchmark": "langgraph_floor",
                "nodes": len(NODES),
                "turns": args.turns,
                "p50_ms": {name: round(statistics.median(v), 2) for name, v in times.items()},
                "load_average_1m": round(os.getloadavg()[0], 2),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
