"""The HTTP API accepts database keys (``govcx keys create``) on SQLite and PostgreSQL:
a revoked key stops working at once, a channel key cannot decide, one key cannot count
twice toward four-eyes, and the server starts on database keys alone but not with none."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from govcx.agent.agent import Agent
from govcx.api import ServerSettings, create_app
from govcx.cli.main import app as cli
from govcx.errors import ConfigError
from govcx.governance.keys import KeyStore
from tests.api.conftest import REFUND_80, assert_error, auth
from tests.conftest import SHOP

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def decide(client: TestClient, aid: str, key: str, decision: str = "approve") -> Any:
    return client.post(
        f"/v1/approvals/{aid}/decision", json={"decision": decision}, headers=bearer(key)
    )


def _pending(client: TestClient, channel_key: str, text: str = REFUND_80) -> str:
    cid = client.post(
        "/v1/conversations", json={"customer_id": "C-1"}, headers=bearer(channel_key)
    ).json()["conversation_id"]
    turn = client.post(
        f"/v1/conversations/{cid}/messages", json={"text": text}, headers=bearer(channel_key)
    ).json()
    assert turn["status"] == "pending_approval", turn
    return str(turn["approval_id"])


@pytest.fixture
def db_only_app(api_agent: Agent, tmp_path: Path) -> Callable[[], FastAPI]:
    """An app with no GOVCX_API_KEYS at all: only database keys."""

    def factory() -> FastAPI:
        return create_app(
            ServerSettings(home=tmp_path / "home", api_keys=None, expiry_interval=0), api_agent
        )

    return factory


def test_database_keys_only_and_revocation_at_once(
    api_agent: Agent, db_only_app: Callable[[], FastAPI]
) -> None:
    store = KeyStore(api_agent.db)
    with pytest.raises(ConfigError, match=r"no API keys are configured.*govcx keys create"):
        db_only_app()
    web, sup = store.create("web"), store.create("sup")
    with TestClient(db_only_app()) as client:
        me = client.get("/v1/me", headers=bearer(sup.key))
        assert me.status_code == 200 and me.json()["principal"] == "sup"
        aid = _pending(client, web.key)
        # revoked by another process (another KeyStore on the same database)
        KeyStore(api_agent.db).revoke(sup.key_id)
        assert_error(client.get("/v1/me", headers=bearer(sup.key)), 401, "unauthorized")
        assert_error(decide(client, aid, sup.key), 401, "unauthorized")
        assert api_agent.approvals.get(aid).status == "pending"
        forged = sup.key[:-4] + ("AAAA" if not sup.key.endswith("AAAA") else "BBBB")
        assert_error(client.get("/v1/me", headers=bearer(forged)), 401)
    store.revoke(web.key_id)
    with pytest.raises(ConfigError, match="no API keys are configured"):
        db_only_app()  # revoked keys do not count


def test_a_channel_database_key_cannot_decide(api_agent: Agent, client: TestClient) -> None:
    web = KeyStore(api_agent.db).create("web")
    aid = _pending(client, web.key)
    error = assert_error(decide(client, aid, web.key), 403, "forbidden")
    assert "channel" in error["message"]
    assert api_agent.approvals.get(aid).status == "pending"


def test_one_database_key_counts_once_toward_four_eyes(
    api_agent: Agent, client: TestClient
) -> None:
    store = KeyStore(api_agent.db)
    boss, boss2 = store.create("boss"), store.create("boss2")
    aid = _pending(client, KeyStore(api_agent.db).create("web").key, text="close my account")
    assert decide(client, aid, boss.key).json()["status"] == "pending_approval"
    assert_error(decide(client, aid, boss.key), 403, "duplicate_approver")
    # the bootstrap key of the same principal is the same person
    assert_error(
        client.post(
            f"/v1/approvals/{aid}/decision", json={"decision": "approve"}, headers=auth("boss")
        ),
        403,
        "duplicate_approver",
    )
    assert api_agent.approvals.get(aid).status == "pending"
    done = decide(client, aid, boss2.key).json()
    assert done["status"] == "answered"
    decisions = api_agent.approvals.get(aid).decisions
    assert [(d.principal, d.authenticated) for d in decisions] == [("boss", True), ("boss2", True)]


def test_serve_starts_on_database_keys_alone(
    monkeypatch: pytest.MonkeyPatch,
    make_agent: Callable[..., Agent],
    tmp_path: Path,
    database_url: str | None,
) -> None:
    for name in ("GOVCX_API_KEYS", "GOVCX_API_KEYS_FILE", "GOVCX_DEV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOVCX_HOME", str(tmp_path / "home"))
    if database_url:
        monkeypatch.setenv("GOVCX_DATABASE_URL", database_url)
    served: list[Any] = []
    monkeypatch.setattr(
        "govcx.agent.agent.Agent.open",
        classmethod(lambda cls, pack=None, settings=None: make_agent()),
    )
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: served.append(app))
    runner = CliRunner()
    refused = runner.invoke(cli, ["serve", "--pack", str(SHOP)])
    assert refused.exit_code == 2 and "govcx keys create" in refused.output
    created = runner.invoke(cli, ["keys", "create", "sup", "--pack", str(SHOP)])
    assert created.exit_code == 0, created.output
    key = re.search(r"gcx_[0-9a-f]{12}_\S+", created.stdout)
    assert key is not None
    started = runner.invoke(cli, ["serve", "--pack", str(SHOP)])
    assert started.exit_code == 0, started.output
    assert "dev keys" not in started.output
    with TestClient(served[0]) as client:
        assert client.get("/v1/me", headers=bearer(key.group(0))).json()["principal"] == "sup"


def test_unauthenticated_decisions_are_marked_for_the_console(
    api_agent: Agent, client: TestClient
) -> None:
    """A dev-mode decision (by name, no key) reaches the console flagged, and the console
    script renders a visible "unauthenticated" mark for it (queue and detail)."""
    aid = _pending(client, KeyStore(api_agent.db).create("web").key, text="close my account")
    api_agent.decide(aid, principal="boss", decision="approve", authenticated=False)
    view = client.get(f"/v1/approvals/{aid}", headers=auth("boss2")).json()
    assert [(d["principal"], d["authenticated"]) for d in view["decisions"]] == [("boss", False)]
    script = client.get("/console/static/console.js").text
    assert script.count("authenticated === false") >= 3
    assert 'text: "unauthenticated"' in script
    assert ".badge.unauth" in client.get("/console/static/console.css").text
