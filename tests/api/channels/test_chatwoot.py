"""The Chatwoot connector: signed agent-bot webhooks in, a local Chatwoot API out."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from govcx.api.channels.chatwoot import sign
from govcx.api.channels.gateway import ChannelGateway
from tests.api.channels.conftest import (
    HUMAN,
    SECRETS,
    FakeServer,
    agent_of,
    channel_failures,
    turn_count,
)

SECRET = SECRETS["TEST_CHATWOOT_SECRET"]

# The sample payload of Chatwoot's webhook documentation (chatwoot.com/docs/product/
# features/webhooks, "A sample webhook payload"), which agent bots receive too; ids as
# integers as Chatwoot sends them.
MESSAGE: dict[str, Any] = {
    "event": "message_created",
    "id": 1,
    "content": "What is your return policy?",
    "created_at": "2020-03-03 13:05:57 UTC",
    "message_type": "incoming",
    "content_type": "text",
    "content_attributes": {},
    "source_id": "",
    "private": False,
    "sender": {"id": 1, "name": "contact-name", "type": "contact"},
    "contact": {"id": 1, "name": "contact-name"},
    "conversation": {
        "display_id": 1,
        "additional_attributes": {
            "browser": {"device_name": "Macbook", "browser_name": "Chrome"},
            "referer": "http://www.chatwoot.com",
            "initiated_at": "Tue Mar 03 2020 18:37:38 GMT-0700 (Mountain Standard Time)",
        },
    },
    "account": {"id": 1, "name": "Chatwoot"},
}


def message(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(MESSAGE)
    body.update(changes)
    return body


def signed(body: dict[str, Any], *, secret: str = SECRET, age: int = 0) -> dict[str, Any]:
    raw = json.dumps(body).encode()
    ts = int(time.time()) - age
    return {
        "content": raw,
        "headers": {
            "Content-Type": "application/json",
            "X-Chatwoot-Signature": sign(secret, ts, raw),
            "X-Chatwoot-Timestamp": str(ts),
            "X-Chatwoot-Delivery": "3f1c0e8e-delivery",
        },
    }


def conversation_of(client: TestClient, chatwoot_conversation: int) -> str:
    app: Any = client.app
    gateway = ChannelGateway(app.state.runtime, "chatwoot", "chatwoot")
    return gateway.conversation_id(f"1:{chatwoot_conversation}")


def test_an_incoming_message_is_answered_through_the_api(
    channel_client: TestClient, chatwoot_api: FakeServer
) -> None:
    response = channel_client.post("/channels/chatwoot", **signed(message()))
    assert response.status_code == 200, response.text
    assert len(chatwoot_api.requests) == 1
    sent = chatwoot_api.requests[0]
    assert sent.path == "/api/v1/accounts/1/conversations/1/messages"
    assert sent.headers["api_access_token"] == SECRETS["TEST_CHATWOOT_TOKEN"]
    stored = agent_of(channel_client).conversation(conversation_of(channel_client, 1))
    assert stored["customer_id"] == "chatwoot:1:1"
    assert sent.json() == {
        "content": stored["turns"][-1]["reply"]["text"],
        "message_type": "outgoing",
        "private": False,
    }


def test_outgoing_and_private_messages_and_other_events_are_ignored(
    channel_client: TestClient, chatwoot_api: FakeServer
) -> None:
    for body in (
        message(message_type="outgoing", id=2),  # the bot's own reply, echoed back
        message(private=True, id=3),  # an agent's private note
        message(event="conversation_status_changed", id=4),
        message(account={"id": 2, "name": "Another account"}, id=5),
    ):
        response = channel_client.post("/channels/chatwoot", **signed(body))
        assert response.status_code == 200
        assert "ignored" in response.json()
    assert turn_count(channel_client) == 0
    assert chatwoot_api.requests == []


def test_a_forged_or_stale_delivery_is_rejected(
    channel_client: TestClient, chatwoot_api: FakeServer
) -> None:
    forged = channel_client.post("/channels/chatwoot", **signed(message(), secret="guess"))
    assert forged.status_code == 401
    stale = channel_client.post("/channels/chatwoot", **signed(message(), age=900))
    assert stale.status_code == 401
    assert stale.json()["error"]["code"] == "stale_request"
    unsigned = channel_client.post("/channels/chatwoot", json=message())
    assert unsigned.status_code == 401
    assert turn_count(channel_client) == 0
    assert chatwoot_api.requests == []


def test_a_hand_off_opens_the_conversation(
    channel_client: TestClient, chatwoot_api: FakeServer
) -> None:
    channel_client.post("/channels/chatwoot", **signed(message(content=HUMAN)))
    paths = [r.path for r in chatwoot_api.requests]
    assert paths == [
        "/api/v1/accounts/1/conversations/1/messages",
        "/api/v1/accounts/1/conversations/1/toggle_status",
    ]
    assert chatwoot_api.requests[1].json() == {"status": "open"}
    turn = agent_of(channel_client).conversation(conversation_of(channel_client, 1))["turns"][-1]
    assert turn["status"] == "escalated"
    assert turn["escalation"]["team"] == "support"


def test_a_redelivered_message_runs_once(
    channel_client: TestClient, chatwoot_api: FakeServer
) -> None:
    for _ in range(3):
        assert channel_client.post("/channels/chatwoot", **signed(message())).status_code == 200
    assert turn_count(channel_client) == 1
    assert len(chatwoot_api.requests) == 1


def test_a_failed_run_hands_the_conversation_to_people(
    channel_client: TestClient, chatwoot_api: FakeServer
) -> None:
    # A message naming another customer than the conversation's fails in the core.
    channel_client.post("/channels/chatwoot", **signed(message()))
    other = message(id=9, sender={"id": 77, "name": "someone else", "type": "contact"})
    channel_client.post("/channels/chatwoot", **signed(other))
    assert chatwoot_api.requests[-1].path.endswith("/toggle_status")
    failures = channel_failures(channel_client)
    assert [f["error"] for f in failures] == ["CustomerMismatch"]
    assert agent_of(channel_client).audit.verify().ok  # the failure joined the chain


def test_a_shared_url_token_for_chatwoot_that_does_not_sign(
    channel_app: Callable[..., FastAPI],
    chatwoot_api: FakeServer,
    monkeypatch: Any,
) -> None:
    monkeypatch.setenv("TEST_CHATWOOT_URL_TOKEN", "url-token-000000000000")
    app = channel_app(chatwoot={"secret_env": None, "token_env": "TEST_CHATWOOT_URL_TOKEN"})
    with TestClient(app) as client:
        wrong = client.post("/channels/chatwoot?token=nope", json=message())
        assert wrong.status_code == 401
        right = client.post("/channels/chatwoot?token=url-token-000000000000", json=message())
        assert right.status_code == 200
        assert turn_count(client) == 1
