"""Every 4xx and 5xx is JSON ``{error: {code, message, details}}``; bad input changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from govcx.agent.agent import Agent
from tests.api.conftest import assert_error, auth, pending_refund


def test_unknown_route_and_wrong_method_are_json(client: TestClient) -> None:
    assert_error(client.get("/v1/nothing-here"), 404, "not_found")
    error = assert_error(
        client.delete("/v1/audit", headers=auth("audit")), 405, "method_not_allowed"
    )
    assert "/docs" in error["message"]


def test_malformed_json_is_400(client: TestClient) -> None:
    response = client.post(
        "/v1/conversations/c-1/messages",
        content=b'{"text": "hi"',
        headers={**auth("web"), "Content-Type": "application/json"},
    )
    assert_error(response, 400, "malformed_json")


def test_wrong_types_and_unknown_fields_are_422_naming_the_field(client: TestClient) -> None:
    error = assert_error(
        client.post("/v1/conversations/c-1/messages", json={"text": 5}, headers=auth("web")),
        422,
        "invalid_request",
    )
    assert error["message"].startswith("text:")
    error = assert_error(
        client.post(
            "/v1/conversations/c-1/messages",
            json={"text": "hi", "admin": True},
            headers=auth("web"),
        ),
        422,
        "invalid_request",
    )
    assert "admin" in error["message"]
    assert_error(
        client.post("/v1/conversations/c-1/messages", json=["hi"], headers=auth("web")), 422
    )
    assert_error(
        client.post("/v1/conversations/bad id!/messages", json={"text": "hi"}, headers=auth("web")),
        422,
    )


def test_a_one_megabyte_message_is_refused_and_nothing_is_recorded(
    client: TestClient, api_agent: Agent
) -> None:
    response = client.post(
        "/v1/conversations/c-big/messages", json={"text": "x" * 1_000_000}, headers=auth("web")
    )
    assert response.status_code in (413, 422)
    assert_error(response, response.status_code)
    huge = client.post(
        "/v1/conversations/c-big/messages",
        content=b'{"text": "' + b"x" * 2_000_000 + b'"}',
        headers={**auth("web"), "Content-Type": "application/json"},
    )
    assert_error(huge, 413, "payload_too_large")
    assert_error(client.get("/v1/conversations/c-big", headers=auth("sup")), 404)
    assert not api_agent.conversations.turns("c-big")


def test_unknown_ids_are_404(client: TestClient) -> None:
    assert_error(client.get("/v1/approvals/apr_nope", headers=auth("sup")), 404, "not_found")
    assert_error(
        client.post(
            "/v1/approvals/apr_nope/decision", json={"decision": "approve"}, headers=auth("sup")
        ),
        404,
        "not_found",
    )
    assert_error(client.get("/v1/conversations/conv_nope", headers=auth("sup")), 404)


def test_decision_on_decided_approval_is_409_and_changes_nothing(
    client: TestClient, api_agent: Agent
) -> None:
    turn = pending_refund(client)
    aid = turn["approval_id"]
    assert (
        client.post(
            f"/v1/approvals/{aid}/decision", json={"decision": "reject"}, headers=auth("sup")
        ).status_code
        == 200
    )
    events = len(list(api_agent.audit.events()))
    error = assert_error(
        client.post(
            f"/v1/approvals/{aid}/decision", json={"decision": "approve"}, headers=auth("boss")
        ),
        409,
        "approval_stale",
    )
    assert "already rejected" in error["message"]
    assert api_agent.approvals.get(aid).status == "rejected"
    assert len(list(api_agent.audit.events())) == events


def test_bad_decision_bodies(client: TestClient, api_agent: Agent) -> None:
    aid = pending_refund(client)["approval_id"]
    assert_error(
        client.post(
            f"/v1/approvals/{aid}/decision", json={"decision": "maybe"}, headers=auth("sup")
        ),
        422,
        "invalid_request",
    )
    assert_error(
        client.post(
            f"/v1/approvals/{aid}/decision", json={"decision": "edit"}, headers=auth("sup")
        ),
        422,
        "invalid_input",
    )
    assert_error(
        client.post(
            f"/v1/approvals/{aid}/decision",
            json={"decision": "edit", "args": {"amount": "lots"}},
            headers=auth("sup"),
        ),
        422,
        "invalid_tool_arguments",
    )
    assert_error(
        client.post(
            f"/v1/approvals/{aid}/decision",
            json={"decision": "approve", "args": {"amount": 1}},
            headers=auth("sup"),
        ),
        422,
        "invalid_input",
    )
    assert api_agent.approvals.get(aid).status == "pending"
    assert api_agent.approvals.get(aid).decisions == []


def test_unexpected_errors_are_json_500_without_traceback(
    app: FastAPI, api_agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_agent.audit, "verify", lambda: 1 / 0)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/audit/verify", headers=auth("audit"))
    error = assert_error(response, 500, "internal_error")
    assert "Traceback" not in response.text and "ZeroDivision" not in response.text
    assert error["details"]["incident"]


def test_unknown_query_parameter_is_422_naming_it_and_the_valid_ones(client: TestClient) -> None:
    """A typo must not silently widen a query (?stauts=pending would list every status)."""
    pending_refund(client)
    response = client.get("/v1/approvals", params={"stauts": "approved"}, headers=auth("sup"))
    error = assert_error(response, 422, "unknown_query_parameter")
    assert "stauts" in error["message"] and "status" in error["message"]
    assert error["details"] == {
        "unknown": ["stauts"],
        "allowed": ["approver", "conversation_id", "customer_id", "limit", "status", "tool"],
    }
    # The declared ones still work, alone and together.
    ok = client.get("/v1/approvals", params={"status": "pending", "limit": 5}, headers=auth("sup"))
    assert ok.status_code == 200 and len(ok.json()) == 1


def test_a_repeated_query_parameter_is_422_not_the_last_value(client: TestClient) -> None:
    """FastAPI would keep the last value: ?status=pending&status=all would list everything."""
    pending_refund(client)
    response = client.get("/v1/approvals?status=pending&status=all&limit=5", headers=auth("sup"))
    error = assert_error(response, 422, "repeated_query_parameter")
    assert error["details"] == {"repeated": ["status"]}
    assert "status" in error["message"] and "/v1/approvals" in error["message"]
    once = client.get("/v1/approvals?status=all&limit=5", headers=auth("sup"))
    assert once.status_code == 200 and len(once.json()) == 1


@pytest.mark.parametrize(
    ("method", "path", "who"),
    [
        ("GET", "/healthz", None),
        ("GET", "/metrics", None),
        ("GET", "/docs", None),
        ("GET", "/v1/me", "sup"),
        ("GET", "/v1/audit/verify", "audit"),
        ("POST", "/v1/conversations", "web"),
    ],
)
def test_routes_without_query_parameters_refuse_any(
    client: TestClient, method: str, path: str, who: str | None
) -> None:
    headers = auth(who) if who else {}
    error = assert_error(
        client.request(method, path, params={"a": "1", "b": "2"}, headers=headers),
        422,
        "unknown_query_parameter",
    )
    assert error["details"]["unknown"] == ["a", "b"]
    assert "valid: none" in error["message"]


def test_console_assets_accept_their_cache_busting_version(client: TestClient) -> None:
    page = client.get("/console").text
    assert "console.js?v=" in page
    assert client.get("/console/static/console.js", params={"v": "abc123"}).status_code == 200
    assert_error(
        client.get("/console/static/console.js", params={"x": "1"}), 422, "unknown_query_parameter"
    )


def test_every_route_is_strict(app: FastAPI) -> None:
    """New routers must use StrictRoute too, or their unknown parameters pass silently."""
    from fastapi.routing import APIRoute

    from govcx.api.routers import StrictRoute

    def walk(routes: list[Any]) -> list[APIRoute]:
        found = []
        for route in routes:
            if isinstance(route, APIRoute):
                found.append(route)
            included = getattr(route, "original_router", None)  # FastAPI >= 0.16x
            if included is not None:
                found += walk(list(included.routes))
        return found

    routes = walk(list(app.routes))
    assert len(routes) >= 18
    loose = [r.path for r in routes if not isinstance(r, StrictRoute)]
    assert not loose, loose


_HUGE = ["9223372036854775808", "-9223372036854775809", str(2**31), str(2**64), "1e400"]


def test_integer_query_parameters_out_of_any_range_are_4xx_not_500(
    app: FastAPI, client: TestClient
) -> None:
    """Fuzzing the bounds of every integer query parameter of every GET operation (was a
    500 on GET /v1/audit?after_seq=9223372036854775808: SQLite binds at most 64 bits)."""
    checked = 0
    for path, item in app.openapi()["paths"].items():
        operation = item.get("get")
        if not operation or "{" in path:
            continue
        who = "audit" if path.startswith(("/v1/audit", "/v1/webhooks")) else "sup"
        for param in operation.get("parameters", []):
            schema = param.get("schema", {})
            types = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
            if param.get("in") != "query" or "integer" not in types:
                continue
            for value in _HUGE:
                response = client.get(path, params={param["name"]: value}, headers=auth(who))
                assert response.status_code < 500, (path, param["name"], value)
                error = assert_error(response, response.status_code)
                assert param["name"] in error["message"], error
                checked += 1
    assert checked >= 10  # after_seq and limit of /v1/audit at least


def test_after_seq_beyond_the_range_names_the_valid_range(client: TestClient) -> None:
    error = assert_error(
        client.get("/v1/audit", params={"after_seq": "9223372036854775808"}, headers=auth("audit")),
        422,
        "invalid_request",
    )
    assert error["message"] == ("query.after_seq: Input should be less than or equal to 2147483647")
