"""The gate against a hand-written table of expected routes.

Nothing here computes an expectation: every row states the route, the rules and the
approvers literally, as read off docs/design.md "Gate semantics" (first match wins) and the
product contract's autonomy levels, for the small policy below. So a change to the gate
that changes a decision fails a row, even when it changes ``approval_need`` (which the
executor and, before, the compliance metric also called) in the same way.

Tables:

- APPROVAL_NEED: ``approval_need(tool, args, autonomy)`` for every autonomy level x tier
  (read by name, read_only by flag, low never, low with a condition, high always, critical
  with two approvers, a read tool with a condition) x condition true / false / error.
- GATE_ROUTES: ``decide`` for the same grid with a proposal.
- GATE_ORDER: the first-match-wins order: guard findings (block, escalate, strip, log),
  engine error, intent out of scope, confidence below / at / above the minimum (global and
  per workflow), autonomy escalate, a malformed proposal, a tool outside the workflow, a
  missing slot, an uncorroborated intent, an ungrounded identifier, no proposal per
  autonomy.
"""

from __future__ import annotations

from typing import Any

import pytest

from govcx.governance.finding import Finding
from govcx.governance.gate import GateInput, Proposal, approval_need, decide
from govcx.governance.policy import Policy, policy_from_text

POLICY_YAML = """
version: "table-1"
defaults: {autonomy: act, min_confidence: 0.5}
approvals:
  expiry: 1h
  roles:
    supervisor: {max_amount: 100}
    manager: {max_amount: 1000}
tiers:
  read: {approval: never}
  read_only: {approval: never, read_only: true}
  low: {approval: never}
  high: {approval: always}
  critical: {approval: always, approvers: 2, roles: [manager]}
workflows:
  w_act:
    autonomy: act
    tools: [lookup, peek, note, refund, transfer, close, audit_read]
  w_draft:
    autonomy: draft
    tools: [lookup, peek, note, refund, transfer, close, audit_read]
  w_recommend:
    autonomy: recommend
    tools: [lookup, peek, note, refund, transfer, close, audit_read]
  w_escalate:
    autonomy: escalate
    tools: [lookup, peek, note, refund, transfer, close, audit_read]
  w_default: {tools: [note]}
  w_narrow: {autonomy: act, tools: [lookup], min_confidence: 0.9}
tools:
  lookup: {tier: read}
  peek: {tier: read_only}
  note: {tier: low}
  refund: {tier: low, approval_if: "amount > 50"}
  transfer: {tier: high}
  close: {tier: critical}
  audit_read: {tier: read, approval_if: "amount > 50"}
"""

V = "table-1"
TRUE = {"amount": 80}  # amount > 50 is true
FALSE = {"amount": 20}  # ... false
ERROR = {"amount": "80"}  # a string compared with a number: CEL raises at run time
ABSENT: dict[str, Any] = {}  # the condition's variable is missing: unknown name

A, D, R, E = "act", "draft", "recommend", "escalate"
ALWAYS_HIGH = "tier.high.approval=always"
ALWAYS_CRIT = "tier.critical.approval=always"
IF_REFUND, ERR_REFUND = "tool.refund.approval_if", "tool.refund.approval_if.error"
IF_AUDIT, ERR_AUDIT = "tool.audit_read.approval_if", "tool.audit_read.approval_if.error"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return policy_from_text(POLICY_YAML, file="table.yaml")


