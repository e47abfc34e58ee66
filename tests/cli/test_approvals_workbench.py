"""``govcx approvals`` as an approver's workbench (issue 15): the context and the rule's
condition beside a request, the replies if decided, a failed approved action exits 1,
and a searchable history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from govcx.cli.main import app
from tests.conftest import SHOP_CONTEXT

PACK = ["--pack", str(SHOP_CONTEXT)]
runner = CliRunner()


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCX_HOME", str(tmp_path / "home"))
    for name in ("GOVCX_DEV", "GOVCX_API_KEY", "GOVCX_API_KEYS", "GOVCX_PACK"):
        monkeypatch.delenv(name, raising=False)


def run(*args: str, key: str | None = None) -> Result:
    env = {"GOVCX_API_KEY": key} if key else {}
    result = runner.invoke(app, [*args], env=env)
    assert "Traceback" not in result.output
    return result


def key_of(name: str) -> str:
    result = run("keys", "create", name, *PACK, "--json")
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["key"])


def ask(text: str, customer: str = "C-1") -> dict[str, Any]:
    result = run("ask", text, "--customer", customer, *PACK, "--json")
    assert result.exit_code == 0, result.output
    turn: dict[str, Any] = json.loads(result.stdout)
    return turn


def test_show_has_the_context_the_condition_and_the_replies() -> None:
    turn = ask("please refund $80 for order A-1002")
    aid = turn["approval_id"]
    shown = run("approvals", "show", aid, *PACK)
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.replace("│", " ").split())  # the panel's lines, joined
    assert "amount > 50 (tool.issue_refund.approval_if)" in text
    assert "order_total: 120.0" in text and "refunded: 0.0" in text and "remaining: 120.0" in text
    assert "customer: Riley Chen" in text  # opened from its sealed copy
    assert "reply if approved I've refunded $80.00 for order A-1002 (refund [refund_id])" in text
    assert "reply if rejected A member of our team reviewed your request" in text
    view = json.loads(run("approvals", "show", aid, *PACK, "--json").stdout)
    assert view["rule_conditions"] == [
        {"rule": "tool.issue_refund.approval_if", "condition": "amount > 50"}
    ]
    assert view["context"]["facts"]["remaining"] == 120.0
    assert "context_sealed" not in view
    listed = run("approvals", "list", *PACK)
    assert "amount > 50" in listed.output


def test_approving_an_action_that_then_fails_exits_1_with_the_error() -> None:
    first = ask("please refund $80 for order A-1002")["approval_id"]
    second = ask("please refund $60 for order A-1002")["approval_id"]
    sup = key_of("sup")
    assert run("approvals", "approve", first, *PACK, key=sup).exit_code == 0
    result = run("approvals", "approve", second, *PACK, key=sup)
    assert result.exit_code == 1, result.output
    assert f"approval {second} is failed" in result.stderr
    assert "The most I can refund for A-1002 is $40.00." in result.stderr
    as_json = run("approvals", "show", second, *PACK, "--json")
    shown = json.loads(as_json.stdout)
    assert shown["status"] == "failed"
    assert shown["failure"] == "The most I can refund for A-1002 is $40.00."
    failed = json.loads(run("approvals", "list", "--status", "failed", *PACK, "--json").stdout)
    assert [a["approval_id"] for a in failed] == [second]


def test_list_searches_the_history() -> None:
    refund = ask("please refund $80 for order A-1002")["approval_id"]
    other = ask("please refund $60 for order A-1001")  # $40 order: cannot succeed
    assert other["status"] == "answered" and other["approval_id"] is None
    closing = ask("close my account", customer="C-2")["approval_id"]
    sup = key_of("sup")
    assert run("approvals", "reject", refund, *PACK, key=sup).exit_code == 0

    def listed(*args: str) -> list[str]:
        result = run("approvals", "list", *args, *PACK, "--json")
        assert result.exit_code == 0, result.output
        return [a["approval_id"] for a in json.loads(result.stdout)]

    assert listed("--status", "closed") == [refund]
    assert listed("--status", "all", "--customer", "C-2") == [closing]
    assert listed("--status", "closed", "--approver", "sup") == [refund]
    assert listed("--status", "closed", "--approver", "boss") == []
    assert listed("--status", "all", "--tool", "close_account") == [closing]
    assert listed("--status", "all", "--limit", "1") == [closing]  # newest first
    none = run("approvals", "list", "--status", "rejected", "--approver", "boss", *PACK)
    assert none.exit_code == 0 and "no rejected approvals for approver boss" in none.output
    bad = run("approvals", "list", "--status", "done", *PACK)
    assert bad.exit_code == 2
    assert "pending, approved, rejected, expired, superseded, failed, closed, all" in bad.output
