"""The acme eval suites under the LLM engine, replayed offline from a recorded cassette.

``govcx eval run`` runs every case of the bundled acme pack's suites with the LLM engine
(langchain-openai's ChatOpenAI, the engine's real prompts, structured output, tool calls
and streamed drafts) in replay mode: every model answer comes from the cassette the
pack ships (``src/govcx/packs/acme/cassettes/deterministic.jsonl``), no socket is opened
and no key is needed. It reports the pass rate and the governance compliance the eval
runner computes from the stores (every gated action approved and bound, the audit chain
verifies, each step audited).

**The recorded model is a deterministic stand-in, not an LLM**
(:mod:`govcx.testing.deterministic`: the embedded engine's classifier and slot
filling, and extractive drafting, behind an OpenAI-compatible server). The figures say
that the LLM path through the governed runtime stays compliant and how many cases this
stand-in passes; they say nothing about how well a real model would do. To measure a real
model, record its own cassette (``--record --base-url URL --model NAME``, see
docs/llm.md) and replay that.

Usage:
    python benchmarks/acme_llm_replay.py                 # replay the committed cassette
    python benchmarks/acme_llm_replay.py --record        # re-record it (stand-in model)
    python benchmarks/acme_llm_replay.py --record --base-url http://localhost:8000/v1 \\
        --model Qwen/Qwen2.5-7B-Instruct --cassette my.jsonl   # a real model's cassette
    options: --workers N, --json REPORT, --embedded (also run the embedded engine)

A request with no recording fails its case with ``cassette_miss``, naming the case
(conversation ``eval-CASE``), the call and the prompt; the benchmark lists them and exits 1.
Prints one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from govcx.pack import DEFAULT_PACK, load_pack
from govcx.testing import (
    ACME_CASSETTE,
    MODEL_NAME,
    DeterministicModel,
    StubOpenAIServer,
    llm_pack,
)

CASSETTE = ACME_CASSETTE
UNREACHABLE = "http://192.0.2.1:9/v1"
"""TEST-NET-1: a base URL that cannot answer (replay must never need it)."""


def _loopback(host: Any) -> bool:
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return host in ("localhost", "")


@contextmanager
def no_network(attempts: list[str]) -> Iterator[None]:
    """Refuse (and count) every connection or DNS lookup beyond 127.0.0.1. Worker
    processes are forked from this one, so they inherit the guard."""
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            attempts.append(str(address))
            raise ConnectionRefusedError(f"replay may not connect to {address}")
        real_connect(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _loopback(host):
            attempts.append(str(host))
            raise socket.gaierror(f"replay may not resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.getaddrinfo = real_getaddrinfo


def eval_run(
    pack: Path, report: Path, *, workers: int, mode: str | None, guard: bool = False
) -> int:
    """``govcx eval run --pack PACK --json REPORT`` in a fresh process; its exit status.

    The eval runner forks its workers, which is only safe from a process that has started
    no thread (this one may run the stand-in server), hence the child process. With
    ``guard``, the child refuses any connection beyond 127.0.0.1 (its workers inherit
    that) and writes the attempts next to the report.
    """
    args = [
        "eval",
        "run",
        "--pack",
        str(pack),
        "--json",
        str(report),
        "--quiet",
        "--workers",
        str(workers),
    ]
    env = {k: v for k, v in os.environ.items() if k != "GOVCX_ENGINE_MODE"}
    if mode is not None:
        env["GOVCX_ENGINE_MODE"] = mode
    print(
        f"$ {'GOVCX_ENGINE_MODE=' + mode + ' ' if mode else ''}govcx {' '.join(args)}",
        file=sys.stderr,
    )
    child = [
        sys.executable,
        __file__,
        "--child",
        json.dumps({"args": args, "guard": str(report) + ".network" if guard else None}),
    ]
    return subprocess.run(child, env=env, check=False).returncode


def _child(spec: str) -> None:
    """The child process: the CLI in-process, optionally behind the network guard."""
    from govcx.cli.main import app

    options = json.loads(spec)
    attempts: list[str] = []
    code = 0
    with no_network(attempts) if options["guard"] else nullcontext():
        try:
            app(options["args"], prog_name="govcx", standalone_mode=False)
        except SystemExit as exc:
            code = int(exc.code or 0)
        except Exception as exc:  # click raises Exit outside standalone mode
            if getattr(exc, "exit_code", None) is None:
                raise
            code = int(getattr(exc, "exit_code", 1))
    if options["guard"]:
        Path(options["guard"]).write_text(json.dumps(attempts), encoding="utf-8")
    sys.exit(code)


def figures(data: dict[str, Any]) -> dict[str, Any]:
    summary = data["summary"]
    comp = summary["compliance"]
    misses = [
        {"case": c["case_id"], "failure": f[:300]}
        for c in data["cases"]
        for f in c["failures"]
        if "cassette_miss" in f
    ]
    return {
        "cases": summary["cases"],
        "passed": summary["passed"],
        "pass_rate": summary["pass_rate"],
        "compliance": comp["rate"],
        "compliant": comp["compliant"],
        "violations": comp["violations"],
        "route_accuracy": summary["confusion"]["accuracy"],
        "failing": [c["case_id"] for c in data["cases"] if not c["passed"]],
        "cassette_misses": misses,
    }


def record(
    work: Path, cassette: Path, *, model: str, base_url: str | None, api_key_env: str | None
) -> dict[str, Any]:
    """Record every model call of the suites into ``cassette`` (replacing it)."""
    fresh = cassette.with_suffix(".recording.jsonl")
    fresh.unlink(missing_ok=True)
    report = work / "record.json"
    started = time.perf_counter()
    if base_url is None:
        stand_in = DeterministicModel.from_pack(load_pack())
        with StubOpenAIServer(stand_in) as server:
            pack = llm_pack(work, model=model, base_url=server.url, cassette=fresh)
            code = eval_run(pack, report, workers=1, mode="record")
            calls = len(server.requests)
    else:
        pack = llm_pack(
            work, model=model, base_url=base_url, cassette=fresh, api_key_env=api_key_env
        )
        code = eval_run(pack, report, workers=1, mode="record")
        calls = -1
    if code not in (0, 1) or not report.exists() or not fresh.exists():
        raise SystemExit(f"recording failed (exit {code}); the cassette was left unchanged")
    # Sort by key: a re-recording of the same behaviour gives the same file.
    lines = sorted(
        fresh.read_text(encoding="utf-8").splitlines(), key=lambda line: json.loads(line)["key"]
    )
    unique = {json.loads(line)["key"]: line for line in lines}
    cassette.parent.mkdir(parents=True, exist_ok=True)
    cassette.write_text("".join(f"{line}\n" for line in unique.values()), encoding="utf-8")
    fresh.unlink()
    data = json.loads(report.read_text(encoding="utf-8"))
    return {
        "recorded_calls": calls,
        "recordings": len(unique),
        "cassette_bytes": cassette.stat().st_size,
        "duration_s": round(time.perf_counter() - started, 1),
        **figures(data),
    }


def replay(
    work: Path, cassette: Path, *, model: str, workers: int, json_out: Path | None
) -> dict[str, Any]:
    if not cassette.exists():
        raise SystemExit(f"no cassette at {cassette}; record one with --record")
    pack = llm_pack(work, model=model, base_url=UNREACHABLE, cassette=cassette)
    report = json_out or work / "replay.json"
    started = time.perf_counter()
    code = eval_run(pack, report, workers=workers, mode="replay", guard=True)
    if not report.exists():
        raise SystemExit(f"govcx eval run failed (exit {code})")
    attempts = json.loads(Path(str(report) + ".network").read_text(encoding="utf-8"))
    data = json.loads(report.read_text(encoding="utf-8"))
    return {
        "duration_s": round(time.perf_counter() - started, 1),
        "network_attempts": len(attempts),
        **figures(data),
    }


def embedded(work: Path, workers: int) -> dict[str, Any]:
    report = work / "embedded.json"
    eval_run(DEFAULT_PACK, report, workers=workers, mode=None)
    return figures(json.loads(report.read_text(encoding="utf-8")))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(sys.argv[2])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--record",
        action="store_true",
        help="record the cassette first (default: the stand-in model)",
    )
    parser.add_argument("--cassette", type=Path, default=CASSETTE)
    parser.add_argument(
        "--model",
        default=MODEL_NAME,
        help="model name sent in every request (part of each recording)",
    )
    parser.add_argument(
        "--base-url",
        default=None,
        help="record against this OpenAI-compatible server instead of the stand-in",
    )
    parser.add_argument(
        "--api-key-env", default=None, help="environment variable holding the key for --base-url"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="write the replay's report")
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="also run the suites with the embedded engine, for comparison",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="govcx-acme-llm-"))
    result: dict[str, Any] = {
        "benchmark": "acme_llm_replay",
        "model": args.model,
        "stand_in": args.base_url is None and args.model == MODEL_NAME,
        "cassette": str(args.cassette),
    }
    try:
        if args.record:
            result["record"] = record(
                work / "rec",
                args.cassette,
                model=args.model,
                base_url=args.base_url,
                api_key_env=args.api_key_env,
            )
        result["replay"] = replay(
            work / "rep", args.cassette, model=args.model, workers=args.workers, json_out=args.json
        )
        if args.embedded:
            result["embedded"] = embedded(work / "emb", args.workers)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rep = result["replay"]
    print(
        f"replay: pass rate {rep['pass_rate']:.1%} ({rep['passed']}/{rep['cases']}), "
        f"governance compliance {rep['compliance']:.1%}, "
        f"{len(rep['cassette_misses'])} cassette misses, "
        f"{rep['network_attempts']} network attempts",
        file=sys.stderr,
    )
    for miss in rep["cassette_misses"]:
        print(f"  cassette miss in case {miss['case']}: {miss['failure']}", file=sys.stderr)
    print(json.dumps(result))
    ok = rep["compliance"] == 1.0 and not rep["cassette_misses"] and not rep["network_attempts"]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
