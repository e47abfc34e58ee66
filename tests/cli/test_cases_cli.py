"""``govcx cases``: the queue from the terminal, with the same rules as the API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from govcx.cli.main import app
from tests.conftest import SHOP

runner = CliRunner()
PACK = ["--pack", str(SHOP)]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCX_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GOVCX_DEV", "1")
    monkeypatch.delenv("GOVCX_API_KEY", raising=False)


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, *PACK])
    assert "Traceback" not in result.output
    # JSON on stdout; the dev-mode warning goes to stderr
    return result.exit_code, result.stdout if "--json" in args else result.output


def test_claim_reply_hand_back_from_the_terminal() -> None:
    code, out = run("ask", "I will sue you", "--conversation", "t1", "--customer", "C-1")
    assert code == 0, out
    code, out = run("cases", "list", "--json")
    cases = json.loads(out)
    assert [(c["team"], c["priority"], c["status"]) for c in cases] == [
        ("legal", "urgent", "waiting")
    ]
    case_id = cases[0]["case_id"]
    code, out = run("cases", "reply", case_id, "hi")
    assert code == 2 and "needs an API key" in out  # no key, no --as
    code, out = run("cases", "claim", case_id, "--as", "pat")
    assert code == 1 and "team legal" in out
    assert run("cases", "claim", case_id, "--as", "kim")[0] == 0
    code, out = run("cases", "reply", case_id, "Kim here, looking now.", "--as", "kim", "--json")
    assert code == 0 and json.loads(out)["first_response_at"] is not None
    assert run("cases", "note", case_id, "internal only", "--as", "kim")[0] == 0
    code, out = run("cases", "show", case_id, "--json")
    shown = json.loads(out)
    assert [e["kind"] for e in shown["events"]] == ["opened", "claimed", "reply", "note"]
    code, out = run("cases", "handback", case_id, "--as", "kim", "--note", "done")
    assert code == 0 and "handed_back" in out
    code, out = run("cases", "list", "--status", "closed", "--json")
    assert [c["case_id"] for c in json.loads(out)] == [case_id]
    assert run("cases", "list", "--status", "done")[0] == 2
