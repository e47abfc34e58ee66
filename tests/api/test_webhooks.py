"""Signed webhooks to a real receiver on 127.0.0.1: retries, failures, never blocking."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from govcx.agent.agent import Agent
from govcx.api import verify_signature
from govcx.errors import ConfigError
from govcx.pack import WebhookConfig
from tests.api.conftest import auth, free_port, pending_refund
from tests.conftest import Clock

SECRET = "whsec-test-0123456789"


class Receiver:
    """An HTTP receiver answering with scripted statuses (then 200), recording requests."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        self.release.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.release.wait(10)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.requests.append(
                    {"headers": dict(self.headers), "body": body, "status": status}
                )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def delivered(self, event_type: str) -> list[dict[str, Any]]:
        return [
            json.loads(r["body"])
            for r in self.requests
            if r["status"] == 200 and r["headers"]["X-Govcx-Event"] == event_type
        ]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def hooked(
    agent: Agent,
    *urls: str,
    events: list[str] | None = None,
    secret_env: str | None = "GOVCX_TEST_HOOK_SECRET",
) -> Agent:
    hooks = [WebhookConfig(url=url, events=events or ["*"], secret_env=secret_env) for url in urls]
    config = agent.pack.config.model_copy(update={"webhooks": hooks})
    agent.pack = dataclasses.replace(agent.pack, config=config)
    return agent


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCX_TEST_HOOK_SECRET", SECRET)


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


def test_signed_events_for_requested_decided_and_escalated(
    make_app: Callable[..., FastAPI], api_agent: Agent, receiver: Receiver
) -> None:
    app = make_app(agent=hooked(api_agent, receiver.url))
    with TestClient(app) as client:
        turn = pending_refund(client)
        client.post(
            f"/v1/approvals/{turn['approval_id']}/decision",
            json={"decision": "approve"},
            headers=auth("sup"),
        )
        client.post(
            "/v1/conversations/c-law/messages",
            json={"text": "I will sue you", "customer_id": "C-1"},
            headers=auth("web"),
        )
        wait_for(lambda: len(receiver.requests) >= 3)
    for request in receiver.requests:
        header = request["headers"]["X-Govcx-Signature"]
        assert verify_signature(SECRET, header, request["body"])
        assert not verify_signature("wrong-secret", header, request["body"])
        assert not verify_signature(SECRET, header, request["body"] + b" ")
    requested = receiver.delivered("approval.requested")[0]
    assert requested["id"] == f"approval.requested:{turn['approval_id']}"
    assert requested["data"]["approval"]["args"] == {"order_id": "A-1002", "amount": 80.0}
    decided = receiver.delivered("approval.decided")[0]
    assert decided["data"]["approval"]["status"] == "approved"
    assert decided["data"]["decision"]["principal"] == "sup"
    assert decided["data"]["turn"]["actions"][0]["status"] == "executed"
    escalated = receiver.delivered("escalation.created")[0]
    assert escalated["data"]["conversation_id"] == "c-law"


def test_a_receiver_that_fails_then_recovers_gets_the_event(
    make_app: Callable[..., FastAPI], api_agent: Agent
) -> None:
    receiver = Receiver([500])
    try:
        app = make_app(agent=hooked(api_agent, receiver.url, events=["approval.*"]))
        with TestClient(app) as client:
            turn = pending_refund(client)
            wait_for(lambda: receiver.delivered("approval.requested"))
            deliveries = client.get("/v1/webhooks/deliveries", headers=auth("audit")).json()
            metrics = client.get("/metrics").text
    finally:
        receiver.close()
    assert [r["status"] for r in receiver.requests] == [500, 200]
    first, second = (r["headers"]["X-Govcx-Delivery"] for r in receiver.requests)
    assert first == second  # the same delivery, retried
    assert deliveries[0]["status"] == "delivered" and deliveries[0]["attempts"] == 2
    assert deliveries[0]["event_id"] == f"approval.requested:{turn['approval_id']}"
    assert 'govcx_webhook_attempts_total{event="approval.requested",outcome="retry"} 1.0' in metrics


def test_a_dead_receiver_never_blocks_or_loses_a_turn(
    make_app: Callable[..., FastAPI], api_agent: Agent
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    app = make_app(
        agent=hooked(api_agent, dead), settings={"webhook_max_attempts": 3, "webhook_backoff": 0.01}
    )
    with TestClient(app) as client:
        turn = pending_refund(client)
        decided = client.post(
            f"/v1/approvals/{turn['approval_id']}/decision",
            json={"decision": "approve"},
            headers=auth("sup"),
        )
        assert decided.status_code == 200
        assert decided.json()["actions"][0]["status"] == "executed"
        failed = wait_for(
            lambda: (
                len(
                    client.get(
                        "/v1/webhooks/deliveries",
                        params={"status": "failed"},
                        headers=auth("audit"),
                    ).json()
                )
                == 2
                or None
            )
        )
        assert failed
        deliveries = client.get("/v1/webhooks/deliveries", headers=auth("audit")).json()
        metrics = client.get("/metrics").text
    assert {d["attempts"] for d in deliveries} == {3}
    assert all("ConnectError" in d["last_error"] for d in deliveries)
    assert 'govcx_webhook_failures_total{event="approval.decided"} 1.0' in metrics


def test_a_hanging_receiver_does_not_delay_the_request(
    make_app: Callable[..., FastAPI], api_agent: Agent, receiver: Receiver
) -> None:
    receiver.release.clear()  # the receiver holds every request until released
    app = make_app(agent=hooked(api_agent, receiver.url))
    with TestClient(app) as client:
        turn = pending_refund(client)
        decided = client.post(
            f"/v1/approvals/{turn['approval_id']}/decision",
            json={"decision": "approve"},
            headers=auth("sup"),
        )
        assert decided.json()["status"] == "answered"  # answered while the receiver hangs
        assert receiver.requests == []
        receiver.release.set()
        wait_for(lambda: receiver.delivered("approval.decided"))


def test_deliveries_pending_at_shutdown_are_sent_after_a_restart(
    make_app: Callable[..., FastAPI], api_agent: Agent, receiver: Receiver
) -> None:
    agent = hooked(api_agent, receiver.url)
    stopped = TestClient(make_app(agent=agent))  # no lifespan: the worker never runs
    pending_refund(stopped)
    assert receiver.requests == []
    with TestClient(make_app(agent=agent)):
        wait_for(lambda: receiver.delivered("approval.requested"))


def test_expiry_sends_approval_expired(
    make_app: Callable[..., FastAPI], api_agent: Agent, receiver: Receiver, clock: Clock
) -> None:
    app = make_app(agent=hooked(api_agent, receiver.url), settings={"expiry_interval": 0.05})
    with TestClient(app) as client:
        turn = pending_refund(client)
        clock.now += 2 * 3600
        expired = wait_for(lambda: receiver.delivered("approval.expired"))
        wait_for(lambda: receiver.delivered("escalation.created"))
    assert expired[0]["data"]["approval"]["approval_id"] == turn["approval_id"]
    assert expired[0]["data"]["on_expiry"] == "escalate"


def test_a_missing_secret_refuses_to_start(
    make_app: Callable[..., FastAPI],
    api_agent: Agent,
    monkeypatch: pytest.MonkeyPatch,
    receiver: Receiver,
) -> None:
    monkeypatch.delenv("GOVCX_TEST_HOOK_SECRET")
    with pytest.raises(ConfigError, match="GOVCX_TEST_HOOK_SECRET"):
        make_app(agent=hooked(api_agent, receiver.url))
