"""The Slack connector: signed Events API requests in, chat.postMessage (slack-sdk) to a
local Slack Web API out."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from slack_sdk.signature import SignatureVerifier

from govcx.api.channels.gateway import ChannelGateway
from tests.api.channels.conftest import (
    HUMAN,
    SECRETS,
    FakeServer,
    agent_of,
    channel_failures,
    turn_count,
)
from tests.api.conftest import LiveServer

SECRET = SECRETS["TEST_SLACK_SIGNING_SECRET"]

# The message event of Slack's Events API documentation (api.slack.com/events/message and
# /apis/connections/events-api, "Callback field overview"), identifiers as published.
EVENT: dict[str, Any] = {
    "token": "XXYYZZ",
    "team_id": "T123ABC456",
    "api_app_id": "A123ABC456",
    "event": {
        "type": "message",
        "channel": "C123ABC456",
        "user": "U123ABC456",
        "text": "What is your return policy?",
        "ts": "1355517523.000005",
        "event_ts": "1355517523.000005",
        "channel_type": "channel",
    },
    "type": "event_callback",
    "authed_users": ["U123ABC456"],
    "event_id": "Ev123ABC456",
    "event_time": 1355517523,
}


def event(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(EVENT)
    for key, value in changes.items():
        if key in ("event_id",):
            body[key] = value
        else:
            body["event"][key] = value
    return body


def signed(
    body: dict[str, Any], *, timestamp: int | None = None, secret: str = SECRET
) -> dict[str, Any]:
    """Headers and content of a request Slack signs (v0 HMAC, computed here)."""
    raw = json.dumps(body).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=raw)
    return {
        "content": raw,
        "headers": {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature,
        },
    }


def conversation_of(client: TestClient, channel: str, thread: str) -> str:
    app: Any = client.app
    runtime = app.state.runtime
    return ChannelGateway(runtime, "slack", "slackbot").conversation_id(f"{channel}:{thread}")


def test_url_verification_answers_the_challenge(channel_client: TestClient) -> None:
    body = {
        "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification",
    }
    response = channel_client.post("/channels/slack", **signed(body))
    assert response.status_code == 200
    assert response.json() == {"challenge": body["challenge"]}


def test_a_message_is_answered_in_its_thread(
    channel_client: TestClient, slack_api: FakeServer
) -> None:
    response = channel_client.post("/channels/slack", **signed(event()))
    assert response.status_code == 200, response.text

    assert len(slack_api.requests) == 1
    sent = slack_api.requests[0]
    assert sent.path == "/api/chat.postMessage"
    assert sent.headers["authorization"] == f"Bearer {SECRETS['TEST_SLACK_BOT_TOKEN']}"
    posted = sent.json()
    assert posted["channel"] == "C123ABC456"
    assert posted["thread_ts"] == "1355517523.000005"  # a new thread under the message
    conversation = conversation_of(channel_client, "C123ABC456", "1355517523.000005")
    stored = agent_of(channel_client).conversation(conversation)
    assert stored["customer_id"] == "slack:T123ABC456:U123ABC456"
    assert posted["text"] == stored["turns"][-1]["reply"]["text"]
    assert stored["transcript"][0]["text"] == "What is your return policy?"


def test_a_reply_in_the_thread_continues_the_same_conversation(
    channel_client: TestClient, slack_api: FakeServer
) -> None:
    channel_client.post("/channels/slack", **signed(event()))
    follow_up = event(
        event_id="Ev999", ts="1355517600.000100", thread_ts="1355517523.000005", text="thanks"
    )
    assert channel_client.post("/channels/slack", **signed(follow_up)).status_code == 200
    conversation = conversation_of(channel_client, "C123ABC456", "1355517523.000005")
    assert turn_count(channel_client, conversation) == 2
    assert [r.json()["thread_ts"] for r in slack_api.requests] == ["1355517523.000005"] * 2


def test_a_forged_signature_is_rejected_and_nothing_runs(
    channel_client: TestClient, slack_api: FakeServer
) -> None:
    forged = signed(event(), secret="not-the-signing-secret")
    response = channel_client.post("/channels/slack", **forged)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    # The body was changed after signing: also refused.
    tampered = signed(event())
    tampered["content"] = tampered["content"].replace(b"return policy", b"refund $900")
    assert channel_client.post("/channels/slack", **tampered).status_code == 401
    unsigned = channel_client.post(
        "/channels/slack", content=json.dumps(event()), headers={"Content-Type": "application/json"}
    )
    assert unsigned.status_code == 401
    assert turn_count(channel_client) == 0
    assert slack_api.requests == []


def test_a_stale_timestamp_is_rejected(channel_client: TestClient, slack_api: FakeServer) -> None:
    old = signed(event(), timestamp=int(time.time()) - 600)  # correctly signed, 10 minutes old
    response = channel_client.post("/channels/slack", **old)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "stale_request"
    assert turn_count(channel_client) == 0
    assert slack_api.requests == []


def test_a_retried_delivery_runs_the_message_once(
    channel_client: TestClient, slack_api: FakeServer
) -> None:
    first = channel_client.post("/channels/slack", **signed(event()))
    retry = signed(event())
    retry["headers"] |= {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    second = channel_client.post("/channels/slack", **retry)
    assert first.status_code == second.status_code == 200
    assert second.json()["ignored"] == "duplicate delivery"
    # The same message as an app_mention event (another event_id): still once.
    mention = event(
        event_id="Ev777", type="app_mention", text="<@U0LAN0Z89> What is your return policy?"
    )
    assert channel_client.post("/channels/slack", **signed(mention)).status_code == 200
    assert turn_count(channel_client) == 1
    assert len(slack_api.requests) == 1


def test_bot_messages_and_edits_are_ignored(
    channel_client: TestClient, slack_api: FakeServer
) -> None:
    bot = event(event_id="Ev1", bot_id="B123ABC456", subtype="bot_message")
    edit = event(event_id="Ev2", subtype="message_changed")
    for body in (bot, edit):
        response = channel_client.post("/channels/slack", **signed(body))
        assert response.status_code == 200
        assert response.json()["ignored"] == "not a customer message"
    assert turn_count(channel_client) == 0
    assert slack_api.requests == []


def test_a_hand_off_is_said_in_the_thread_then_the_bot_stays_silent(
    channel_client: TestClient, slack_api: FakeServer
) -> None:
    channel_client.post("/channels/slack", **signed(event(text=HUMAN)))
    conversation = conversation_of(channel_client, "C123ABC456", "1355517523.000005")
    turns = agent_of(channel_client).conversation(conversation)["turns"]
    assert turns[-1]["status"] == "escalated"
    assert slack_api.requests[-1].json()["text"] == turns[-1]["reply"]["text"]
    later = event(
        event_id="Ev2", ts="1355517700.000001", thread_ts="1355517523.000005", text="hello?"
    )
    channel_client.post("/channels/slack", **signed(later))
    turns = agent_of(channel_client).conversation(conversation)["turns"]
    assert turns[-1]["status"] == "with_human"
    assert len(slack_api.requests) == 1  # a person has it: the bot said nothing


def test_a_failing_slack_api_is_audited_not_raised(
    channel_client: TestClient, slack_api: FakeServer
) -> None:
    slack_api.reply = lambda got: (200, {"ok": False, "error": "channel_not_found"})
    response = channel_client.post("/channels/slack", **signed(event()))
    assert response.status_code == 200
    failures = channel_failures(channel_client)
    assert [f["stage"] for f in failures] == ["chat.postMessage"]
    assert "channel_not_found" in failures[0]["message"]


def test_slack_gets_its_200_before_the_reply_is_sent(
    channel_app: Callable[..., FastAPI], slack_api: FakeServer
) -> None:
    """A real server: the ack does not wait for the turn or for a slow Slack API."""
    arrived = threading.Event()

    def slow(got: Any) -> tuple[int, dict[str, Any]]:
        time.sleep(2.5)  # under the client time-out of 3 s
        arrived.set()
        return 200, {"ok": True, "ts": "1355517524.000010"}

    slack_api.reply = slow
    with LiveServer(channel_app()) as server:
        request = signed(event())
        started = time.perf_counter()
        response = httpx.post(f"{server.url}/channels/slack", **request, timeout=10)
        acked = time.perf_counter() - started
        assert response.status_code == 200
        assert acked < 2.0, f"the ack took {acked:.2f} s"
        assert arrived.wait(15), "the reply never reached Slack"
    assert slack_api.requests[0].json()["thread_ts"] == "1355517523.000005"


def test_a_direct_message_is_one_conversation_answered_in_the_dm(
    channel_client: TestClient, slack_api: FakeServer
) -> None:
    for number, ts in enumerate(("1355517600.000001", "1355517700.000002")):
        body = event(event_id=f"EvDM{number}", channel="D024BE91L", channel_type="im", ts=ts)
        assert channel_client.post("/channels/slack", **signed(body)).status_code == 200
    assert turn_count(channel_client, conversation_of(channel_client, "D024BE91L", "im")) == 2
    assert [r.json()["channel"] for r in slack_api.requests] == ["D024BE91L"] * 2
    assert all("thread_ts" not in r.json() for r in slack_api.requests)
