"""Fixtures of the API tests: the shop pack (plus an admin and a second channel), an app
on it, a TestClient, keys per principal, and a real uvicorn server when a test needs one."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from govcx.agent.agent import Agent
from govcx.api import ServerSettings, create_app
from govcx.governance.principal import Principal

KEYS = {
    "web": "key-web-0000000000000000",
    "web2": "key-web2-000000000000000",
    "sup": "key-sup-0000000000000000",
    "boss": "key-boss-000000000000000",
    "boss2": "key-boss2-00000000000000",
    "audit": "key-audit-00000000000000",
    "root": "key-root-000000000000000",
    "kim": "key-kim-0000000000000000",
    "pat": "key-pat-0000000000000000",
}
REFUND_80 = "please refund $80 for order A-1002"
CHROMIUM = Path("/usr/bin/chromium")
"""Debian's chromium, driven by Playwright in the browser tests (skipped without it)."""
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name]}"}


def with_extra_principals(agent: Agent) -> Agent:
    """The shop pack has no admin and one channel: add ``root`` (admin) and ``web2``."""
    extra = {
        "root": Principal(name="root", roles=frozenset({"admin"})),
        "web2": Principal(name="web2", roles=frozenset({"channel"})),
    }
    agent.pack = dataclasses.replace(agent.pack, principals={**agent.pack.principals, **extra})
    return agent


@pytest.fixture
def api_agent(make_agent: Callable[..., Agent]) -> Agent:
    return with_extra_principals(make_agent())


@pytest.fixture
def server_settings(tmp_path: Path) -> ServerSettings:
    return ServerSettings(
        home=tmp_path / "home",
        api_keys=",".join(f"{k}:{n}" for n, k in KEYS.items()),
        expiry_interval=0,
        webhook_backoff=0.05,
        webhook_timeout=2.0,
    )


@pytest.fixture
def make_app(api_agent: Agent, server_settings: ServerSettings) -> Callable[..., FastAPI]:
    def factory(**kwargs: Any) -> FastAPI:
        settings = server_settings.model_copy(update=kwargs.pop("settings", {}))
        return create_app(settings, kwargs.pop("agent", api_agent), **kwargs)

    return factory


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def pending_refund(
    client: TestClient, channel: str = "web", text: str = REFUND_80, customer: str = "C-1"
) -> dict[str, Any]:
    """Start a conversation and post a message that needs approval; returns the Turn."""
    cid = client.post(
        "/v1/conversations", json={"customer_id": customer}, headers=auth(channel)
    ).json()["conversation_id"]
    turn: dict[str, Any] = client.post(
        f"/v1/conversations/{cid}/messages", json={"text": text}, headers=auth(channel)
    ).json()
    assert turn["status"] == "pending_approval", turn
    return turn


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The response has ``status`` and the JSON error shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    error: dict[str, Any] = body["error"]
    return error


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LiveServer:
    """uvicorn on 127.0.0.1 in a thread."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless chromium (tests using it skip when it is not installed)."""
    if not CHROMIUM.exists():
        pytest.skip(
            "chromium is not installed at /usr/bin/chromium (apt-get install "
            "chromium; .ci/run installs it)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            instance.close()
