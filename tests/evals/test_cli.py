"""`govcx eval ...` through the CLI, on the shop pack with the test doubles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from govcx.cli.evals import parse_rate
from govcx.cli.main import app
from govcx.evals import workbench
from tests.conftest import SHOP
from tests.evals.conftest import SMOKE, memory_retriever, pass_through_guard

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(workbench, "_knowledge_retriever", memory_retriever)
    monkeypatch.setattr(workbench, "_default_guard", pass_through_guard)
    monkeypatch.setenv("GOVCX_HOME", str(tmp_path / "home"))
    (tmp_path / "smoke.yaml").write_text(yaml.safe_dump(SMOKE))
    return tmp_path


def test_run_writes_reports_and_fails_under_threshold(env: Path) -> None:
    args = [
        "eval",
        "run",
        str(env / "smoke.yaml"),
        "--pack",
        str(SHOP),
        "-w",
        "1",
        "--json",
        str(env / "run.json"),
        "--report",
        str(env / "run.html"),
    ]
    result = runner.invoke(app, [*args, "--fail-under", "90%"])
    assert result.exit_code == 1, result.output
    assert "designed-to-fail" in result.output and "80.0%" in result.output
    data = json.loads((env / "run.json").read_text())
    assert data["format"] == "govcx-eval/1"
    assert data["summary"]["pass_rate"] == 0.8
    assert (env / "run.html").read_text().startswith("<!DOCTYPE html>")
    assert runner.invoke(app, [*args, "--fail-under", "0.8"]).exit_code == 0
    tagged = runner.invoke(app, [*args, "--tag", "approval", "--fail-under", "1"])
    assert tagged.exit_code == 0, tagged.output


def test_schema_error_is_exit_2_with_location(env: Path) -> None:
    (env / "bad.yaml").write_text(
        "name: s\ncases:\n  - id: c9\n    turns:\n"
        "      - user: hi\n        expect: {staus: answered}\n"
    )
    result = runner.invoke(app, ["eval", "run", str(env / "bad.yaml"), "--pack", str(SHOP)])
    assert result.exit_code == 2
    assert "case c9" in result.output and "turns[0].expect.staus" in result.output
    assert "Traceback" not in result.output


def test_compare_lists_regressions(env: Path) -> None:
    def write(name: str, passed: bool) -> Path:
        path = env / name
        path.write_text(
            json.dumps(
                {
                    "summary": {"pass_rate": 1.0 if passed else 0.0},
                    "cases": [
                        {
                            "case_id": "a",
                            "passed": passed,
                            "failures": [] if passed else ["step 1: x"],
                        }
                    ],
                }
            )
        )
        return path

    old, new = write("old.json", True), write("new.json", False)
    result = runner.invoke(app, ["eval", "compare", str(old), str(new)])
    assert result.exit_code == 0 and "regressed" in result.output and "step 1: x" in result.output
    assert (
        runner.invoke(
            app, ["eval", "compare", str(old), str(new), "--fail-on-regression"]
        ).exit_code
        == 1
    )
    data = json.loads(runner.invoke(app, ["eval", "compare", str(new), str(old), "--json"]).output)
    assert data["fixed"][0]["case_id"] == "a"


def test_simulate_and_readiness(env: Path) -> None:
    policy = yaml.safe_load((SHOP / "policy.yaml").read_text())
    policy["version"] = "t2"
    policy["tools"]["issue_refund"]["approval_if"] = "amount > 10"
    (env / "new.yaml").write_text(yaml.safe_dump(policy))
    result = runner.invoke(
        app,
        [
            "eval",
            "simulate",
            "--policy",
            str(env / "new.yaml"),
            str(env / "smoke.yaml"),
            "--pack",
            str(SHOP),
            "-w",
            "1",
            "--no-recorded",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["summary"]["by_change"] == {"newly gated": 1}
    readiness = runner.invoke(app, ["eval", "readiness", "--pack", str(SHOP), "--json"])
    assert readiness.exit_code == 0, readiness.output
    assert json.loads(readiness.output)["requests"] == 0


def test_parse_rate() -> None:
    assert parse_rate("0.95") == 0.95
    assert parse_rate("95") == 0.95
    assert parse_rate("95%") == 0.95
    assert parse_rate("1") == 1.0
