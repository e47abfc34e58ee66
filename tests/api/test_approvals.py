"""The approval queue: list, read, decide (once), idempotent decisions, expiry, live stream."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from govcx.agent.agent import Agent
from tests.api.conftest import REFUND_80, LiveServer, assert_error, auth, pending_refund
from tests.conftest import Clock, shop_effects

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


def test_queue_lists_pending_oldest_first_with_what_an_approver_needs(
    client: TestClient, clock: Clock
) -> None:
    first = pending_refund(client)
    clock.now += 60
    second = pending_refund(client, text="close my account")
    queue = client.get("/v1/approvals", headers=auth("sup")).json()
    assert [a["approval_id"] for a in queue] == [first["approval_id"], second["approval_id"]]
    refund = queue[0]
    assert refund["kind"] == "action" and refund["tool"] == "issue_refund"
    assert refund["args"] == {"order_id": "A-1002", "amount": 80.0}
    assert refund["tier"] == "low" and refund["rules"] == ["tool.issue_refund.approval_if"]
    assert refund["rationale"] and refund["evidence"] and refund["draft_reply"]
    assert refund["status"] == "pending" and refund["can_decide"] is True
    assert "token" not in refund
    assert queue[1]["approvals_needed"] == 2 and queue[1]["can_decide"] is False
    one = client.get(f"/v1/approvals/{first['approval_id']}", headers=auth("boss")).json()
    assert one["approval_id"] == first["approval_id"]
    by_conv = client.get(
        "/v1/approvals", params={"conversation_id": first["conversation_id"]}, headers=auth("audit")
    ).json()
    assert len(by_conv) == 1 and by_conv[0]["can_decide"] is None


def test_approve_executes_and_the_conversation_resumes(
    client: TestClient, api_agent: Agent
) -> None:
    turn = pending_refund(client)
    decided = client.post(
        f"/v1/approvals/{turn['approval_id']}/decision",
        json={"decision": "approve", "comment": "ok"},
        headers=auth("sup"),
    )
    assert decided.status_code == 200
    body = decided.json()
    assert body["status"] == "answered"
    assert body["actions"][0]["status"] == "executed"
    assert "refunded $80.00" in body["reply"]["text"]
    assert shop_effects(api_agent)[0]["amount"] == 80.0
    assert client.get("/v1/approvals", headers=auth("sup")).json() == []
    done = client.get("/v1/approvals", params={"status": "approved"}, headers=auth("sup")).json()
    assert done[0]["decisions"][0]["principal"] == "sup"
    assert done[0]["decisions"][0]["comment"] == "ok"


def test_edit_and_reject(client: TestClient, api_agent: Agent) -> None:
    turn = pending_refund(client)
    edited = client.post(
        f"/v1/approvals/{turn['approval_id']}/decision",
        json={"decision": "edit", "args": {"amount": 40}},
        headers=auth("sup"),
    ).json()
    assert edited["actions"][0]["args"]["amount"] == 40
    assert edited["actions"][0]["status"] == "executed"
    turn = pending_refund(client)
    rejected = client.post(
        f"/v1/approvals/{turn['approval_id']}/decision",
        json={"decision": "reject", "comment": "used item"},
        headers=auth("sup"),
    ).json()
    assert rejected["actions"][0]["status"] == "rejected"
    assert len(shop_effects(api_agent)) == 1


def test_two_approvers_at_once_exactly_one_wins(client: TestClient, api_agent: Agent) -> None:
    for _ in range(3):
        aid = pending_refund(client)["approval_id"]
        barrier = threading.Barrier(2)
        statuses: dict[str, int] = {}

        def decide(
            who: str,
            aid: str = aid,
            barrier: threading.Barrier = barrier,
            statuses: dict[str, int] = statuses,
        ) -> None:
            barrier.wait()
            statuses[who] = client.post(
                f"/v1/approvals/{aid}/decision", json={"decision": "approve"}, headers=auth(who)
            ).status_code

        threads = [threading.Thread(target=decide, args=(who,)) for who in ("sup", "boss")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses.values()) == [200, 409], statuses
        assert len(api_agent.approvals.get(aid).decisions) == 1
    assert len(shop_effects(api_agent)) == 3


def test_decision_idempotency_key(client: TestClient, api_agent: Agent) -> None:
    aid = pending_refund(client)["approval_id"]
    headers = {**auth("sup"), "Idempotency-Key": "decide-1"}
    first = client.post(
        f"/v1/approvals/{aid}/decision", json={"decision": "approve"}, headers=headers
    )
    again = client.post(
        f"/v1/approvals/{aid}/decision", json={"decision": "approve"}, headers=headers
    )
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert len(shop_effects(api_agent)) == 1
    assert len(api_agent.approvals.get(aid).decisions) == 1
    assert_error(
        client.post(f"/v1/approvals/{aid}/decision", json={"decision": "reject"}, headers=headers),
        422,
        "idempotency_key_reused",
    )
    # the key is scoped per principal: another approver with the same key is a new request
    assert_error(
        client.post(
            f"/v1/approvals/{aid}/decision",
            json={"decision": "approve"},
            headers={**auth("boss"), "Idempotency-Key": "decide-1"},
        ),
        409,
    )


def test_a_refused_decision_does_not_burn_its_idempotency_key(
    client: TestClient, api_agent: Agent
) -> None:
    aid = pending_refund(client)["approval_id"]
    headers = {**auth("sup"), "Idempotency-Key": "decide-2"}
    refused = client.post(
        f"/v1/approvals/{aid}/decision",
        json={"decision": "edit", "args": {"amount": 110}},
        headers=headers,
    )
    assert_error(refused, 403, "not_authorized")  # beyond the supervisor's limit of 100
    assert api_agent.approvals.get(aid).decisions == []
    ok = client.post(
        f"/v1/approvals/{aid}/decision",
        json={"decision": "edit", "args": {"amount": 60}},
        headers=headers,
    )
    assert ok.status_code == 200
    assert ok.json()["actions"][0]["args"]["amount"] == 60


def test_expired_approval_is_409_and_the_sweep_escalates(
    client: TestClient, api_agent: Agent, clock: Clock
) -> None:
    aid = pending_refund(client)["approval_id"]
    clock.now += 2 * 3600
    error = assert_error(
        client.post(
            f"/v1/approvals/{aid}/decision", json={"decision": "approve"}, headers=auth("sup")
        ),
        409,
        "approval_stale",
    )
    assert "expired" in error["message"]
    assert api_agent.approvals.get(aid).status == "expired"
    assert not shop_effects(api_agent)
    aid2 = pending_refund(client)["approval_id"]
    clock.now += 2 * 3600
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    turns = runtime.expire_overdue()
    assert [t.status for t in turns] == ["escalated"]
    assert api_agent.approvals.get(aid2).status == "expired"
    assert runtime.expire_overdue() == []


def test_the_lifespan_sweeper_expires_overdue_approvals(
    make_app: Callable[..., FastAPI], api_agent: Agent, clock: Clock
) -> None:
    app = make_app(settings={"expiry_interval": 0.05})
    with TestClient(app) as client:
        turn = pending_refund(client)
        clock.now += 2 * 3600
        for _ in range(200):
            status = api_agent.conversations.get_turn(turn["turn_id"]).status  # type: ignore[union-attr]
            if status == "escalated":
                break
            threading.Event().wait(0.05)
        assert status == "escalated"
        assert api_agent.approvals.get(turn["approval_id"]).status == "expired"


def test_queue_stream_pushes_changes(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        with http.stream(
            "GET", "/v1/approvals/stream", headers={**auth("sup"), "Accept": "text/event-stream"}
        ) as stream:
            assert stream.status_code == 200
            lines = stream.iter_lines()

            def next_queue() -> list[dict[str, object]]:
                for line in lines:
                    if line.startswith("data:"):
                        data: list[dict[str, object]] = json.loads(line[5:])["approvals"]
                        return data
                raise AssertionError("stream ended")

            assert next_queue() == []
            cid = http.post(
                "/v1/conversations", json={"customer_id": "C-1"}, headers=auth("web")
            ).json()["conversation_id"]
            turn = http.post(
                f"/v1/conversations/{cid}/messages", json={"text": REFUND_80}, headers=auth("web")
            ).json()
            queue = next_queue()
            assert [a["approval_id"] for a in queue] == [turn["approval_id"]]
            http.post(
                f"/v1/approvals/{turn['approval_id']}/decision",
                json={"decision": "approve"},
                headers=auth("sup"),
            )
            assert next_queue() == []
