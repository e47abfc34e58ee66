"""Load benchmark of the HTTP API: a real uvicorn server, concurrent channel clients and
approvers, checked for lost, duplicated and twice-decided work.

Starts ``uvicorn govcx.api.app:app_from_env`` (a subprocess, on 127.0.0.1) on a fresh
state dir with the acme pack if it starts, else tests/fixtures/shop (or ``--pack``). N
channel clients each run their own conversation of M turns, mixing knowledge answers,
autonomous tool calls and requests that need approval (the client then waits until an
approver decides); a share of the posts are streamed (``Accept: text/event-stream``) and
a share are repeated with the same Idempotency-Key. Two approver clients race to decide
every pending approval (exactly one may win each).

Reports the configuration, turns/s, turn latency p50/p95, time to the first SSE event,
decision latency, the server's and the clients' CPU per turn (from /proc, all worker
processes; against the budget the 100 turns/s target leaves on this machine's cores),
the server's own per-node timings (from /metrics), and checks. ``--py-spy FILE`` records
the server's CPU (GIL holder only) over the measured window and prints where it goes;
``--profile FILE`` samples every thread's wall time (waits included).

A client that gets pending_approval waits for the approver thread's signal (a channel
would get the approval.decided webhook), then reads its conversation once.

Usage: python benchmarks/api_load.py [--pack DIR] [--clients 8] [--turns 20]
           [--workers 1] [--light] [--max-seconds 180] [--py-spy stacks.txt]
           [--profile samples.json]
Prints one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
SHOP = ROOT / "tests" / "fixtures" / "shop"

# (text, kind): kind is answer | action | approval
SCRIPTS = {
    "acme": {
        "customer": "C-1001",
        "messages": [
            ("What is your return policy?", "answer"),
            ("where is my order A-1002?", "action"),
            ("please refund $20 for order A-1002", "action"),
            ("Please refund $80 for order A-1002", "approval"),
        ],
    },
    "shop": {
        "customer": "C-1",
        "messages": [
            ("how do returns work", "answer"),
            ("where is my order A-1001", "action"),
            ("please refund $20 for order A-1001", "action"),
            ("please refund $80 for order A-1002", "approval"),
        ],
    },
}


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_CATEGORIES = (  # innermost matching frame wins
    ("database", ("sqlite3", "sqlalchemy", "psycopg")),
    ("langgraph", ("langgraph", "langchain_core")),
    ("guard", ("presidio", "guardrails", "govcx.guardrails", "tldextract", "spacy")),
    ("knowledge", ("chromadb", "govcx.knowledge", "onnxruntime", "tokenizers")),
    ("ml", ("sklearn", "scipy", "numpy", "govcx.engines.classifier", "govcx.engines.embedded")),
    ("pydantic", ("pydantic",)),
    ("json", ("json",)),
    (
        "http",
        (
            "starlette",
            "fastapi",
            "uvicorn",
            "anyio",
            "sse_starlette",
            "h11",
            "httptools",
            "govcx.api",
        ),
    ),
    ("govcx core", ("govcx",)),
)
_IDLE = {
    "wait",
    "select",
    "poll",
    "_worker",
    "get",
    "accept",
    "sleep",
    "_wait_for_tstate_lock",
    "run_forever",
    "_run_once",
    "epoll",
}


def _sampler(path: str, interval: float = 0.002) -> None:
    """A sampling profiler over all threads (cProfile sees only the main thread, and the
    graph runs in worker threads). Writes counts by category and by frame at exit."""
    import atexit
    import sys as _sys

    by_category: Counter[str] = Counter()
    self_frames: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    busy = [0]

    def module_of(frame: Any) -> str:
        return str(frame.f_globals.get("__name__", "?"))

    start_marker = Path(path + ".start")

    def loop() -> None:
        me = threading.get_ident()
        while not start_marker.exists():  # skip start-up and warm-up
            time.sleep(0.05)
        while True:
            time.sleep(interval)
            for ident, frame in _sys._current_frames().items():
                if ident == me or frame is None:
                    continue
                if frame.f_code.co_name in _IDLE and module_of(frame) in (
                    "threading",
                    "queue",
                    "selectors",
                    "asyncio.base_events",
                    "socket",
                    "concurrent.futures.thread",
                    "time",
                    "asyncio.unix_events",
                    "asyncio.selector_events",
                ):
                    continue
                if module_of(frame) == "asyncio.runners" and frame.f_code.co_name == "run":
                    continue  # the event loop waiting in C (uvloop)
                busy[0] += 1
                stack = []
                f = frame
                while f is not None:
                    stack.append(f)
                    f = f.f_back
                top = stack[0]
                self_frames[f"{module_of(top)}:{top.f_code.co_name}"] += 1
                seen = set()
                for f in stack:
                    name = f"{module_of(f)}:{f.f_code.co_name}"
                    if name not in seen:
                        seen.add(name)
                        cumulative[name] += 1
                category = "other"
                for f in stack:
                    mod = module_of(f)
                    match = next(
                        (
                            c
                            for c, prefixes in _CATEGORIES
                            if any(mod == p or mod.startswith(p + ".") for p in prefixes)
                        ),
                        None,
                    )
                    if match:
                        category = match
                        break
                by_category[category] += 1

    def dump() -> None:
        with open(path, "w") as fh:
            json.dump(
                {
                    "busy_samples": busy[0],
                    "interval_s": interval,
                    "by_category": dict(by_category.most_common()),
                    "self": dict(self_frames.most_common(30)),
                    "cumulative": dict(cumulative.most_common(60)),
                },
                fh,
            )

    threading.Thread(target=loop, daemon=True, name="sampler").start()
    atexit.register(dump)


def profiled_app() -> Any:
    """uvicorn factory for --profile: the app plus the sampling profiler."""
    _sampler(os.environ["GOVCX_BENCH_PROFILE"])
    return light_app() if os.environ.get("GOVCX_BENCH_LIGHT") == "1" else _env_app()


def _env_app() -> Any:
    from govcx.api.app import app_from_env

    return app_from_env()


def light_app() -> Any:
    """uvicorn factory for --light: in-memory retriever and pass-through guard, to
    separate the API and graph cost from the guard and knowledge components."""
    from govcx.agent.agent import Agent
    from govcx.api import ServerSettings, create_app
    from govcx.knowledge.retriever import Chunk
    from govcx.pack import load_pack
    from govcx.testing import InMemoryRetriever, PassThroughGuard

    settings = ServerSettings()
    chunk = Chunk(
        doc_id="returns",
        version="1",
        title="Returns policy",
        chunk_id="returns#1",
        text="You can return any unused item within 30 days of delivery for a "
        "full refund to the original payment method.",
        tags=("returns",),
    )
    agent = Agent(
        load_pack(settings.pack),
        settings,
        retriever=InMemoryRetriever([chunk]),
        guard=PassThroughGuard(),
    )
    return create_app(settings, agent)


def _proc_tree(root: int) -> list[int]:
    """``root`` and its descendants (uvicorn's worker processes), from /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children[ppid].append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of ``pids`` (0 for a process that is gone)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


class Server:
    """The API in a subprocess."""

    def __init__(
        self,
        pack: Path | None,
        home: Path,
        keys: dict[str, str],
        *,
        workers: int,
        light: bool,
        profile: str | None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "GOVCX_HOME": str(home),
            "GOVCX_EXPIRY_INTERVAL": "5",
            "GOVCX_API_KEYS": ",".join(f"{k}:{n}" for n, k in keys.items()),
            "PYTHONPATH": os.pathsep.join(
                [str(ROOT / "benchmarks"), os.environ.get("PYTHONPATH", "")]
            ),
        }
        env.pop("GOVCX_API_KEYS_FILE", None)
        if pack is not None:
            env["GOVCX_PACK"] = str(pack)
        else:
            env.pop("GOVCX_PACK", None)
        target = "api_load:light_app" if light else "govcx.api.app:app_from_env"
        if profile:
            target = "api_load:profiled_app"
            env["GOVCX_BENCH_PROFILE"] = profile
            env["GOVCX_BENCH_LIGHT"] = "1" if light else "0"
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            target,
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
        ]
        self.log = open(home / "server.log", "w")  # closed in stop()
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def principals(pack_dir: Path) -> tuple[str, list[str], str | None]:
    """The pack's first channel, its two approvers with the largest authority, and an
    auditor (to verify the audit chain at the end)."""
    from govcx.pack import load_pack

    pack = load_pack(pack_dir)
    channel = next(n for n, p in pack.principals.items() if p.is_channel)
    roles = pack.policy.approvals.roles

    def authority(name: str) -> float:
        limits = [roles[r].max_amount for r in pack.principals[name].approver_roles if r in roles]
        return max((float("inf") if x is None else x for x in limits), default=-1.0)

    approvers = sorted(
        (n for n, p in pack.principals.items() if p.approver_roles and not p.is_channel),
        key=authority,
        reverse=True,
    )
    auditor = next((n for n, p in pack.principals.items() if p.has("auditor")), None)
    return channel, approvers[:2], auditor


