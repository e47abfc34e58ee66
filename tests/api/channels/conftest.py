"""Fixtures of the channel connector tests: the shop pack with one principal per channel,
the channels configured, their secrets in the environment, and local HTTP servers on
127.0.0.1 standing in for Slack's Web API, Chatwoot's API and a callback receiver."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from govcx.agent.agent import Agent
from govcx.api import ServerSettings, create_app
from govcx.governance.principal import Principal
from govcx.pack import ChannelsConfig
from govcx.store import schema
from tests.api.conftest import KEYS, with_extra_principals

SECRETS = {
    "TEST_SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5",
    "TEST_SLACK_BOT_TOKEN": "xoxb-test-0000-bot-token",
    "TEST_CHATWOOT_TOKEN": "cw-access-token-0001",
    "TEST_CHATWOOT_SECRET": "cw-bot-secret-0002",
    "TEST_TWILIO_AUTH_TOKEN": "12345678901234567890123456789012",
    "TEST_HOOK_SECRET": "hook-secret-000000000003",
}
CHANNEL_KEYS = {
    "slackbot": "key-slackbot-0000000000",
    "chatwoot": "key-chatwoot-0000000000",
    "phone": "key-phone-0000000000000",
    "hook": "key-hook-00000000000000",
}
HUMAN = "I want to talk to a human"
"""Escalated to the support team by the shop policy's routing default."""


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class FakeServer:
    """An HTTP server on 127.0.0.1 that records requests and answers with ``reply``."""

    reply: Callable[[Recorded], tuple[int, dict[str, Any]]]
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""

    def start(self) -> ThreadingHTTPServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                got = Recorded(
                    method="POST",
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                )
                outer.requests.append(got)
                status, payload = outer.reply(got)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


def _serve(reply: Callable[[Recorded], tuple[int, dict[str, Any]]]) -> Iterator[FakeServer]:
    fake = FakeServer(reply=reply)
    server = fake.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def slack_api() -> Iterator[FakeServer]:
    """Slack's Web API: chat.postMessage answers ok like Slack does."""

    def reply(got: Recorded) -> tuple[int, dict[str, Any]]:
        if got.path != "/api/chat.postMessage":
            return 404, {"ok": False, "error": "unknown_method"}
        return 200, {"ok": True, "channel": "C123ABC456", "ts": "1355517524.000010"}

    yield from _serve(reply)


@pytest.fixture
def chatwoot_api() -> Iterator[FakeServer]:
    """Chatwoot's conversations API (messages and toggle_status)."""

    def reply(got: Recorded) -> tuple[int, dict[str, Any]]:
        if got.headers.get("api_access_token") != SECRETS["TEST_CHATWOOT_TOKEN"]:
            return 401, {"error": "You need to sign in or sign up before continuing."}
        if got.path.endswith("/toggle_status"):
            return 200, {"payload": {"success": True, "current_status": "open"}}
        return 200, {"id": 4711, "content": got.json().get("content")}

    yield from _serve(reply)


@pytest.fixture
def receiver() -> Iterator[FakeServer]:
    """A callback receiver of the generic webhook connector."""
    yield from _serve(lambda got: (200, {"ok": True}))


@pytest.fixture
def channel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def channels_config(
    slack_url: str = "http://127.0.0.1:9/", chatwoot_url: str = "http://127.0.0.1:9", **extra: Any
) -> ChannelsConfig:
    data: dict[str, Any] = {
        "slack": {
            "principal": "slackbot",
            "signing_secret_env": "TEST_SLACK_SIGNING_SECRET",
            "bot_token_env": "TEST_SLACK_BOT_TOKEN",
            "base_url": slack_url,
            "timeout": 3,
        },
        "chatwoot": {
            "principal": "chatwoot",
            "base_url": chatwoot_url,
            "account_id": 1,
            "api_token_env": "TEST_CHATWOOT_TOKEN",
            "secret_env": "TEST_CHATWOOT_SECRET",
            "timeout": 3,
        },
        "twilio": {
            "principal": "phone",
            "auth_token_env": "TEST_TWILIO_AUTH_TOKEN",
            "public_url": "https://govcx.example.com",
        },
        "webhook": {
            "principal": "hook",
            "secret_env": "TEST_HOOK_SECRET",
            "callback_urls": ["http://127.0.0.1:"],
        },
    }
    for name, override in extra.items():
        data[name] = None if override is None else {**data[name], **override}
    return ChannelsConfig.model_validate(data)


def with_channels(agent: Agent, config: ChannelsConfig) -> Agent:
    """The shop pack plus a channel principal per connector and ``channels`` configured."""
    extra = {
        name: Principal(name=name, roles=frozenset({"channel"}))
        for name in ("slackbot", "chatwoot", "phone", "hook")
    }
    pack = agent.pack
    agent.pack = dataclasses.replace(
        pack,
        principals={**pack.principals, **extra},
        config=pack.config.model_copy(update={"channels": config}),
    )
    return agent


@pytest.fixture
def channel_app(
    make_agent: Callable[..., Agent],
    server_settings: ServerSettings,
    channel_env: None,
    slack_api: FakeServer,
    chatwoot_api: FakeServer,
) -> Callable[..., FastAPI]:
    def factory(**extra: Any) -> FastAPI:
        agent = with_channels(
            with_extra_principals(make_agent()),
            channels_config(f"{slack_api.url}/api/", chatwoot_api.url, **extra),
        )
        keys = {**KEYS, **CHANNEL_KEYS}
        settings = server_settings.model_copy(
            update={"api_keys": ",".join(f"{k}:{n}" for n, k in keys.items())}
        )
        return create_app(settings, agent)

    return factory


@pytest.fixture
def channel_client(channel_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    with TestClient(channel_app()) as client:
        yield client


def agent_of(client: TestClient) -> Agent:
    app: Any = client.app
    agent: Agent = app.state.runtime.agent
    return agent


def turn_count(client: TestClient, conversation_id: str | None = None) -> int:
    """Turns recorded (of one conversation, or all)."""
    query = select(func.count()).select_from(schema.turns)
    if conversation_id is not None:
        query = query.where(schema.turns.c.conversation_id == conversation_id)
    with agent_of(client).db.read() as conn:
        return int(conn.execute(query).scalar() or 0)


def channel_failures(client: TestClient) -> list[dict[str, Any]]:
    return [
        e.as_dict()["data"] for e in agent_of(client).audit.events() if e.kind == "channel.failed"
    ]