# (autonomy, tool, args) -> (needed, rules, tier, approvers)
APPROVAL_NEED: list[tuple[str, str, dict[str, Any], bool, tuple[str, ...], str, int]] = [
    # -- act: only the tier and the condition decide ------------------------------------
    (A, "lookup", {}, False, (), "read", 1),
    (A, "peek", {}, False, (), "read_only", 1),
    (A, "note", {}, False, (), "low", 1),
    (A, "refund", TRUE, True, (IF_REFUND,), "low", 1),
    (A, "refund", FALSE, False, (), "low", 1),
    (A, "refund", ERROR, True, (ERR_REFUND,), "low", 1),
    (A, "refund", ABSENT, True, (ERR_REFUND,), "low", 1),
    (A, "transfer", {}, True, (ALWAYS_HIGH,), "high", 1),
    (A, "close", {}, True, (ALWAYS_CRIT,), "critical", 2),
    (A, "audit_read", TRUE, True, (IF_AUDIT,), "read", 1),
    (A, "audit_read", FALSE, False, (), "read", 1),
    (A, "audit_read", ERROR, True, (ERR_AUDIT,), "read", 1),
    # -- draft: every write waits; reads (by tier name or flag) do not -------------------
    (D, "lookup", {}, False, (), "read", 1),
    (D, "peek", {}, False, (), "read_only", 1),
    (D, "note", {}, True, ("autonomy.draft",), "low", 1),
    (D, "refund", TRUE, True, (IF_REFUND, "autonomy.draft"), "low", 1),
    (D, "refund", FALSE, True, ("autonomy.draft",), "low", 1),
    (D, "refund", ERROR, True, (ERR_REFUND, "autonomy.draft"), "low", 1),
    (D, "transfer", {}, True, (ALWAYS_HIGH, "autonomy.draft"), "high", 1),
    (D, "close", {}, True, (ALWAYS_CRIT, "autonomy.draft"), "critical", 2),
    (D, "audit_read", TRUE, True, (IF_AUDIT,), "read", 1),
    (D, "audit_read", FALSE, False, (), "read", 1),
    (D, "audit_read", ERROR, True, (ERR_AUDIT,), "read", 1),
    # -- recommend ---------------------------------------------------------------------
    (R, "lookup", {}, False, (), "read", 1),
    (R, "peek", {}, False, (), "read_only", 1),
    (R, "note", {}, True, ("autonomy.recommend",), "low", 1),
    (R, "refund", TRUE, True, (IF_REFUND, "autonomy.recommend"), "low", 1),
    (R, "refund", FALSE, True, ("autonomy.recommend",), "low", 1),
    (R, "refund", ERROR, True, (ERR_REFUND, "autonomy.recommend"), "low", 1),
    (R, "transfer", {}, True, (ALWAYS_HIGH, "autonomy.recommend"), "high", 1),
    (R, "close", {}, True, (ALWAYS_CRIT, "autonomy.recommend"), "critical", 2),
    (R, "audit_read", TRUE, True, (IF_AUDIT,), "read", 1),
    (R, "audit_read", FALSE, False, (), "read", 1),
    (R, "audit_read", ERROR, True, (ERR_AUDIT,), "read", 1),
    # -- escalate (the gate escalates first; the executor still asks) -------------------
    (E, "lookup", {}, False, (), "read", 1),
    (E, "peek", {}, False, (), "read_only", 1),
    (E, "note", {}, True, ("autonomy.escalate",), "low", 1),
    (E, "refund", TRUE, True, (IF_REFUND, "autonomy.escalate"), "low", 1),
    (E, "refund", FALSE, True, ("autonomy.escalate",), "low", 1),
    (E, "refund", ERROR, True, (ERR_REFUND, "autonomy.escalate"), "low", 1),
    (E, "transfer", {}, True, (ALWAYS_HIGH, "autonomy.escalate"), "high", 1),
    (E, "close", {}, True, (ALWAYS_CRIT, "autonomy.escalate"), "critical", 2),
    (E, "audit_read", TRUE, True, (IF_AUDIT,), "read", 1),
    (E, "audit_read", FALSE, False, (), "read", 1),
    (E, "audit_read", ERROR, True, (ERR_AUDIT,), "read", 1),
    # -- a tool the policy does not know: always a human -------------------------------
    (A, "nope", {}, True, ("tool.nope.unknown",), "unknown", 1),
    (D, "nope", {}, True, ("tool.nope.unknown",), "unknown", 1),
    # -- cumulative limits: add rows here once the limits land, e.g.
    # (A, "refund", {"amount": 30}, True, ("tool.refund.limits[0]",), "low", 1) with prior
    # executions given, and ("tool.refund.duplicate",) for an identical write.
]


