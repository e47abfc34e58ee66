"""Bearer keys mapped to principals; role gates; secure by default."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from govcx.agent.agent import Agent
from govcx.api import ServerSettings, create_app
from govcx.api.auth import DEV_KEYS_FILE, KeyRing, dev_keys
from govcx.errors import ConfigError
from tests.api.conftest import KEYS, assert_error, auth, pending_refund


def test_no_key_or_unknown_key_is_401(client: TestClient) -> None:
    error = assert_error(client.get("/v1/approvals"), 401, "unauthorized")
    assert "Authorization: Bearer" in error["message"]
    response = client.get("/v1/approvals", headers={"Authorization": "Bearer not-a-real-key"})
    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    assert_error(client.get("/v1/approvals", headers={"Authorization": KEYS["sup"]}), 401)


def test_me_names_the_principal(client: TestClient) -> None:
    body = client.get("/v1/me", headers=auth("boss")).json()
    assert body == {"principal": "boss", "roles": ["approver:manager"]}


def test_a_channel_key_can_never_decide(client: TestClient) -> None:
    aid = pending_refund(client)["approval_id"]
    error = assert_error(
        client.post(
            f"/v1/approvals/{aid}/decision", json={"decision": "approve"}, headers=auth("web")
        ),
        403,
        "forbidden",
    )
    assert "approver" in error["message"]


def test_role_gates(client: TestClient) -> None:
    # approvers and auditors do not converse
    for who in ("sup", "audit", "root"):
        assert_error(
            client.post("/v1/conversations/c-1/messages", json={"text": "hi"}, headers=auth(who)),
            403,
            "forbidden",
        )
    # only auditors and admins read the audit log
    for who in ("web", "sup"):
        assert_error(client.get("/v1/audit", headers=auth(who)), 403)
    assert client.get("/v1/audit", headers=auth("audit")).status_code == 200
    assert client.get("/v1/audit/verify", headers=auth("root")).status_code == 200
    # channels do not read the approval queue; auditors may
    assert_error(client.get("/v1/approvals", headers=auth("web")), 403)
    assert client.get("/v1/approvals", headers=auth("audit")).status_code == 200
    # auditors cannot decide
    aid = pending_refund(client)["approval_id"]
    assert_error(
        client.post(
            f"/v1/approvals/{aid}/decision", json={"decision": "approve"}, headers=auth("audit")
        ),
        403,
    )
    # only admins change policy
    assert_error(
        client.put(
            "/v1/policy",
            content="version: x",
            headers={**auth("sup"), "Content-Type": "application/yaml"},
        ),
        403,
    )


def test_approver_authority_is_enforced_by_the_core(client: TestClient) -> None:
    turn = pending_refund(client, text="please refund $120 for order A-1002")
    aid = turn["approval_id"]
    view = client.get(f"/v1/approvals/{aid}", headers=auth("sup")).json()
    assert view["can_decide"] is False and "limit" in view["authority"]
    error = assert_error(
        client.post(
            f"/v1/approvals/{aid}/decision", json={"decision": "approve"}, headers=auth("sup")
        ),
        403,
        "not_authorized",
    )
    assert "100" in error["message"]
    turn = client.post(
        f"/v1/approvals/{aid}/decision", json={"decision": "approve"}, headers=auth("boss")
    ).json()
    assert turn["actions"][0]["status"] == "executed"


def test_four_eyes_needs_two_distinct_principals(client: TestClient, api_agent: Agent) -> None:
    turn = pending_refund(client, text="close my account")
    aid = turn["approval_id"]
    assert_error(
        client.post(
            f"/v1/approvals/{aid}/decision", json={"decision": "approve"}, headers=auth("sup")
        ),
        403,
        "not_authorized",
    )  # wrong role
    first = client.post(
        f"/v1/approvals/{aid}/decision", json={"decision": "approve"}, headers=auth("boss")
    )
    assert first.status_code == 200 and first.json()["status"] == "pending_approval"
    assert_error(
        client.post(
            f"/v1/approvals/{aid}/decision", json={"decision": "approve"}, headers=auth("boss")
        ),
        403,
        "duplicate_approver",
    )
    assert api_agent.approvals.get(aid).status == "pending"
    second = client.post(
        f"/v1/approvals/{aid}/decision", json={"decision": "approve"}, headers=auth("boss2")
    ).json()
    assert second["status"] == "answered"
    assert second["actions"][0] == {
        **second["actions"][0],
        "tool": "close_account",
        "status": "executed",
    }


def test_channels_only_see_their_own_conversations(client: TestClient) -> None:
    cid = client.post("/v1/conversations", headers=auth("web")).json()["conversation_id"]
    assert (
        client.post(
            f"/v1/conversations/{cid}/messages", json={"text": "hello"}, headers=auth("web")
        ).status_code
        == 200
    )
    # Another channel's conversation is exactly as absent as one that does not exist.
    absent = assert_error(client.get("/v1/conversations/conv_nope", headers=auth("web2")), 404)
    theirs = assert_error(
        client.get(f"/v1/conversations/{cid}", headers=auth("web2")), 404, "not_found"
    )
    assert theirs["message"] == absent["message"].replace("conv_nope", cid)
    assert_error(
        client.post(f"/v1/conversations/{cid}/messages", json={"text": "hi"}, headers=auth("web2")),
        404,
        "not_found",
    )
    assert (
        len(client.get(f"/v1/conversations/{cid}", headers=auth("web")).json()["transcript"]) == 2
    )  # web2's message ran nothing
    assert client.get(f"/v1/conversations/{cid}", headers=auth("web")).status_code == 200
    assert client.get(f"/v1/conversations/{cid}", headers=auth("sup")).status_code == 200


def test_no_keys_and_not_dev_refuses_to_start(api_agent: Agent, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no API keys are configured.*--dev"):
        create_app(ServerSettings(home=tmp_path / "home", api_keys=None), api_agent)


def test_bad_key_configuration_is_refused(api_agent: Agent, tmp_path: Path) -> None:
    principals = api_agent.pack.principals
    with pytest.raises(ConfigError, match="unknown principal 'dana'"):
        KeyRing.configured(
            api_keys="a-long-enough-key-0001:dana", api_keys_file=None, principals=principals
        )
    with pytest.raises(ConfigError, match="at least 16"):
        KeyRing.configured(api_keys="short:web", api_keys_file=None, principals=principals)
    with pytest.raises(ConfigError, match="expected key:principal"):
        KeyRing.configured(api_keys="nocolon", api_keys_file=None, principals=principals)
    keys_file = tmp_path / "keys"
    keys_file.write_text("# comment\nkey-from-a-file-000001:sup  # supervisor\n\n")
    ring = KeyRing.configured(api_keys=None, api_keys_file=keys_file, principals=principals)
    caller = ring.authenticate("key-from-a-file-000001")
    assert caller is not None and caller.name == "sup"
    with pytest.raises(ConfigError, match="cannot read"):
        KeyRing.configured(api_keys=None, api_keys_file=tmp_path / "missing", principals=principals)


def test_dev_mode_creates_stable_keys_per_principal(
    make_app: Callable[..., FastAPI], api_agent: Agent
) -> None:
    app = make_app(settings={"api_keys": None, "dev": True})
    path = api_agent.state_dir / DEV_KEYS_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    keys = dev_keys(api_agent.state_dir, api_agent.pack.principals)
    assert set(keys) == set(api_agent.pack.principals)
    assert dev_keys(api_agent.state_dir, api_agent.pack.principals) == keys  # stable
    with TestClient(app) as client:
        me = client.get("/v1/me", headers={"Authorization": f"Bearer {keys['boss']}"})
        assert me.json()["principal"] == "boss"


def test_a_channel_cannot_take_over_a_conversation_started_elsewhere(
    client: TestClient, api_agent: Agent
) -> None:
    api_agent.respond("cli-abc", "hello", customer_id="C-1", owner="cli")  # `govcx ask`
    for response in (
        client.get("/v1/conversations/cli-abc", headers=auth("web")),
        client.post(
            "/v1/conversations/cli-abc/messages",
            json={"text": "please refund $20 for order A-1001"},
            headers=auth("web"),
        ),
    ):
        assert_error(response, 404, "not_found")
    assert len(api_agent.conversation("cli-abc")["transcript"]) == 2


def test_a_message_for_another_customer_is_409_and_runs_nothing(client: TestClient) -> None:
    cid = client.post("/v1/conversations", json={"customer_id": "C-1"}, headers=auth("web")).json()[
        "conversation_id"
    ]
    error = assert_error(
        client.post(
            f"/v1/conversations/{cid}/messages",
            json={"text": "please refund $20 for order A-2000", "customer_id": "C-2"},
            headers=auth("web"),
        ),
        409,
        "customer_mismatch",
    )
    assert "C-1" not in error["message"]
    assert client.get(f"/v1/conversations/{cid}", headers=auth("web")).json()["transcript"] == []
