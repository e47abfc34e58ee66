"""`govcx policy propose|review|activate|rollout|shadow-report|rollback` with API keys: the
author writes the candidate on their own machine; every step is made as a key's
principal; refusals exit non-zero with a message, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from govcx.cli.main import app
from tests.governance.test_proposals import governed_pack

runner = CliRunner()


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCX_HOME", str(tmp_path / "home"))
    for name in ("GOVCX_DEV", "GOVCX_API_KEY", "GOVCX_API_KEYS", "GOVCX_PACK"):
        monkeypatch.delenv(name, raising=False)


def _run(pack: Path, *args: str, key: str | None = None) -> Result:
    """``govcx ARGS --pack PACK`` with ``key`` as the API key; never a traceback."""
    result = runner.invoke(app, [*args, "--pack", str(pack)], env={"GOVCX_API_KEY": key or ""})
    assert "Traceback" not in result.output, result.output
    return result


def _key_of(pack: Path, name: str) -> str:
    """A new API key of principal ``name``."""
    result = _run(pack, "keys", "create", name, "--json")
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["key"])


def test_the_lifecycle_from_the_command_line(tmp_path: Path) -> None:
    pack = governed_pack(tmp_path)

    def run(*args: str, key: str | None = None) -> Result:
        return _run(pack, *args, key=key)

    def key_of(name: str) -> str:
        return _key_of(pack, name)

    def as_json(result: Result) -> Any:
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    root, rita, lena, sup = (key_of(n) for n in ("root", "rita", "lena", "sup"))
    turn = as_json(run("ask", "please refund $80 for order A-1002", "--customer", "C-1", "--json"))
    assert turn["status"] == "pending_approval"

    policy = yaml.safe_load((tmp_path / "governed" / "policy.yaml").read_text())
    policy["version"] = "t2"
    policy["tools"]["issue_refund"]["approval_if"] = "amount > 100"
    local = tmp_path / "my-candidate.yaml"
    local.write_text(yaml.safe_dump(policy))

    no_key = run("policy", "propose", str(local))
    assert no_key.exit_code == 2 and "API key" in no_key.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: t3\ntiers: {low: {approval: sometimes}}\nworkflows: {}\n")
    bad = run("policy", "propose", str(broken), key=root)
    assert bad.exit_code == 2 and "tiers.low.approval" in bad.output

    proposal = as_json(
        run("policy", "propose", str(local), "--comment", "refunds to $100", "--json", key=root)
    )
    pid = proposal["proposal_id"]
    assert proposal["author"] == "root" and proposal["status"] == "pending"
    assert proposal["impact"]["decisions"] == {"newly autonomous": 1}
    assert proposal["impact_status"] == "done"  # computed in-process: reviewable at once

    assert run("policy", "review", pid, "--approve", key=sup).exit_code == 1
    assert run("policy", "review", pid, "--approve", "--reject", key=rita).exit_code == 2
    assert "1/2" in run("policy", "review", pid, "--approve", "--comment", "ok", key=rita).output
    again = run("policy", "review", pid, "--approve", key=rita)
    assert again.exit_code == 1 and "counts once" in again.output
    assert run("policy", "activate", pid, key=root).exit_code == 2  # one approval only (Conflict)
    assert "approved" in run("policy", "review", pid, "--approve", key=lena).output

    assert run("policy", "activate", pid, "--shadow", key=rita).exit_code == 1  # not admin
    assert "shadow" in run("policy", "activate", pid, "--shadow", key=root).output
    run("ask", "please refund $80 for order A-1002", "--customer", "C-2")
    report = as_json(run("policy", "shadow-report", pid, "--json"))
    assert report["by_change"] == {"newly autonomous": 1}

    assert "20%" in run("policy", "rollout", pid, "--share", "20", key=root).output
    listed = as_json(run("policy", "proposals", "--json"))
    assert [(p["proposal_id"], p["status"], p["share"]) for p in listed] == [(pid, "rollout", 20)]
    assert "active policy t2" in run("policy", "activate", pid, key=root).output
    back = run("policy", "rollback", key=root)
    assert back.exit_code == 0 and "t1 is active again" in back.output
    never = run("policy", "rollback", "t9", key=root)
    assert never.exit_code == 2 and "never active" in never.output


def test_impact_computes_a_failed_or_unclaimed_report_here(tmp_path: Path) -> None:
    """`govcx policy impact ID`: a report the server failed is re-run (its author or an
    admin; audited), one no server picked up is computed; the CLI answers at the end."""
    from govcx.cli._common import open_agent
    from govcx.governance.principal import Principal
    from tests.governance.test_proposals import candidate

    pack = governed_pack(tmp_path)
    root_p = Principal(name="root", roles=frozenset({"admin"}))

    def run(*args: str, key: str | None = None) -> Result:
        return _run(pack, *args, key=key)

    root, lena = _key_of(pack, "root"), _key_of(pack, "lena")
    agent = open_agent(pack)
    store = agent.proposals
    failed = agent.lifecycle.propose(candidate(agent), author=root_p, impact_pending=True)
    [seen] = store.impact_due(now=agent.clock(), lease=900)
    claim = store.claim_impact(seen, now=agent.clock())
    assert claim is not None and store.finish_impact(claim, error="the replay ran out of memory")
    shown = run("policy", "proposal", failed.proposal_id)
    assert f"govcx policy impact {failed.proposal_id}" in " ".join(shown.output.split())

    refused = run("policy", "impact", failed.proposal_id, key=lena)  # neither author nor admin
    assert refused.exit_code == 1 and "author" in refused.output
    assert store.get(failed.proposal_id).impact_status == "failed"

    done = run("policy", "impact", failed.proposal_id, "--json", key=root)
    assert done.exit_code == 0, done.output
    view = json.loads(done.stdout)
    assert view["impact_status"] == "done" and view["impact_error"] is None
    assert view["impact"]["decisions"] == {}  # no conversation recorded: nothing changes
    reruns = [e for e in agent.audit.events() if e.kind == "policy.impact_rerun"]
    assert [(e.actor, e.data["proposal_id"], e.data["authenticated"]) for e in reruns] == [
        ("root", failed.proposal_id, True)
    ]

    again = run("policy", "impact", failed.proposal_id, key=root)
    assert again.exit_code == 2 and "nothing to compute" in again.output

    # In dev mode without a key, the re-run is recorded as unauthenticated.
    dev = agent.lifecycle.propose(candidate(agent, "t4", 80), author=root_p, impact_pending=True)
    [seen] = store.impact_due(now=agent.clock(), lease=900)
    claim = store.claim_impact(seen, now=agent.clock())
    assert claim is not None and store.finish_impact(claim, error="boom")
    as_root = runner.invoke(
        app,
        ["policy", "impact", dev.proposal_id, "--as", "root", "--pack", str(pack)],
        env={"GOVCX_DEV": "1", "GOVCX_API_KEY": ""},
    )
    assert as_root.exit_code == 0, as_root.output
    reruns = [e for e in agent.audit.events() if e.kind == "policy.impact_rerun"]
    assert reruns[-1].data == {
        "proposal_id": dev.proposal_id,
        "error": "boom",
        "authenticated": False,
    }

    # Proposed through the API while no server ran: still pending, computed here.
    waiting = agent.lifecycle.propose(
        candidate(agent, "t3", 90), author=root_p, impact_pending=True
    )
    computed = json.loads(run("policy", "impact", waiting.proposal_id, "--json", key=root).stdout)
    assert computed["impact_status"] == "done"
    assert sum(e.kind == "policy.impact_rerun" for e in agent.audit.events()) == 2
