"""``govcx report``: the figures from the terminal, and a suggestion's candidate policy."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from govcx.cli._stores import open_stores
from govcx.cli.main import app
from tests.conftest import SHOP
from tests.governance.test_report import _approval

runner = CliRunner()
PACK = ["--pack", str(SHOP)]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCX_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GOVCX_DEV", "1")


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, *PACK])
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout if "--json" in args else result.output


def test_report_counts_what_the_agent_did() -> None:
    assert run("ask", "I will sue you", "--customer", "C-1")[0] == 0
    assert run("ask", "please refund $80 for order A-1002", "--customer", "C-1")[0] == 0
    assert run("ask", "where is my order A-1001", "--customer", "C-1")[0] == 0
    code, out = run("report", "--json")
    assert code == 0, out
    figures = json.loads(out)
    assert figures["turns"]["turns"] == 3
    assert figures["turns"]["by_status"] == {
        "answered": 1,
        "escalated": 1,
        "pending_approval": 1,
    }
    assert figures["approvals"]["pending"] == 1
    assert figures["sla"]["cases"] == 1
    assert figures["suggestions"] == []
    code, out = run("report")
    assert code == 0 and "turns 3 · contained 1 (33.3%)" in out
    code, out = run("report", "--workflow", "refund", "--json")
    assert json.loads(out)["turns"]["turns"] == 1


def test_bad_windows_are_refused_with_the_valid_forms() -> None:
    code, out = run("report", "--since", "last week")
    assert code == 2 and "duration back from now" in out
    code, out = run("report", "--since", "1d", "--until", "2d")
    assert code == 2 and "--until must be after --since" in out
    code, out = run("report", "--candidate", "sug_x")
    assert code == 2 and "--candidate needs --out" in out


def test_a_suggestion_becomes_a_candidate_policy_file(tmp_path: Path) -> None:
    now = time.time()
    with open_stores(SHOP) as stores:
        for i in range(25):
            _approval(
                stores.db,
                f"a{i}",
                now - 3600 + i,
                status="approved",
                amount=51.0 + i,
                decisions=[("approve", now - 3000 + i)],
                conversation=f"c{i}",
            )
    code, out = run("report", "--json")
    [item] = json.loads(out)["suggestions"]
    assert item["kind"] == "raise_threshold" and item["proposable"]
    assert item["change"]["to"] == "amount > 70"
    code, out = run("report")
    assert item["suggestion_id"] in out and "raise the threshold to $70" in out
    target = tmp_path / "candidate.yaml"
    code, out = run("report", "--candidate", item["suggestion_id"], "--out", str(target))
    assert code == 0, out
    candidate = yaml.safe_load(target.read_text())
    assert candidate["tools"]["issue_refund"]["approval_if"] == "amount > 70"
    code, out = run("policy", "check", str(target))
    assert code == 0, out
    diff = runner.invoke(app, ["policy", "diff", str(SHOP / "policy.yaml"), str(target)])
    assert diff.exit_code == 0, diff.output
    assert "tools.issue_refund.approval_if: 'amount > 50' → 'amount > 70'" in diff.output
    code, out = run("report", "--candidate", "sug_000000000000", "--out", str(target))
    assert code == 2 and "current suggestions" in out


def test_propose_takes_a_file_or_a_suggestion() -> None:
    code, out = run("policy", "propose", "--as", "sup")
    assert code == 2 and "FILE or --suggestion ID" in out
    code, out = run("policy", "propose", str(SHOP / "policy.yaml"), "--suggestion", "sug_x")
    assert code == 2 and "FILE or --suggestion ID" in out


def test_policy_show_writes_the_active_policy_as_a_valid_file(tmp_path: Path) -> None:
    target = tmp_path / "active.yaml"
    code, out = run("policy", "show", "--out", str(target))
    assert code == 0, out
    shown = yaml.safe_load(target.read_text())
    assert shown["tools"]["issue_refund"]["approval_if"] == "amount > 50"
    assert run("policy", "check", str(target))[0] == 0
    code, out = run("policy", "show", "--json")
    assert json.loads(out)["version"] == shown["version"]