class Results:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)  # by kind
        self.first_event: list[float] = []
        self.first_node_event: list[float] = []
        self.turn_ids: dict[str, list[str]] = defaultdict(list)  # conversation -> turns
        self.approvals: set[str] = set()
        self.decided_events: dict[str, threading.Event] = defaultdict(threading.Event)
        self.status_polls = 0
        self.decided: Counter[str] = Counter()  # approval -> 200s
        self.stale: Counter[str] = Counter()  # approval -> 409s
        self.decision_ms: list[float] = []
        self.replays_ok = 0
        self.replays_bad = 0
        self.errors: Counter[str] = Counter()
        self.status: Counter[str] = Counter()


def parse_sse(lines: Any, started: float, results: Results) -> dict[str, Any]:
    event, first, first_node = None, True, True
    turn: dict[str, Any] | None = None
    for line in lines:
        if line.startswith("event:"):
            if first:
                with results.lock:
                    results.first_event.append((time.perf_counter() - started) * 1000)
                first = False
            event = line[6:].strip()
        elif line.startswith("data:") and event == "progress" and first_node:
            if json.loads(line[5:]).get("node") != "accepted":
                with results.lock:
                    results.first_node_event.append((time.perf_counter() - started) * 1000)
                first_node = False
        elif line.startswith("data:") and event in ("turn", "error"):
            data = json.loads(line[5:])
            if event == "error":
                raise RuntimeError(f"stream error: {data}")
            turn = data
    if turn is None:
        raise RuntimeError("stream ended without a turn")
    return turn


