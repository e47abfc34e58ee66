"""Each command opens only what it needs (issue 14, item 7): read-only and admin commands
never import the Agent, the graph, the engines, the guard's NLP stack or the knowledge
base; library logging is quiet unless ``--verbose``.

The commands run in fresh processes, as a shell runs them: what a process imported is
read from ``sys.modules`` when it exits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import govcx as govcx_package
from tests.conftest import SHOP

SRC = str(Path(govcx_package.__file__).resolve().parents[1])
HEAVY = (
    "govcx.agent.agent",
    "govcx.graphs.graph",
    "govcx.engines.classifier",
    "govcx.engines.embedded",
    "govcx.knowledge.retriever",
    "langgraph.graph",
    "presidio_analyzer",
    "spacy",
    "chromadb",
    "sklearn",
    "guardrails",
)
_PROBE = """
import atexit, sys
HEAVY = {heavy!r}
def _report():
    loaded = [m for m in HEAVY if m in sys.modules]
    sys.stderr.write("\\nLOADED=" + ",".join(loaded) + "\\n")
atexit.register(_report)
sys.argv[0] = "govcx"
from govcx.cli.main import main
main()
"""


def govcx(home: Path, *args: str, dev: bool = False) -> tuple[int, str, str, list[str]]:
    """Exit status, stdout, stderr and the heavy modules the process imported."""
    env = {**os.environ, "PYTHONPATH": SRC, "GOVCX_HOME": str(home), "COLUMNS": "100"}
    env.pop("GOVCX_API_KEY", None)
    env["GOVCX_DEV"] = "1" if dev else "0"
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    err, _, loaded = proc.stderr.rpartition("\nLOADED=")
    return proc.returncode, proc.stdout, err, [m for m in loaded.strip().split(",") if m]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state dir with one conversation waiting for approval (the ask loads everything)."""
    home = tmp_path_factory.mktemp("light") / "home"
    code, out, err, loaded = govcx(
        home,
        "ask",
        "please refund $80 for order A-1002",
        "--customer",
        "C-1",
        "--pack",
        str(SHOP),
        "--json",
    )
    assert code == 0, err
    assert "govcx.agent.agent" in loaded  # the probe sees what a command imports
    (home.parent / "turn.json").write_text(out)
    return home


def _turn(home: Path) -> dict[str, str]:
    data: dict[str, str] = json.loads((home.parent / "turn.json").read_text())
    return data


@pytest.mark.parametrize(
    "args",
    [
        ["audit", "verify"],
        ["audit", "anchor", "--json"],
        ["audit", "export"],
        ["approvals", "list"],
        ["approvals", "show", "{approval_id}"],
        ["conversations", "list"],
        ["conversations", "show", "{conversation_id}"],
        ["keys", "list"],
        ["policy", "check", str(SHOP / "policy.yaml")],
        ["db", "current"],
        ["--help"],
    ],
)
def test_read_only_commands_do_not_load_the_engines(home: Path, args: list[str]) -> None:
    turn = _turn(home)
    args = [a.format(**turn) for a in args]
    pack = [] if args == ["--help"] else ["--pack", str(SHOP)]
    code, _, err, loaded = govcx(home, *args, *pack)
    assert code == 0, err
    assert loaded == [], f"govcx {' '.join(args)} imported {loaded}"


def test_keys_create_and_revoke_do_not_load_the_engines(home: Path) -> None:
    code, out, err, loaded = govcx(home, "keys", "create", "sup", "--pack", str(SHOP), "--json")
    assert code == 0 and loaded == [], (err, loaded)
    key_id = json.loads(out)["key_id"]
    code, out, err, loaded = govcx(home, "keys", "revoke", key_id, "--pack", str(SHOP))
    assert code == 0 and loaded == [], (err, loaded)
    code, out, err, _ = govcx(home, "audit", "verify", "--pack", str(SHOP))
    assert code == 0 and "verified" in out, err


def test_library_logging_only_with_verbose(home: Path) -> None:
    code, _, err, _ = govcx(home, "db", "current", "--pack", str(SHOP))
    assert code == 0 and "alembic" not in err and "INFO" not in err, err
    code, _, err, _ = govcx(home, "--verbose", "db", "current", "--pack", str(SHOP))
    assert code == 0 and "INFO alembic.runtime.migration" in err, err
