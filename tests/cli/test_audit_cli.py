"""`govcx audit anchor|verify --anchor|seal|export` as an operator runs them, on SQLite and
PostgreSQL: a clean run verifies; truncation, wiping and an unkeyed rewrite exit 1 naming
what is wrong; a bad anchor file is bad input (exit 2)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from govcx.cli.main import app
from govcx.store.db import resolve_url
from tests.conftest import SHOP

runner = CliRunner()
pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def home(tmp_path: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GOVCX_HOME", str(tmp_path / "home"))
    if database_url:
        monkeypatch.setenv("GOVCX_DATABASE_URL", database_url)
    return tmp_path / "home"


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--pack", str(SHOP)], env=env)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _sql(home: Path, database_url: str | None, sql: str, **params: object) -> None:
    url = resolve_url(database_url or "sqlite:///govcx.db", home)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(sql), params)
    engine.dispose()


def _session() -> None:
    code, out = run("ask", "please refund $80 for order A-1002", "--customer", "C-1", "--json")
    assert code == 0, out
    approval_id = json.loads(out)["approval_id"]
    code, out = run("keys", "create", "sup", "--json")
    assert code == 0, out
    key = json.loads(out)["key"]
    code, out = run("approvals", "approve", approval_id, env={"GOVCX_API_KEY": key})
    assert code == 0, out
    code, out = run("ask", "where is my order A-1001", "--customer", "C-1")
    assert code == 0, out


def _anchor(tmp_path: Path) -> tuple[Path, dict[str, object]]:
    code, out = run("audit", "anchor", "--json")
    assert code == 0, out
    path = tmp_path / "anchor.json"
    path.write_text(out)
    return path, json.loads(out)


def test_clean_session_verifies_with_and_without_its_anchor(
    home: Path, tmp_path: Path, backend: str
) -> None:
    _session()
    code, out = run("audit", "verify")
    assert code == 0 and "audit chain verified" in out
    path, anchor = _anchor(tmp_path)
    code, out = run("audit", "verify", "--anchor", str(path))
    assert code == 0 and f"extends the anchor of {anchor['time']}" in out
    code, out = run("audit", "verify", "--anchor", str(path), "--json")
    data = json.loads(out)
    assert code == 0 and data["ok"] and data["anchor"] == anchor and data["legacy_events"] == 0
    code, out = run("audit", "anchor")
    assert code == 0 and "signature (key id" in out and "anchor.json" in out
    code, out = run("audit", "seal")
    assert code == 0 and "already sealed" in out
    if backend == "sqlite":
        key_file = home / "audit.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = key_file.read_text().strip()
        code, out = run("audit", "export")
        assert code == 0 and key not in out and key not in json.dumps(anchor)


def test_truncation_with_moved_head_exits_1(
    home: Path, tmp_path: Path, database_url: str | None
) -> None:
    _session()
    path, anchor = _anchor(tmp_path)
    code, out = run("audit", "export")
    events = [json.loads(line) for line in out.splitlines()]
    keep = next(e for e in events if e["kind"] == "approval.approve")["seq"] - 1
    kept = next(e for e in events if e["seq"] == keep)
    _sql(home, database_url, "DELETE FROM audit_events WHERE seq > :k", k=keep)
    _sql(home, database_url, "UPDATE audit_head SET seq = :k, hash = :h", k=keep, h=kept["hash"])
    code, out = run("audit", "verify", "--anchor", str(path))
    assert code == 1 and f"anchored event seq {anchor['seq']}" in out
    code, out = run("audit", "verify")
    assert code == 1 and "approve decision by sup has no audit event" in out
    code, out = run("audit", "anchor")
    assert code == 1 and "does not verify, so no anchor was signed" in out


def test_wiped_tables_exit_1(home: Path, tmp_path: Path, database_url: str | None) -> None:
    _session()
    path, anchor = _anchor(tmp_path)
    _sql(home, database_url, "DELETE FROM audit_events")
    _sql(home, database_url, "DELETE FROM audit_head")
    code, out = run("audit", "verify", "--anchor", str(path), "--json")
    data = json.loads(out)
    assert code == 1 and not data["ok"] and data["events"] == 0
    assert any(f"anchored event seq {anchor['seq']}" in p for p in data["problems"])
    code, out = run("audit", "verify")
    assert code == 1 and "has no audit event" in out and "head row is missing" in out


def test_unkeyed_rewrite_exits_1(home: Path, database_url: str | None) -> None:
    import hashlib

    from govcx.store.db import dumps

    _session()
    code, out = run("audit", "export")
    events = [json.loads(line) for line in out.splitlines()]
    prev = "0" * 64
    for e in events:  # the whole chain recomputed with sha256, one actor changed
        actor = "mallory" if e["kind"] == "approval.approve" else e["actor"]
        body = dumps(e["data"])
        digest = hashlib.sha256(
            dumps(
                [
                    prev,
                    e["seq"],
                    e["event_id"],
                    repr(e["ts"]),
                    e["conversation_id"],
                    e["turn_id"],
                    actor,
                    e["kind"],
                    e["policy_version"],
                    body,
                ]
            ).encode()
        ).hexdigest()
        _sql(
            home,
            database_url,
            "UPDATE audit_events SET actor = :a, prev_hash = :p, hash = :h WHERE seq = :s",
            a=actor,
            p=prev,
            h=digest,
            s=e["seq"],
        )
        prev = digest
    _sql(home, database_url, "UPDATE audit_head SET hash = :h", h=prev)
    code, out = run("audit", "verify")
    assert code == 1 and "event seq 1: content does not match its hash" in out


def test_bad_anchor_files_are_bad_input(home: Path, tmp_path: Path) -> None:
    code, out = run("audit", "verify", "--anchor", str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read the anchor file" in out
    bad = tmp_path / "bad.json"
    bad.write_text('{"seq": 1}')
    code, out = run("audit", "verify", "--anchor", str(bad))
    assert code == 2 and "govcx audit anchor --json" in out


def test_postgresql_without_a_key_is_refused_naming_the_settings(
    home: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite creates its key in the state dir")
    monkeypatch.delenv("GOVCX_AUDIT_KEY", raising=False)
    code, out = run("audit", "verify")
    assert code == 2 and "GOVCX_AUDIT_KEY" in out and "GOVCX_AUDIT_KEY_FILE" in out
    monkeypatch.setenv("GOVCX_DEV", "1")
    code, out = run("audit", "verify")
    assert code == 0 and stat.S_IMODE((home / "audit.key").stat().st_mode) == 0o600


def test_keys_create_as_the_first_command_leaves_a_sealed_chain(home: Path) -> None:
    """A new user's first command may be `govcx keys create`: the database it creates must
    carry a sealed key boundary, or every later verify fails."""
    code, out = run("keys", "create", "sup", "--json")
    assert code == 0, out
    code, out = run("ask", "where is my order A-1001", "--customer", "C-1")
    assert code == 0, out
    code, out = run("audit", "verify")
    assert code == 0, out
