"""The impact report of a proposal is computed by the server in the background: the POST
answers at once (202), the report goes pending → running → done (or failed, with its
message, and can be re-run), approving waits for it, and the claim on a report is a
compare-and-set, so of several workers on one database exactly one computes it and a
report whose worker died is taken over after the lease.

The impact functions here block on ``threading.Event``s: the tests synchronise on them
and on :meth:`ImpactWorker.wait_idle`, never on sleeps."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from govcx.agent.agent import Agent
from govcx.api import ServerSettings, create_app
from govcx.api.impacts import ImpactWorker
from govcx.api.runtime import ApiRuntime
from govcx.errors import ImpactNotReady
from govcx.governance.policy import Policy
from govcx.governance.principal import Principal
from tests.api.conftest import CHROMIUM, LiveServer, assert_error
from tests.api.test_proposals_api import REVIEW_KEYS, _candidate, auth
from tests.conftest import Clock
from tests.governance.test_proposals import candidate, governed_pack

RITA = Principal(name="rita", roles=frozenset({"risk"}))
LENA = Principal(name="lena", roles=frozenset({"legal"}))
REPORT = {"conversations": 3, "decisions": {"newly autonomous": 1}, "compliance": {}}


class Gate:
    """An impact function that signals when it starts and returns only once released
    (or raises ``fail`` when one is set)."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.fail: Exception | None = None
        self.calls: list[tuple[str, int | None]] = []

    def __call__(self, agent: Agent, policy: Policy, *, days: int | None = None) -> dict[str, Any]:
        self.calls.append((policy.version, days))
        self.started.set()
        assert self.release.wait(30), "the test never released the impact report"
        if self.fail is not None:
            raise self.fail
        return {**REPORT, "days": days}


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def governed_agent(tmp_path: Path, make_agent: Callable[..., Agent]) -> Agent:
    agent = make_agent(governed_pack(tmp_path))
    extra = {"web2": Principal(name="web2", roles=frozenset({"channel"}))}  # a key names it
    agent.pack = dataclasses.replace(agent.pack, principals={**agent.pack.principals, **extra})
    return agent


@pytest.fixture
def settings(server_settings: ServerSettings) -> ServerSettings:
    return server_settings.model_copy(
        update={"api_keys": ",".join(f"{k}:{n}" for n, k in REVIEW_KEYS.items())}
    )


@pytest.fixture
def client(governed_agent: Agent, settings: ServerSettings, gate: Gate) -> Iterator[TestClient]:
    with TestClient(create_app(settings, governed_agent, impact=gate)) as test_client:
        yield test_client
        gate.release.set()  # never leave the worker blocked past the test


def _runtime(client: TestClient) -> ApiRuntime:
    runtime: ApiRuntime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def _worker(client: TestClient) -> ImpactWorker:
    worker = _runtime(client).impacts
    assert worker is not None
    return worker