@pytest.mark.parametrize(
    ("autonomy", "tool", "args", "needed", "rules", "tier", "approvers"),
    APPROVAL_NEED,
    ids=[f"{r[0]}-{r[1]}-{r[2]}" for r in APPROVAL_NEED],
)
def test_approval_need_table(
    policy: Policy,
    autonomy: str,
    tool: str,
    args: dict[str, Any],
    needed: bool,
    rules: tuple[str, ...],
    tier: str,
    approvers: int,
) -> None:
    need = approval_need(policy, tool, args, autonomy)
    assert (need.needed, need.rules, need.tier, need.approvers) == (needed, rules, tier, approvers)


# (workflow, tool, args) -> (route, rules, tier, approvers); approval_kind is "action" for
# await_approval rows, None otherwise.
GATE_ROUTES: list[tuple[str, str, dict[str, Any], str, tuple[str, ...], str | None, int]] = [
    ("w_act", "lookup", {}, "execute", ("tool.lookup.within_policy",), "read", 1),
    ("w_act", "peek", {}, "execute", ("tool.peek.within_policy",), "read_only", 1),
    ("w_act", "note", {}, "execute", ("tool.note.within_policy",), "low", 1),
    ("w_act", "refund", TRUE, "await_approval", (IF_REFUND,), "low", 1),
    ("w_act", "refund", FALSE, "execute", ("tool.refund.within_policy",), "low", 1),
    ("w_act", "refund", ERROR, "respond", ("slot.invalid",), None, 1),  # asked again
    ("w_act", "refund", ABSENT, "await_approval", (ERR_REFUND,), "low", 1),
    ("w_act", "transfer", {}, "await_approval", (ALWAYS_HIGH,), "high", 1),
    ("w_act", "close", {}, "await_approval", (ALWAYS_CRIT,), "critical", 2),
    ("w_act", "audit_read", TRUE, "await_approval", (IF_AUDIT,), "read", 1),
    ("w_act", "audit_read", FALSE, "execute", ("tool.audit_read.within_policy",), "read", 1),
    ("w_act", "audit_read", ERROR, "await_approval", (ERR_AUDIT,), "read", 1),
    ("w_draft", "lookup", {}, "execute", ("tool.lookup.within_policy",), "read", 1),
    ("w_draft", "peek", {}, "execute", ("tool.peek.within_policy",), "read_only", 1),
    ("w_draft", "note", {}, "await_approval", ("autonomy.draft",), "low", 1),
    ("w_draft", "refund", TRUE, "await_approval", (IF_REFUND, "autonomy.draft"), "low", 1),
    ("w_draft", "refund", FALSE, "await_approval", ("autonomy.draft",), "low", 1),
    ("w_draft", "refund", ERROR, "respond", ("slot.invalid",), None, 1),  # asked again
    ("w_draft", "transfer", {}, "await_approval", (ALWAYS_HIGH, "autonomy.draft"), "high", 1),
    ("w_draft", "close", {}, "await_approval", (ALWAYS_CRIT, "autonomy.draft"), "critical", 2),
    ("w_draft", "audit_read", TRUE, "await_approval", (IF_AUDIT,), "read", 1),
    ("w_draft", "audit_read", FALSE, "execute", ("tool.audit_read.within_policy",), "read", 1),
    ("w_draft", "audit_read", ERROR, "await_approval", (ERR_AUDIT,), "read", 1),
    ("w_default", "note", {}, "execute", ("tool.note.within_policy",), "low", 1),
    ("w_recommend", "lookup", {}, "execute", ("tool.lookup.within_policy",), "read", 1),
    ("w_recommend", "peek", {}, "execute", ("tool.peek.within_policy",), "read_only", 1),
    ("w_recommend", "note", {}, "await_approval", ("autonomy.recommend",), "low", 1),
    ("w_recommend", "refund", TRUE, "await_approval", (IF_REFUND, "autonomy.recommend"), "low", 1),
    ("w_recommend", "refund", FALSE, "await_approval", ("autonomy.recommend",), "low", 1),
    ("w_recommend", "refund", ERROR, "respond", ("slot.invalid",), None, 1),  # asked again
    (
        "w_recommend",
        "transfer",
        {},
        "await_approval",
        (ALWAYS_HIGH, "autonomy.recommend"),
        "high",
        1,
    ),
    (
        "w_recommend",
        "close",
        {},
        "await_approval",
        (ALWAYS_CRIT, "autonomy.recommend"),
        "critical",
        2,
    ),
    ("w_recommend", "audit_read", TRUE, "await_approval", (IF_AUDIT,), "read", 1),
    ("w_recommend", "audit_read", FALSE, "execute", ("tool.audit_read.within_policy",), "read", 1),
    ("w_recommend", "audit_read", ERROR, "await_approval", (ERR_AUDIT,), "read", 1),
    # autonomy escalate: every proposal, read or write, true or false, goes to a person
    ("w_escalate", "lookup", {}, "escalate", ("workflow.w_escalate.autonomy=escalate",), None, 1),
    ("w_escalate", "peek", {}, "escalate", ("workflow.w_escalate.autonomy=escalate",), None, 1),
    ("w_escalate", "note", {}, "escalate", ("workflow.w_escalate.autonomy=escalate",), None, 1),
    ("w_escalate", "refund", TRUE, "escalate", ("workflow.w_escalate.autonomy=escalate",), None, 1),
    (
        "w_escalate",
        "refund",
        FALSE,
        "escalate",
        ("workflow.w_escalate.autonomy=escalate",),
        None,
        1,
    ),
    (
        "w_escalate",
        "refund",
        ERROR,
        "escalate",
        ("workflow.w_escalate.autonomy=escalate",),
        None,
        1,
    ),
    ("w_escalate", "transfer", {}, "escalate", ("workflow.w_escalate.autonomy=escalate",), None, 1),
    ("w_escalate", "close", {}, "escalate", ("workflow.w_escalate.autonomy=escalate",), None, 1),
    (
        "w_escalate",
        "audit_read",
        FALSE,
        "escalate",
        ("workflow.w_escalate.autonomy=escalate",),
        None,
        1,
    ),
    # a tool outside the workflow (w_narrow allows only lookup), read or write
    ("w_narrow", "note", {}, "escalate", ("tool.note.not_allowed",), None, 1),
    ("w_narrow", "peek", {}, "escalate", ("tool.peek.not_allowed",), None, 1),
    ("w_narrow", "nope", {}, "escalate", ("tool.nope.not_allowed",), None, 1),
    ("w_act", "nope", {}, "escalate", ("tool.nope.not_allowed",), None, 1),
    # -- cumulative limits: add rows here once the limits land, e.g.
    # ("w_act", "refund", {"amount": 30}, "await_approval", ("tool.refund.limits[0]",), "low",
    #  1) with the executions already counted, ("tool.refund.duplicate",) for an identical
    # write, and an amount in another currency / out of range (never "execute").
]


