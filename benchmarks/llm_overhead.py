"""Per-turn overhead govcx adds on top of the model, with the LLM engine in the full graph.

Turns of the bundled acme pack (answer from knowledge, order lookup, refund within
policy, refund over the limit, out of scope) run through the Agent with the LLM engine
(ChatOpenAI) against the stub OpenAI-compatible server on 127.0.0.1, then again in replay
mode from the cassette recorded on the way (no HTTP at all). For each turn:

- turn_ms: wall time of ``agent.respond``;
- model_ms: time the engine waited on the chat model client (all calls of the turn);
- overhead_ms = turn_ms - model_ms: everything govcx adds (graph, checkpoints, audit,
  policy gate, executor, prompts and parsing). Target: p50 under 10 ms;
- engine_ms: the part of that spent in the LLM engine itself (prompt building, output
  parsing, validation), the rest (graph_ms) being the governed graph;
- embedded_turn_ms: the same turns with the embedded engine, the graph's own cost.

In replay, model_ms is langchain-openai's own client work (building the request,
parsing the response) without any network or server. By default the retriever is an
in-memory index of the pack's approved articles and the guard passes everything
(``--full`` uses the pack's own retriever and guards), so the figures isolate the
governed runtime from retrieval and guard models, which have their own benchmarks.

Usage: python benchmarks/llm_overhead.py [--pack DIR] [--turns 60] [--model-ms 0] [--full]
Prints one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from govcx.agent.agent import Agent
from govcx.engines.engine import Engine
from govcx.engines.llm import LLMEngine
from govcx.knowledge.retriever import Chunk
from govcx.pack import EngineConfig, Pack, load_pack
from govcx.settings import Settings
from govcx.testing import ModelRequest, ModelResponse, StubOpenAIServer, simple_responder

MESSAGES = [
    ("what is your return policy?", "C-1001"),
    ("where is my order A-1002?", "C-1001"),
    ("please refund $20 for order A-1002", "C-1001"),
    ("refund $80 for order A-1002", "C-1001"),
    ("how do I clean my rain jacket?", "C-1001"),
    ("what's the weather like tomorrow", "C-1001"),
]
KEYWORDS = {
    "refund": ["refund"],
    "order_status": ["where is my order"],
    "store_policy": ["return policy"],
    "product_question": ["clean"],
}


class TimedEngine:
    """Wraps an engine and adds up the time spent inside it."""

    def __init__(self, engine: LLMEngine) -> None:
        self.engine = engine
        self.name = engine.name
        self.spent = 0.0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.engine, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.spent += time.perf_counter() - start

        return timed


def approved_chunks(pack: Pack) -> list[Chunk]:
    """The pack's approved articles, one chunk per section (a light stand-in retriever)."""
    chunks: list[Chunk] = []
    for path in sorted((pack.knowledge_dir or Path("/nonexistent")).glob("*.md")):
        text = path.read_text(encoding="utf-8")
        match = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.DOTALL)
        if not match:
            continue
        meta, body = yaml.safe_load(match.group(1)) or {}, match.group(2)
        if meta.get("status") != "approved":
            continue
        for i, section in enumerate(re.split(r"\n(?=## )", body)):
            chunks.append(
                Chunk(
                    doc_id=str(meta["id"]),
                    version=str(meta["version"]),
                    title=str(meta["title"]),
                    text=section.strip(),
                    chunk_id=f"{meta['id']}#{i}",
                    tags=tuple(meta.get("tags") or ()),
                )
            )
    return chunks


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: Sequence[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(values), 2), "p95": round(pct(values, 0.95), 2)}