def client(
    index: int,
    url: str,
    key: str,
    script: dict[str, Any],
    turns: int,
    sse_share: float,
    repeat_share: float,
    deadline: float,
    results: Results,
) -> None:
    rng = random.Random(index)
    headers = {"Authorization": f"Bearer {key}"}
    messages = script["messages"]
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        cid = http.post("/v1/conversations", json={"customer_id": script["customer"]}).json()[
            "conversation_id"
        ]
        for n in range(turns):
            if time.monotonic() > deadline:
                return
            text, kind = messages[(index + n) % len(messages)]
            key_header = {"Idempotency-Key": f"{cid}-{n}"}
            stream = rng.random() < sse_share
            started = time.perf_counter()
            try:
                if stream:
                    with http.stream(
                        "POST",
                        f"/v1/conversations/{cid}/messages",
                        json={"text": text},
                        headers={**key_header, "Accept": "text/event-stream"},
                    ) as response:
                        response.raise_for_status()
                        turn = parse_sse(response.iter_lines(), started, results)
                else:
                    response = http.post(
                        f"/v1/conversations/{cid}/messages", json={"text": text}, headers=key_header
                    )
                    response.raise_for_status()
                    turn = response.json()
            except Exception as exc:
                with results.lock:
                    results.errors[f"message: {type(exc).__name__}: {str(exc)[:80]}"] += 1
                continue
            elapsed = (time.perf_counter() - started) * 1000
            with results.lock:
                results.latency["all"].append(elapsed)
                results.latency[kind].append(elapsed)
                results.turn_ids[cid].append(turn["turn_id"])
                results.status[turn["status"]] += 1
            if rng.random() < repeat_share:  # a client retry: must change nothing
                again = http.post(
                    f"/v1/conversations/{cid}/messages", json={"text": text}, headers=key_header
                ).json()
                with results.lock:
                    if again.get("turn_id") == turn["turn_id"]:
                        results.replays_ok += 1
                    else:
                        results.replays_bad += 1
            if turn["status"] == "pending_approval" and turn.get("approval_id"):
                with results.lock:
                    results.approvals.add(turn["approval_id"])
                    decided = results.decided_events[turn["approval_id"]]
                # A channel learns of the decision from the approval.decided webhook; here
                # the approver thread signals it, and the client then reads the conversation
                # (polling it every 20 ms instead spent a quarter of the server's CPU).
                decided.wait(max(0.0, deadline + 30 - time.monotonic()))
                while time.monotonic() < deadline + 30:
                    with results.lock:
                        results.status_polls += 1
                    if http.get(f"/v1/conversations/{cid}").json()["status"] != "pending_approval":
                        break
                    time.sleep(0.02)


