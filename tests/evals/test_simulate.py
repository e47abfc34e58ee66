"""Policy simulation: replaying the same conversations under two policies."""

from __future__ import annotations

from pathlib import Path

from govcx.agent.agent import Agent
from govcx.evals.simulate import recorded_conversations, simulate, suite_conversations
from govcx.evals.suite import Suite, merge
from govcx.governance.policy import parse_policy
from govcx.guardrails.guard import ScanResult
from govcx.pack import load_pack
from govcx.settings import Settings
from govcx.testing import InMemoryRetriever, PassThroughGuard
from tests.conftest import RETURNS, SHOP
from tests.evals.conftest import DOUBLES


def test_stricter_refund_limit_is_reported_as_newly_gated(smoke: Suite) -> None:
    pack = load_pack(SHOP)
    data = merge(
        pack.policy.model_dump(mode="json"),
        {
            "version": "t2",
            "tools": {"issue_refund": {"approval_if": "amount > 10"}},
            "workflows": {"lawyer": {"autonomy": "draft"}},
        },
    )
    report = simulate(parse_policy(data), suite_conversations([smoke]), **DOUBLES)
    assert report["old_policy"] == "t1" and report["new_policy"] == "t2"
    changes = {(c["conversation"], c["step"]): c for c in report["changes"]}
    refund = changes[("refund-small", 1)]
    assert refund["change"] == "newly gated"
    assert (refund["workflow"], refund["tier"]) == ("refund", "low")
    assert refund["old"]["route"] == "execute" and refund["new"]["route"] == "await_approval"
    assert "tool.issue_refund.approval_if" in refund["new"]["rules"]
    lawyer = changes[("lawyer", 1)]  # still escalated (no knowledge to answer), other rule
    assert lawyer["change"] == "rules changed"
    assert lawyer["old"]["rules"] == ["workflow.lawyer.autonomy=escalate"]
    assert lawyer["new"]["rules"] == ["confidence.below_minimum"]
    assert report["by_workflow"]["refund"] == {"newly gated": 1}
    assert report["by_tier"]["low"] == {"newly gated": 1}
    assert report["examples"]["refund"]["newly gated"][0]["conversation"] == "refund-small"
    assert ("refund-over-limit", 1) not in changes  # gated before and after
    assert {row["path"] for row in report["policy_diff"]} >= {
        "tools.issue_refund.approval_if",
        "workflows.lawyer.autonomy",
        "version",
    }
    assert report["summary"]["changed_steps"] == len(report["changes"])


def test_same_policy_changes_nothing(smoke: Suite) -> None:
    report = simulate(load_pack(SHOP).policy, suite_conversations([smoke]), **DOUBLES)
    assert report["changes"] == [] and report["errors"] == []


def test_refused_decision_under_new_policy(smoke: Suite) -> None:
    pack = load_pack(SHOP)
    data = merge(
        pack.policy.model_dump(mode="json"),
        {"version": "t3", "approvals": {"roles": {"supervisor": {"max_amount": 50}}}},
    )
    report = simulate(parse_policy(data), suite_conversations([smoke]), **DOUBLES)
    labels = {(c["conversation"], c["step"]): c["change"] for c in report["changes"]}
    assert labels[("refund-over-limit", 2)] == "decision refused"


def test_recorded_conversations_replay_redacted_text(tmp_path: Path) -> None:
    pack = load_pack(SHOP)
    settings = Settings(home=tmp_path / "home", database_url="sqlite:///govcx.db")
    assert recorded_conversations(pack, settings) == []  # no database yet: none created
    assert not (tmp_path / "home" / "govcx.db").exists()

    class Redacting(PassThroughGuard):
        def redact(self, text: str) -> str:
            return text.replace("4111 1111 1111 1111", "<CREDIT_CARD>")

        def scan_input(self, text: str) -> ScanResult:
            return ScanResult(findings=[], redacted=self.redact(text))

    agent = Agent(pack, settings, retriever=InMemoryRetriever([RETURNS]), guard=Redacting())
    agent.respond("live-1", "refund $80 for order A-1002", customer_id="C-1")
    pending = agent.approvals.list(status="pending")[0]
    agent.decide(pending.approval_id, principal="sup", decision="edit", args={"amount": 40})
    agent.respond(
        "live-2", "my card 4111 1111 1111 1111, where is my order A-1001?", customer_id="C-1"
    )
    agent.close()
    found = {c.conversation_id: c for c in recorded_conversations(pack, settings)}
    assert set(found) == {"live-1", "live-2"}
    steps = found["live-1"].steps
    assert [s.kind for s in steps] == ["user", "decide"]
    assert steps[1].decide is not None and steps[1].decide.decision == "edit"
    assert steps[1].decide.args == {"order_id": "A-1002", "amount": 40.0}
    assert found["live-1"].customer == "C-1"
    text = found["live-2"].steps[0].user or ""
    assert "<CREDIT_CARD>" in text and "4111" not in text