@pytest.mark.parametrize(
    ("workflow", "tool", "args", "route", "rules", "tier", "approvers"),
    GATE_ROUTES,
    ids=[f"{r[0]}-{r[1]}-{r[2]}" for r in GATE_ROUTES],
)
def test_gate_route_table(
    policy: Policy,
    workflow: str,
    tool: str,
    args: dict[str, Any],
    route: str,
    rules: tuple[str, ...],
    tier: str | None,
    approvers: int,
) -> None:
    decision = decide(
        policy,
        GateInput(intent=workflow, confidence=0.95, proposal=Proposal(tool=tool, args=dict(args))),
    )
    assert (decision.route, decision.rules, decision.tier, decision.approvers) == (
        route,
        rules,
        tier,
        approvers,
    )
    assert decision.policy_version == V
    assert decision.approval_kind == ("action" if route == "await_approval" else None)


def _f(kind: str, action: str) -> Finding:
    return Finding(type=kind, start=0, end=1, score=1.0, action=action)


BLOCK = _f("PROMPT_INJECTION", "block")
ESCALATE = _f("LEGAL_THREAT", "escalate")
ESCALATE2 = _f("ABUSE", "escalate")
STRIP = _f("INDIRECT_INJECTION", "strip")
LOG = _f("EMAIL_ADDRESS", "log")
REDACT = _f("PHONE_NUMBER", "redact")
P_CLOSE = Proposal(tool="close", args={})
P_NOTE = Proposal(tool="note", args={})
P_LOOKUP = Proposal(tool="lookup", args={})
P_REFUND_TRUE = Proposal(tool="refund", args=TRUE)
P_REFUND_FALSE = Proposal(tool="refund", args=FALSE)

