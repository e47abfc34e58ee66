"""``GET /v1/report`` and the operations dashboard (a real browser for the charts).

The history is seeded into the tables with known figures (helpers of
tests/governance/test_report.py) around the server's own clock; the browser test checks
the page shows those figures, draws every chart, and takes screenshots to
/tmp/shots/dashboard-*.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from govcx.agent.agent import Agent
from tests.api.conftest import CHROMIUM, KEYS, REFUND_80, LiveServer, assert_error, auth
from tests.conftest import Clock
from tests.governance.test_report import _approval, _case, _clear, _turn

DAY = 86_400.0
SHOTS = Path("/tmp/shots")


def _history(agent: Agent) -> float:
    """Three days of turns, approvals and cases ending now; returns the first day's time."""
    db = agent.db
    _clear(db)
    t0 = agent.clock() - 2 * DAY - 3600
    for day in range(3):
        base = t0 + day * DAY
        for i in range(6 + 2 * day):
            _turn(db, f"d{day}-ok{i}", base + i, status="answered", intent="order_status")
        _turn(
            db,
            f"d{day}-esc",
            base + 50,
            status="escalated",
            intent=None,
            rules=["guard.legal_threat"],
            escalation=True,
            findings=["LEGAL_THREAT"],
        )
        _turn(db, f"d{day}-appr", base + 60, status="answered", approval_id=f"a{day}")
        _approval(
            db, f"a{day}", base + 60, status="approved", decisions=[("approve", base + 60 + 300)]
        )
        _case(
            db,
            f"k{day}",
            base + 50,
            turn_id=f"d{day}-esc",
            team="legal",
            first_due=base + 950,
            first_at=base + 400 if day else base + 2000,
        )
    _turn(
        db, "inj", t0 + 70, status="blocked", intent="order_status", findings=["PROMPT_INJECTION"]
    )
    _approval(db, "rej", t0 + 80, status="rejected", decisions=[("reject", t0 + 80 + 600)])
    return t0


def test_the_report_is_for_auditors_and_admins(client: TestClient, api_agent: Agent) -> None:
    client.post("/v1/conversations", json={"customer_id": "C-1"}, headers=auth("web"))
    for who in ("web", "sup"):
        assert_error(client.get("/v1/report", headers=auth(who)), 403)
    assert_error(client.get("/v1/report"), 401)
    for who in ("audit", "root"):
        assert client.get("/v1/report", headers=auth(who)).status_code == 200


def test_the_report_counts_the_turns_of_its_window(client: TestClient, api_agent: Agent) -> None:
    _history(api_agent)
    r = client.get("/v1/report?since=7d", headers=auth("audit")).json()
    assert r["turns"]["turns"] == 6 + 8 + 10 + 3 * 2 + 1
    assert r["turns"]["contained"] == 6 + 8 + 10 + 1
    assert r["escalations"]["top_reasons"] == [{"rule": "guard.legal_threat", "count": 3}]
    assert r["approvals"]["approved"] == 3 and r["approvals"]["rejected"] == 1
    assert r["sla"]["first_response"] == {"met": 2, "missed": 1, "open": 0, "attainment": 0.6667}
    assert r["guard_findings"] == {"LEGAL_THREAT": 3, "PROMPT_INJECTION": 1}
    assert r["policy_version"] == api_agent.policy.version
    assert r["suggestions"] == []  # too little evidence for any change
    last_day = client.get("/v1/report?since=12h", headers=auth("audit")).json()
    assert last_day["turns"]["turns"] == 10 + 2
    only = client.get("/v1/report?workflow=order_status", headers=auth("audit")).json()
    assert only["turns"]["turns"] == 6 + 8 + 10 + 1 and only["escalations"]["total"] == 0


def test_a_bad_window_names_the_valid_forms(client: TestClient) -> None:
    error = assert_error(client.get("/v1/report?since=lastweek", headers=auth("audit")), 422)
    assert error["code"] == "invalid_input"
    assert error["message"].startswith("since 'lastweek' is not a duration back from now")
    error = assert_error(client.get("/v1/report?sinse=7d", headers=auth("audit")), 422)
    assert error["code"] == "unknown_query_parameter"


