"""``/v1/cases`` and the channel's view of a hand-off: roles on every route, events,
notes that never reach a channel, SLA breaches as events and metrics."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from govcx.api.events import Event
from govcx.api.runtime import ApiRuntime
from tests.api.conftest import assert_error, auth
from tests.conftest import Clock

NOTE = "internal: customer may be bluffing about the lawyer"


def _threat(client: TestClient, channel: str = "web") -> tuple[str, dict[str, Any]]:
    cid = client.post(
        "/v1/conversations", json={"customer_id": "C-1"}, headers=auth(channel)
    ).json()["conversation_id"]
    turn = client.post(
        f"/v1/conversations/{cid}/messages", json={"text": "I will sue you"}, headers=auth(channel)
    ).json()
    assert turn["status"] == "escalated", turn
    assert turn["escalation"]["team"] == "legal" and turn["escalation"]["priority"] == "urgent"
    return cid, turn


@pytest.fixture
def events(app: FastAPI) -> list[Event]:
    seen: list[Event] = []
    runtime: ApiRuntime = app.state.runtime
    runtime.bus.subscribe(seen.append)
    return seen


def test_the_cycle_over_http(client: TestClient, events: list[Event]) -> None:
    cid, turn = _threat(client)
    case_id = turn["case_id"]
    queue = client.get("/v1/cases", headers=auth("kim")).json()
    assert [c["case_id"] for c in queue] == [case_id]
    assert queue[0]["can_work"] is True and queue[0]["summary"]["customer_wants"]
    assert client.get("/v1/cases", headers=auth("pat")).json() == []  # another team's

    assert_error(
        client.post(f"/v1/cases/{case_id}/reply", json={"text": "hi"}, headers=auth("kim")),
        409,
        "conflict",
    )
    claimed = client.post(f"/v1/cases/{case_id}/claim", headers=auth("kim")).json()
    assert (claimed["status"], claimed["assignee"]) == ("human", "kim")
    client.post(f"/v1/cases/{case_id}/reply", json={"text": "Hi, Kim here."}, headers=auth("kim"))
    client.post(f"/v1/cases/{case_id}/notes", json={"text": NOTE}, headers=auth("kim"))

    silent = client.post(
        f"/v1/conversations/{cid}/messages", json={"text": "thanks"}, headers=auth("web")
    ).json()
    assert (silent["status"], silent["reply"], silent["case_id"]) == ("with_human", None, case_id)

    detail = client.get(f"/v1/cases/{case_id}", headers=auth("kim")).json()
    assert [e["kind"] for e in detail["events"]] == ["opened", "claimed", "reply", "note"]
    assert detail["events"][-1]["text"] == NOTE
    assert [m["role"] for m in detail["transcript"]] == [
        "customer",
        "assistant",
        "agent",
        "customer",
    ]

    # The channel sees the person's reply and never the note.
    conversation = client.get(f"/v1/conversations/{cid}", headers=auth("web")).text
    assert "Kim here" in conversation and NOTE not in conversation
    runtime: ApiRuntime = client.app.state.runtime  # type: ignore[attr-defined]
    caller = runtime.keys.authenticate("key-web-0000000000000000")
    assert caller is not None
    lines, control = runtime.conversation_updates(caller, cid, 0)
    assert control == "human" and all(NOTE not in str(line) for line in lines)
    assert [line["role"] for line in lines if line["role"] != "customer"] == ["assistant", "agent"]

    back = client.post(f"/v1/cases/{case_id}/handback", json={}, headers=auth("kim")).json()
    assert back["status"] == "handed_back"
    answered = client.post(
        f"/v1/conversations/{cid}/messages",
        json={"text": "where is my order A-1001"},
        headers=auth("web"),
    ).json()
    assert answered["status"] == "answered" and answered["reply"]

    types = [e.type for e in events if e.type.startswith("conversation.")]
    assert types == [
        "conversation.escalated",
        "conversation.assigned",
        "conversation.human_reply",
        "conversation.handed_back",
    ]
    for event in events:
        assert NOTE not in str(event.data)  # webhooks go to channels: no notes
        if event.type.startswith("conversation."):
            assert "summary" not in event.data["case"]
    reply = next(e for e in events if e.type == "conversation.human_reply")
    assert reply.data["text"] == "Hi, Kim here." and reply.data["conversation_id"] == cid


ROUTES = [
    ("get", "/v1/cases", None),
    ("get", "/v1/cases/{case}", None),
    ("post", "/v1/cases/{case}/claim", None),
    ("post", "/v1/cases/{case}/assign", {"agent": "kim"}),
    ("post", "/v1/cases/{case}/reply", {"text": "hi"}),
    ("post", "/v1/cases/{case}/notes", {"text": "hi"}),
    ("post", "/v1/cases/{case}/handback", {}),
    ("post", "/v1/cases/{case}/resolve", {}),
    ("post", "/v1/cases/{case}/suggestion", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_a_channel_never_reaches_a_case(
    client: TestClient, method: str, path: str, body: Any
) -> None:
    _, turn = _threat(client)
    url = path.format(case=turn["case_id"])
    response = client.request(method, url, json=body, headers=auth("web"))
    assert_error(response, 403, "forbidden")
    assert_error(client.request(method, url, json=body), 401)


@pytest.mark.parametrize(("method", "path", "body"), ROUTES[2:])
def test_readers_cannot_work_cases_and_other_teams_do_not_see_them(
    client: TestClient, method: str, path: str, body: Any
) -> None:
    _, turn = _threat(client)
    url = path.format(case=turn["case_id"])
    for reader in ("audit", "sup"):
        assert_error(client.request(method, url, json=body, headers=auth(reader)), 403)
    # pat works the support team: the legal case is not found, as if it did not exist
    assert_error(client.request(method, url, json=body, headers=auth("pat")), 404, "not_found")
    assert client.get(url.rsplit("/", 1)[0], headers=auth("audit")).status_code == 200


def test_assign_and_resolve_by_an_admin(client: TestClient, events: list[Event]) -> None:
    _, turn = _threat(client)
    case_id = turn["case_id"]
    bad = client.post(f"/v1/cases/{case_id}/assign", json={"agent": "pat"}, headers=auth("root"))
    assert "pat cannot take case" in assert_error(bad, 422)["message"]
    unknown = client.post(
        f"/v1/cases/{case_id}/assign", json={"agent": "zed"}, headers=auth("root")
    )
    assert "people with the role agent: kim, pat" in assert_error(unknown, 422)["message"]
    given = client.post(f"/v1/cases/{case_id}/assign", json={"agent": "kim"}, headers=auth("root"))
    assert given.json()["assignee"] == "kim"
    done = client.post(f"/v1/cases/{case_id}/resolve", json={"note": "ok"}, headers=auth("root"))
    assert done.json()["status"] == "resolved"
    closed = client.get("/v1/cases?status=closed", headers=auth("kim")).json()
    assert [c["case_id"] for c in closed] == [case_id]
    assert "conversation.resolved" in [e.type for e in events]


def test_queue_filters_are_checked(client: TestClient) -> None:
    assert_error(client.get("/v1/cases?status=done", headers=auth("kim")), 422)
    assert_error(client.get("/v1/cases?priority=asap", headers=auth("kim")), 422)
    assert_error(client.get("/v1/cases?stauts=open", headers=auth("kim")), 422)
    assert_error(client.post("/v1/cases/case_x/reply", json={"text": ""}, headers=auth("kim")), 422)


def test_another_channel_cannot_follow_the_conversation(client: TestClient) -> None:
    cid, _ = _threat(client)
    assert_error(client.get(f"/v1/conversations/{cid}/events", headers=auth("web2")), 404)


def test_sla_breach_is_an_event_and_a_metric(
    client: TestClient, events: list[Event], clock: Clock
) -> None:
    _, turn = _threat(client)
    runtime: ApiRuntime = client.app.state.runtime  # type: ignore[attr-defined]
    assert runtime.breach_sla() == []
    clock.now += 15 * 60 + 1
    assert len(runtime.breach_sla()) == 1
    assert runtime.breach_sla() == []
    breach = [e for e in events if e.type == "conversation.sla_breached"]
    assert len(breach) == 1 and breach[0].data["target"] == "first_response"
    metrics = client.get("/metrics", headers=auth("audit")).text
    assert (
        'govcx_case_sla_breaches_total{priority="urgent",target="first_response",team="legal"} 1.0'
        in metrics
    )
    assert 'govcx_cases_open{priority="urgent",status="waiting",team="legal"} 1.0' in metrics
    case = client.get(f"/v1/cases/{turn['case_id']}", headers=auth("kim")).json()
    assert case["breached"] == ["first_response"]


def test_a_suggested_reply_is_never_sent_and_runs_no_tool(
    client: TestClient, app: FastAPI, events: list[Event]
) -> None:
    cid, turn = _threat(client)
    case_id = turn["case_id"]
    client.post(
        f"/v1/conversations/{cid}/messages",
        json={"text": "please refund $20 for order A-1001, how do returns work?"},
        headers=auth("web"),
    )
    runtime: ApiRuntime = app.state.runtime
    before = client.get(f"/v1/conversations/{cid}", headers=auth("web")).json()
    response = client.post(f"/v1/cases/{case_id}/suggestion", headers=auth("kim"))
    assert response.status_code == 200, response.text
    suggestion = response.json()
    assert suggestion["text"] and set(suggestion) == {
        "text",
        "intent",
        "confidence",
        "citations",
        "problems",
    }
    after = client.get(f"/v1/conversations/{cid}", headers=auth("web")).json()
    assert after["transcript"] == before["transcript"]  # not sent
    assert after["actions"] == [] and runtime.agent.executor.ledger(cid) == []  # no tool ran
    audited = [e for e in runtime.agent.audit.events() if e.kind == "case.suggestion"]
    assert len(audited) == 1 and audited[0].actor == "kim"
    assert not [e for e in events if e.type == "conversation.human_reply"]
    assert_error(client.post(f"/v1/cases/{case_id}/suggestion", headers=auth("pat")), 404)
    assert_error(client.post(f"/v1/cases/{case_id}/suggestion", headers=auth("web")), 403)