# (id, GateInput kwargs) -> (route, rules, approval_kind, tier, approvers)
GATE_ORDER: list[tuple[str, dict[str, Any], str, tuple[str, ...], str | None, str | None, int]] = [
    # guard findings come first, block before escalate, whatever else is proposed
    (
        "block-beats-everything",
        {
            "intent": "w_act",
            "confidence": 0.99,
            "findings": [ESCALATE, BLOCK],
            "proposal": P_REFUND_FALSE,
        },
        "block",
        ("guard.prompt_injection",),
        None,
        None,
        1,
    ),
    (
        "block-beats-engine-error",
        {"intent": None, "confidence": 0.0, "findings": [BLOCK], "engine_error": "down"},
        "block",
        ("guard.prompt_injection",),
        None,
        None,
        1,
    ),
    (
        "escalate-finding",
        {"intent": "w_act", "confidence": 0.99, "findings": [ESCALATE], "proposal": P_LOOKUP},
        "escalate",
        ("guard.legal_threat",),
        None,
        None,
        1,
    ),
    (
        "escalate-findings-sorted",
        {"intent": "w_act", "confidence": 0.99, "findings": [ESCALATE, ESCALATE2, ESCALATE]},
        "escalate",
        ("guard.abuse", "guard.legal_threat"),
        None,
        None,
        1,
    ),
    (
        "escalate-finding-beats-low-confidence",
        {"intent": "w_act", "confidence": 0.1, "findings": [ESCALATE]},
        "escalate",
        ("guard.legal_threat",),
        None,
        None,
        1,
    ),
    # strip / log / redact findings change no route
    (
        "strip-does-not-route",
        {"intent": "w_act", "confidence": 0.99, "findings": [STRIP], "proposal": P_REFUND_FALSE},
        "execute",
        ("tool.refund.within_policy",),
        None,
        "low",
        1,
    ),
    (
        "log-does-not-route",
        {
            "intent": "w_act",
            "confidence": 0.99,
            "findings": [LOG, REDACT],
            "proposal": P_REFUND_TRUE,
        },
        "await_approval",
        (IF_REFUND,),
        "action",
        "low",
        1,
    ),
    (
        "strip-no-proposal-act",
        {"intent": "w_act", "confidence": 0.99, "findings": [STRIP, LOG]},
        "respond",
        ("workflow.w_act.autonomy=act",),
        None,
        None,
        1,
    ),
    # engine error, then scope
    (
        "engine-error",
        {"intent": "w_act", "confidence": 0.99, "engine_error": "timeout", "proposal": P_LOOKUP},
        "escalate",
        ("engine.unavailable",),
        None,
        None,
        1,
    ),
    (
        "no-intent",
        {"intent": None, "confidence": 0.99},
        "escalate",
        ("intent.out_of_scope",),
        None,
        None,
        1,
    ),
    (
        "unknown-intent",
        {"intent": "w_nope", "confidence": 0.99, "proposal": P_LOOKUP},
        "escalate",
        ("intent.out_of_scope",),
        None,
        None,
        1,
    ),
    # confidence: below the minimum escalates, at it passes (global 0.5, w_narrow 0.9)
    (
        "below-global-minimum",
        {"intent": "w_act", "confidence": 0.49, "proposal": P_LOOKUP},
        "escalate",
        ("confidence.below_minimum",),
        None,
        None,
        1,
    ),
    (
        "at-global-minimum",
        {"intent": "w_act", "confidence": 0.5, "proposal": P_LOOKUP},
        "execute",
        ("tool.lookup.within_policy",),
        None,
        "read",
        1,
    ),
    (
        "below-workflow-minimum",
        {"intent": "w_narrow", "confidence": 0.89, "proposal": P_LOOKUP},
        "escalate",
        ("confidence.below_minimum",),
        None,
        None,
        1,
    ),
    (
        "at-workflow-minimum",
        {"intent": "w_narrow", "confidence": 0.9, "proposal": P_LOOKUP},
        "execute",
        ("tool.lookup.within_policy",),
        None,
        "read",
        1,
    ),
    (
        "low-confidence-beats-autonomy-escalate",
        {"intent": "w_escalate", "confidence": 0.2},
        "escalate",
        ("confidence.below_minimum",),
        None,
        None,
        1,
    ),
    (
        "low-confidence-beats-malformed",
        {"intent": "w_act", "confidence": 0.2, "proposal_error": "bad json"},
        "escalate",
        ("confidence.below_minimum",),
        None,
        None,
        1,
    ),
    # autonomy escalate before the proposal is looked at
    (
        "autonomy-escalate-no-proposal",
        {"intent": "w_escalate", "confidence": 0.99},
        "escalate",
        ("workflow.w_escalate.autonomy=escalate",),
        None,
        None,
        1,
    ),
    (
        "autonomy-escalate-beats-malformed",
        {"intent": "w_escalate", "confidence": 0.99, "proposal_error": "bad json"},
        "escalate",
        ("workflow.w_escalate.autonomy=escalate",),
        None,
        None,
        1,
    ),
    # a malformed proposal is never executed, whatever the autonomy
    (
        "malformed-act",
        {"intent": "w_act", "confidence": 0.99, "proposal_error": "bad json", "proposal": P_LOOKUP},
        "escalate",
        ("proposal.invalid",),
        None,
        None,
        1,
    ),
    (
        "malformed-draft",
        {"intent": "w_draft", "confidence": 0.99, "proposal_error": "bad json"},
        "escalate",
        ("proposal.invalid",),
        None,
        None,
        1,
    ),
    # tool outside the workflow before a missing slot
    (
        "outside-workflow-with-missing-slot",
        {
            "intent": "w_narrow",
            "confidence": 0.99,
            "proposal": Proposal(tool="close", args={}, missing=("account_id",)),
        },
        "escalate",
        ("tool.close.not_allowed",),
        None,
        None,
        1,
    ),
    # a missing slot asks the customer, even for a critical tool or under draft
    (
        "missing-slot-critical",
        {
            "intent": "w_act",
            "confidence": 0.99,
            "proposal": Proposal(tool="close", missing=("account_id",)),
        },
        "respond",
        ("slot.missing",),
        None,
        None,
        1,
    ),
    (
        "missing-slot-draft",
        {
            "intent": "w_draft",
            "confidence": 0.99,
            "proposal": Proposal(tool="refund", missing=("amount",)),
        },
        "respond",
        ("slot.missing",),
        None,
        None,
        1,
    ),
    # an uncorroborated intent: a write needs a human, a read does not
    (
        "uncorroborated-write",
        {"intent": "w_act", "confidence": 0.99, "corroborated": False, "proposal": P_NOTE},
        "await_approval",
        ("intent.uncorroborated",),
        "action",
        "low",
        1,
    ),
    (
        "uncorroborated-write-within-condition",
        {"intent": "w_act", "confidence": 0.99, "corroborated": False, "proposal": P_REFUND_FALSE},
        "await_approval",
        ("intent.uncorroborated",),
        "action",
        "low",
        1,
    ),
    (
        "uncorroborated-write-over-condition",
        {"intent": "w_act", "confidence": 0.99, "corroborated": False, "proposal": P_REFUND_TRUE},
        "await_approval",
        (IF_REFUND, "intent.uncorroborated"),
        "action",
        "low",
        1,
    ),
    (
        "uncorroborated-critical",
        {"intent": "w_act", "confidence": 0.99, "corroborated": False, "proposal": P_CLOSE},
        "await_approval",
        (ALWAYS_CRIT, "intent.uncorroborated"),
        "action",
        "critical",
        2,
    ),
    (
        "uncorroborated-draft",
        {"intent": "w_draft", "confidence": 0.99, "corroborated": False, "proposal": P_NOTE},
        "await_approval",
        ("autonomy.draft", "intent.uncorroborated"),
        "action",
        "low",
        1,
    ),
    (
        "uncorroborated-read",
        {"intent": "w_act", "confidence": 0.99, "corroborated": False, "proposal": P_LOOKUP},
        "execute",
        ("tool.lookup.within_policy",),
        None,
        "read",
        1,
    ),
    (
        "uncorroborated-read-only-flag",
        {
            "intent": "w_act",
            "confidence": 0.99,
            "corroborated": False,
            "proposal": Proposal(tool="peek"),
        },
        "execute",
        ("tool.peek.within_policy",),
        None,
        "read_only",
        1,
    ),
    (
        "uncorroborated-no-proposal",
        {"intent": "w_act", "confidence": 0.99, "corroborated": False},
        "respond",
        ("workflow.w_act.autonomy=act",),
        None,
        None,
        1,
    ),
    # an identifier the customer never gave: the customer is asked, before any approval
    # and whatever the autonomy; never for a read; a guard escalation still wins
    (
        "ungrounded-write",
        {"intent": "w_act", "confidence": 0.99, "ungrounded": ("order_id",), "proposal": P_NOTE},
        "respond",
        ("identifier.ungrounded",),
        None,
        None,
        1,
    ),
    (
        "ungrounded-beats-approval",
        {
            "intent": "w_act",
            "confidence": 0.99,
            "ungrounded": ("order_id",),
            "corroborated": False,
            "proposal": P_CLOSE,
        },
        "respond",
        ("identifier.ungrounded",),
        None,
        None,
        1,
    ),
    (
        "ungrounded-draft",
        {"intent": "w_draft", "confidence": 0.99, "ungrounded": ("order_id",), "proposal": P_NOTE},
        "respond",
        ("identifier.ungrounded",),
        None,
        None,
        1,
    ),
    (
        "ungrounded-read",
        {"intent": "w_act", "confidence": 0.99, "ungrounded": ("order_id",), "proposal": P_LOOKUP},
        "execute",
        ("tool.lookup.within_policy",),
        None,
        "read",
        1,
    ),
    (
        "ungrounded-after-missing-slot",
        {
            "intent": "w_act",
            "confidence": 0.99,
            "ungrounded": ("order_id",),
            "proposal": Proposal(tool="note", args={}, missing=("text",)),
        },
        "respond",
        ("slot.missing",),
        None,
        None,
        1,
    ),
    (
        "escalation-beats-ungrounded",
        {
            "intent": "w_act",
            "confidence": 0.99,
            "findings": [ESCALATE],
            "ungrounded": ("order_id",),
            "proposal": P_NOTE,
        },
        "escalate",
        ("guard.legal_threat",),
        None,
        None,
        1,
    ),
    # no proposal: act answers, draft and recommend put the reply up for review
    (
        "no-proposal-act",
        {"intent": "w_act", "confidence": 0.99},
        "respond",
        ("workflow.w_act.autonomy=act",),
        None,
        None,
        1,
    ),
    (
        "no-proposal-draft",
        {"intent": "w_draft", "confidence": 0.99},
        "await_approval",
        ("autonomy.draft",),
        "reply",
        "reply",
        1,
    ),
    (
        "no-proposal-recommend",
        {"intent": "w_recommend", "confidence": 0.99},
        "await_approval",
        ("autonomy.recommend",),
        "reply",
        "reply",
        1,
    ),
    (
        "no-proposal-default-autonomy-act",
        {"intent": "w_default", "confidence": 0.99},
        "respond",
        ("workflow.w_default.autonomy=act",),
        None,
        None,
        1,
    ),
]