def test_real_turns_show_in_the_report(client: TestClient, api_agent: Agent, clock: Clock) -> None:
    _clear(api_agent.db)
    cid = client.post("/v1/conversations", json={"customer_id": "C-1"}, headers=auth("web")).json()[
        "conversation_id"
    ]
    turn = client.post(
        f"/v1/conversations/{cid}/messages", json={"text": REFUND_80}, headers=auth("web")
    ).json()
    client.post(
        f"/v1/approvals/{turn['approval_id']}/decision",
        json={"decision": "approve"},
        headers=auth("sup"),
    )
    clock.now += 60  # the window ends now: a turn stamped this very second is not in it
    r = client.get("/v1/report", headers=auth("audit")).json()
    assert r["turns"]["turns"] == 1 and r["turns"]["with_approval"] == 1
    assert r["approvals"]["approved"] == 1 and r["approvals"]["approve_rate"] == 1.0
    assert r["by_workflow"]["refund"]["turns"] == 1


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")
def test_the_dashboard_draws_the_report(
    live_server: LiveServer, browser: Any, api_agent: Agent
) -> None:
    from playwright.sync_api import expect

    _history(api_agent)
    page = browser.new_page(viewport={"width": 1360, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    requests: list[str] = []
    page.on("request", lambda req: requests.append(req.url))
    page.goto(f"{live_server.url}/console/dashboard")
    page.get_by_label("API key").fill(KEYS["web"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-error")).to_contain_text("needs an auditor")
    page.get_by_label("API key").fill(KEYS["audit"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#dash")).to_be_visible()
    kpis = page.locator("#kpis")
    expect(kpis).to_contain_text("Containment")
    expect(kpis).to_contain_text("25 of 31 turns with no person")
    expect(kpis).to_contain_text("66.7%")  # first-response SLA, 2 of 3 met
    for chart in ("daily", "reasons", "approvals", "workflows", "versions", "sla", "findings"):
        drawn = page.evaluate(
            "(id) => { const c = Chart.getChart(id); return c ? c.data.datasets.length : -1 }",
            f"chart-{chart}",
        )
        assert drawn > 0, chart
    labels, contained = page.evaluate(
        "() => { const c = Chart.getChart('chart-daily'); "
        "return [c.data.labels, c.data.datasets[0].data] }"
    )
    drawn_days = {day: n for day, n in zip(labels, contained, strict=True) if n}
    # contained per day: 6 + the blocked injection, 8, 10, on three consecutive UTC days
    assert sorted(drawn_days.values()) == [7, 8, 10] or sum(drawn_days.values()) == 25
    expect(page.locator("#t-approvals")).to_contain_text("tool.issue_refund.approval_if")
    expect(page.locator("#s-empty")).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "dashboard-7d.png"), full_page=True)
    page.get_by_role("button", name="24 h").click()
    expect(page.locator("#kpis")).to_contain_text("10 of 12 turns")
    page.select_option("#workflow", "order_status")
    expect(page.locator("#dash-window")).to_contain_text("workflow order_status")
    page.screenshot(path=str(SHOTS / "dashboard-24h-order-status.png"), full_page=True)
    assert errors == []
    outside = [u for u in requests if not u.startswith(live_server.url)]
    assert outside == []  # no CDN: every asset from this server


def test_a_suggestion_becomes_a_proposal_in_one_call(client: TestClient, api_agent: Agent) -> None:
    _clear(api_agent.db)
    now = api_agent.clock()
    for i in range(25):
        _approval(
            api_agent.db,
            f"s{i}",
            now - 3600 + i,
            status="approved",
            amount=51.0 + i,
            decisions=[("approve", now - 3000 + i)],
            conversation=f"s{i}",
        )
    report = client.get("/v1/report", headers=auth("root")).json()
    [item] = report["suggestions"]
    assert item["proposable"] and item["change"]["to"] == "amount > 70"
    path = f"/v1/report/suggestions/{item['suggestion_id']}/propose"
    assert_error(client.post(path, headers=auth("web")), 403)
    assert_error(client.post(path, headers=auth("audit")), 403)  # shop: only admins propose
    assert_error(
        client.post("/v1/report/suggestions/sug_000000000000/propose", headers=auth("root")), 404
    )
    made = client.post(path, headers=auth("root"))
    assert made.status_code == 201, made.text
    proposal = made.json()
    assert proposal["status"] == "pending" and proposal["author"] == "root"
    assert item["suggestion_id"] in proposal["comment"]
    assert proposal["version"] != api_agent.policy.version
    listed = client.get("/v1/policy/proposals", headers=auth("root")).json()
    assert [p["proposal_id"] for p in listed] == [proposal["proposal_id"]]
    # Nothing changed by itself: the active policy still asks above $50.
    assert api_agent.policy.tools["issue_refund"].approval_if == "amount > 50"


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")
def test_the_dashboard_proposes_a_suggestion_and_shows_the_proposal(
    live_server: LiveServer, browser: Any, api_agent: Agent
) -> None:
    from playwright.sync_api import expect

    _clear(api_agent.db)
    now = api_agent.clock()
    for i in range(25):
        _approval(
            api_agent.db,
            f"s{i}",
            now - 3600 + i,
            status="approved",
            amount=51.0 + i,
            decisions=[("approve", now - 3000 + i)],
            conversation=f"s{i}",
        )
    page = browser.new_page(viewport={"width": 1360, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}/console/dashboard")
    page.get_by_label("API key").fill(KEYS["root"])
    page.get_by_role("button", name="Sign in").click()
    suggestion = page.locator(".suggestion")
    expect(suggestion).to_contain_text("raise the threshold to $70")
    expect(page.locator("#p-empty")).to_be_visible()
    suggestion.get_by_role("button", name="Propose this change").click()
    expect(suggestion.locator(".s-out")).to_contain_text("created: it now needs its reviewers")
    expect(page.locator("#p-rollout")).to_contain_text("active policy t1")
    proposal = page.locator(".proposal")
    expect(proposal).to_contain_text("pending")
    expect(proposal).to_contain_text(
        'tools.issue_refund.approval_if: "amount > 50" → "amount > 70"'
    )
    expect(proposal).to_contain_text("by root")
    # The author cannot approve their own change: the API's refusal is shown.
    proposal.locator(".p-comment").fill("looks right")
    proposal.get_by_role("button", name="Approve").click()
    expect(proposal.locator(".p-out")).to_contain_text("author")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "dashboard-proposal.png"), full_page=True)
    assert errors == []
