"""The CLI as a user runs it: exit codes, JSON output, clear errors, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from govcx.cli.main import app
from tests.conftest import SHOP

runner = CliRunner()


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCX_HOME", str(tmp_path / "home"))


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def key_of(name: str) -> str:
    code, out = run("keys", "create", name, "--pack", str(SHOP), "--json")
    assert code == 0, out
    return str(json.loads(out)["key"])


def test_ask_approve_audit_round_trip() -> None:
    code, out = run(
        "ask",
        "please refund $80 for order A-1002",
        "--customer",
        "C-1",
        "--pack",
        str(SHOP),
        "--json",
    )
    assert code == 0
    turn = json.loads(out)
    assert turn["status"] == "pending_approval"
    aid = turn["approval_id"]
    code, out = run("approvals", "list", "--pack", str(SHOP), "--json")
    assert [a["approval_id"] for a in json.loads(out)] == [aid]
    code, out = run("approvals", "approve", aid, "--pack", str(SHOP))
    assert code == 2 and "govcx keys create" in out and "GOVCX_API_KEY" in out and "sup" in out
    web, sup, boss = key_of("web"), key_of("sup"), key_of("boss")
    result = runner.invoke(
        app, ["approvals", "approve", aid, "--pack", str(SHOP)], env={"GOVCX_API_KEY": web}
    )
    assert result.exit_code == 1 and "channel principals can never decide" in result.output
    result = runner.invoke(
        app,
        ["approvals", "approve", aid, "--pack", str(SHOP), "--json"],
        env={"GOVCX_API_KEY": sup},
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["actions"][0]["status"] == "executed"
    result = runner.invoke(
        app, ["approvals", "approve", aid, "--pack", str(SHOP)], env={"GOVCX_API_KEY": boss}
    )
    assert result.exit_code == 1 and "already approved" in result.output
    code, out = run("conversations", "show", turn["conversation_id"], "--pack", str(SHOP), "--json")
    assert code == 0 and json.loads(out)["status"] == "idle"
    code, out = run(
        "audit", "export", "--conversation", turn["conversation_id"], "--pack", str(SHOP)
    )
    kinds = [json.loads(line)["kind"] for line in out.splitlines()]
    assert "policy_gate" in kinds and "approval.approve" in kinds
    code, out = run("audit", "verify", "--pack", str(SHOP))
    assert code == 0 and "verified" in out


def test_edit_with_bad_json_and_bad_args(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCX_DEV", "1")  # --as by name: dev mode only
    code, out = run(
        "ask",
        "please refund $80 for order A-1002",
        "--customer",
        "C-1",
        "--pack",
        str(SHOP),
        "--json",
    )
    aid = json.loads(out)["approval_id"]
    code, out = run(
        "approvals", "edit", aid, "--args", "{amount: 4", "--as", "sup", "--pack", str(SHOP)
    )
    assert code == 2 and "not valid JSON" in out
    code, out = run(
        "approvals", "edit", aid, "--args", '{"amount": "lots"}', "--as", "sup", "--pack", str(SHOP)
    )
    assert code == 2 and "amount" in out
    result = runner.invoke(
        app,
        [
            "approvals",
            "edit",
            aid,
            "--args",
            '{"amount": 45}',
            "--as",
            "sup",
            "--pack",
            str(SHOP),
            "--json",
        ],
    )
    assert result.exit_code == 0 and "unauthenticated" in result.stderr
    assert json.loads(result.stdout)["actions"][0]["args"]["amount"] == 45


def test_unknown_ids_and_bad_input() -> None:
    code, out = run("approvals", "show", "apr_nope", "--pack", str(SHOP))
    assert code == 2 and "no approval with id 'apr_nope'" in out
    code, out = run("conversations", "show", "nope", "--pack", str(SHOP))
    assert code == 2 and "no conversation" in out
    code, out = run("ask", "   ", "--pack", str(SHOP))
    assert code == 2 and "non-empty" in out
    code, out = run("ask", "hi", "--conversation", "bad id!", "--pack", str(SHOP))
    assert code == 2 and "conversation_id" in out
    code, out = run("approvals", "list", "--status", "weird", "--pack", str(SHOP))
    assert code == 2 and "pending, approved" in out
    code, out = run("ask", "hi", "--pack", "/does/not/exist")
    assert code == 2 and "pack folder not found" in out


def test_policy_check_and_diff(tmp_path: Path) -> None:
    code, out = run("policy", "check", str(SHOP / "policy.yaml"), "--pack", str(SHOP))
    assert code == 0 and "ok" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (SHOP / "policy.yaml").read_text().replace("on_expiry: escalate", "on_expiry: approve")
    )
    code, out = run("policy", "check", str(bad), "--pack", str(SHOP))
    assert code == 2 and "approvals.on_expiry" in out and "'reject' or 'escalate'" in out
    new = tmp_path / "new.yaml"
    new.write_text((SHOP / "policy.yaml").read_text().replace('"amount > 50"', '"amount > 75"'))
    code, out = run("policy", "diff", str(SHOP / "policy.yaml"), str(new), "--json")
    assert code == 0
    assert json.loads(out) == [
        {
            "path": "tools.issue_refund.approval_if",
            "old": "amount > 50",
            "new": "amount > 75",
            "change": "changed",
        }
    ]


def test_audit_verify_fails_on_tampering(tmp_path: Path) -> None:
    import sqlite3

    run("ask", "where is my order A-1001", "--customer", "C-1", "--pack", str(SHOP))
    conn = sqlite3.connect(tmp_path / "home" / "govcx.db")
    conn.execute("UPDATE audit_events SET actor = 'x' WHERE seq = 2")
    conn.commit()
    conn.close()
    code, out = run("audit", "verify", "--pack", str(SHOP), "--json")
    assert code == 1 and json.loads(out)["ok"] is False


def test_recover_with_nothing_to_do_and_graph() -> None:
    code, out = run("recover", "--pack", str(SHOP))
    assert code == 0 and "nothing to recover" in out
    code, out = run("graph")
    assert code == 0 and "policy_gate" in out and "await_approval" in out


def test_chat_session_with_inline_approval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCX_DEV", "1")  # an approver by name: dev mode only
    lines = "\n".join(["please refund $80 for order A-1002", "/approve sup", "/quit"]) + "\n"
    result = runner.invoke(app, ["chat", "--customer", "C-1", "--pack", str(SHOP)], input=lines)
    assert result.exit_code == 0, result.output
    assert "approval needed" in result.output
    assert "refunded $80.00" in result.output


def test_audit_export_names_a_bad_or_unknown_conversation() -> None:
    code, out = run("audit", "export", "--conversation", "bad id!", "--pack", str(SHOP))
    assert code == 2 and "conversation_id 'bad id!' is not valid" in out
    code, out = run("audit", "export", "--conversation", "nope", "--pack", str(SHOP))
    assert code == 2 and "no conversation with id 'nope'" in out
