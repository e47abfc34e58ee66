"""Shared by the crash tests: run a script in a subprocess (which may SIGKILL itself) on
this checkout's govcx, against the test's database.

The database reaches the subprocess as ``CRASH_DATABASE_URL`` (unset: SQLite in its
home), set by the :func:`crash_database` fixture a crash test module uses autouse::

    pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
    _database = pytest.fixture(autouse=True)(crash_database)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def crash_database(database_url: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hand the test's database to the subprocesses it starts."""
    if database_url:
        monkeypatch.setenv("CRASH_DATABASE_URL", database_url)
    else:
        monkeypatch.delenv("CRASH_DATABASE_URL", raising=False)


def run_script(
    source: str, pack: Path, home: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``source`` as ``python runner.py PACK HOME ARGS...`` with this checkout's
    ``src`` and tests first on the path (not an installed govcx, e.g. from a worktree)."""
    script = home.parent / "runner.py"
    script.write_text(source)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    return subprocess.run(
        [sys.executable, str(script), str(pack), str(home), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