@pytest.mark.parametrize(
    ("facts", "route", "rules", "kind", "tier", "approvers"),
    [r[1:] for r in GATE_ORDER],
    ids=[r[0] for r in GATE_ORDER],
)
def test_gate_order_table(
    policy: Policy,
    facts: dict[str, Any],
    route: str,
    rules: tuple[str, ...],
    kind: str | None,
    tier: str | None,
    approvers: int,
) -> None:
    decision = decide(policy, GateInput(**facts))
    assert (
        decision.route,
        decision.rules,
        decision.approval_kind,
        decision.tier,
        decision.approvers,
    ) == (route, rules, kind, tier, approvers)
    assert decision.policy_version == V
    assert decision.as_dict() == {
        "route": route,
        "rules": list(rules),
        "reason": decision.reason,
        "policy_version": V,
        "policy_digest": policy.digest,
    }


def test_default_autonomy_is_draft_when_the_policy_sets_none() -> None:
    """The contract's default autonomy is draft: a workflow that sets none reviews writes."""
    bare = policy_from_text("""
version: "bare"
tiers: {low: {approval: never}}
workflows: {w: {tools: [note]}}
tools: {note: {tier: low}}
""")
    decision = decide(bare, GateInput(intent="w", confidence=0.7, proposal=P_NOTE))
    assert (decision.route, decision.rules) == ("await_approval", ("autonomy.draft",))
    below = decide(bare, GateInput(intent="w", confidence=0.59, proposal=P_NOTE))
    assert (below.route, below.rules) == ("escalate", ("confidence.below_minimum",))


