"""The generic webhook connector: its JSON contract, signatures, dedupe and callbacks;
and that each connector's principal sees only its own conversations."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from govcx.api.channels.gateway import ChannelGateway
from govcx.api.webhooks import sign, verify_signature
from tests.api.channels.conftest import (
    CHANNEL_KEYS,
    HUMAN,
    SECRETS,
    FakeServer,
    turn_count,
)
from tests.api.channels.test_slack import event
from tests.api.channels.test_slack import signed as slack_signed

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)

SECRET = SECRETS["TEST_HOOK_SECRET"]


def signed(body: dict[str, Any], *, secret: str = SECRET, age: int = 0) -> dict[str, Any]:
    raw = json.dumps(body).encode()
    return {
        "content": raw,
        "headers": {
            "Content-Type": "application/json",
            "X-Govcx-Signature": sign(secret, raw, int(time.time()) - age),
        },
    }


def delivery(**changes: Any) -> dict[str, Any]:
    return {
        "delivery_id": "d-81f2",
        "conversation": "ticket-4711",
        "customer_id": "C-1001",
        "text": "What is your return policy?",
        **changes,
    }


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {CHANNEL_KEYS[name]}"}


def test_a_message_is_answered_in_the_response(channel_client: TestClient) -> None:
    response = channel_client.post("/channels/webhook", **signed(delivery()))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {
        "delivery_id",
        "conversation",
        "conversation_id",
        "turn_id",
        "status",
        "reply",
        "handoff",
    }
    assert answer["status"] == "answered"
    assert answer["handoff"] is None
    assert answer["reply"]
    # The conversation belongs to the connector's principal: readable with its key.
    view = channel_client.get(
        f"/v1/conversations/{answer['conversation_id']}", headers=bearer("hook")
    )
    assert view.status_code == 200
    assert view.json()["customer_id"] == "C-1001"


def test_a_hand_off_names_the_case_and_team(channel_client: TestClient) -> None:
    answer = channel_client.post("/channels/webhook", **signed(delivery(text=HUMAN))).json()
    assert answer["status"] == "escalated"
    assert answer["handoff"]["team"] == "support"
    assert answer["handoff"]["case_id"].startswith("case_")
    later = channel_client.post(
        "/channels/webhook", **signed(delivery(delivery_id="d-2", text="hello?"))
    ).json()
    assert later["status"] == "with_human"
    assert later["reply"] is None
    assert later["handoff"]["case_id"] == answer["handoff"]["case_id"]


def test_forged_stale_and_unsigned_requests_are_rejected(channel_client: TestClient) -> None:
    assert (
        channel_client.post("/channels/webhook", **signed(delivery(), secret="x")).status_code
        == 401
    )
    stale = channel_client.post("/channels/webhook", **signed(delivery(), age=3600))
    assert stale.status_code == 401
    assert stale.json()["error"]["code"] == "stale_request"
    assert channel_client.post("/channels/webhook", json=delivery()).status_code == 401
    assert turn_count(channel_client) == 0


def test_a_bad_body_names_the_field(channel_client: TestClient) -> None:
    response = channel_client.post(
        "/channels/webhook", **signed({"delivery_id": "d-1", "text": "hi"})
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"] == {"field": "conversation"}


def test_a_repeated_delivery_runs_once_and_answers_the_same(channel_client: TestClient) -> None:
    first = channel_client.post("/channels/webhook", **signed(delivery())).json()
    second = channel_client.post("/channels/webhook", **signed(delivery())).json()
    assert first == second
    assert turn_count(channel_client) == 1
    # The same delivery id with another text is a client bug, not a retry.
    reused = channel_client.post("/channels/webhook", **signed(delivery(text="something else")))
    assert reused.status_code == 422
    assert turn_count(channel_client) == 1


def test_the_answer_goes_to_the_callback_signed_and_once(
    channel_client: TestClient, receiver: FakeServer
) -> None:
    body = delivery(callback_url=f"{receiver.url}/govcx")
    accepted = channel_client.post("/channels/webhook", **signed(body))
    assert accepted.status_code == 202
    assert accepted.json()["accepted"] is True
    again = channel_client.post("/channels/webhook", **signed(body))
    assert again.status_code == 202
    assert again.json()["duplicate"] is True
    assert len(receiver.requests) == 1
    sent = receiver.requests[0]
    assert sent.path == "/govcx"
    assert sent.headers["x-govcx-delivery"] == "d-81f2"
    assert verify_signature(SECRET, sent.headers["x-govcx-signature"], sent.body)
    assert sent.json()["status"] == "answered"
    assert sent.json()["conversation_id"] == accepted.json()["conversation_id"]
    assert turn_count(channel_client) == 1


def test_a_callback_outside_the_allowed_prefixes_is_refused(channel_client: TestClient) -> None:
    body = delivery(callback_url="http://169.254.169.254/latest/meta-data")
    response = channel_client.post("/channels/webhook", **signed(body))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "callback_not_allowed"
    assert turn_count(channel_client) == 0


def test_a_channel_principal_cannot_read_another_channels_conversations(
    channel_client: TestClient,
) -> None:
    hook = channel_client.post("/channels/webhook", **signed(delivery())).json()
    channel_client.post("/channels/slack", **slack_signed(event()))
    app: Any = channel_client.app
    slack_conversation = ChannelGateway(app.state.runtime, "slack", "slackbot").conversation_id(
        "C123ABC456:1355517523.000005"
    )
    assert (
        channel_client.get(
            f"/v1/conversations/{slack_conversation}", headers=bearer("slackbot")
        ).status_code
        == 200
    )
    for other, conversation in (
        ("hook", slack_conversation),
        ("slackbot", hook["conversation_id"]),
    ):
        read = channel_client.get(f"/v1/conversations/{conversation}", headers=bearer(other))
        assert read.status_code == 404
        post = channel_client.post(
            f"/v1/conversations/{conversation}/messages", json={"text": "hi"}, headers=bearer(other)
        )
        assert post.status_code == 404
    # The same external id through another connector is another conversation.
    same_id = channel_client.post(
        "/channels/webhook",
        **signed(delivery(delivery_id="d-9", conversation="C123ABC456:1355517523.000005")),
    ).json()
    assert same_id["conversation_id"] != slack_conversation


@pytest.mark.parametrize(
    ("change", "field"),
    [({"text": ""}, "text"), ({"customer_id": "not an id!"}, "customer_id")],
)
def test_a_message_the_api_would_refuse_is_refused_the_same_way(
    channel_client: TestClient, change: dict[str, Any], field: str
) -> None:
    response = channel_client.post("/channels/webhook", **signed(delivery(**change)))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == field
    assert turn_count(channel_client) == 0