def run(
    pack: Pack, engine: LLMEngine, home: Path, turns: int, full: bool, chunks: list[Chunk]
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if not full:
        from govcx.testing import InMemoryRetriever, PassThroughGuard

        kwargs = {"retriever": InMemoryRetriever(chunks), "guard": PassThroughGuard()}
    timed = TimedEngine(engine)
    agent = Agent(pack, Settings(home=home), engine=timed_engine(timed), **kwargs)
    for i in range(4):  # warm up: imports, clients, caches
        text, customer = MESSAGES[i % len(MESSAGES)]
        agent.respond(f"warm-{i}", text, customer_id=customer)
    rows: dict[str, list[float]] = {
        "turn": [],
        "model": [],
        "overhead": [],
        "engine": [],
        "graph": [],
        "calls": [],
    }
    statuses: dict[str, int] = {}
    for i in range(turns):
        text, customer = MESSAGES[i % len(MESSAGES)]
        timed.spent = 0.0
        start = time.perf_counter()
        turn = agent.respond(f"t-{i}", text, customer_id=customer)
        wall = (time.perf_counter() - start) * 1000
        calls = engine.calls_for(turn.turn_id)
        model = sum(c.model_ms for c in calls)
        inside = timed.spent * 1000
        rows["turn"].append(wall)
        rows["model"].append(model)
        rows["overhead"].append(wall - model)
        rows["engine"].append(inside - model)
        rows["graph"].append(wall - inside)
        rows["calls"].append(len(calls))
        statuses[turn.status] = statuses.get(turn.status, 0) + 1
    agent.close()
    return {
        "turn_ms": summary(rows["turn"]),
        "model_ms": summary(rows["model"]),
        "overhead_ms": summary(rows["overhead"]),
        "engine_ms": summary(rows["engine"]),
        "graph_ms": summary(rows["graph"]),
        "calls_per_turn": round(statistics.mean(rows["calls"]), 2),
        "statuses": statuses,
    }


def embedded_baseline(
    pack: Pack, home: Path, turns: int, full: bool, chunks: list[Chunk]
) -> dict[str, float]:
    """The same turns with the embedded engine: the graph's own cost, for comparison."""
    kwargs: dict[str, Any] = {}
    if not full:
        from govcx.testing import InMemoryRetriever, PassThroughGuard

        kwargs = {"retriever": InMemoryRetriever(chunks), "guard": PassThroughGuard()}
    agent = Agent(pack, Settings(home=home), **kwargs)
    times = []
    for i in range(turns + 4):
        text, customer = MESSAGES[i % len(MESSAGES)]
        start = time.perf_counter()
        agent.respond(f"e-{i}", text, customer_id=customer)
        if i >= 4:
            times.append((time.perf_counter() - start) * 1000)
    agent.close()
    return summary(times)


def timed_engine(timed: TimedEngine) -> Engine:
    return timed  # type: ignore[return-value]  # structurally an Engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pack", default=None, help="pack folder (default: bundled acme)")
    parser.add_argument("--turns", type=int, default=60, help="measured turns per mode")
    parser.add_argument(
        "--model-ms", type=float, default=0.0, help="latency the stub model adds to each call"
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="use the pack's retriever and guards instead of light stand-ins",
    )
    args = parser.parse_args()
    pack = load_pack(args.pack)
    chunks = approved_chunks(pack)
    work = Path(tempfile.mkdtemp(prefix="govcx-llm-bench-"))
    cassette = work / "cassette.jsonl"
    responder = simple_responder(KEYWORDS)

    def slow(request: ModelRequest) -> ModelResponse:
        answer = responder(request)
        return ModelResponse(**{**answer.__dict__, "delay": args.model_ms / 1000})

    with StubOpenAIServer(slow) as stub:
        config = EngineConfig(kind="llm", model="gpt-4o-mini", base_url=stub.url, timeout=10)
        live = LLMEngine.from_pack(pack, mode="record", cassette=cassette, config=config)
        stub_result = run(pack, live, work / "stub", args.turns, args.full, chunks)
    replay = LLMEngine.from_pack(pack, mode="replay", cassette=cassette, config=config)
    replay_result = run(pack, replay, work / "replay", args.turns, args.full, chunks)
    baseline = embedded_baseline(pack, work / "embedded", args.turns, args.full, chunks)
    result = {
        "benchmark": "llm_overhead",
        "pack": pack.name,
        "turns": args.turns,
        "full": args.full,
        "model_latency_ms": args.model_ms,
        "stub": stub_result,
        "replay": replay_result,
        "embedded_turn_ms": baseline,
        "overhead_ms_p50": stub_result["overhead_ms"]["p50"],
        "engine_ms_p50": stub_result["engine_ms"]["p50"],
        "target_ms": 10.0,
        "meets_target": stub_result["overhead_ms"]["p50"] < 10.0,
        "engine_meets_target": stub_result["engine_ms"]["p50"] < 10.0,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
