"""The view and the enforcement of "who may decide" cannot drift.

``can_decide`` is the one rule; the API shows it (``ApiRuntime.approval_view``) and the
store enforces it (``ApprovalStore.decide``). For random principals, requests and
decisions, the store accepts exactly when the verdict allows, refuses with the error and
the reason the verdict names, and records nothing when it refuses; the API's view of an
approval says ``can_decide`` exactly when the store would accept an approval.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from govcx.api.auth import Caller
from govcx.api.runtime import ApiRuntime
from govcx.api.schemas import ApprovalView
from govcx.errors import ApprovalStale, DuplicateApprover, NotAuthorized
from govcx.governance.approval import (
    ApprovalRequest,
    ApprovalStore,
    Decision,
    action_token,
    can_decide,
)
from govcx.governance.policy import Policy, policy_from_text
from govcx.governance.principal import Principal
from govcx.store.db import Database

POLICY = """
version: "p1"
approvals:
  roles:
    agent: {max_amount: 50}
    supervisor: {max_amount: 100}
    manager: {}
tiers:
  low: {approval: never}
  high: {approval: always, roles: [supervisor, manager]}
  critical: {approval: always, approvers: 2, roles: [manager]}
workflows: {w: {tools: [refund, credit, close]}}
tools:
  refund: {tier: low, approval_if: "amount > 10", amount_arg: amount}
  credit: {tier: high, amount_arg: value}
  close: {tier: critical}
