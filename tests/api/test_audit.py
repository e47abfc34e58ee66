"""/v1/audit: anchor, verify against an anchor, and the bounds of after_seq."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from govcx.agent.agent import Agent
from tests.api.conftest import assert_error, auth, pending_refund

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


def _decided(client: TestClient) -> str:
    aid = pending_refund(client)["approval_id"]
    response = client.post(
        f"/v1/approvals/{aid}/decision", json={"decision": "approve"}, headers=auth("sup")
    )
    assert response.status_code == 200
    return str(aid)


def test_anchor_then_verify_and_detect_truncation(client: TestClient, api_agent: Agent) -> None:
    aid = _decided(client)
    anchor = client.get("/v1/audit/anchor", headers=auth("audit"))
    assert anchor.status_code == 200
    body = anchor.json()
    assert set(body) == {"seq", "hash", "time", "keyed_from", "key_id", "signature"}
    ok = client.post("/v1/audit/verify", json={"anchor": body}, headers=auth("audit")).json()
    assert ok["ok"] and ok["anchor"] == body and ok["problems"] == []
    assert client.get("/v1/audit/verify", headers=auth("audit")).json()["ok"]
    # Attack (a) through the API's eyes: the tail goes, the head moves back.
    keep = body["seq"] - 6
    kept = next(api_agent.audit.events(after_seq=keep - 1, limit=1))
    with api_agent.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq > :k"), {"k": keep})
        conn.execute(text("UPDATE audit_head SET seq = :k, hash = :h"), {"k": keep, "h": kept.hash})
    bad = client.post("/v1/audit/verify", json={"anchor": body}, headers=auth("audit")).json()
    assert not bad["ok"]
    assert any(f"anchored event seq {body['seq']}" in p for p in bad["problems"])
    plain = client.get("/v1/audit/verify", headers=auth("audit")).json()
    assert not plain["ok"] and any(aid in p or "execution" in p for p in plain["problems"])
    # A broken chain is not signed.
    assert_error(client.get("/v1/audit/anchor", headers=auth("audit")), 409, "audit_broken")


def test_forged_anchor_and_bad_anchor_bodies(client: TestClient) -> None:
    _decided(client)
    body = client.get("/v1/audit/anchor", headers=auth("audit")).json()
    forged = {**body, "seq": body["seq"] - 1}
    result = client.post("/v1/audit/verify", json={"anchor": forged}, headers=auth("audit")).json()
    assert not result["ok"] and "does not verify with the audit key" in result["problems"][0]
    for bad in ({**body, "seq": -1}, {**body, "hash": "xyz"}, {**body, "extra": 1}, {}):
        assert_error(
            client.post("/v1/audit/verify", json={"anchor": bad}, headers=auth("audit")),
            422,
            "invalid_request",
        )
    assert_error(client.get("/v1/audit/anchor", headers=auth("web")), 403)
    assert_error(client.post("/v1/audit/verify", json={"anchor": body}, headers=auth("sup")), 403)


@pytest.mark.parametrize("after_seq", ["9223372036854775808", str(2**31), str(2**70), "-1"])
def test_after_seq_out_of_range_is_422_naming_the_range(client: TestClient, after_seq: str) -> None:
    """Was a 500: SQLite cannot bind an integer beyond 64 bits."""
    error = assert_error(
        client.get("/v1/audit", params={"after_seq": after_seq}, headers=auth("audit")),
        422,
        "invalid_request",
    )
    assert error["message"].startswith("query.after_seq:") or "after_seq" in error["message"]
    assert (
        "2147483647" in error["message"]
        if after_seq != "-1"
        else "greater than or equal to 0" in error["message"]
    )


def test_after_seq_at_the_top_of_the_range_is_fine(client: TestClient) -> None:
    response = client.get("/v1/audit", params={"after_seq": str(2**31 - 1)}, headers=auth("audit"))
    assert response.status_code == 200 and response.json() == []
