"""Issue 13 items 2 and 4: policy bound by content; one owner and one customer.

Attacks reproduced on main before the fix, each now refused:
- policy.yaml edited (refunds made critical) without changing ``version``, restart: a
  pending $80 refund was approved by one supervisor.
- an old version string re-activated with new content revived a stale approval.
- the CLI decided under the file's policy while the API had activated a newer one.
- a message naming another customer in an existing conversation acted for that customer.
- a channel posted into a conversation it never started.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from govcx.agent.agent import Agent
from govcx.errors import (
    ApprovalStale,
    CustomerMismatch,
    NotFound,
    PolicyError,
    PolicyVersionConflict,
)
from tests.conftest import SHOP, shop_effects

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


def _pack_copy(tmp_path: Path) -> Path:
    pack = tmp_path / "pack"
    if not pack.exists():
        shutil.copytree(SHOP, pack)
    return pack


def _edit_policy(pack: Path, change: Callable[[dict], None]) -> None:  # type: ignore[type-arg]
    path = pack / "policy.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


def _refund_80(agent: Agent, conv: str = "c1") -> str:
    turn = agent.respond(conv, "please refund $80 for order A-1002", customer_id="C-1")
    assert turn.status == "pending_approval" and turn.approval_id
    return turn.approval_id


def _critical_refunds(data: dict) -> None:  # type: ignore[type-arg]
    data["tiers"]["critical"] = {"approval": "always", "approvers": 2}
    data["tools"]["issue_refund"]["tier"] = "critical"


def test_an_edited_policy_file_that_kept_its_version_is_refused(
    make_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    pack = _pack_copy(tmp_path)
    first = make_agent(pack)
    aid = _refund_80(first)
    first.close()
    _edit_policy(pack, _critical_refunds)  # version stays t1
    with pytest.raises(PolicyError, match=r"version 't1' already names other content.*bump"):
        make_agent(pack)
    _edit_policy(pack, lambda d: d.update(version="t2"))
    restarted = make_agent(pack)
    assert restarted.policy.version == "t2"
    assert restarted.policy.tools["issue_refund"].tier == "critical"
    # The $80 refund was approvable by one supervisor under t1; under t2 it is not.
    with pytest.raises(ApprovalStale, match="requested under policy t1"):
        restarted.decide(aid, principal="sup", decision="approve")
    assert restarted.approvals.get(aid).status == "superseded"
    assert restarted.conversation("c1")["turns"][-1]["status"] == "escalated"
    assert shop_effects(restarted) == []


def test_the_cli_refuses_an_edited_policy_with_exit_2(
    make_agent: Callable[..., Agent],
    tmp_path: Path,
    database_url: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from govcx.cli.main import app

    pack = _pack_copy(tmp_path)
    make_agent(pack).close()
    _edit_policy(pack, _critical_refunds)
    monkeypatch.setenv("GOVCX_HOME", str(tmp_path / "home"))
    if database_url:
        monkeypatch.setenv("GOVCX_DATABASE_URL", database_url)
    result = CliRunner().invoke(app, ["ask", "hello", "--pack", str(pack)])
    assert result.exit_code == 2, result.output
    assert "bump the version" in result.output and "Traceback" not in result.output


def test_an_old_version_cannot_come_back_with_new_content(agent: Agent) -> None:
    aid = _refund_80(agent)
    t2 = agent.policy.model_copy(update={"version": "t2"})
    assert agent.set_policy(t2, actor="root")
    assert agent.approvals.get(aid).status == "superseded"
    lenient = agent.policy.model_copy(
        update={
            "version": "t1",
            "tools": {
                **agent.policy.tools,
                "issue_refund": agent.policy.tools["issue_refund"].model_copy(
                    update={"approval_if": "amount > 5000"}
                ),
            },
        }
    )
    with pytest.raises(PolicyVersionConflict, match="bump the version"):
        agent.set_policy(lenient, actor="root")
    assert agent.policy.version == "t2"
    with pytest.raises(ApprovalStale):  # the stale approval stays dead
        agent.decide(aid, principal="sup", decision="approve")
    assert shop_effects(agent) == []


def test_every_process_decides_under_the_active_policy(make_agent: Callable[..., Agent]) -> None:
    api, cli = make_agent(), make_agent()  # two processes on one deployment
    aid = _refund_80(api)
    t2 = api.policy.model_copy(update={"version": "t2"})
    api.set_policy(t2, actor="root", supersede=False)
    assert cli.policy.version == "t1"  # not yet synced: the next operation syncs
    with pytest.raises(ApprovalStale, match="t2"):
        cli.decide(aid, principal="sup", decision="approve")
    assert cli.policy.version == "t2"
    assert make_agent().policy.version == "t2"  # a new process starts under it
    turn = cli.respond("c2", "please refund $20 for order A-1001", customer_id="C-1")
    assert turn.decision is not None and turn.decision.policy_version == "t2"


def test_the_customer_is_fixed_by_the_first_message_that_names_one(agent: Agent) -> None:
    agent.respond("c1", "hello there")
    agent.respond("c1", "where is my order A-1001?", customer_id="C-1")
    before = agent.conversation("c1")
    with pytest.raises(CustomerMismatch) as caught:
        agent.respond("c1", "please refund $20 for order A-2000", customer_id="C-2")
    assert caught.value.code == "customer_mismatch" and "C-1" not in caught.value.message
    after = agent.conversation("c1")
    assert after["transcript"] == before["transcript"]  # nothing ran
    assert after["turn_count"] == before["turn_count"] and after["status"] == "idle"
    assert agent.respond("c1", "thanks", customer_id="C-1").status  # the right one works
    assert shop_effects(agent) == []


def test_a_conversation_belongs_to_the_channel_that_started_it(agent: Agent) -> None:
    agent.respond("c1", "hello", customer_id="C-1", owner="web")
    with pytest.raises(NotFound) as theirs:
        agent.respond("c1", "please refund $20 for order A-1001", owner="web2")
    with pytest.raises(NotFound) as absent:
        agent.conversations.check_owner("c-nope", "web2")
    assert type(theirs.value) is type(absent.value)
    assert len(agent.conversation("c1")["transcript"]) == 2
    agent.respond("c-cli", "hello", owner="cli")
    with pytest.raises(NotFound):
        agent.respond("c-cli", "hello", owner="web")


def test_the_cli_refuses_another_customer_with_exit_2(
    tmp_path: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from govcx.cli.main import app

    monkeypatch.setenv("GOVCX_HOME", str(tmp_path / "home"))
    if database_url:
        monkeypatch.setenv("GOVCX_DATABASE_URL", database_url)
    runner = CliRunner()
    base = ["--pack", str(SHOP), "--conversation", "cli-x"]
    assert runner.invoke(app, ["ask", "hello", "--customer", "C-1", *base]).exit_code == 0
    result = runner.invoke(app, ["ask", "refund $20 for order A-2000", "--customer", "C-2", *base])
    assert result.exit_code == 2, result.output
    assert "another customer" in result.output