def approver(url: str, key: str, stop: threading.Event, results: Results) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        while not stop.is_set():
            try:
                pending = http.get("/v1/approvals", params={"status": "pending"}).json()
            except httpx.HTTPError:
                continue
            if not pending:
                time.sleep(0.02)
                continue
            for approval in pending:
                aid = approval["approval_id"]
                started = time.perf_counter()
                response = http.post(
                    f"/v1/approvals/{aid}/decision",
                    json={"decision": "approve"},
                    headers={"Idempotency-Key": uuid.uuid4().hex},
                )
                with results.lock:
                    if response.status_code == 200:
                        results.decided[aid] += 1
                        results.decided_events[aid].set()
                        results.decision_ms.append((time.perf_counter() - started) * 1000)
                    elif response.status_code == 409:
                        results.stale[aid] += 1
                    else:
                        results.errors[
                            f"decision {response.status_code}: {response.text[:80]}"
                        ] += 1


def server_timings(url: str) -> dict[str, Any]:
    """Mean per-node and per-route times (ms) from the server's /metrics."""
    text = httpx.get(url + "/metrics", timeout=10).text
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in text.splitlines():
        match = re.match(r'govcx_node_duration_seconds_(sum|count)\{node="([^"]+)"\} (\S+)', line)
        if match:
            (sums if match.group(1) == "sum" else counts)[match.group(2)] = float(match.group(3))
    nodes = {node: round(sums[node] / counts[node] * 1000, 2) for node in sums if counts.get(node)}
    turn = {}
    for kind in ("message", "decision"):
        s = re.search(rf'govcx_turn_duration_seconds_sum{{kind="{kind}"}} (\S+)', text)
        c = re.search(rf'govcx_turn_duration_seconds_count{{kind="{kind}"}} (\S+)', text)
        if s and c and float(c.group(1)):
            turn[kind] = round(float(s.group(1)) / float(c.group(1)) * 1000, 2)
    return {
        "node_mean_ms": nodes,
        "graph_call_mean_ms": turn,
        "node_sum_mean_ms": round(sum(nodes.values()), 2),
    }


