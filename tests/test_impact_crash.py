"""A server killed by SIGKILL while it computes a proposal's impact report: the report
stays ``running`` on a claim nobody holds, and the next server, once the claim's lease is
over, takes it over at start-up and finishes it.

Each "server" is a subprocess running the real app (its lifespan: start-up sweep, worker
thread) through Starlette's TestClient; the first one's impact function kills its own
process, the way tests/test_crash.py kills a process mid-tool-call."""

from __future__ import annotations

import json
import signal
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.crash import crash_database, run_script
from tests.governance.test_proposals import governed_pack

RUNNER = textwrap.dedent("""
    import json, os, signal, sys, threading
    from pathlib import Path
    from fastapi.testclient import TestClient
    from govcx.agent.agent import Agent
    from govcx.api import ServerSettings, create_app
    from govcx.engines.embedded import EmbeddedEngine
    from govcx.pack import load_pack
    from govcx.testing import InMemoryRetriever, PassThroughGuard

    pack_dir, home, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    database_url = os.environ.get("CRASH_DATABASE_URL") or None
    pack = load_pack(pack_dir)
    settings = ServerSettings(
        home=Path(home), database_url=database_url, expiry_interval=0,
        api_keys="key-rita-000000000000000:rita",
        impact_lease=float(sys.argv[4]),
    )
    agent = Agent(pack, settings, engine=EmbeddedEngine.from_policy(pack.policy),
                  retriever=InMemoryRetriever([]), guard=PassThroughGuard())

    answered = threading.Event()

    def impact(agent, candidate, days=None):
        if mode == "propose":  # the server dies in the middle of the report
            answered.wait(60)
            os.kill(os.getpid(), signal.SIGKILL)
        return {"conversations": 1, "by": os.getpid()}

    auth = {"Authorization": "Bearer key-rita-000000000000000"}
    with TestClient(create_app(settings, agent, impact=impact)) as client:
        if mode == "propose":
            data = agent.policy.model_dump(mode="json")
            data["version"] = "t2"
            data["tools"]["issue_refund"]["approval_if"] = "amount > 100"
            made = client.post("/v1/policy/proposals", json=data, headers=auth)
            print(json.dumps(made.json()), flush=True)
            answered.set()
            client.app.state.runtime.impacts.wait_idle(60)  # never returns: SIGKILL
        else:  # a new server: its start-up sweep takes the stale claim over
            assert client.app.state.runtime.impacts.wait_idle(60)
            pid = sys.argv[5]
            print(json.dumps(client.get(f"/v1/policy/proposals/{pid}", headers=auth).json()))
""")

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


_database = pytest.fixture(autouse=True)(crash_database)


def _run(pack: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_script(RUNNER, pack, home, *args)


def test_a_report_whose_server_was_killed_is_finished_by_the_next(tmp_path: Path) -> None:
    pack = governed_pack(tmp_path)
    home = tmp_path / "home"
    crashed = _run(pack, home, "propose", "900")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    proposal = json.loads(crashed.stdout.splitlines()[0])
    pid = proposal["proposal_id"]
    assert proposal["impact_status"] == "pending"

    # Within the lease the claim of the dead server still holds: nothing is taken over.
    held = _run(pack, home, "finish", "900", pid)
    assert held.returncode == 0, held.stderr
    assert json.loads(held.stdout)["impact_status"] == "running"

    # A lease shorter than the time since the claim: the next server finishes the report.
    finished = _run(pack, home, "finish", "0.001", pid)
    assert finished.returncode == 0, finished.stderr
    view = json.loads(finished.stdout)
    assert view["impact_status"] == "done" and view["impact_error"] is None
    assert view["impact"]["conversations"] == 1
