"""The CLI as a new user first meets it (issue 14, item 9): bytes that are not UTF-8, the
guard scan input format, eval run's exit status, `conversations list`, and `approvals
list` at 80 columns."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import govcx
from govcx.cli.main import app
from govcx.evals import workbench
from tests.conftest import SHOP
from tests.evals.conftest import SMOKE, memory_retriever, pass_through_guard

runner = CliRunner()
PACK = ["--pack", str(SHOP)]
SRC = str(Path(govcx.__file__).resolve().parents[1])
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCX_HOME", str(tmp_path / "home"))
    for name in ("GOVCX_DEV", "GOVCX_API_KEY", "GOVCX_PACK"):
        monkeypatch.delenv(name, raising=False)


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def govcx_process(
    *args: str | bytes, columns: int = 80, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """The CLI in a fresh process, as a shell runs it (arguments may be raw bytes)."""
    env = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": str(columns)}
    code = "import sys; sys.argv[0] = 'govcx'; from govcx.cli.main import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        input=stdin,
        capture_output=True,
        timeout=300,
        check=False,
    )


def ask(text: str, customer: str = "C-1") -> dict[str, object]:
    code, out = run("ask", text, "--customer", customer, *PACK, "--json")
    assert code == 0, out
    turn: dict[str, object] = json.loads(out)
    return turn


# -- (a) bytes that are not UTF-8 ----------------------------------------------------------
def test_a_non_utf8_byte_in_an_argument_is_exit_2_naming_it() -> None:
    proc = govcx_process("ask", b"order A-1002 \xff", *PACK)
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "Traceback" not in err
    assert "the argument TEXT is not valid UTF-8 text (byte 0xff at character 14)" in err


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["ask", "hi", "--customer", "C-1\udcfe"], "--customer"),
        (["approvals", "edit", "apr_x", "--args", '{"note": "\udcff"}'], "--args"),
        (["conversations", "list", "--owner", "cli\udcff"], "--owner"),
        (["eval", "run", "--tag", "ok", "--tag", "b\udcffd"], "--tag"),
        (["keys", "create", "dana\udcc3"], "the argument PRINCIPAL"),
    ],
)
def test_every_text_option_is_checked(args: list[str], named: str) -> None:
    """Python decodes argv with surrogateescape: a lone surrogate is a byte that was not
    UTF-8. Checked before the command runs, for arguments and (list) options alike."""
    code, out = run(*args, *PACK)
    assert code == 2
    assert f"{named} is not valid UTF-8 text (byte 0x" in " ".join(out.split())


def test_a_file_name_with_such_a_byte_is_still_a_file_name(tmp_path: Path) -> None:
    """Paths keep surrogate-escaped bytes: they are valid file names on POSIX."""
    name = os.fsdecode(b"msgs-\xff.jsonl")
    (tmp_path / name).write_text('{"text": "hello"}\n', encoding="utf-8")
    code, out = run("guard", "scan", str(tmp_path / name), *PACK, "--json")
    assert code == 0, out
    assert json.loads(out.splitlines()[-1])["findings"] == []


def test_chat_refuses_a_line_that_is_not_utf8_and_carries_on() -> None:
    proc = govcx_process("chat", *PACK, stdin=b"where is my order \xff\n/quit\n")
    out = proc.stdout.decode() + proc.stderr.decode()
    assert proc.returncode == 0, out
    assert "Traceback" not in out
    assert "the line is not valid UTF-8 text (byte 0xff" in out


# -- (b) guard scan reads JSON lines -------------------------------------------------------
def test_guard_scan_help_and_readme_say_json_lines(tmp_path: Path) -> None:
    result = runner.invoke(app, ["guard", "scan", "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "JSON lines" in text and '{"text": "where is my order A-1002?"}' in text
    readme = README.read_text(encoding="utf-8")
    at = readme.index("govcx guard scan")
    assert "JSON lines" in readme[at : at + 600] and '{"text": ' in readme[at : at + 600]
    plain = tmp_path / "plain.txt"
    plain.write_text("where is my order\n", encoding="utf-8")
    code, out = run("guard", "scan", str(plain), *PACK)
    assert code == 2 and 'each line must look like {"text": "..."}' in out


# -- (c) eval run fails when a case fails ---------------------------------------------------
@pytest.fixture
def smoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(workbench, "_knowledge_retriever", memory_retriever)
    monkeypatch.setattr(workbench, "_default_guard", pass_through_guard)
    path = tmp_path / "smoke.yaml"
    path.write_text(yaml.safe_dump(SMOKE))
    return path


def test_eval_run_exits_1_when_a_case_fails_unless_a_threshold_allows_it(smoke: Path) -> None:
    args = ["eval", "run", str(smoke), *PACK, "-w", "1", "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output  # one designed-to-fail case of five
    assert "1 of 5 case(s) failed" in result.output and "--fail-under" in result.output
    assert runner.invoke(app, [*args, "--fail-under", "0.8"]).exit_code == 0
    assert runner.invoke(app, [*args, "--fail-under", "81%"]).exit_code == 1
    passing = runner.invoke(app, [*args, "--tag", "approval"])
    assert passing.exit_code == 0, passing.output


# -- (d) conversations list -----------------------------------------------------------------
def test_conversations_list_newest_first_with_filters() -> None:
    code, out = run("conversations", "list", *PACK)
    assert code == 0 and "no conversations" in out
    first = ask("where is my order A-1001", customer="C-1")
    second = ask("please refund $80 for order A-1002", customer="C-2")
    assert second["status"] == "pending_approval"
    code, out = run("conversations", "list", *PACK, "--json")
    assert code == 0, out
    rows = json.loads(out)
    assert [r["conversation_id"] for r in rows] == [
        second["conversation_id"],
        first["conversation_id"],
    ]
    assert rows[0]["owner"] == "cli" and rows[0]["customer_id"] == "C-2"
    assert rows[0]["status"] == "pending_approval" and rows[0]["turn_count"] == 1
    assert rows[1]["last_turn_status"] == first["status"]
    code, out = run("conversations", "list", *PACK, "--limit", "1", "--json")
    assert [r["conversation_id"] for r in json.loads(out)] == [second["conversation_id"]]
    code, out = run("conversations", "list", *PACK, "--status", "idle", "--json")
    assert [r["conversation_id"] for r in json.loads(out)] == [first["conversation_id"]]
    code, out = run("conversations", "list", *PACK, "--owner", "web-chat")
    assert code == 0 and "no conversations of owner web-chat" in out
    code, out = run("conversations", "list", *PACK)
    assert code == 0
    assert str(first["conversation_id"]) in out and "C-2" in out and "pending_approval" in out
    code, out = run("conversations", "list", *PACK, "--status", "done")
    assert code == 2 and "idle, running, pending_approval, all" in out
    code, out = run("conversations", "list", *PACK, "--limit", "0")
    assert code == 2


# -- (e) approvals list at 80 columns --------------------------------------------------------
def test_approvals_list_is_readable_at_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCX_DEV", "1")
    refund = ask("please refund $80 for order A-1002")
    close = ask("please close my account", customer="C-2")
    assert refund["status"] == close["status"] == "pending_approval"
    proc = govcx_process("approvals", "list", *PACK, columns=80)
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr.decode()
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    for turn, tool in ((refund, "issue_refund"), (close, "close_account")):
        row = next(i for i, line in enumerate(lines) if str(turn["approval_id"]) in line)
        assert tool in lines[row] and "pending 0/" in lines[row]
        assert str(turn["conversation_id"]) in lines[row + 1]
    row = next(i for i, line in enumerate(lines) if str(refund["approval_id"]) in line)
    assert "order_id=A-1002, amount=80" in lines[row + 1]
    assert "amount > 50" in lines[row + 2]  # why: the rule's condition, not its id
    assert len(lines) <= 14  # title, header, rule, and four lines per request


# -- approvals list still applies expiry and policy changes -----------------------------------
def test_approvals_list_applies_expiry_first(tmp_path: Path) -> None:
    turn = ask("please refund $80 for order A-1002")
    conn = sqlite3.connect(tmp_path / "home" / "govcx.db")
    conn.execute("UPDATE approvals SET expires_at = 0")
    conn.commit()
    conn.close()
    code, out = run("approvals", "list", *PACK, "--status", "all", "--json")
    assert code == 0, out
    [request] = json.loads(out)
    assert request["approval_id"] == turn["approval_id"] and request["status"] == "expired"
    code, out = run("conversations", "show", str(turn["conversation_id"]), *PACK, "--json")
    assert json.loads(out)["status"] == "idle"  # on_expiry: escalate resumed it


def test_approvals_list_applies_a_new_pack_policy_first(tmp_path: Path) -> None:
    pack = tmp_path / "shop"
    shutil.copytree(SHOP, pack)
    code, out = run(
        "ask",
        "please refund $80 for order A-1002",
        "--customer",
        "C-1",
        "--pack",
        str(pack),
        "--json",
    )
    assert json.loads(out)["status"] == "pending_approval"
    policy = pack / "policy.yaml"
    policy.write_text(
        policy.read_text()
        .replace('version: "t1"', 'version: "t2"')
        .replace("expiry: 1h", "expiry: 2h")
    )
    code, out = run("approvals", "list", "--pack", str(pack), "--status", "all", "--json")
    assert code == 0, out
    assert [a["status"] for a in json.loads(out)] == ["superseded"]
