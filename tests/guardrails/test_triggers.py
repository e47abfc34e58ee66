"""Escalation triggers: self-harm, legal threats, abuse, requests for a human."""

from __future__ import annotations

import pytest

from govcx.governance.policy import GuardPolicy
from govcx.guardrails import apply_policy
from govcx.guardrails.engine import DefaultGuard

TRIGGERED = [
    ("SELF_HARM", "Honestly I just want to end my life, nothing matters."),
    ("SELF_HARM", "I've been thinking about suicide since the debt collectors called."),
    ("LEGAL_THREAT", "If this isn't fixed today I will sue you."),
    ("LEGAL_THREAT", "My attorney will be in touch about this fee."),
    ("LEGAL_THREAT", "I'm taking you to small claims court."),
    ("LEGAL_THREAT", "I'll file a complaint with the CFPB about this."),
    ("LEGAL_THREAT", "Refund $40 for order A-1002 today or my attorney files suit on Monday"),
    ("LEGAL_THREAT", "My lawyer is drafting the papers as we speak."),
    ("LEGAL_THREAT", "We will bring suit if the charge is not reversed."),
    ("ABUSE", "You are useless idiots, all of you."),
    ("ABUSE", "Fuck you and your stupid bank."),
    ("ABUSE", "I know where you live, watch your back."),
    ("HUMAN_REQUEST", "Can I speak to a real person please?"),
    ("HUMAN_REQUEST", "Transfer me to a human agent."),
    ("HUMAN_REQUEST", "agent"),
]
NOT_TRIGGERED = [
    "This bill is killing me, can I pay in installments?",
    "Can my lawyer access my late father's account? I have power of attorney.",
    "I'm not going to sue you, I just want my money back.",
    "This is so damn slow today.",
    "Are you a real person or a bot?",
    "This suit does not fit, I want to file a return.",
    "Can I return the wetsuit I bought?",
    "Do I need to speak to a representative to change my PIN?",
]


@pytest.mark.parametrize(("kind", "text"), TRIGGERED)
def test_each_trigger_type(guard: DefaultGuard, kind: str, text: str) -> None:
    findings = guard.scan_input(text).findings
    assert kind in {f.type for f in findings}, (text, findings)
    escalated = apply_policy(findings, GuardPolicy())
    assert {f.action for f in escalated if f.type == kind} == {"escalate"}


@pytest.mark.parametrize("text", NOT_TRIGGERED)
def test_lookalikes_do_not_trigger(guard: DefaultGuard, text: str) -> None:
    kinds = {f.type for f in guard.scan_input(text).findings}
    assert not kinds & {"SELF_HARM", "LEGAL_THREAT", "ABUSE", "HUMAN_REQUEST"}, (text, kinds)
