"""Wall time of CLI commands as a user runs them: a fresh process each time.

Median over ``--runs`` runs (interleaved, so a busy moment of a shared machine hits every
command alike) of ``govcx --help``, ``govcx audit verify``, ``govcx approvals list``,
``govcx conversations list``, ``govcx keys list`` and a warm ``govcx ask`` on the bundled
acme pack, in a fresh temporary GOVCX_HOME in dev mode (GOVCX_DEV=1). Warm: one ``ask``
(untimed, reported as ``first_ask_s``) has built the knowledge base in that GOVCX_HOME and
left an approval waiting, so ``approvals list`` has a row to show. Targets: ``audit
verify`` and ``approvals list`` under 1 s, ``ask`` under 2.5 s.

Each run is ``python -c "from govcx.cli.main import main; main()" ARGS``, which is what
the ``govcx`` console script does. ``--src`` measures another source tree (e.g. an older
commit: ``git archive COMMIT src | tar -x -C /tmp/old``, then ``--src /tmp/old/src``).

    .venv/bin/python benchmarks/cli_startup.py [--runs 7] [--src DIR] [--timeout 120]

The last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[1] / "src"
CODE = "import sys; sys.argv[0] = 'govcx'; from govcx.cli.main import main; main()"
COMMANDS: dict[str, tuple[list[str], float | None]] = {
    "help": (["--help"], None),
    "audit_verify": (["audit", "verify"], 1.0),
    "approvals_list": (["approvals", "list"], 1.0),
    "conversations_list": (["conversations", "list"], None),
    "keys_list": (["keys", "list"], None),
    "ask": (["ask", "Where is my order A-1004?", "--customer", "C-1001"], 2.5),
}


class Failed(Exception):
    pass


def run(args: list[str], env: dict[str, str], timeout: float) -> float:
    """Seconds one ``govcx ARGS`` process takes; Failed if it does not exit 0."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CODE, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise Failed(
            f"govcx {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}"
        )
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command")
    parser.add_argument(
        "--src",
        type=Path,
        default=SRC,
        help="the source tree holding govcx (default: this checkout's src)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds one command may take before the benchmark stops",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    src = args.src.resolve()
    if not (src / "govcx" / "cli" / "main.py").is_file():
        parser.error(f"--src {src}: no govcx/cli/main.py there")

    with tempfile.TemporaryDirectory(prefix="govcx-cli-startup-") as home:
        env = {
            **os.environ,
            "PYTHONPATH": str(src),
            "GOVCX_HOME": home,
            "GOVCX_DEV": "1",
            "COLUMNS": "100",
        }
        for name in ("GOVCX_PACK", "GOVCX_DATABASE_URL", "GOVCX_API_KEY", "GOVCX_ENGINE_MODE"):
            env.pop(name, None)
        try:
            first = run(
                ["ask", "Please refund $80 for order A-1002", "--customer", "C-1001"],
                env,
                args.timeout,
            )
        except Failed as exc:
            raise SystemExit(str(exc)) from None
        print(f"first ask (builds the knowledge base): {first:.2f} s", file=sys.stderr)
        # One untimed run each (compiles bytecode; finds commands an older tree lacks).
        commands, missing = {}, []
        for name, (cmd, target) in COMMANDS.items():
            try:
                run(cmd, env, args.timeout)
                commands[name] = (cmd, target)
            except Failed as exc:
                if target is not None:
                    raise SystemExit(str(exc)) from None
                missing.append(name)
                print(f"skipped: {exc}", file=sys.stderr)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for i in range(args.runs):
            for name, (cmd, _) in commands.items():
                try:
                    times[name].append(run(cmd, env, args.timeout))
                except Failed as exc:
                    raise SystemExit(str(exc)) from None
            print(
                f"run {i + 1}/{args.runs}: "
                + "  ".join(f"{name} {t[-1]:.2f}" for name, t in times.items()),
                file=sys.stderr,
            )

    result: dict[str, Any] = {
        "benchmark": "cli_startup",
        "runs": args.runs,
        "src": str(src),
        "first_ask_s": round(first, 2),
        "commands": {},
        "not_in_this_tree": missing,
    }
    try:
        result["load_average_1m"] = round(os.getloadavg()[0], 2)
        result["cpus"] = os.cpu_count()
    except OSError:
        pass
    for name, (cmd, target) in commands.items():
        row: dict[str, Any] = {
            "command": "govcx " + " ".join(cmd),
            "median_s": round(statistics.median(times[name]), 3),
            "min_s": round(min(times[name]), 3),
            "max_s": round(max(times[name]), 3),
        }
        if target is not None:
            row["target_s"] = target
            row["meets_target"] = row["median_s"] < target
        result["commands"][name] = row
        print(
            f"{name:20} median {row['median_s']:.2f} s  (min {row['min_s']:.2f}, max "
            f"{row['max_s']:.2f})" + (f"  target < {target} s" if target else "")
        )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
