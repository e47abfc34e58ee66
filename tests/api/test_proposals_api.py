"""The policy lifecycle over HTTP: a governed policy refuses PUT /v1/policy; proposals
are created, reviewed by two other principals, shadowed, rolled out, activated and rolled
back, each as the principal of the caller's key."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from govcx.agent.agent import Agent
from govcx.api import ServerSettings, create_app
from govcx.api.runtime import ApiRuntime
from govcx.evals.impact import impact_report
from govcx.governance.principal import Principal
from tests.api.conftest import KEYS, REFUND_80, assert_error
from tests.governance.test_proposals import governed_pack

REVIEW_KEYS = {
    **KEYS,
    "rita": "key-rita-000000000000000",
    "lena": "key-lena-000000000000000",
}


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {REVIEW_KEYS[name]}"}


@pytest.fixture
def governed_client(
    tmp_path: Path, make_agent: Callable[..., Agent], server_settings: ServerSettings
) -> Iterator[tuple[TestClient, Agent]]:
    agent = make_agent(governed_pack(tmp_path))
    extra = {"web2": Principal(name="web2", roles=frozenset({"channel"}))}
    agent.pack = dataclasses.replace(agent.pack, principals={**agent.pack.principals, **extra})
    settings = server_settings.model_copy(
        update={"api_keys": ",".join(f"{k}:{n}" for n, k in REVIEW_KEYS.items())}
    )
    with TestClient(create_app(settings, agent, impact=impact_report)) as client:
        yield client, agent


def settled(client: TestClient, pid: str, who: str = "audit") -> dict[str, Any]:
    """The proposal once the server's worker has computed its impact report."""
    runtime: ApiRuntime = client.app.state.runtime  # type: ignore[attr-defined]
    assert runtime.impacts is not None and runtime.impacts.wait_idle(120)
    body: dict[str, Any] = client.get(f"/v1/policy/proposals/{pid}", headers=auth(who)).json()
    return body


def _candidate(agent: Agent, version: str = "t2") -> dict[str, Any]:
    data = agent.policy.model_dump(mode="json")
    data["version"] = version
    data["tools"]["issue_refund"]["approval_if"] = "amount > 100"
    return data


def test_governed_put_is_refused_and_the_lifecycle_runs(
    governed_client: tuple[TestClient, Agent],
) -> None:
    client, agent = governed_client
    error = assert_error(
        client.put("/v1/policy", json=_candidate(agent), headers=auth("root")),
        409,
        "policy_governed",
    )
    assert "POST /v1/policy/proposals" in error["message"]
    assert agent.policy.version == "t1"

    # A bad candidate names what is wrong.
    bad = {**_candidate(agent), "tiers": {}}
    assert_error(
        client.post("/v1/policy/proposals", json=bad, headers=auth("root")), 422, "invalid_policy"
    )
    # A channel never proposes.
    assert_error(
        client.post("/v1/policy/proposals", json=_candidate(agent), headers=auth("web")), 403
    )

    created = client.post(
        "/v1/policy/proposals?comment=refunds%20up%20to%20%24100",
        content=yaml.safe_dump(_candidate(agent)),
        headers={**auth("rita"), "Content-Type": "application/yaml"},
    )
    # Recorded at once; the impact report follows in the background.
    assert created.status_code == 202, created.text
    body = created.json()
    pid = body["proposal_id"]
    assert created.headers["location"] == f"/v1/policy/proposals/{pid}"
    assert body["author"] == "rita" and body["status"] == "pending"
    assert (body["approvals_needed"], body["reviewer_roles"]) == (2, ["risk", "legal"])
    assert {row["path"] for row in body["diff"]} == {"tools.issue_refund.approval_if", "version"}
    assert body["impact_status"] in ("pending", "running", "done")
    body = settled(client, pid)
    assert body["impact_status"] == "done" and body["impact_error"] is None
    assert body["impact"]["compliance"]["violations"] == 0

    review = f"/v1/policy/proposals/{pid}/review"
    assert_error(
        client.post(review, json={"decision": "approve"}, headers=auth("rita")),
        403,
        "not_authorized",
    )
    assert_error(
        client.post(review, json={"decision": "approve"}, headers=auth("boss")),
        403,
        "not_authorized",
    )
    assert_error(
        client.post(f"/v1/policy/proposals/{pid}/activate", headers=auth("root")), 409, "conflict"
    )
    one = client.post(review, json={"decision": "approve", "comment": "ok"}, headers=auth("lena"))
    assert one.json()["status"] == "pending"
    assert_error(
        client.post(review, json={"decision": "approve"}, headers=auth("lena")),
        403,
        "duplicate_approver",
    )
    admin_review = client.post(review, json={"decision": "approve"}, headers=auth("root"))
    assert_error(admin_review, 403, "not_authorized")  # admin holds no reviewer role here
    listed = client.get("/v1/policy/proposals", headers=auth("audit")).json()
    assert [p["proposal_id"] for p in listed] == [pid]
    assert client.get("/v1/policy/proposals", headers=auth("web")).status_code == 403


