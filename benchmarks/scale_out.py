"""Scale-out: the API load test with 1, 2 and 4 workers on PostgreSQL against 1 worker
on SQLite, in one run on one machine.

Starts a throwaway PostgreSQL cluster (initdb in a temp dir, a free port on 127.0.0.1;
or uses GOVCX_TEST_DATABASE_URL), gives every configuration a fresh database, runs
benchmarks/api_load.py for each and prints one JSON object on the last line.

Usage: python benchmarks/scale_out.py [--clients 8] [--turns 20] [--workers 1,2,4] [--light]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import pg  # noqa: E402  (the same throwaway cluster the tests use)


def run_load(args: argparse.Namespace, workers: int, database_url: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "GOVCX_DATABASE_URL"}
    if database_url:
        env["GOVCX_DATABASE_URL"] = database_url
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "api_load.py"),
        "--clients",
        str(args.clients),
        "--turns",
        str(args.turns),
        "--workers",
        str(workers),
    ]
    if args.light:
        command += ["--light", "--pack", str(ROOT / "tests" / "fixtures" / "shop")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(
            f"api_load failed ({workers} workers, {database_url or 'sqlite'}):\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def summary(result: dict) -> dict:
    keys = ("turns_per_s", "turns_and_decisions_per_s", "ok", "turns", "decisions")
    out = {k: result.get(k) for k in keys}
    for name in ("latency_ms", "turn_latency_ms"):
        if isinstance(result.get(name), dict):
            out["latency_ms"] = result[name]
    for name in ("lost", "duplicated", "checks"):
        if name in result:
            out[name] = result[name]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument(
        "--light",
        action="store_true",
        help="test pack with in-memory retriever and pass-through guard",
    )
    args = parser.parse_args()
    cluster = None
    admin = os.environ.get("GOVCX_TEST_DATABASE_URL")
    if not admin:
        if not pg.available():
            raise SystemExit("PostgreSQL is not installed (apt-get install postgresql)")
        cluster = pg.Cluster()
        admin = cluster.start()
    engine = create_engine(
        admin.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    results: dict[str, dict] = {}
    try:
        results["sqlite_1"] = summary(run_load(args, 1, None))
        for workers in (int(w) for w in args.workers.split(",")):
            name = f"g_{uuid.uuid4().hex[:12]}"
            with engine.connect() as conn:
                conn.execute(text(f"CREATE DATABASE {name}"))
            url = admin.rsplit("/", 1)[0] + f"/{name}"
            results[f"postgresql_{workers}"] = summary(run_load(args, workers, url))
    finally:
        engine.dispose()
        if cluster is not None:
            cluster.stop()
    print(
        json.dumps(
            {
                "benchmark": "scale_out",
                "clients": args.clients,
                "turns_per_client": args.turns,
                "light": args.light,
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
