"""GET/PUT /v1/policy: validated, versioned, audited, persisted."""

from __future__ import annotations

from collections.abc import Callable

import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from govcx.agent.agent import Agent
from tests.api.conftest import assert_error, auth, pending_refund
from tests.conftest import SHOP

YAML = {"Content-Type": "application/yaml"}


def _policy(**changes: object) -> dict[str, object]:
    data: dict[str, object] = yaml.safe_load((SHOP / "policy.yaml").read_text())
    data.update(changes)
    return data


def test_get_policy(app: FastAPI, client: TestClient) -> None:
    body = client.get("/v1/policy", headers=auth("web")).json()
    assert body["version"] == "t1"
    assert body["policy"]["tools"]["issue_refund"]["approval_if"] == "amount > 50"
    assert body["activated_by"] == "system"  # the pack's file, at start-up
    assert body["digest"] == app.state.runtime.agent.pack.policy.digest


def test_put_yaml_activates_and_is_audited(client: TestClient, api_agent: Agent) -> None:
    data = _policy(version="t2")
    data["tools"]["issue_refund"]["approval_if"] = "amount > 10"  # type: ignore[index]
    response = client.put(
        "/v1/policy", content=yaml.safe_dump(data), headers={**auth("root"), **YAML}
    )
    assert response.status_code == 200, response.text
    assert response.json()["version"] == "t2" and response.json()["activated_by"] == "root"
    assert api_agent.policy.version == "t2"
    turn = pending_refund(client, text="please refund $20 for order A-1001")
    assert turn["decision"]["policy_version"] == "t2"
    events = client.get("/v1/audit", headers=auth("audit")).json()
    activated = [e for e in events if e["kind"] == "policy.activated"]
    assert activated[-1]["actor"] == "root" and activated[-1]["data"]["version"] == "t2"


def test_put_json_works_too(client: TestClient, api_agent: Agent) -> None:
    response = client.put("/v1/policy", json=_policy(version="t3"), headers=auth("root"))
    assert response.status_code == 200
    assert api_agent.policy.version == "t3"


def test_invalid_policies_are_refused_with_the_field(client: TestClient, api_agent: Agent) -> None:
    bad = _policy(version="t4")
    bad["tools"]["issue_refund"]["tier"] = "nonexistent"  # type: ignore[index]
    assert_error(client.put("/v1/policy", json=bad, headers=auth("root")), 422, "invalid_policy")
    typo = _policy(version="t4", defautls={})
    error = assert_error(client.put("/v1/policy", json=typo, headers=auth("root")), 422)
    assert "defautls" in error["message"]
    unknown_tool = _policy(version="t4")
    unknown_tool["tools"]["wire_money"] = {"tier": "low"}  # type: ignore[index]
    error = assert_error(
        client.put("/v1/policy", json=unknown_tool, headers=auth("root")), 422, "invalid_policy"
    )
    assert "wire_money" in error["message"]
    assert_error(
        client.put("/v1/policy", content="version: [unclosed", headers={**auth("root"), **YAML}),
        422,
        "invalid_policy",
    )
    assert_error(
        client.put(
            "/v1/policy",
            content=b"{nope",
            headers={**auth("root"), "Content-Type": "application/json"},
        ),
        400,
        "malformed_json",
    )
    assert_error(client.put("/v1/policy", content=b"", headers={**auth("root"), **YAML}), 422)
    assert api_agent.policy.version == "t1"


def test_a_changed_policy_needs_a_new_version(client: TestClient, api_agent: Agent) -> None:
    same = _policy()
    assert client.put("/v1/policy", json=same, headers=auth("root")).status_code == 200
    changed = _policy()
    changed["defaults"] = {"autonomy": "draft", "min_confidence": 0.9}
    assert_error(
        client.put("/v1/policy", json=changed, headers=auth("root")), 409, "policy_version_conflict"
    )
    assert api_agent.policy.defaults.min_confidence == 0.3
    # An old version string cannot be re-activated with other content either.
    assert (
        client.put("/v1/policy", json=_policy(version="t2"), headers=auth("root")).status_code
        == 200
    )
    error = assert_error(
        client.put("/v1/policy", json=changed, headers=auth("root")), 409, "policy_version_conflict"
    )
    assert "bump the version" in error["message"]
    assert api_agent.policy.version == "t2"
    # The same content under its own version may come back (a rollback).
    assert client.put("/v1/policy", json=same, headers=auth("root")).status_code == 200
    assert api_agent.policy.version == "t1"


def test_pending_approvals_of_the_old_version_become_stale(client: TestClient) -> None:
    aid = pending_refund(client)["approval_id"]
    assert (
        client.put("/v1/policy", json=_policy(version="t2"), headers=auth("root")).status_code
        == 200
    )
    view = client.get(f"/v1/approvals/{aid}", headers=auth("sup")).json()
    assert view["can_decide"] is False
    error = assert_error(
        client.post(
            f"/v1/approvals/{aid}/decision", json={"decision": "approve"}, headers=auth("sup")
        ),
        409,
    )
    assert "superseded" in error["message"] and "policy t1" in error["message"]
    conversation = client.get(
        f"/v1/conversations/{view['conversation_id']}", headers=auth("web")
    ).json()
    assert conversation["turns"][-1]["status"] == "escalated"  # the customer was told


def test_an_activated_policy_survives_a_restart(
    make_app: Callable[..., FastAPI], make_agent: Callable[..., Agent], client: TestClient
) -> None:
    from tests.api.conftest import with_extra_principals

    assert (
        client.put("/v1/policy", json=_policy(version="t9"), headers=auth("root")).status_code
        == 200
    )
    restarted = with_extra_principals(make_agent())
    assert restarted.policy.version == "t9"  # the deployment's active policy, not the file
    with TestClient(make_app(agent=restarted)) as other:
        body = other.get("/v1/policy", headers=auth("sup")).json()
    assert body["version"] == "t9" and body["activated_by"] == "root"


def test_a_deeply_nested_body_is_a_422_not_a_500(client: TestClient) -> None:
    deep_yaml = "version: t5\nx: " + "[" * 5000 + "]" * 5000 + "\n"
    error = assert_error(
        client.put("/v1/policy", content=deep_yaml, headers={**auth("root"), **YAML}),
        422,
        "invalid_policy",
    )
    assert "nests deeper" in error["message"]
    deep_json = '{"version": "t5", "x": ' + "[" * 5000 + "]" * 5000 + "}"
    assert_error(
        client.put(
            "/v1/policy",
            content=deep_json,
            headers={**auth("root"), "Content-Type": "application/json"},
        ),
        422,
        "invalid_policy",
    )
    mapping = "version: t5\nx:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 60))
    assert_error(
        client.put("/v1/policy", content=mapping, headers={**auth("root"), **YAML}),
        422,
        "invalid_policy",
    )
