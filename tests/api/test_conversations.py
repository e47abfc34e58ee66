"""Conversations: Turns, idempotent posts, streamed turns."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from govcx.agent.agent import Agent
from tests.api.conftest import REFUND_80, LiveServer, assert_error, auth
from tests.conftest import shop_effects

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


def _sse(text: str) -> list[tuple[str, Any]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if name:
            events.append((name, json.loads("\n".join(data))))
    return events


def test_create_post_and_read_a_conversation(client: TestClient) -> None:
    created = client.post("/v1/conversations", json={"customer_id": "C-1"}, headers=auth("web"))
    assert created.status_code == 201
    cid = created.json()["conversation_id"]
    turn = client.post(
        f"/v1/conversations/{cid}/messages",
        json={"text": "where is my order A-1001"},
        headers=auth("web"),
    ).json()
    assert turn["status"] == "answered"
    assert turn["conversation_id"] == cid
    assert turn["reply"]["text"] == "Order A-1001 is delivered."
    assert turn["actions"][0]["tool"] == "lookup_order"
    assert turn["decision"]["policy_version"] == "t1"
    conv = client.get(f"/v1/conversations/{cid}", headers=auth("web")).json()
    assert conv["customer_id"] == "C-1" and conv["status"] == "idle"
    assert [m["role"] for m in conv["transcript"]] == ["customer", "assistant"]
    assert conv["turns"][0]["turn_id"] == turn["turn_id"]


def test_transcript_keeps_the_holding_notice_and_the_outcome(client: TestClient) -> None:
    """What the customer saw while waiting for a human stays in the transcript (a system
    line); the outcome after the decision is the assistant line and does not replace it."""
    cid = "c-holding"
    pending = client.post(
        f"/v1/conversations/{cid}/messages",
        json={"text": REFUND_80, "customer_id": "C-1"},
        headers=auth("web"),
    ).json()
    assert pending["status"] == "pending_approval"

    def lines() -> list[tuple[str, str]]:
        conv = client.get(f"/v1/conversations/{cid}", headers=auth("web")).json()
        return [(m["role"], m["text"]) for m in conv["transcript"]]

    assert lines() == [("customer", REFUND_80), ("system", pending["reply"]["text"])]
    busy = client.post(
        f"/v1/conversations/{cid}/messages", json={"text": "any news?"}, headers=auth("web")
    ).json()
    assert [role for role, _ in lines()] == ["customer", "system", "customer", "assistant"]
    assert lines()[-1][1] == busy["reply"]["text"]
    decided = client.post(
        f"/v1/approvals/{pending['approval_id']}/decision",
        json={"decision": "approve"},
        headers=auth("sup"),
    ).json()
    assert decided["actions"][0]["status"] == "executed"
    after = lines()
    assert [role for role, _ in after] == [
        "customer",
        "system",
        "customer",
        "assistant",
        "assistant",
    ]
    assert after[1][1] == pending["reply"]["text"]
    assert after[-1][1] == decided["reply"]["text"]


def test_a_message_to_a_new_id_starts_the_conversation(client: TestClient) -> None:
    turn = client.post(
        "/v1/conversations/chat-42/messages",
        json={"text": "how do returns work", "customer_id": "C-1"},
        headers=auth("web"),
    ).json()
    assert turn["status"] == "answered"
    assert turn["reply"]["citations"][0]["doc_id"] == "returns"


def test_idempotency_key_repeat_returns_the_same_turn_and_refunds_once(
    client: TestClient, api_agent: Agent
) -> None:
    body = {"text": "please refund $20 for order A-1001", "customer_id": "C-1"}
    headers = {**auth("web"), "Idempotency-Key": "msg-1"}
    first = client.post("/v1/conversations/c-idem/messages", json=body, headers=headers)
    second = client.post("/v1/conversations/c-idem/messages", json=body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["actions"][0]["status"] == "executed"
    assert len(shop_effects(api_agent)) == 1
    assert len(api_agent.conversations.turns("c-idem")) == 1
    other = client.post(
        "/v1/conversations/c-idem/messages",
        json={**body, "text": "please refund $30 for order A-1001"},
        headers=headers,
    )
    assert_error(other, 422, "idempotency_key_reused")
    assert len(shop_effects(api_agent)) == 1


def test_concurrent_posts_on_one_conversation_are_serialised(
    client: TestClient, api_agent: Agent
) -> None:
    results: list[int] = []

    def post(i: int) -> None:
        response = client.post(
            "/v1/conversations/c-busy/messages",
            json={"text": f"where is my order A-1001 ({i})", "customer_id": "C-1"},
            headers=auth("web"),
        )
        results.append(response.status_code)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 6
    conv = client.get("/v1/conversations/c-busy", headers=auth("web")).json()
    assert conv["turn_count"] == 6
    assert len(conv["transcript"]) == 12


def test_streamed_turn_sends_progress_reply_then_turn(client: TestClient) -> None:
    response = client.post(
        "/v1/conversations/c-sse/messages",
        json={"text": REFUND_80, "customer_id": "C-1"},
        headers={**auth("web"), "Accept": "text/event-stream"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _sse(response.text)
    names = [name for name, _ in events]
    assert names[-2:] == ["reply", "turn"]
    nodes = [data["node"] for name, data in events if name == "progress"]
    assert nodes[0] == "accepted"  # at once, before the graph runs
    assert nodes[1:7] == [
        "guard_input",
        "classify",
        "retrieve",
        "draft",
        "confidence_check",
        "policy_gate",
    ]
    gate = next(d for n, d in events if n == "progress" and d["node"] == "policy_gate")
    assert gate["route"] == "await_approval"
    turn = events[-1][1]
    assert turn["status"] == "pending_approval" and gate["approval_id"] == turn["approval_id"]
    assert events[-2][1] == turn["reply"]


def test_streamed_errors_before_the_run_are_plain_json(client: TestClient) -> None:
    assert_error(
        client.post(
            "/v1/conversations/c-sse/messages",
            json={"text": ""},
            headers={**auth("web"), "Accept": "text/event-stream"},
        ),
        422,
    )


def test_stream_over_a_real_server_and_the_turn_survives_a_disconnect(
    live_server: LiveServer, api_agent: Agent
) -> None:
    headers = {**auth("web"), "Accept": "text/event-stream"}
    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        with http.stream(
            "POST",
            "/v1/conversations/c-live/messages",
            headers=headers,
            json={"text": "please refund $20 for order A-1001", "customer_id": "C-1"},
        ) as response:
            assert response.status_code == 200
            first = next(response.iter_lines())
            assert first.startswith("event: progress")
        # the client went away after the first event; the turn still completes
        for _ in range(100):
            if api_agent.conversations.turns("c-live"):
                break
            threading.Event().wait(0.05)
        turns = api_agent.conversations.turns("c-live")
        assert turns and turns[0].actions[0].status == "executed"