def test_reasons_name_what_decided(policy: Policy) -> None:
    """Reasons are for people; a few are pinned so they keep naming the deciding fact."""
    low = decide(policy, GateInput(intent="w_narrow", confidence=0.42))
    assert low.reason == "confidence 0.42 is below the minimum 0.90"
    slot = decide(
        policy,
        GateInput(
            intent="w_act",
            confidence=0.9,
            proposal=Proposal(tool="refund", missing=("order_id", "amount")),
        ),
    )
    assert slot.reason == "asking the customer for order_id, amount"
    gated = decide(policy, GateInput(intent="w_draft", confidence=0.9, proposal=P_REFUND_TRUE))
    assert gated.reason == f"refund needs approval: {IF_REFUND}, autonomy.draft"
    bad = decide(policy, GateInput(intent="w_act", confidence=0.9, proposal_error="no tool"))
    assert bad.reason == "the proposed action was malformed: no tool"


# The reason a person reads with each route, per branch (literal).
REASONS: list[tuple[str, dict[str, Any], str]] = [
    (
        "block",
        {"intent": "w_act", "confidence": 0.9, "findings": [BLOCK, _f("JAILBREAK", "block")]},
        "blocked by guard: JAILBREAK, PROMPT_INJECTION",
    ),
    (
        "escalate-finding",
        {"intent": "w_act", "confidence": 0.9, "findings": [ESCALATE, ESCALATE2]},
        "escalation trigger: ABUSE, LEGAL_THREAT",
    ),
    (
        "engine",
        {"intent": "w_act", "confidence": 0.9, "engine_error": "timeout"},
        "the engine could not handle the request: timeout",
    ),
    (
        "scope",
        {"intent": "w_nope", "confidence": 0.9},
        "the request matches no workflow this deployment handles",
    ),
    (
        "autonomy-escalate",
        {"intent": "w_escalate", "confidence": 0.9},
        "policy hands every w_escalate request to a human",
    ),
    (
        "not-allowed",
        {"intent": "w_narrow", "confidence": 0.95, "proposal": P_NOTE},
        "note is not among the tools of workflow w_narrow",
    ),
    (
        "execute",
        {"intent": "w_draft", "confidence": 0.9, "proposal": P_LOOKUP},
        "lookup is within policy for autonomy draft",
    ),
    (
        "reply-review",
        {"intent": "w_recommend", "confidence": 0.9},
        "workflow w_recommend has autonomy recommend: a human reviews the reply",
    ),
    ("act", {"intent": "w_act", "confidence": 0.9}, "answer within policy"),
]


@pytest.mark.parametrize(("facts", "reason"), [r[1:] for r in REASONS], ids=[r[0] for r in REASONS])
def test_gate_reasons(policy: Policy, facts: dict[str, Any], reason: str) -> None:
    assert decide(policy, GateInput(**facts)).reason == reason


def test_a_workflow_tool_without_a_tier_is_refused(policy: Policy) -> None:
    """Validation keeps a workflow's tools inside ``tools:``; the gate does not rely on it."""
    tools = {k: v for k, v in policy.tools.items() if k != "note"}
    broken = policy.model_copy(update={"tools": tools})
    decision = decide(broken, GateInput(intent="w_act", confidence=0.9, proposal=P_NOTE))
    assert (
        decision.route,
        decision.rules,
        decision.reason,
        decision.approval_kind,
        decision.tier,
    ) == ("escalate", ("tool.note.unknown",), "note has no tier in the policy", None, None)
