"""``govcx serve``: refuses to start without keys; ``--dev`` prints stable local keys."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from govcx.agent.agent import Agent
from govcx.cli.main import app as cli
from tests.conftest import SHOP

runner = CliRunner()


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCX_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GOVCX_API_KEYS", raising=False)
    monkeypatch.delenv("GOVCX_API_KEYS_FILE", raising=False)


def test_serve_without_keys_refuses_to_start() -> None:
    result = runner.invoke(cli, ["serve", "--pack", str(SHOP)])
    assert result.exit_code == 2
    assert "no API keys are configured" in result.output
    assert "--dev" in result.output
    assert "Traceback" not in result.output


def test_serve_help() -> None:
    result = runner.invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--pack", "--host", "--port", "--dev", "--workers"):
        assert option in result.output


def test_serve_dev_prints_keys_that_work_and_stay_the_same(
    monkeypatch: pytest.MonkeyPatch, make_agent: Callable[..., Agent]
) -> None:
    served: list[Any] = []
    monkeypatch.setattr(
        "govcx.agent.agent.Agent.open",
        classmethod(lambda cls, pack=None, settings=None: make_agent()),
    )
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: served.append((app, kwargs)))
    first = runner.invoke(cli, ["serve", "--pack", str(SHOP), "--dev", "--port", "8123"])
    assert first.exit_code == 0, first.output
    assert "http://127.0.0.1:8123/console" in first.output
    keys = dict(re.findall(r"^\s+(\w+)\s+(gcx_dev_\S+)", first.output, re.MULTILINE))
    assert set(keys) == {"web", "sup", "boss", "boss2", "audit", "kim", "pat"}
    app, kwargs = served[0]
    assert kwargs == {"host": "127.0.0.1", "port": 8123, "log_level": "info"}
    with TestClient(app) as client:
        me = client.get("/v1/me", headers={"Authorization": f"Bearer {keys['sup']}"}).json()
        assert me["principal"] == "sup"
    again = runner.invoke(cli, ["serve", "--pack", str(SHOP), "--dev"])
    assert dict(re.findall(r"^\s+(\w+)\s+(gcx_dev_\S+)", again.output, re.MULTILINE)) == keys
