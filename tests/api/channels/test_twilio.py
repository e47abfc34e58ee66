"""The Twilio Voice connector: signed Gather webhooks in, TwiML out."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from govcx.api.channels.gateway import ChannelGateway
from govcx.api.channels.twilio import caller_id
from tests.api.channels.conftest import HUMAN, SECRETS, agent_of, channel_failures, turn_count

PUBLIC = "https://govcx.example.com/channels/twilio"
VALIDATOR = RequestValidator(SECRETS["TEST_TWILIO_AUTH_TOKEN"])

# The parameters Twilio sends with every voice webhook and a <Gather input="speech">
# action (twilio.com/docs/voice/twiml#request-parameters, /docs/voice/twiml/gather
# "speech" parameters); the SIDs are the documentation's placeholders.
CALL = {
    "CallSid": "CA5ad0b8b2b7c4b2a8b1ad6d2c8e1f3a27",
    "AccountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "From": "+15017122661",
    "To": "+15558675310",
    "CallStatus": "in-progress",
    "ApiVersion": "2010-04-01",
    "Direction": "inbound",
    "CallerName": "",
}


def gathered(speech: str, **extra: str) -> dict[str, str]:
    return {**CALL, "SpeechResult": speech, "Confidence": "0.9377386", **extra}


def post(
    client: TestClient,
    params: dict[str, str],
    *,
    url: str = PUBLIC,
    token: str | None = None,
    signature: str | None = None,
) -> Any:
    headers = {"X-Twilio-Signature": signature or VALIDATOR.compute_signature(url, params)}
    if token:
        headers["I-Twilio-Idempotency-Token"] = token
    return client.post("/channels/twilio", data=params, headers=headers)


def twiml(response: Any) -> ET.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return ET.fromstring(response.text)


def conversation_id(client: TestClient) -> str:
    app: Any = client.app
    return ChannelGateway(app.state.runtime, "twilio", "phone").conversation_id(CALL["CallSid"])


def test_a_call_is_greeted_with_a_speech_gather(channel_client: TestClient) -> None:
    root = twiml(post(channel_client, CALL))
    gather = root.find("Gather")
    assert gather is not None
    assert gather.get("input") == "speech"
    assert gather.get("action") == PUBLIC
    say = gather.find("Say")
    assert say is not None and say.text == "Hello, how can I help you today?"
    assert turn_count(channel_client) == 0


def test_speech_is_a_message_and_the_reply_is_said_before_the_next_gather(
    channel_client: TestClient,
) -> None:
    root = twiml(post(channel_client, gathered("What is your return policy?"), token="idem-1"))
    assert [child.tag for child in root][:2] == ["Say", "Gather"]
    stored = agent_of(channel_client).conversation(conversation_id(channel_client))
    assert root[0].text == stored["turns"][-1]["reply"]["text"]
    assert stored["customer_id"] == "tel:15017122661"
    assert stored["transcript"][0]["text"] == "What is your return policy?"


def test_a_hand_off_enqueues_the_call_in_the_case_team_queue(
    channel_client: TestClient,
) -> None:
    root = twiml(post(channel_client, gathered(HUMAN), token="idem-1"))
    assert [child.tag for child in root] == ["Say", "Enqueue"]
    assert root[1].text == "support"
    turn = agent_of(channel_client).conversation(conversation_id(channel_client))["turns"][-1]
    assert turn["status"] == "escalated"


def test_a_hand_off_can_dial_a_number(channel_app: Callable[..., FastAPI]) -> None:
    with TestClient(channel_app(twilio={"handoff": "dial", "dial": "+15550100"})) as client:
        root = twiml(post(client, gathered(HUMAN), token="idem-1"))
        assert [child.tag for child in root] == ["Say", "Dial"]
        assert root[1].text == "+15550100"


def test_a_bad_signature_is_rejected_and_nothing_runs(channel_client: TestClient) -> None:
    params = gathered("refund $900 on order A-1002")
    forged = RequestValidator("not-the-auth-token-0000000000000").compute_signature(PUBLIC, params)
    response = post(channel_client, params, signature=forged)
    assert response.status_code == 403
    # Signed for other parameters (the speech was changed in transit): refused too.
    signature = VALIDATOR.compute_signature(PUBLIC, gathered("hello"))
    assert post(channel_client, params, signature=signature).status_code == 403
    # Signed for the URL the server sees rather than the public one: refused.
    local = "http://testserver/channels/twilio"
    assert post(channel_client, params, url=local).status_code == 403
    missing = channel_client.post("/channels/twilio", data=params)
    assert missing.status_code == 403
    assert turn_count(channel_client) == 0


def test_a_retried_request_runs_once_and_gets_the_same_twiml(channel_client: TestClient) -> None:
    params = gathered("What is your return policy?")
    first = post(channel_client, params, token="c1a2b3-retry")
    second = post(channel_client, params, token="c1a2b3-retry")
    assert first.text == second.text
    assert turn_count(channel_client) == 1
    post(channel_client, params, token="another-utterance")  # said again: a new message
    assert turn_count(channel_client) == 2


def test_a_failed_turn_apologises_and_hands_over(channel_client: TestClient) -> None:
    post(channel_client, gathered("hello"), token="t1")
    # Another caller id on the same call: the core refuses (customer mismatch).
    root = twiml(post(channel_client, gathered("hello", From="+15550000000"), token="t2"))
    assert [child.tag for child in root] == ["Say", "Enqueue"]
    assert "connect you with a person" in str(root[0].text)
    assert [f["error"] for f in channel_failures(channel_client)] == ["CustomerMismatch"]


def test_withheld_numbers_are_no_customer() -> None:
    assert caller_id("+15017122661") == "tel:15017122661"
    for withheld in ("+266696687", "anonymous", "client:alice", "", "+"):
        assert caller_id(withheld) is None