def verify(url: str, key: str, auditor_key: str | None, results: Results) -> dict[str, Any]:
    """Every posted turn is stored once; every approval was decided exactly once."""
    headers = {"Authorization": f"Bearer {key}"}
    lost = duplicated = 0
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        for cid, seen in results.turn_ids.items():
            stored = [t["turn_id"] for t in http.get(f"/v1/conversations/{cid}").json()["turns"]]
            lost += len(set(seen) - set(stored))
            duplicated += len(stored) - len(set(stored)) + len(seen) - len(set(seen))
        wrong = []
        for aid in results.approvals:
            approval = http.get(f"/v1/approvals/{aid}").json()
            approvals = [d for d in approval["decisions"] if d["decision"] == "approve"]
            if approval["status"] != "approved" or len(approvals) != 1 or results.decided[aid] != 1:
                wrong.append(aid)
        audit_ok = (
            httpx.get(
                url + "/v1/audit/verify",
                timeout=120,
                headers={"Authorization": f"Bearer {auditor_key}"},
            ).json()
            if auditor_key
            else {}
        )
    return {
        "turns_lost": lost,
        "turns_duplicated": duplicated,
        "approvals": len(results.approvals),
        "approvals_not_decided_exactly_once": len(wrong),
        "race_losers_409": sum(results.stale.values()),
        "conversation_status_reads": results.status_polls,
        "idempotent_replays_ok": results.replays_ok,
        "idempotent_replays_bad": results.replays_bad,
        "audit_chain_ok": audit_ok.get("ok"),
    }


def start_py_spy(path: str, pid: int) -> subprocess.Popen[bytes]:
    """Sample the server's CPU with py-spy (``pip install py-spy``) for the measured window,
    in every worker process. ``--gil``: only the thread holding the GIL is sampled, so
    threads waiting on a lock, SQLite's busy handler or a future are left out (py-spy's
    own idle detection counts them as busy)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise SystemExit("--py-spy needs py-spy: pip install py-spy")
    process = subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--gil",
            "--rate",
            "250",
            "--nonblocking",
            "--format",
            "raw",
            "--output",
            path,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(0.5)  # attached before the clients start
    return process


def stop_py_spy(process: subprocess.Popen[bytes], path: str) -> dict[str, Any]:
    """Stop py-spy, then print and return where the server's CPU went."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return {"error": f"py-spy wrote no profile to {path}"}
    total = 0
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_frame_name(f) for f in stack.split(";")]
        own[frames[-1]] += n
        for name in set(frames):
            inclusive[name] += n
    total = max(1, total)
    print(f"server CPU profile (py-spy --gil, {total} samples):", file=sys.stderr)
    print(" inclusive:", file=sys.stderr)
    for name, n in inclusive.most_common(70):
        print(f"  {n / total * 100:5.1f}%  {name}", file=sys.stderr)
    print(" self:", file=sys.stderr)
    for name, n in own.most_common(25):
        print(f"  {n / total * 100:5.1f}%  {name}", file=sys.stderr)
    return {
        "samples": total,
        "file": path,
        "inclusive_pct": {k: round(v / total * 100, 1) for k, v in inclusive.most_common(25)},
    }


def _frame_name(frame: str) -> str:
    """``func (path/to/module.py:12)`` -> ``module.func`` (line numbers dropped)."""
    name, _, where = frame.partition(" (")
    where = where.rsplit(":", 1)[0].rstrip(")")
    for marker in ("site-packages/", "/src/", "python3.11/", "python3.12/", "python3.13/"):
        if marker in where:
            where = where.rsplit(marker, 1)[1]
            break
    module = where.removesuffix(".py").replace("/", ".")
    return f"{module}:{name}"


