"""After a hand-off, what the person working the case does in govcx reaches the channel:
their reply in the Slack thread, in the Chatwoot conversation, at the webhook callback."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from govcx.api.webhooks import verify_signature
from tests.api.channels import test_chatwoot, test_slack, test_webhook
from tests.api.channels.conftest import HUMAN, SECRETS, FakeServer
from tests.api.conftest import auth

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)

REPLY = "Hi, this is Pat from support. I have refunded the shipping fee."


def work_the_case(client: TestClient, case_id: str, *actions: str) -> None:
    """Pat (support) claims the case and does ``actions`` (reply, handback, resolve)."""
    assert client.post(f"/v1/cases/{case_id}/claim", headers=auth("pat")).is_success
    for action in actions:
        body = {"text": REPLY} if action == "reply" else None
        done = client.post(f"/v1/cases/{case_id}/{action}", json=body, headers=auth("pat"))
        assert done.is_success, done.text
    app: Any = client.app
    assert app.state.channels.relays.idle()


def open_case(client: TestClient) -> str:
    listed = client.get("/v1/cases", headers=auth("pat")).json()
    assert len(listed) == 1
    case_id: str = listed[0]["case_id"]
    return case_id


def test_a_persons_reply_is_posted_in_the_slack_thread(
    channel_client: TestClient, slack_api: FakeServer
) -> None:
    channel_client.post("/channels/slack", **test_slack.signed(test_slack.event(text=HUMAN)))
    assert len(slack_api.requests) == 1  # the hand-off message
    work_the_case(channel_client, open_case(channel_client), "reply")
    assert len(slack_api.requests) == 2
    posted = slack_api.requests[1].json()
    assert (posted["channel"], posted["thread_ts"], posted["text"]) == (
        "C123ABC456",
        "1355517523.000005",
        REPLY,
    )


def test_chatwoot_gets_the_reply_and_the_conversation_back_on_hand_back(
    channel_client: TestClient, chatwoot_api: FakeServer
) -> None:
    channel_client.post(
        "/channels/chatwoot", **test_chatwoot.signed(test_chatwoot.message(content=HUMAN))
    )
    work_the_case(channel_client, open_case(channel_client), "reply", "handback")
    calls = [(r.path.rsplit("/", 1)[-1], r.json()) for r in chatwoot_api.requests[2:]]
    assert calls == [
        ("messages", {"content": REPLY, "message_type": "outgoing", "private": False}),
        ("toggle_status", {"status": "pending"}),  # the bot answers again
    ]


def test_the_webhook_callback_hears_the_case_events(
    channel_client: TestClient, receiver: FakeServer
) -> None:
    body = test_webhook.delivery(text=HUMAN, callback_url=f"{receiver.url}/events")
    assert channel_client.post("/channels/webhook", **test_webhook.signed(body)).status_code == 202
    work_the_case(channel_client, open_case(channel_client), "reply", "resolve")
    events = [r for r in receiver.requests if "x-govcx-event" in r.headers]
    assert [r.json()["event"] for r in events] == [
        "conversation.assigned",
        "conversation.human_reply",
        "conversation.resolved",
    ]
    reply = events[1].json()
    assert reply["text"] == REPLY and reply["author"] == "pat"
    assert reply["conversation"] == "ticket-4711"
    assert "summary" not in reply["case"]  # the internal hand-off summary stays inside
    for sent in events:
        assert verify_signature(
            SECRETS["TEST_HOOK_SECRET"], sent.headers["x-govcx-signature"], sent.body
        )


def test_cases_of_other_conversations_go_to_no_channel(
    channel_client: TestClient, slack_api: FakeServer, chatwoot_api: FakeServer
) -> None:
    cid = channel_client.post("/v1/conversations", headers=auth("web")).json()["conversation_id"]
    channel_client.post(
        f"/v1/conversations/{cid}/messages", json={"text": HUMAN}, headers=auth("web")
    )
    work_the_case(channel_client, open_case(channel_client), "reply", "resolve")
    assert slack_api.requests == [] and chatwoot_api.requests == []
