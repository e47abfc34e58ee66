"""The approval console in a real browser (Debian's chromium, headless, via Playwright).

An approver signs in with their key, finds the pending refund in the live queue,
approves it with the keyboard, and sees the executed refund in the conversation.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from govcx.agent.agent import Agent
from tests.api.conftest import CHROMIUM, KEYS, REFUND_80, LiveServer, auth
from tests.conftest import Clock, shop_effects

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="chromium is not installed at /usr/bin/chromium "
    "(apt-get install chromium; .ci/run installs it)",
)


def test_approver_approves_a_refund_in_the_console(
    live_server: LiveServer, api_agent: Agent, browser: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    with httpx.Client(base_url=live_server.url, timeout=10) as api:
        cid = api.post(
            "/v1/conversations", json={"customer_id": "C-1"}, headers=auth("web")
        ).json()["conversation_id"]
        turn = api.post(
            f"/v1/conversations/{cid}/messages", json={"text": REFUND_80}, headers=auth("web")
        ).json()
        assert turn["status"] == "pending_approval"

        page = browser.new_page(viewport={"width": 1360, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{live_server.url}/console")
        expect(page.get_by_role("heading", name="Sign in to the approval queue")).to_be_visible()
        page.get_by_label("API key").fill(KEYS["sup"])
        page.get_by_role("button", name="Sign in").click()

        expect(page.locator("#whoami")).to_contain_text("sup")
        expect(page.locator("#live")).to_have_text("live")
        item = page.locator(f"#item-{turn['approval_id']}")
        expect(item).to_contain_text("Issue refund $80.00")
        expect(item).to_contain_text("low")
        expect(page.locator("#d-title")).to_have_text("Issue refund $80.00 · A-1002")
        expect(page.locator("#d-rules")).to_contain_text("tool.issue_refund.approval_if")
        expect(page.locator("#d-evidence")).to_contain_text("Returns policy")
        expect(page.locator("#d-transcript")).to_contain_text(REFUND_80)
        assert page.evaluate("sessionStorage.getItem('govcx.console.key')") == KEYS["sup"]

        page.locator("#queue").focus()
        page.keyboard.press("a")
        expect(page.locator("#confirm")).to_be_visible()
        expect(page.locator("#confirm-yes")).to_be_focused()
        page.keyboard.press("Enter")

        outcome = page.locator("#outcome")
        expect(outcome).to_contain_text("Approved")
        expect(outcome).to_contain_text("Issue refund executed")
        expect(page.locator("#d-transcript")).to_contain_text("refunded $80.00")
        expect(page.locator("#queue-count")).to_have_text("0")
        expect(item).to_have_count(0)
        shot = tmp_path / "console.png"
        page.screenshot(path=str(shot), full_page=True)
        assert errors == []

        conversation = api.get(f"/v1/conversations/{cid}", headers=auth("sup")).json()
        last = conversation["turns"][-1]
        assert last["status"] == "answered"
        assert last["actions"][0]["tool"] == "issue_refund"
        assert last["actions"][0]["status"] == "executed"
        approval = api.get(f"/v1/approvals/{turn['approval_id']}", headers=auth("sup")).json()
        assert approval["status"] == "approved"
        assert approval["decisions"][0]["principal"] == "sup"
    assert shop_effects(api_agent)[0]["amount"] == 80.0
    out = REPO / "test-output"
    out.mkdir(exist_ok=True)
    shutil.copy(shot, out / "console.png")


def test_console_refuses_a_channel_key_and_shows_live_arrivals(
    live_server: LiveServer, browser: Any, clock: Clock
) -> None:
    from playwright.sync_api import expect

    page = browser.new_page()
    page.goto(f"{live_server.url}/console")
    page.get_by_label("API key").fill(KEYS["web"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-error")).to_contain_text("needs an approver")
    page.get_by_label("API key").fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-error")).to_contain_text("not known")

    page.get_by_label("API key").fill(KEYS["boss"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#queue-empty")).to_be_visible()
    with httpx.Client(base_url=live_server.url, timeout=10) as api:
        for text in ("close my account", "please refund $60 for order A-1002"):
            clock.now += 60
            api.post(
                "/v1/conversations/c-live-" + str(len(text)) + "/messages",
                json={"text": text, "customer_id": "C-1"},
                headers=auth("web"),
            )
    expect(page.locator("#queue-count")).to_have_text("2")
    expect(page.locator(".item").first).to_contain_text("Close account")
    page.locator("#queue").focus()
    page.keyboard.press("j")
    expect(page.locator(".item").nth(1)).to_have_attribute("aria-selected", "true")
    expect(page.locator("#d-title")).to_have_text("Issue refund $60.00 · A-1002")
    page.keyboard.press("r")
    expect(page.locator("#comment")).to_be_focused()
    page.keyboard.type("Item was used")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#outcome")).to_contain_text("Rejected")
    expect(page.locator("#queue-count")).to_have_text("1")

    with httpx.Client(base_url=live_server.url, timeout=10) as api:
        clock.now += 60
        api.post(
            "/v1/conversations/c-edit/messages",
            json={"text": "please refund $90 for order A-1002", "customer_id": "C-1"},
            headers=auth("web"),
        )
    expect(page.locator("#queue-count")).to_have_text("2")
    page.locator("#queue").focus()
    page.keyboard.press("j")
    expect(page.locator("#d-title")).to_have_text("Issue refund $90.00 · A-1002")
    page.keyboard.press("e")
    editor = page.locator("#edit-args")
    expect(editor).to_be_focused()
    editor.fill('{"order_id": "A-1002", "amount": 45}')
    page.keyboard.press("Control+Enter")
    outcome = page.locator("#outcome")
    expect(outcome).to_contain_text("Approved with edits")
    expect(outcome).to_contain_text("amount $45.00")
    expect(page.locator("#d-transcript")).to_contain_text("refunded $45.00")
