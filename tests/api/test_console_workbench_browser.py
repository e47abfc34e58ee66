"""The reviewer's workbench in a real browser (Debian's chromium via Playwright): a refund
request shows its context, its rule as a condition and what the customer will be told; an
approved refund that then fails is shown failed; the history lists decided requests.

Set ``GOVCX_TEST_SHOTS=/some/dir`` to keep the screenshots."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from govcx.agent.agent import Agent
from tests.api.conftest import CHROMIUM, KEYS, LiveServer, auth, with_extra_principals
from tests.conftest import SHOP_CONTEXT, Clock, NameGuard, context_effects

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="chromium is not installed at /usr/bin/chromium "
    "(apt-get install chromium; .ci/run installs it)",
)


@pytest.fixture
def api_agent(make_agent: Callable[..., Agent]) -> Agent:
    return with_extra_principals(make_agent(SHOP_CONTEXT, guard=NameGuard()))


def _shot(page: Any, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    keep = os.environ.get("GOVCX_TEST_SHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / name)


def test_context_condition_replies_failure_and_history(
    live_server: LiveServer, api_agent: Agent, browser: Any, tmp_path: Path, clock: Clock
) -> None:
    from playwright.sync_api import expect

    approvals = []
    with httpx.Client(base_url=live_server.url, timeout=10) as api:
        for text in ("please refund $80 for order A-1002", "please refund $60 for order A-1002"):
            clock.now += 60
            cid = api.post(
                "/v1/conversations", json={"customer_id": "C-1"}, headers=auth("web")
            ).json()["conversation_id"]
            turn = api.post(
                f"/v1/conversations/{cid}/messages", json={"text": text}, headers=auth("web")
            ).json()
            assert turn["status"] == "pending_approval", turn
            approvals.append(turn["approval_id"])

    page = browser.new_page(viewport={"width": 1360, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}/console")
    page.get_by_label("API key").fill(KEYS["sup"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#queue-count")).to_have_text("2")
    expect(page.locator("#d-title")).to_have_text("Issue refund $80.00 · A-1002")

    # The context beside the request: who asks, the order's total, refunded, remaining.
    context = page.locator("#d-context")
    expect(context.locator('[data-fact="customer"]')).to_contain_text("Riley Chen")
    expect(context.locator('[data-fact="order_total"]')).to_contain_text("$120.00")
    expect(context.locator('[data-fact="refunded"]')).to_contain_text("$0.00")
    expect(context.locator('[data-fact="remaining"]')).to_contain_text("$120.00")
    expect(page.locator("#d-sub")).to_contain_text("For Riley Chen (C-1)")
    # Each context was looked up alone: the other request may spend the same room.
    expect(page.locator("#d-siblings")).to_contain_text(
        "Also waiting for this customer: Issue refund $60.00 · A-1002"
    )
    # The rule as its condition, the id beside it.
    expect(page.locator("#d-rules .cond")).to_have_text(["amount > 50"])
    expect(page.locator("#d-rules")).to_contain_text("tool.issue_refund.approval_if")
    # What the customer is told, instead of a knowledge snippet.
    expect(page.locator("#d-reply-approved")).to_contain_text(
        "I've refunded $80.00 for order A-1002 (refund"
    )
    expect(page.locator("#d-reply-approved .slot")).to_have_text("refund id")
    expect(page.locator("#d-reply-rejected")).to_contain_text("could not approve it")
    _shot(page, tmp_path, "appr-context.png")

    # Approve both with the keyboard; the second finds only $40 left.
    page.locator("#queue").focus()
    page.keyboard.press("a")
    page.keyboard.press("Enter")
    expect(page.locator("#outcome")).to_contain_text("Approved · conversation answered")
    expect(page.locator("#queue-count")).to_have_text("1")
    page.locator("#queue").focus()
    page.keyboard.press("j")
    expect(page.locator("#d-title")).to_have_text("Issue refund $60.00 · A-1002")
    page.keyboard.press("a")
    page.keyboard.press("Enter")
    outcome = page.locator("#outcome")
    expect(outcome).to_contain_text("Approved · the action failed")
    expect(outcome).to_contain_text("The most I can refund for A-1002 is $40.00.")
    expect(outcome).to_have_class("outcome bad")
    _shot(page, tmp_path, "appr-failed.png")

    # The history: newest first, the failed one marked, filters narrow it.
    page.locator("#queue").focus()
    page.keyboard.press("h")
    history = page.locator("#history .item")
    expect(history).to_have_count(2)
    expect(history.first).to_contain_text("failed")
    expect(history.first.locator(".badge")).to_have_class("badge st-failed")
    expect(page.locator("#d-badges")).to_contain_text("failed")
    expect(page.locator("#outcome")).to_contain_text("the action failed")
    page.keyboard.press("j")
    expect(page.locator("#d-title")).to_have_text("Issue refund $80.00 · A-1002")
    expect(page.locator("#outcome")).to_contain_text("Approved · conversation answered")
    # Another approver (no outcome of their own in this tab) reads the stored status.
    page.evaluate("sessionStorage.clear()")
    page.reload()
    page.get_by_label("API key").fill(KEYS["audit"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#queue-empty")).to_be_visible()
    page.keyboard.press("h")
    expect(history).to_have_count(2)
    expect(page.locator("#outcome")).to_contain_text("Failed after approval")
    expect(page.locator("#outcome")).to_contain_text("The most I can refund for A-1002 is $40.00.")
    expect(page.locator("#outcome")).to_have_class("outcome bad")
    _shot(page, tmp_path, "appr-history.png")
    page.keyboard.press("j")
    expect(page.locator("#outcome")).to_contain_text("Already approved")
    page.keyboard.press("/")
    expect(page.locator("#f-customer")).to_be_focused()
    page.locator("#f-status").select_option("failed")
    expect(history).to_have_count(1)
    page.locator("#f-approver").fill("boss")
    expect(page.locator("#history-empty")).to_be_visible()
    page.locator("#f-approver").fill("sup")
    expect(history).to_have_count(1)
    page.keyboard.press("Escape")
    expect(page.locator("#history")).to_be_focused()
    page.keyboard.press("p")
    expect(page.locator("#queue-empty")).to_be_visible()
    assert errors == []
    assert [e["amount"] for e in context_effects(api_agent)] == [80.0]