def profile_summary(path: str) -> dict[str, Any]:
    """Shares of the server's busy samples by category, and the hottest frames."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {"error": f"no profile written to {path}"}
    busy = max(1, data["busy_samples"])
    share = {k: round(v / busy * 100, 1) for k, v in data["by_category"].items()}
    print("server profile (share of busy thread samples):", file=sys.stderr)
    for name, pct_ in share.items():
        print(f"  {name:<12} {pct_:5.1f}%", file=sys.stderr)
    print("hottest frames (self):", file=sys.stderr)
    for name, count in list(data["self"].items())[:20]:
        print(f"  {count / busy * 100:5.1f}%  {name}", file=sys.stderr)
    print("cumulative:", file=sys.stderr)
    for name, count in list(data["cumulative"].items())[:40]:
        print(f"  {count / busy * 100:5.1f}%  {name}", file=sys.stderr)
    return {
        "busy_samples": data["busy_samples"],
        "share_pct": share,
        "top_self": {k: round(v / busy * 100, 1) for k, v in list(data["self"].items())[:8]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--pack",
        type=Path,
        default=None,
        help="pack folder (default: acme if it starts, else the shop fixture)",
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--turns", type=int, default=20, help="turns per client")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--sse-share", type=float, default=0.3)
    parser.add_argument("--repeat-share", type=float, default=0.05)
    parser.add_argument(
        "--light",
        action="store_true",
        help="in-memory retriever and pass-through guard in the server",
    )
    parser.add_argument(
        "--max-seconds", type=float, default=180.0, help="stop sending new turns after this long"
    )
    parser.add_argument("--start-timeout", type=float, default=120.0)
    parser.add_argument(
        "--py-spy",
        default=None,
        metavar="FILE",
        help="record the server's CPU with py-spy during the measured window "
        "(raw stacks to FILE) and print where it goes",
    )
    parser.add_argument(
        "--profile",
        default=None,
        help="sample the server's threads, write the counts to this file and "
        "print where the time goes",
    )
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="govcx-api-load-"))
    candidates: list[Path | None] = [args.pack] if args.pack else [None, SHOP]
    server = None
    pack_dir: Path | None = None
    for candidate in candidates:
        from govcx.pack import DEFAULT_PACK

        pack_dir = candidate or DEFAULT_PACK
        state = home / pack_dir.name
        state.mkdir(parents=True, exist_ok=True)
        channel, approvers, auditor = principals(pack_dir)
        names = {channel, *approvers, *([auditor] if auditor else [])}
        keys = {name: f"bench-{name}-{uuid.uuid4().hex}" for name in names}
        server = Server(
            candidate, state, keys, workers=args.workers, light=args.light, profile=args.profile
        )
        if server.wait(args.start_timeout):
            break
        server.stop()
        print(
            f"server with pack {pack_dir.name} did not start; see {state / 'server.log'}",
            file=sys.stderr,
        )
        server = None
    if server is None or pack_dir is None:
        print(json.dumps({"benchmark": "api_load", "ok": False, "error": "server did not start"}))
        sys.exit(1)
    script = SCRIPTS.get(pack_dir.name, SCRIPTS["shop"])
    config = {
        "pack": pack_dir.name,
        "engine": "embedded",
        "database": "sqlite",
        "workers": args.workers,
        "clients": args.clients,
        "turns_per_client": args.turns,
        "sse_share": args.sse_share,
        "repeat_share": args.repeat_share,
        "light": args.light,
        "cpus": os.cpu_count() or 1,
        "python": sys.version.split()[0],
        "server": f"uvicorn --workers {args.workers} (subprocess on 127.0.0.1)",
    }
    print("config: " + ", ".join(f"{k}={v}" for k, v in config.items()), file=sys.stderr)
    results = Results()
    try:
        # Warm up (first-use costs are not what a running server sees).
        # One warm-up client per worker process, concurrently, so each worker is warm.
        warm = Results()
        # (No approver runs yet: the warm-up skips the script's approval message, its last.)
        size = len(script["messages"])
        warmers = [
            threading.Thread(
                target=client,
                args=(
                    size * (1000 + i),
                    server.url,
                    keys[channel],
                    script,
                    size - 1,
                    0.5,
                    0.0,
                    time.monotonic() + 60,
                    warm,
                ),
            )
            for i in range(max(2, 2 * args.workers))
        ]
        for thread in warmers:
            thread.start()
        for thread in warmers:
            thread.join()
        if args.profile:
            Path(args.profile + ".start").touch()
        server_pids = _proc_tree(server.process.pid)
        spy = start_py_spy(args.py_spy, server.process.pid) if args.py_spy else None
        server_cpu0, client_cpu0 = cpu_seconds(server_pids), time.process_time()
        stop = threading.Event()
        deciders = [
            threading.Thread(target=approver, args=(server.url, keys[a], stop, results))
            for a in approvers
        ]
        for thread in deciders:
            thread.start()
        deadline = time.monotonic() + args.max_seconds
        clients = [
            threading.Thread(
                target=client,
                args=(
                    i,
                    server.url,
                    keys[channel],
                    script,
                    args.turns,
                    args.sse_share,
                    args.repeat_share,
                    deadline,
                    results,
                ),
            )
            for i in range(args.clients)
        ]
        started = time.perf_counter()
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
        duration = time.perf_counter() - started
        stop.set()
        for thread in deciders:
            thread.join()
        server_cpu = cpu_seconds(server_pids) - server_cpu0
        client_cpu = time.process_time() - client_cpu0
        spy_report = stop_py_spy(spy, args.py_spy) if spy is not None else None
        timings = server_timings(server.url)
        checks = verify(server.url, keys[approvers[0]], keys.get(auditor or ""), results)
    finally:
        server.stop()
    profile = profile_summary(args.profile) if args.profile else None

    all_ms = results.latency["all"]
    turns = len(all_ms)
    decisions = sum(results.decided.values())
    cpu = {
        "server_s": round(server_cpu, 2),
        "client_s": round(client_cpu, 2),
        "server_ms_per_turn": round(server_cpu / max(1, turns) * 1000, 2),
        "client_ms_per_turn": round(client_cpu / max(1, turns) * 1000, 2),
        "server_cores_busy": round(server_cpu / duration, 2),
        "budget_ms_per_turn_at_target": round(config["cpus"] * 1000 / 100, 1),
    }
    ok = (
        checks["turns_lost"] == 0
        and checks["turns_duplicated"] == 0
        and checks["approvals_not_decided_exactly_once"] == 0
        and checks["idempotent_replays_bad"] == 0
        and not results.errors
    )
    report = {
        "benchmark": "api_load",
        "config": config,
        "turns": turns,
        "decisions": decisions,
        "duration_s": round(duration, 2),
        "turns_per_s": round(turns / duration, 2),
        "turns_and_decisions_per_s": round((turns + decisions) / duration, 2),
        "latency_ms": {
            "p50": pct(all_ms, 0.5),
            "p95": pct(all_ms, 0.95),
            "p99": pct(all_ms, 0.99),
            "max": pct(all_ms, 1.0),
            "mean": round(statistics.fmean(all_ms), 2) if all_ms else None,
        },
        "latency_p50_ms_by_kind": {
            k: pct(v, 0.5) for k, v in results.latency.items() if k != "all"
        },
        "sse_first_event_ms": {
            "p50": pct(results.first_event, 0.5),
            "p95": pct(results.first_event, 0.95),
            "n": len(results.first_event),
        },
        "sse_first_node_event_ms": {
            "p50": pct(results.first_node_event, 0.5),
            "p95": pct(results.first_node_event, 0.95),
        },
        "decision_latency_ms": {
            "p50": pct(results.decision_ms, 0.5),
            "p95": pct(results.decision_ms, 0.95),
        },
        "statuses": dict(results.status),
        "cpu": cpu,
        "server": timings,
        "server_cpu_profile": spy_report,
        "server_profile": profile,
        "checks": checks,
        "errors": dict(results.errors),
        "target": {
            "turns_per_s": 100,
            "p95_ms": 100,
            "met": bool(turns and turns / duration >= 100 and (pct(all_ms, 0.95) or 1e9) < 100),
        },
        "ok": ok,
    }
    print(json.dumps(report))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
