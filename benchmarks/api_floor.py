"""The floor under issue 5's load target: what uvicorn + FastAPI + LangGraph cost per turn
on this machine before govcx does any work, measured in one run beside govcx itself.

Three servers, each a real uvicorn subprocess on 127.0.0.1, driven by the same load
clients as benchmarks/api_load.py (N threads of httpx clients, each its own conversation,
M posts each, no streaming, no approvals):

- ``plain``: a FastAPI endpoint that parses the message and returns a Turn-shaped JSON
  object. HTTP, routing, validation and the thread pool, nothing else.
- ``graph``: the same endpoint running a StateGraph with the governed graph's 11 nodes,
  every node a no-op, on the SqliteSaver govcx uses (WAL, synchronous NORMAL) with
  durability "sync", one LangGraph thread per conversation. The prescribed stack with
  no governance in it.
- ``govcx``: the real API on the acme pack, every message a knowledge answer (the
  cheapest real turn: no tool call, no approval).

Reports, per server: turns/s, latency p50/p95, and server and client CPU per turn (from
/proc). 100 turns/s on this machine's cores leaves ``cpus * 1000 / 100`` ms of CPU per
turn for the server and the clients together.

Usage: python benchmarks/api_floor.py [--clients 16] [--turns 30] [--workers 2]
           [--modes plain,graph,govcx]
Prints one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from api_load import (  # benchmarks/ is on sys.path
    ROOT,
    Server,
    _proc_tree,
    cpu_seconds,
    free_port,
    pct,
    principals,
)
from pydantic import BaseModel

MODES = ("plain", "graph", "govcx")


class MessageIn(BaseModel):
    text: str


def floor_app() -> Any:
    """The app a ``plain`` or ``graph`` server runs (uvicorn factory; reads FLOOR_*)."""
    from fastapi import FastAPI

    mode = os.environ["FLOOR_MODE"]
    graph = None
    if mode == "graph":
        from core_turn import no_op_graph, sqlite_saver

        graph = no_op_graph(sqlite_saver(Path(os.environ["FLOOR_DB"])))

    app = FastAPI()
    locks: dict[str, threading.Lock] = {}
    guard = threading.Lock()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/conversations/{cid}/messages")
    def post_message(cid: str, body: MessageIn) -> dict[str, Any]:
        if graph is not None:
            with guard:
                lock = locks.setdefault(cid, threading.Lock())
            with lock:  # runs on one conversation are serialised, as in govcx
                graph.invoke(
                    {"text": body.text}, {"configurable": {"thread_id": cid}}, durability="sync"
                )
        return {
            "turn_id": uuid.uuid4().hex,
            "conversation_id": cid,
            "status": "answered",
            "reply": {"text": body.text, "citations": []},
            "intent": None,
            "confidence": 1.0,
            "actions": [],
            "approval_id": None,
            "decision": {"route": "respond", "rules": [], "policy_version": "floor"},
        }

    return app


class FloorServer(Server):
    """A ``plain`` or ``graph`` server in a subprocess (waits and stops as Server does)."""

    def __init__(self, mode: str, home: Path, workers: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "FLOOR_MODE": mode,
            "FLOOR_DB": str(home / f"{mode}.db"),
            "PYTHONPATH": os.pathsep.join(
                [str(ROOT / "benchmarks"), os.environ.get("PYTHONPATH", "")]
            ),
        }
        self.log = open(home / f"{mode}.log", "w")  # closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api_floor:floor_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )


def drive(
    url: str, headers: dict[str, str], clients: int, turns: int, text: str
) -> tuple[list[float], int, float]:
    """``clients`` threads, each posting ``turns`` messages to its own conversation."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def one(index: int) -> None:
        nonlocal errors
        with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
            created = http.post("/v1/conversations", json={"customer_id": "C-1001"})
            cid = (
                created.json()["conversation_id"]
                if created.status_code == 201
                else f"floor-{index}-{uuid.uuid4().hex[:8]}"
            )
            for n in range(turns):
                started = time.perf_counter()
                response = http.post(
                    f"/v1/conversations/{cid}/messages",
                    json={"text": text},
                    headers={"Idempotency-Key": f"{cid}-{n}"},
                )
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    if response.status_code == 200 and response.json().get("turn_id"):
                        latencies.append(elapsed)
                    else:
                        errors += 1

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors, time.perf_counter() - started


def measure(mode: str, home: Path, args: argparse.Namespace) -> dict[str, Any]:
    text = "What is your return policy?"
    headers: dict[str, str] = {}
    server: Server | FloorServer
    if mode == "govcx":
        from govcx.pack import DEFAULT_PACK

        key = f"bench-{uuid.uuid4().hex}"
        state = home / "govcx"
        state.mkdir(parents=True, exist_ok=True)
        channel = principals(DEFAULT_PACK)[0]
        server = Server(
            None, state, {channel: key}, workers=args.workers, light=False, profile=None
        )
        headers = {"Authorization": f"Bearer {key}"}
    else:
        server = FloorServer(mode, home, args.workers)
    try:
        if not server.wait(120):
            return {"ok": False, "error": f"{mode} server did not start"}
        drive(server.url, headers, max(2, 2 * args.workers), 4, text)  # warm every worker
        pids = _proc_tree(server.process.pid)
        server0, client0 = cpu_seconds(pids), time.process_time()
        latencies, errors, duration = drive(server.url, headers, args.clients, args.turns, text)
        server_s, client_s = cpu_seconds(pids) - server0, time.process_time() - client0
    finally:
        server.stop()
    turns = len(latencies)
    return {
        "turns": turns,
        "errors": errors,
        "turns_per_s": round(turns / duration, 1),
        "p50_ms": pct(latencies, 0.5),
        "p95_ms": pct(latencies, 0.95),
        "server_ms_per_turn": round(server_s * 1000 / max(1, turns), 2),
        "client_ms_per_turn": round(client_s * 1000 / max(1, turns), 2),
        "ok": errors == 0 and turns == args.clients * args.turns,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--turns", type=int, default=30, help="posts per client")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--modes", default=",".join(MODES), help=f"comma-separated, from {', '.join(MODES)}"
    )
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        parser.error(f"unknown mode(s) {unknown}; valid: {', '.join(MODES)}")
    home = Path(tempfile.mkdtemp(prefix="govcx-api-floor-"))
    results = {mode: measure(mode, home, args) for mode in modes}
    cpus = os.cpu_count() or 1
    print(
        json.dumps(
            {
                "benchmark": "api_floor",
                "clients": args.clients,
                "turns_per_client": args.turns,
                "workers": args.workers,
                "cpus": cpus,
                "budget_ms_per_turn_at_100_per_s": round(cpus * 1000 / 100, 1),
                "load_average_1m": round(os.getloadavg()[0], 2),
                "results": results,
                "ok": all(r.get("ok") for r in results.values()),
            }
        )
    )
    sys.exit(0 if all(r.get("ok") for r in results.values()) else 1)


if __name__ == "__main__":
    main()
