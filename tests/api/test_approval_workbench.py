"""The approval API as a reviewer's workbench (issue 15): context facts, each rule's
condition, the replies if decided, failed approved actions, and a searchable history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from govcx.agent.agent import Agent
from govcx.api.events import Event
from tests.api.conftest import assert_error, auth, pending_refund, with_extra_principals
from tests.conftest import SHOP_CONTEXT, Clock, NameGuard, context_effects

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def api_agent(make_agent: Callable[..., Agent]) -> Agent:
    """The shop pack with issue_refund's context lookup (overrides the API fixtures')."""
    return with_extra_principals(make_agent(SHOP_CONTEXT, guard=NameGuard()))


def _decide(client: TestClient, aid: str, who: str = "sup") -> Any:
    return client.post(
        f"/v1/approvals/{aid}/decision", json={"decision": "approve"}, headers=auth(who)
    )


def test_a_request_shows_its_context_condition_and_replies(client: TestClient) -> None:
    published: list[Event] = []
    client.app.state.runtime.bus.subscribe(published.append)  # type: ignore[attr-defined]
    turn = pending_refund(client)
    view = client.get(f"/v1/approvals/{turn['approval_id']}", headers=auth("sup")).json()
    assert view["rule_conditions"] == [
        {"rule": "tool.issue_refund.approval_if", "condition": "amount > 50"}
    ]
    facts = view["context"]["facts"]
    assert view["context"]["status"] == "ok"
    assert (facts["order_total"], facts["refunded"], facts["remaining"]) == (120.0, 0.0, 120.0)
    assert facts["customer"] == "Riley Chen"  # the reader sees the name; it is sealed at rest
    assert view["reply_if_approved"].startswith("I've refunded $80.00 for order A-1002")
    assert view["reply_if_rejected"].startswith("A member of our team reviewed your request")
    assert "context_sealed" not in view and "token" not in view
    auditor = client.get(f"/v1/approvals/{turn['approval_id']}", headers=auth("audit")).json()
    assert auditor["context"]["facts"]["customer"] == "Riley Chen"
    # Events (webhooks, the live queue's announcements) carry the redacted facts only.
    requested = [e for e in published if e.type == "approval.requested"]
    assert requested and requested[0].data["approval"]["context"]["facts"]["customer"] == (
        "<PERSON>"
    )
    assert requested[0].data["approval"]["rule_conditions"][0]["condition"] == "amount > 50"


def test_channels_still_never_see_approvals(client: TestClient) -> None:
    turn = pending_refund(client)
    for path in ("/v1/approvals", f"/v1/approvals/{turn['approval_id']}"):
        assert_error(client.get(path, headers=auth("web")), 403, "forbidden")
    history = client.get("/v1/approvals", params={"status": "closed"}, headers=auth("web"))
    assert_error(history, 403, "forbidden")


def test_a_refund_that_cannot_succeed_reaches_no_approver(client: TestClient) -> None:
    cid = client.post("/v1/conversations", json={"customer_id": "C-1"}, headers=auth("web"))
    turn = client.post(
        f"/v1/conversations/{cid.json()['conversation_id']}/messages",
        json={"text": "please refund $150 for order A-1002"},
        headers=auth("web"),
    ).json()
    assert turn["status"] == "answered" and turn["approval_id"] is None
    assert turn["reply"]["text"] == "The most I can refund for A-1002 is $120.00."
    assert client.get("/v1/approvals", params={"status": "all"}, headers=auth("sup")).json() == []


def test_the_decision_response_says_an_approved_action_failed(
    client: TestClient, api_agent: Agent
) -> None:
    first = pending_refund(client)
    second = pending_refund(client, text="please refund $60 for order A-1002")
    assert _decide(client, first["approval_id"]).json()["approval_status"] == "approved"
    response = _decide(client, second["approval_id"])
    assert response.status_code == 200  # the decision was recorded; the action failed
    turn = response.json()
    assert turn["approval_status"] == "failed"
    assert turn["actions"][0]["status"] == "failed"
    assert turn["actions"][0]["error"] == "The most I can refund for A-1002 is $40.00."
    view = client.get(f"/v1/approvals/{second['approval_id']}", headers=auth("sup")).json()
    assert view["status"] == "failed" and view["can_decide"] is False
    assert view["failure"] == "The most I can refund for A-1002 is $40.00."
    assert [e["amount"] for e in context_effects(api_agent)] == [80.0]
    again = _decide(client, second["approval_id"], who="boss")
    assert_error(again, 409, "approval_stale")


def test_history_filters(client: TestClient, clock: Clock) -> None:
    refund = pending_refund(client)
    clock.now += 60
    closing = pending_refund(client, text="close my account", customer="C-2")
    clock.now += 60
    pending_refund(client, text="please refund $70 for order A-1002")
    _decide(client, refund["approval_id"])
    for who in ("boss", "boss2"):
        _decide(client, closing["approval_id"], who=who)

    def ids(**params: str) -> list[str]:
        response = client.get("/v1/approvals", params=params, headers=auth("audit"))
        assert response.status_code == 200, response.text
        return [a["approval_id"] for a in response.json()]

    assert ids(status="closed") == [closing["approval_id"], refund["approval_id"]]
    assert ids(status="closed", approver="sup") == [refund["approval_id"]]
    assert ids(status="approved", approver="boss2") == [closing["approval_id"]]
    assert ids(status="closed", customer_id="C-2") == [closing["approval_id"]]
    assert ids(status="closed", tool="issue_refund") == [refund["approval_id"]]
    assert ids(status="failed") == []
    assert ids(status="closed", limit="1") == [closing["approval_id"]]
    bad = client.get("/v1/approvals", params={"status": "done"}, headers=auth("sup"))
    assert_error(bad, 422)