def test_two_reviewers_then_shadow_rollout_activate_rollback(
    governed_client: tuple[TestClient, Agent],
) -> None:
    client, agent = governed_client
    created = client.post("/v1/policy/proposals", json=_candidate(agent), headers=auth("root"))
    pid = created.json()["proposal_id"]
    assert settled(client, pid)["impact_status"] == "done"
    review = f"/v1/policy/proposals/{pid}/review"
    client.post(review, json={"decision": "approve"}, headers=auth("rita"))
    second = client.post(review, json={"decision": "approve"}, headers=auth("lena")).json()
    assert second["status"] == "approved"
    assert [r["principal"] for r in second["reviews"]] == ["rita", "lena"]

    # Only an admin changes what is live.
    assert client.post(f"/v1/policy/proposals/{pid}/shadow", headers=auth("rita")).status_code == (
        403
    )
    shadow = client.post(f"/v1/policy/proposals/{pid}/shadow", headers=auth("root"))
    assert shadow.json()["status"] == "shadow"
    conv = client.post("/v1/conversations", json={"customer_id": "C-1"}, headers=auth("web"))
    cid = conv.json()["conversation_id"]
    turn = client.post(
        f"/v1/conversations/{cid}/messages", json={"text": REFUND_80}, headers=auth("web")
    ).json()
    assert turn["status"] == "pending_approval"
    report = client.get(f"/v1/policy/proposals/{pid}/shadow-report", headers=auth("audit")).json()
    assert report["changed"] == 1 and report["by_change"] == {"newly autonomous": 1}

    rolled = client.post(
        f"/v1/policy/proposals/{pid}/rollout", json={"share": 20}, headers=auth("root")
    )
    assert rolled.json()["status"] == "rollout" and rolled.json()["share"] == 20
    state = client.get("/v1/policy/rollout", headers=auth("audit")).json()
    assert state["mode"] == "rollout" and state["share"] == 20
    assert state["candidate_version"] == "t2"
    assert_error(
        client.post(f"/v1/policy/proposals/{pid}/rollout", json={"share": 0}, headers=auth("root")),
        422,
    )

    activated = client.post(f"/v1/policy/proposals/{pid}/activate", headers=auth("root"))
    assert activated.json()["status"] == "active"
    assert client.get("/v1/policy", headers=auth("audit")).json()["version"] == "t2"
    # The approval requested under t1 cannot be decided under t2: superseded.
    assert agent.approvals.get(str(turn["approval_id"])).status == "superseded"

    back = client.post("/v1/policy/rollback", json={}, headers=auth("root"))
    assert back.status_code == 200, back.text
    assert back.json()["version"] == "t1"
    assert client.get("/v1/policy", headers=auth("audit")).json()["version"] == "t1"
    assert_error(
        client.post("/v1/policy/rollback", json={"version": "t7"}, headers=auth("root")), 422
    )
    kinds = [e.kind for e in agent.audit.events() if e.kind.startswith("policy.")]
    assert "policy.rolled_back" in kinds and "policy.shadow_started" in kinds


def test_ungoverned_packs_keep_put(client: TestClient, api_agent: Agent) -> None:
    data = api_agent.policy.model_dump(mode="json")
    data["version"] = "t5"
    response = client.put(
        "/v1/policy", json=data, headers={"Authorization": f"Bearer {KEYS['root']}"}
    )
    assert response.status_code == 200, response.text