def _get(client: TestClient, pid: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/v1/policy/proposals/{pid}", headers=auth("audit")).json()
    return body


def _approve(client: TestClient, pid: str, who: str) -> Any:
    return client.post(
        f"/v1/policy/proposals/{pid}/review", json={"decision": "approve"}, headers=auth(who)
    )


def test_the_post_answers_before_the_report_which_follows(
    client: TestClient, governed_agent: Agent, gate: Gate
) -> None:
    created = client.post(
        "/v1/policy/proposals?days=7", json=_candidate(governed_agent), headers=auth("root")
    )
    assert created.status_code == 202, created.text
    body = created.json()
    pid = body["proposal_id"]
    assert created.headers["location"] == f"/v1/policy/proposals/{pid}"
    assert body["impact_status"] == "pending" and body["impact"] is None
    assert gate.started.wait(10)
    running = _get(client, pid)
    assert (running["impact_status"], running["impact"]) == ("running", None)
    listed = client.get("/v1/policy/proposals", headers=auth("audit")).json()
    assert [p["impact_status"] for p in listed] == ["running"]

    # A reviewer must see the report first; the core says so.
    error = assert_error(_approve(client, pid, "rita"), 409, "impact_not_ready")
    assert "still running" in error["message"]
    assert error["details"] == {"proposal_id": pid, "impact_status": "running"}

    gate.release.set()
    assert _worker(client).wait_idle(30)
    done = _get(client, pid)
    assert done["impact_status"] == "done" and done["impact_error"] is None
    assert done["impact"] == {**REPORT, "days": 7}
    assert gate.calls == [("t2", 7)]  # computed once, with the days asked for
    assert _approve(client, pid, "rita").json()["status"] == "pending"  # 1 of 2
    assert _approve(client, pid, "lena").json()["status"] == "approved"


def test_rejecting_does_not_wait_for_the_report(
    client: TestClient, governed_agent: Agent, gate: Gate
) -> None:
    pid = client.post(
        "/v1/policy/proposals", json=_candidate(governed_agent), headers=auth("root")
    ).json()["proposal_id"]
    rejected = client.post(
        f"/v1/policy/proposals/{pid}/review",
        json={"decision": "reject", "comment": "no"},
        headers=auth("rita"),
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    gate.release.set()
    assert _worker(client).wait_idle(30)
    assert _get(client, pid)["impact_status"] == "done"  # still computed, for the record


def test_a_failed_report_keeps_its_message_and_is_rerun(
    client: TestClient, governed_agent: Agent, gate: Gate
) -> None:
    gate.fail = RuntimeError("the replay ran out of memory")
    gate.release.set()
    created = client.post(
        "/v1/policy/proposals", json=_candidate(governed_agent), headers=auth("rita")
    )
    pid = created.json()["proposal_id"]
    assert _worker(client).wait_idle(30)
    failed = _get(client, pid)
    assert failed["impact_status"] == "failed" and failed["impact"] is None
    assert failed["impact_error"] == "RuntimeError: the replay ran out of memory"
    assert "Traceback" not in client.get(f"/v1/policy/proposals/{pid}", headers=auth("audit")).text

    error = assert_error(_approve(client, pid, "lena"), 409, "impact_not_ready")
    assert f"POST /v1/policy/proposals/{pid}/impact" in error["message"]
    assert "out of memory" in error["message"]

    rerun = f"/v1/policy/proposals/{pid}/impact"
    assert_error(client.post(rerun, headers=auth("lena")), 403, "not_authorized")  # not hers
    assert_error(client.post(rerun, headers=auth("web")), 403)  # a channel
    assert_error(client.post("/v1/policy/proposals/prop_nope/impact", headers=auth("root")), 404)
    gate.fail = None
    again = client.post(rerun, headers=auth("rita"))  # the author
    assert again.status_code == 202, again.text
    assert again.headers["location"] == f"/v1/policy/proposals/{pid}"
    assert again.json()["impact_status"] == "pending" and again.json()["impact_error"] is None
    assert _worker(client).wait_idle(30)
    assert _get(client, pid)["impact_status"] == "done"
    assert_error(client.post(rerun, headers=auth("root")), 409, "conflict")  # done: no re-run
    kinds = [e.kind for e in governed_agent.audit.events() if e.kind.startswith("policy.")]
    assert kinds[-2:] == ["policy.proposed", "policy.impact_rerun"]
    assert _approve(client, pid, "lena").json()["status"] == "pending"


def test_without_an_impact_function_the_proposal_is_created_without_a_report(
    governed_agent: Agent, settings: ServerSettings
) -> None:
    with TestClient(create_app(settings, governed_agent)) as plain:
        created = plain.post(
            "/v1/policy/proposals", json=_candidate(governed_agent), headers=auth("root")
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert (body["impact_status"], body["impact"]) == ("none", None)
        assert created.headers["location"] == f"/v1/policy/proposals/{body['proposal_id']}"
        rerun = plain.post(
            f"/v1/policy/proposals/{body['proposal_id']}/impact", headers=auth("root")
        )
        assert "computes no impact reports" in assert_error(rerun, 409)["message"]
        assert _approve(plain, body["proposal_id"], "rita").json()["status"] == "pending"


def test_a_server_starting_finishes_the_reports_left_pending(
    governed_agent: Agent, settings: ServerSettings, gate: Gate
) -> None:
    """A proposal stored pending by a server that stopped before its worker got to it."""
    proposal = governed_agent.lifecycle.propose(
        candidate(governed_agent), author=RITA, impact_pending=True, impact_days=3
    )
    assert proposal.impact_status == "pending"
    gate.release.set()
    with TestClient(create_app(settings, governed_agent, impact=gate)) as client:
        assert _worker(client).wait_idle(30)
        assert _get(client, proposal.proposal_id)["impact"] == {**REPORT, "days": 3}


# -- the claim, without HTTP ---------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_two_workers_claiming_one_report_exactly_one_wins(governed_agent: Agent) -> None:
    store = governed_agent.proposals
    pid = governed_agent.lifecycle.propose(
        candidate(governed_agent), author=RITA, impact_pending=True
    ).proposal_id
    now = governed_agent.clock()
    [seen] = store.impact_due(now=now, lease=900)
    assert (seen.proposal_id, seen.status, seen.claimed_at) == (pid, "pending", None)
    first = store.claim_impact(seen, now=now)
    second = store.claim_impact(seen, now=now + 1)  # saw the same state: too late
    assert first is not None and second is None
    assert store.get(pid).impact_status == "running"
    assert store.impact_due(now=now + 1, lease=900) == []  # claimed, lease not over
    assert store.finish_impact(first, report=REPORT)
    assert not store.finish_impact(first, report=REPORT)  # once only
    assert store.get(pid).impact == REPORT


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_racing_threads_claim_a_report_once(governed_agent: Agent) -> None:
    store = governed_agent.proposals
    governed_agent.lifecycle.propose(candidate(governed_agent), author=RITA, impact_pending=True)
    [seen] = store.impact_due(now=governed_agent.clock(), lease=900)
    barrier = threading.Barrier(4)
    won: list[object] = []

    def claim(i: int) -> None:
        barrier.wait()
        if store.claim_impact(seen, now=governed_agent.clock() + i) is not None:
            won.append(i)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(won) == 1


def test_a_stale_claim_is_taken_over_by_the_sweep(governed_agent: Agent, clock: Clock) -> None:
    """Worker A claimed the report and died; after the lease, B's sweep computes it and
    A's late result (had it lived) is dropped."""
    store = governed_agent.proposals
    pid = governed_agent.lifecycle.propose(
        candidate(governed_agent), author=RITA, impact_pending=True
    ).proposal_id
    [seen] = store.impact_due(now=clock(), lease=60)
    dead = store.claim_impact(seen, now=clock())
    assert dead is not None
    gate = Gate()
    gate.release.set()
    worker = ImpactWorker(governed_agent, gate, lease=60)
    try:
        clock.now += 30
        assert worker.sweep() == 0 and worker.wait_idle(10)  # A's claim still holds
        assert gate.calls == []
        clock.now += 31
        assert worker.sweep() == 1 and worker.wait_idle(30)
        assert gate.calls == [("t2", None)]
        assert store.get(pid).impact_status == "done"
        assert not store.finish_impact(dead, error="too late")  # A's result is dropped
        assert store.get(pid).impact == {**REPORT, "days": None}
    finally:
        worker.stop()


def test_a_report_running_past_the_lease_keeps_its_claim(
    governed_agent: Agent, clock: Clock, gate: Gate
) -> None:
    """The worker renews its claim while it computes, so a report that outlives the lease
    is not taken over and computed a second time by another worker."""
    import time

    store = governed_agent.proposals
    pid = governed_agent.lifecycle.propose(
        candidate(governed_agent), author=RITA, impact_pending=True
    ).proposal_id
    worker = ImpactWorker(governed_agent, gate, lease=60, heartbeat=0.02)
    try:
        worker.submit(pid)
        assert gate.started.wait(10)
        for _ in range(3):  # three leases go by while the report is computed
            clock.now += 50
            deadline = time.monotonic() + 10
            while store.get(pid).impact_claimed_at != clock.now:  # the next heartbeat
                assert time.monotonic() < deadline, "the claim was never renewed"
                time.sleep(0.01)
            assert store.impact_due(now=clock.now + 30, lease=60) == []
        gate.release.set()
        assert worker.wait_idle(30)
        assert store.get(pid).impact_status == "done"
        assert len(gate.calls) == 1
    finally:
        gate.release.set()
        worker.stop()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_a_lost_claim_is_not_renewed(governed_agent: Agent) -> None:
    store = governed_agent.proposals
    governed_agent.lifecycle.propose(candidate(governed_agent), author=RITA, impact_pending=True)
    now = governed_agent.clock()
    [seen] = store.impact_due(now=now, lease=60)
    dead = store.claim_impact(seen, now=now)
    assert dead is not None
    [stale] = store.impact_due(now=now + 61, lease=60)
    taken = store.claim_impact(stale, now=now + 61)
    assert taken is not None
    assert store.renew_impact(dead, now=now + 62) is None  # the old worker lost it
    renewed = store.renew_impact(taken, now=now + 62)
    assert renewed is not None and renewed.claimed_at == now + 62
    assert not store.finish_impact(taken, report=REPORT)  # only the latest token finishes
    assert store.finish_impact(renewed, report=REPORT)


def test_a_rejected_proposals_report_is_not_computed(governed_agent: Agent, gate: Gate) -> None:
    lifecycle = governed_agent.lifecycle
    pid = lifecycle.propose(candidate(governed_agent), author=RITA, impact_pending=True).proposal_id
    rejected = lifecycle.review(pid, who=LENA, decision="reject")
    assert rejected.status == "rejected"
    assert rejected.view()["impact_status"] == "none"  # not "pending" forever
    worker = ImpactWorker(governed_agent, gate, lease=60)
    try:
        assert worker.sweep() == 0
        assert worker.run(pid) is None
        assert gate.calls == []
    finally:
        worker.stop()


def test_a_tampered_proposal_fails_its_report_without_running_it(
    governed_agent: Agent, clock: Clock
) -> None:
    from sqlalchemy import update

    from govcx.store.schema import policy_proposals

    pid = governed_agent.lifecycle.propose(
        candidate(governed_agent), author=RITA, impact_pending=True
    ).proposal_id
    with governed_agent.db.begin() as conn:
        conn.execute(
            update(policy_proposals)
            .where(policy_proposals.c.proposal_id == pid)
            .values(digest="0" * 64)
        )
    gate = Gate()
    worker = ImpactWorker(governed_agent, gate, lease=60)
    assert worker.run(pid) == "failed"
    assert gate.calls == []
    assert worker.run(pid) is None  # failed: nothing due until re-run


# -- the lifecycle rule (the CLI obeys it too) --------------------------------------------


def test_the_core_refuses_to_approve_before_the_report_is_done(governed_agent: Agent) -> None:
    lifecycle = governed_agent.lifecycle
    store = governed_agent.proposals
    pid = lifecycle.propose(candidate(governed_agent), author=RITA, impact_pending=True).proposal_id
    with pytest.raises(ImpactNotReady, match="has not started yet"):
        lifecycle.review(pid, who=LENA, decision="approve")
    [seen] = store.impact_due(now=governed_agent.clock(), lease=60)
    claim = store.claim_impact(seen, now=governed_agent.clock())
    assert claim is not None
    with pytest.raises(ImpactNotReady, match="still running"):
        lifecycle.review(pid, who=LENA, decision="approve")
    assert store.finish_impact(claim, error="boom")
    with pytest.raises(ImpactNotReady, match=f"POST /v1/policy/proposals/{pid}/impact"):
        lifecycle.review(pid, who=LENA, decision="approve")
    assert lifecycle.rerun_impact(pid, who=RITA).impact_status == "pending"
    assert lifecycle.review(pid, who=LENA, decision="reject").status == "rejected"

    # A report computed beforehand (the CLI's `govcx policy propose`) is done at once.
    made = lifecycle.propose(candidate(governed_agent, "t3", 90), author=RITA, impact=REPORT)
    assert (made.impact_status, made.impact) == ("done", REPORT)
    assert lifecycle.review(made.proposal_id, who=LENA, decision="approve").status == "pending"


def test_a_proposal_view_names_the_report_state(governed_agent: Agent) -> None:
    proposal = governed_agent.lifecycle.propose(candidate(governed_agent), author=RITA)
    view = proposal.view()
    assert (view["impact_status"], view["impact_error"]) == ("none", None)
    failed = dataclasses.replace(proposal, impact_status="failed", impact_error="boom")
    assert (failed.view()["impact_status"], failed.view()["impact_error"]) == ("failed", "boom")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")
def test_the_dashboard_shows_the_report_running_then_done(
    governed_agent: Agent, settings: ServerSettings, gate: Gate, browser: Any
) -> None:
    from playwright.sync_api import expect

    with LiveServer(create_app(settings, governed_agent, impact=gate)) as server:
        made = httpx.post(
            f"{server.url}/v1/policy/proposals",
            json=_candidate(governed_agent),
            headers=auth("rita"),
        )
        assert made.status_code == 202, made.text
        assert gate.started.wait(10)
        page = browser.new_page(viewport={"width": 1360, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{server.url}/console/dashboard")
        page.get_by_label("API key").fill(REVIEW_KEYS["root"])
        page.get_by_role("button", name="Sign in").click()
        proposal = page.locator(".proposal")
        expect(proposal).to_contain_text("impact report running…")
        expect(proposal.get_by_role("button", name="Approve")).to_have_count(0)
        expect(proposal.get_by_role("button", name="Reject")).to_have_count(1)
        gate.release.set()  # the page looks again while a report runs
        expect(proposal).to_contain_text("impact: 3 conversations replayed", timeout=20_000)
        expect(proposal.get_by_role("button", name="Approve")).to_have_count(1)
        assert errors == []
