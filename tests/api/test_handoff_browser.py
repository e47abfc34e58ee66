"""The hand-off in a real browser (Debian's chromium, headless, via Playwright).

A channel's customer threatens to sue; the shop pack routes the escalation to team legal,
urgent. kim (agent, legal) works it in the console's inbox: the case with its SLA
countdown and hand-off summary, claim, a reply the customer's channel receives (its
event stream and a webhook), silence from the AI while kim has it, an internal note the
channel never sees, and the hand-back after which the AI answers again. pat (team
support) never sees the case. An SLA breach on an injected clock is recorded once,
announced, counted and shown. Screenshots go to /tmp/shots/inbox-*.png.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from govcx.agent.agent import Agent
from govcx.api import ServerSettings
from tests.api.conftest import CHROMIUM, KEYS, LiveServer, auth
from tests.api.test_webhooks import Receiver, hooked, wait_for
from tests.conftest import Clock

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="chromium is not installed at /usr/bin/chromium "
    "(apt-get install chromium; .ci/run installs it)",
)

AGENT_KEYS = {"kim": "key-kim-0000000000000000", "pat": "key-pat-0000000000000000"}
SHOTS = Path("/tmp/shots")
SUE = "I will sue you"
REPLY = "I'm sorry about this. I'm looking at your order now and will get back to you today."
NOTE = "Internal: customer mentions a lawyer, legal is reviewing the order history."


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {AGENT_KEYS[name]}"}


@pytest.fixture
def server_settings(server_settings: ServerSettings) -> ServerSettings:
    """The API tests' keys plus the shop pack's agents (kim: legal, pat: support)."""
    extra = ",".join(f"{key}:{name}" for name, key in AGENT_KEYS.items())
    return server_settings.model_copy(update={"api_keys": f"{server_settings.api_keys},{extra}"})


@pytest.fixture(autouse=True)
def _hook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCX_TEST_HOOK_SECRET", "whsec-test-0123456789")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def app(make_app: Callable[..., FastAPI], api_agent: Agent, receiver: Receiver) -> FastAPI:
    """Every event goes to a webhook receiver on 127.0.0.1."""
    return make_app(agent=hooked(api_agent, receiver.url))


class ChannelStream:
    """The channel following its conversation: GET /v1/conversations/{id}/events read
    with httpx streaming in a thread, each event kept as (name, data)."""

    def __init__(self, base_url: str, conversation_id: str) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.raw: list[str] = []
        self.url = f"{base_url}/v1/conversations/{conversation_id}/events"
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        name = "message"
        try:
            with httpx.stream("GET", self.url, headers=auth("web"), timeout=None) as response:
                for line in response.iter_lines():
                    self.raw.append(line)
                    if line.startswith("event:"):
                        name = line.split(":", 1)[1].strip()
                    elif line.startswith("data:"):
                        self.events.append((name, json.loads(line.split(":", 1)[1])))
                        name = "message"
        except httpx.HTTPError:
            pass  # the server stopped at the end of the test

    def wait(self, name: str, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        found: dict[str, Any] = wait_for(
            lambda: next((d for n, d in list(self.events) if n == name and check(d)), None)
        )
        return found


def escalate(api: httpx.Client, conversation_id: str, text: str = SUE) -> dict[str, Any]:
    """The channel posts a legal threat; returns the escalated Turn."""
    turn: dict[str, Any] = api.post(
        f"/v1/conversations/{conversation_id}/messages",
        json={"text": text, "customer_id": "C-1"},
        headers=auth("web"),
    ).json()
    assert turn["status"] == "escalated", turn
    return turn


def sign_in(browser: Any, server: LiveServer, name: str) -> tuple[Any, list[str]]:
    """A new page (its own session storage) signed in as ``name``, and its script errors."""
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server.url}/console")
    page.get_by_label("API key").fill(AGENT_KEYS.get(name) or KEYS[name])
    page.get_by_role("button", name="Sign in").click()
    return page, errors


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"inbox-{name}.png"), full_page=True)


def test_an_agent_takes_over_a_legal_threat_and_hands_it_back(
    live_server: LiveServer, browser: Any, receiver: Receiver
) -> None:
    from playwright.sync_api import expect

    with httpx.Client(base_url=live_server.url, timeout=10) as api:
        cid = api.post(
            "/v1/conversations", json={"customer_id": "C-1"}, headers=auth("web")
        ).json()["conversation_id"]
        channel = ChannelStream(live_server.url, cid)
        turn = escalate(api, cid)
        assert turn["reply"]["text"]
        escalation = turn["escalation"]
        assert (escalation["team"], escalation["priority"]) == ("legal", "urgent")
        case_id = turn["case_id"]
        case = api.get(f"/v1/cases/{case_id}", headers=bearer("kim")).json()
        assert case["summary"]["customer_wants"] == SUE
        assert case["summary"]["intent"] == "lawyer"
        assert case["summary"]["rules"] == ["workflow.lawyer.autonomy=escalate"]
        assert case["tags"] == ["legal"]
        wait_for(lambda: receiver.delivered("conversation.escalated"))
        channel.wait("control", lambda d: d["control"] == "waiting")

        # kim: the case in the inbox, most urgent first, counting down from 15 minutes
        page, errors = sign_in(browser, live_server, "kim")
        expect(page.locator("#whoami")).to_contain_text("kim")
        expect(page.locator("#inbox")).to_be_visible()
        expect(page.locator("#workspace")).to_be_hidden()  # no approval queue for an agent
        expect(page.locator("#inbox-live")).to_have_text("live")
        item = page.locator(f"#case-{case_id}")
        expect(item).to_contain_text("Lawyer")
        expect(item).to_contain_text("urgent")
        expect(item).to_contain_text("team legal")
        expect(item).to_contain_text("#legal")
        expect(item.locator(".sla")).to_have_text(re.compile(r"^1[45]:\d\d$"))
        expect(item.locator(".sla-what")).to_have_text("left for the first reply")
        expect(page.locator("#c-title")).to_have_text("Lawyer · C-1")
        expect(page.locator("#c-sla")).to_have_text(re.compile(r"^1[45]:\d\d$"))
        expect(page.locator("#c-wants")).to_have_text(SUE)
        expect(page.locator("#c-why")).to_contain_text("lawyer")
        expect(page.locator("#c-rules")).to_contain_text("workflow.lawyer.autonomy=escalate")
        expect(page.locator("#c-facts")).to_contain_text("routing.rules[0] → legal, urgent")
        expect(page.locator("#c-transcript")).to_contain_text(SUE)
        expect(page.locator("#c-transcript")).to_contain_text(turn["reply"]["text"])
        expect(page.locator("#c-claim")).to_be_enabled()
        for button in ("#c-handback", "#c-send"):
            expect(page.locator(button)).to_be_disabled()
        shot(page, "1-list")

        # claim with the keyboard: the case is kim's, the channel hears that a person has it
        page.locator("#cases").focus()
        page.keyboard.press("c")
        expect(page.locator("#c-holder")).to_contain_text("You have this case")
        expect(page.locator("#c-claim")).to_be_disabled()
        expect(page.locator("#c-handback")).to_be_enabled()
        expect(item).to_contain_text("You have it")
        channel.wait("control", lambda d: d["control"] == "human")
        assigned = wait_for(lambda: receiver.delivered("conversation.assigned"))[0]
        assert assigned["data"]["assignee"] == "kim"

        # asked for a suggestion, the AI has none for a threat (no approved knowledge on
        # it): the box stays empty, and nothing is sent
        page.locator("#c-suggest").click()
        expect(page.locator("#c-compose-hint")).to_contain_text("nothing to suggest")
        expect(page.locator("#c-text")).to_have_value("")
        assert not receiver.delivered("conversation.human_reply")

        # reply: in kim's transcript, on the channel's stream and in a webhook
        page.locator("#cases").focus()
        page.keyboard.press("r")
        expect(page.locator("#c-text")).to_be_focused()
        page.keyboard.type(REPLY)
        page.keyboard.press("Control+Enter")
        expect(page.locator("#c-transcript .msg.agent")).to_contain_text(REPLY)
        expect(page.locator("#c-transcript .msg.agent")).to_contain_text("kim · person")
        expect(page.locator("#c-text")).to_have_value("")
        line = channel.wait("message", lambda d: d["role"] == "agent")
        assert (line["text"], line["author"]) == (REPLY, "kim")
        hook = wait_for(lambda: receiver.delivered("conversation.human_reply"))[0]
        assert hook["data"]["conversation_id"] == cid
        assert (hook["data"]["text"], hook["data"]["author"]) == (REPLY, "kim")
        expect(item.locator(".sla-what")).to_have_text("left for the resolution")

        # an internal note: shown in the console, never to the channel
        page.locator("#cases").focus()
        page.keyboard.press("n")
        expect(page.locator("#c-compose")).to_have_attribute("data-mode", "note")
        page.keyboard.type(NOTE)
        page.keyboard.press("Control+Enter")
        expect(page.locator("#c-events .ev-note")).to_contain_text(NOTE)
        expect(page.locator("#c-events .ev-note")).to_contain_text("Internal note by kim")

        # the customer writes again: no AI reply, and kim sees the message live
        follow_up = "When will I hear back? My lawyer is waiting."
        quiet = api.post(
            f"/v1/conversations/{cid}/messages", json={"text": follow_up}, headers=auth("web")
        ).json()
        assert quiet["status"] == "with_human"
        assert quiet["reply"] is None
        expect(page.locator("#c-transcript .msg.customer").last).to_contain_text(follow_up)
        shot(page, "2-case")

        # hand back (h, Enter): the AI answers the following message
        page.locator("#cases").focus()
        page.keyboard.press("h")
        expect(page.locator("#c-confirm")).to_be_visible()
        expect(page.locator("#c-confirm-yes")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("#c-holder")).to_contain_text("Handed back to the AI")
        expect(page.locator("#c-sla")).to_have_text("handed back")
        expect(page.locator("#cases-count")).to_have_text("0")
        expect(page.locator("#cases-empty")).to_be_visible()
        channel.wait("control", lambda d: d["control"] == "ai")
        wait_for(lambda: receiver.delivered("conversation.handed_back"))
        answered = api.post(
            f"/v1/conversations/{cid}/messages",
            json={"text": "how do returns work"},
            headers=auth("web"),
        ).json()
        assert answered["status"] == "answered", answered
        assert "30 days" in answered["reply"]["text"]
        ai = page.locator("#c-transcript .msg.assistant").last
        expect(ai).to_contain_text(answered["reply"]["text"][:40], timeout=10_000)
        back = page.locator("#c-transcript .handoff-line.back")
        expect(back).to_have_text("kim handed the conversation back — from here the AI answers")
        expect(page.locator("#c-transcript li").nth(-3)).to_have_class("handoff-line back")
        shot(page, "3-handed-back")

        # the note never reached the channel: not in its conversation, stream or webhooks
        conversation = api.get(f"/v1/conversations/{cid}", headers=auth("web"))
        assert conversation.status_code == 200
        assert NOTE not in conversation.text
        assert REPLY in conversation.text
        assert not any(NOTE in line for line in channel.raw)
        assert not any(NOTE.encode() in r["body"] for r in receiver.requests)
        assert errors == []


def test_an_agent_of_another_team_does_not_see_the_case(
    live_server: LiveServer, browser: Any
) -> None:
    from playwright.sync_api import expect

    with httpx.Client(base_url=live_server.url, timeout=10) as api:
        legal = escalate(api, "c-legal")["case_id"]
        support = api.post(
            "/v1/conversations/c-person/messages",
            json={"text": "I want to talk to a human", "customer_id": "C-2"},
            headers=auth("web"),
        ).json()
        assert support["escalation"]["team"] == "support", support
        assert api.get(f"/v1/cases/{legal}", headers=bearer("pat")).status_code == 404
        assert api.post(f"/v1/cases/{legal}/claim", headers=bearer("pat")).status_code == 404

    pat, pat_errors = sign_in(browser, live_server, "pat")
    expect(pat.locator("#inbox-live")).to_have_text("live")
    expect(pat.locator(f"#case-{support['case_id']}")).to_be_visible()
    expect(pat.locator("#cases-count")).to_have_text("1")
    expect(pat.locator(f"#case-{legal}")).to_have_count(0)
    expect(pat.locator("#cases-team option")).to_have_text(["All my teams", "support"])
    kim, kim_errors = sign_in(browser, live_server, "kim")
    expect(kim.locator(f"#case-{legal}")).to_be_visible()
    expect(kim.locator(f"#case-{support['case_id']}")).to_have_count(0)
    assert pat_errors == kim_errors == []


def test_an_admin_switches_between_the_approval_queue_and_the_inbox(
    live_server: LiveServer, browser: Any
) -> None:
    from playwright.sync_api import expect

    with httpx.Client(base_url=live_server.url, timeout=10) as api:
        case_id = escalate(api, "c-admin")["case_id"]
    page, errors = sign_in(browser, live_server, "root")
    expect(page.locator("#views")).to_be_visible()
    expect(page.locator("#workspace")).to_be_visible()
    expect(page.locator("#inbox")).to_be_hidden()
    expect(page.locator("#inbox-tab-count")).to_have_text("1")
    page.keyboard.press("2")
    expect(page.locator("#inbox")).to_be_visible()
    expect(page.locator("#workspace")).to_be_hidden()
    expect(page.locator(".brand .title")).to_have_text("Inbox")
    expect(page.locator(f"#case-{case_id}")).to_contain_text("Lawyer")
    expect(page.locator("#cases-team option")).to_have_text(["All teams", "legal", "support"])
    page.keyboard.press("a")  # an approval key does nothing here
    expect(page.locator("#confirm")).to_be_hidden()
    page.keyboard.press("1")
    expect(page.locator("#workspace")).to_be_visible()
    expect(page.locator(".brand .title")).to_have_text("Approval console")
    assert errors == []


def test_a_claim_someone_else_won_shows_the_api_error(
    live_server: LiveServer, browser: Any
) -> None:
    from playwright.sync_api import expect

    with httpx.Client(base_url=live_server.url, timeout=10) as api:
        case_id = escalate(api, "c-race")["case_id"]
        page, errors = sign_in(browser, live_server, "kim")
        expect(page.locator("#c-claim")).to_be_enabled()

        def root_claims_first(route: Any) -> None:
            # root (admin) claims the case between kim's click and kim's request
            assert api.post(f"/v1/cases/{case_id}/claim", headers=auth("root")).is_success
            route.continue_()

        page.route(f"**/v1/cases/{case_id}/claim", root_claims_first)
        page.locator("#c-claim").click()
        error = page.locator("#c-error")
        expect(error).to_contain_text(f"Not done: case {case_id} is already claimed by root")
        expect(page.locator(".toast.bad")).to_contain_text("already claimed by root")
        expect(page.locator("#c-holder")).to_have_text("root has this case.")
        expect(page.locator("#c-claim")).to_be_disabled()
        expect(page.locator("#c-send")).to_be_disabled()
        expect(page.locator("#c-compose-hint")).to_have_text("root has this case")
    assert errors == []


def test_a_missed_first_reply_is_recorded_once_announced_counted_and_shown(
    live_server: LiveServer, app: FastAPI, browser: Any, receiver: Receiver, clock: Clock
) -> None:
    from playwright.sync_api import expect

    runtime = app.state.runtime
    with httpx.Client(base_url=live_server.url, timeout=10) as api:
        case_id = escalate(api, "c-late")["case_id"]
        page, errors = sign_in(browser, live_server, "kim")
        countdown = page.locator(f"#case-{case_id} .sla")
        expect(countdown).to_have_text(re.compile(r"^1[45]:\d\d$"))
        assert runtime.breach_sla() == []  # nothing is due yet

        clock.now += 16 * 60  # past the 15 minutes of an urgent case's first reply
        breaches = runtime.breach_sla()
        assert [(b.case.case_id, b.data["target"]) for b in breaches] == [
            (case_id, "first_response")
        ]
        assert runtime.breach_sla() == []  # recorded once: the next sweep finds nothing new

        hook = wait_for(lambda: receiver.delivered("conversation.sla_breached"))
        assert len(hook) == 1
        assert hook[0]["data"]["case"]["case_id"] == case_id
        assert hook[0]["data"]["target"] == "first_response"
        assert hook[0]["data"]["late_by_s"] == 60
        counted = {
            tuple(sorted(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(api.get("/metrics").text)
            for sample in family.samples
            if sample.name == "govcx_case_sla_breaches_total"
        }
        key = (("priority", "urgent"), ("target", "first_response"), ("team", "legal"))
        assert counted == {key: 1.0}

        expect(countdown).to_have_text("breached")
        expect(countdown).to_have_class("sla sla-breached")
        expect(page.locator(f"#case-{case_id} .sla-what")).to_have_text(
            re.compile(r"^first reply overdue by 1:\d\d$")
        )
        expect(page.locator("#c-sla")).to_have_text("breached")
        expect(page.locator("#c-badges")).to_contain_text("missed first reply")
        expect(page.locator("#c-events")).to_contain_text("SLA missed: first reply")
        shot(page, "4-breached")
        case = api.get(f"/v1/cases/{case_id}", headers=bearer("kim")).json()
        assert case["breached"] == ["first_response"]
        assert [e["kind"] for e in case["events"]].count("sla_breached") == 1
    assert errors == []
