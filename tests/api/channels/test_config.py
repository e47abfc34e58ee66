"""``channels:`` in govcx.yaml: validated when the pack loads and when the server starts,
with errors that name the field; slack-sdk and twilio only needed when configured."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from govcx.errors import ConfigError
from govcx.pack import load_config
from tests.conftest import SHOP


def write_pack(tmp_path: Path, channels: str) -> Path:
    root = tmp_path / "pack"
    root.mkdir()
    text = (SHOP / "govcx.yaml").read_text() + channels
    (root / "govcx.yaml").write_text(text)
    return root


def test_a_pack_declares_its_channels(tmp_path: Path) -> None:
    root = write_pack(
        tmp_path,
        "channels:\n"
        "  slack: {principal: web, signing_secret_env: S, bot_token_env: T}\n"
        "  twilio: {principal: web, auth_token_env: A, handoff: dial, dial: '+15550100'}\n",
    )
    _, config = load_config(root)
    assert config.channels.slack is not None
    assert config.channels.slack.base_url == "https://slack.com/api/"
    assert config.channels.twilio is not None and config.channels.twilio.dial == "+15550100"
    assert config.channels.chatwoot is None


@pytest.mark.parametrize(
    ("channels", "field", "says"),
    [
        (
            "  chatwoot: {principal: web, base_url: 'https://cw.example.com', account_id: 1, "
            "api_token_env: T}\n",
            "channels.chatwoot",
            "secret_env",
        ),
        (
            "  twilio: {principal: web, auth_token_env: A, handoff: dial}\n",
            "channels.twilio",
            "dial",
        ),
        (
            "  slack: {principal: web, signing_secret_env: S, bot_token_env: T, "
            "base_url: 'slack.com'}\n",
            "channels.slack.base_url",
            "http",
        ),
        ("  telegram: {principal: web}\n", "channels.telegram", "Extra inputs"),
        ("  slack: {principal: web, signing_secret: abc}\n", "channels.slack", ""),
    ],
)
def test_a_bad_channel_config_names_the_field(
    tmp_path: Path, channels: str, field: str, says: str
) -> None:
    root = write_pack(tmp_path, "channels:\n" + channels)
    with pytest.raises(ConfigError) as caught:
        load_config(root)
    assert caught.value.field is not None and caught.value.field.startswith(field)
    assert says in str(caught.value)


def test_the_principal_must_exist_and_be_a_channel(channel_app: Callable[..., FastAPI]) -> None:
    with pytest.raises(ConfigError) as unknown:
        channel_app(slack={"principal": "nobody"})
    assert unknown.value.field == "channels.slack.principal"
    assert "slackbot" in str(unknown.value)  # names the valid ones
    with pytest.raises(ConfigError) as not_channel:
        channel_app(webhook={"principal": "kim"})  # an agent, who works cases
    assert not_channel.value.field == "channels.webhook.principal"
    assert "role channel" in str(not_channel.value)


def test_a_secret_variable_that_is_not_set_stops_the_server(
    channel_app: Callable[..., FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_SLACK_SIGNING_SECRET")
    with pytest.raises(ConfigError) as caught:
        channel_app()
    assert caught.value.field == "channels.slack.signing_secret_env"
    assert "$TEST_SLACK_SIGNING_SECRET" in str(caught.value)


def test_a_channel_without_its_package_is_a_clear_error(
    channel_app: Callable[..., FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "twilio" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ConfigError) as caught:
        channel_app()
    assert "pip install 'govcx[channels]'" in str(caught.value)


def test_govcx_serves_without_slack_sdk_and_twilio(tmp_path: Path) -> None:
    """Without the channels extra, importing govcx and building an app with no channels
    configured works (the connectors import their packages lazily)."""
    script = (
        "import sys\n"
        "sys.modules['slack_sdk'] = None\n"
        "sys.modules['twilio'] = None\n"
        "import govcx, govcx.api, govcx.api.channels\n"
        "from govcx.api import ServerSettings, create_app\n"
        f"app = create_app(ServerSettings(home={str(tmp_path)!r}, dev=True))\n"
        "print(sorted(p for p in app.openapi()['paths'] if p.startswith('/channels')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[3] / "src")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