"""
NOW = 1_800_000_000.0
P1 = policy_from_text(POLICY)
P2 = policy_from_text(POLICY.replace('"p1"', '"p2"'))
NAMES = ["ana", "Ana ", "ben", "mia"]
ROLES = [
    "channel",
    "admin",
    "auditor",
    "approver:agent",
    "approver:supervisor",
    "approver:manager",
    "approver:ghost",
]
_ids = itertools.count()

APPROVER_ROLES = [r for r in ROLES if r.startswith("approver:")]
principals = st.builds(
    lambda name, approver, other: Principal(name=name, roles=frozenset(approver | other)),
    st.sampled_from(NAMES),
    st.sets(st.sampled_from(APPROVER_ROLES), max_size=2),
    st.sets(st.sampled_from(ROLES), max_size=1),
)
# Mostly decidable requests under the active policy, so that every branch is reached.
policies = st.sampled_from([P1] * 9 + [P2])
amounts = st.one_of(
    st.none(),
    st.integers(0, 200),
    st.floats(0, 200, allow_nan=False),
    st.just("lots"),
    st.booleans(),
)


@st.composite
def requests(draw: st.DrawFn) -> ApprovalRequest:
    tool = draw(st.sampled_from(["refund", "credit", "close", None]))
    tier = draw(st.sampled_from(["low", "high", "critical", "unknown"]))
    # amounts around the role limits (50, 100), of the wrong type, or absent
    amount = draw(amounts)
    arg = "value" if tool == "credit" else "amount"
    args = {} if amount is None else {arg: amount}
    bound = draw(policies)
    approvers = draw(st.lists(st.sampled_from(NAMES), max_size=2, unique=True))
    return ApprovalRequest(
        approval_id=f"apr_{next(_ids)}",
        conversation_id="c1",
        turn_id="t1",
        kind="action" if tool else "reply",
        tool=tool,
        args=args if tool else None,
        tier=tier,
        rules=[],
        rationale="",
        requested_at=NOW - 10,
        expires_at=NOW + draw(st.sampled_from([3600.0] * 9 + [1.0, 0.0, -1.0])),
        approvals_needed=draw(st.integers(1, 3)),
        decisions=[Decision(principal=n, decision="approve", at=NOW - 5) for n in approvers],
        status=draw(
            st.sampled_from(["pending"] * 20 + ["approved", "rejected", "expired", "superseded"])
        ),
        policy_version=bound.version,
        policy_digest=bound.digest,
        token=action_token(
            conversation_id="c1",
            kind="action",
            tool=tool,
            args=args,
            policy_version=bound.version,
            policy_digest=bound.digest,
        ),
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApprovalStore]:
    path: Path = tmp_path_factory.mktemp("can_decide") / "govcx.db"
    db = Database(f"sqlite:///{path}")
    db.create_schema()
    yield ApprovalStore(db)
    db.dispose()


ERRORS = {
    "stale": ApprovalStale,
    "not_authorized": NotAuthorized,
    "duplicate_approver": DuplicateApprover,
}


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    principal=principals,
    request=requests(),
    decision=st.sampled_from(["approve", "reject", "edit"]),
    new_amount=amounts,
    policy=policies,
)
def test_the_store_enforces_exactly_the_verdict(
    store: ApprovalStore,
    principal: Principal,
    request: ApprovalRequest,
    decision: Any,
    new_amount: Any,
    policy: Policy,
) -> None:
    store.create(request)
    args = {"amount": new_amount} if decision == "edit" else None
    verdict = can_decide(policy, principal, request, decision=decision, args=args, now=NOW)
    assert verdict.allowed == (verdict.reason is None) == (verdict.denial is None)
    event(f"{decision}: {verdict.denial or 'allowed'}")
    try:
        store.decide(
            request.approval_id,
            principal=principal,
            decision=decision,
            policy=policy,
            args=args,
            new_token="t" if args else None,
            now=NOW,
        )
    except (ApprovalStale, NotAuthorized) as exc:
        assert not verdict.allowed, exc
        assert type(exc) is ERRORS[verdict.denial or ""]
        assert exc.reason == verdict.reason
        after = store.get(request.approval_id)
        assert (after.status, after.decisions) == (request.status, request.decisions)
    else:
        assert verdict.allowed, verdict


@settings(max_examples=300, deadline=None)
@given(principal=principals, request=requests(), policy=policies)
def test_the_api_view_shows_the_verdict_of_an_approval(
    principal: Principal, request: ApprovalRequest, policy: Policy
) -> None:
    runtime = SimpleNamespace(
        agent=SimpleNamespace(
            policy=policy, policy_for=lambda _conversation: policy, clock=lambda: NOW
        ),
        _view=lambda request, **kwargs: ApprovalView.of(request, **kwargs),
    )
    caller = Caller(principal=principal, key_id="k")
    view = ApiRuntime.approval_view(runtime, caller, request)  # type: ignore[arg-type]
    verdict = can_decide(policy, principal, request, decision="approve", now=NOW)
    if not principal.approver_roles:
        assert view.can_decide is None  # a read-only key: not evaluated
        assert not verdict.allowed
        return
    assert view.can_decide is verdict.allowed
    if request.status == "pending":
        assert view.authority == verdict.reason


def test_the_view_and_the_store_agree_on_examples(store: ApprovalStore) -> None:
    """Hand-written anchors for the properties above (they could pass on a wrong rule
    shared by both sides; these cannot)."""
    mia = Principal(name="mia", roles=frozenset({"approver:manager"}))
    sue = Principal(name="sue", roles=frozenset({"approver:supervisor"}))
    ok = ApprovalRequest(
        approval_id="ex_1",
        conversation_id="c1",
        turn_id="t1",
        kind="action",
        tool="refund",
        args={"amount": 80},
        tier="low",
        rules=[],
        rationale="",
        requested_at=NOW,
        expires_at=NOW + 60,
        policy_version="p1",
        policy_digest=P1.digest,
        token="x",
    )
    assert can_decide(P1, sue, ok, now=NOW).allowed
    over = ok.model_copy(update={"approval_id": "ex_2", "args": {"amount": 101}})
    verdict = can_decide(P1, sue, over, now=NOW)
    assert (verdict.denial, verdict.reason) == (
        "not_authorized",
        "amount 101 exceeds the approval limit 100 of role supervisor",
    )
    assert can_decide(P1, mia, over, now=NOW).allowed
    twice = ok.model_copy(
        update={
            "approval_id": "ex_3",
            "approvals_needed": 2,
            "decisions": [Decision(principal="MIA ", decision="approve", at=NOW)],
        }
    )
    assert can_decide(P1, mia, twice, now=NOW).denial == "duplicate_approver"
    assert can_decide(P1, mia, twice, decision="reject", now=NOW).allowed
    assert can_decide(P1, mia, ok, now=NOW + 60).reason == "it has expired"
    assert can_decide(P2, mia, ok, now=NOW).denial == "stale"
    store.create(twice)
    with pytest.raises(DuplicateApprover, match="a second approval must come from someone"):
        store.decide("ex_3", principal=mia, decision="approve", policy=P1, now=NOW)
