"""ApprovalStore without the Agent's conversation lock: races decided by the store alone.

The Agent serialises the turns of one conversation, which hid the store's own guarantees
(removing the policy-version check in ``ApprovalStore.decide`` failed no test). Here the
store is called directly, from threads and from processes, on SQLite and PostgreSQL:

- two decisions at the same moment: exactly one wins, the other gets ApprovalStale;
- a decision under another policy version: ApprovalStale, nothing recorded;
- an expiry racing a decision: the request ends approved or expired, never both, and a
  decision that returned "approved" is never followed by an expiry (which would let the
  caller execute an action whose approval then reads as expired).
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from govcx.errors import ApprovalStale, DuplicateApprover, NotAuthorized, NotFound
from govcx.governance.approval import (
    ApprovalRequest,
    ApprovalStore,
    Decision,
    DecisionKind,
    action_token,
)
from govcx.governance.policy import Policy, policy_from_text
from govcx.governance.principal import Principal
from govcx.store.db import Database, resolve_url

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)

POLICY = """
version: "v1"
approvals:
  roles: {supervisor: {max_amount: 100}, manager: {max_amount: 1000}}
tiers:
  low: {approval: never}
  critical: {approval: always, approvers: 2, roles: [manager]}
workflows: {refund: {autonomy: act, tools: [issue_refund, close_account]}}
tools:
  issue_refund: {tier: low, approval_if: "amount > 50", amount_arg: amount}
  close_account: {tier: critical}
"""
NOW = 1_800_000_000.0
ANA = Principal(name="ana", roles=frozenset({"approver:supervisor"}))
BEN = Principal(name="ben", roles=frozenset({"approver:supervisor"}))
MIA = Principal(name="mia", roles=frozenset({"approver:manager"}))
MAX = Principal(name="max", roles=frozenset({"approver:manager"}))
WEB = Principal(name="web", roles=frozenset({"channel", "approver:manager"}))
PRINCIPALS = {p.name: p for p in (ANA, BEN, MIA, MAX)}


def _policy(version: str = "v1") -> Policy:
    return policy_from_text(POLICY.replace('"v1"', f'"{version}"'))


def _url(tmp_path: Path, database_url: str | None) -> str:
    return resolve_url(database_url or f"sqlite:///{tmp_path / 'govcx.db'}", tmp_path)


@pytest.fixture
def url(tmp_path: Path, database_url: str | None) -> str:
    db = Database(_url(tmp_path, database_url))
    db.create_schema()
    db.dispose()
    return _url(tmp_path, database_url)


@pytest.fixture
def store(url: str) -> Any:
    db = Database(url)
    yield ApprovalStore(db)
    db.dispose()


def _request(
    aid: str = "apr_1",
    *,
    tool: str = "issue_refund",
    amount: float = 80.0,
    tier: str = "low",
    needed: int = 1,
    version: str = "v1",
    expires_at: float = NOW + 3600,
) -> ApprovalRequest:
    args = {"order_id": "A-1", "amount": amount} if tool == "issue_refund" else {}
    return ApprovalRequest(
        approval_id=aid,
        conversation_id="c1",
        turn_id="t1",
        kind="action",
        intent="refund",
        tool=tool,
        args=args,
        tier=tier,
        rules=["r"],
        rationale="why",
        requested_at=NOW,
        expires_at=expires_at,
        approvals_needed=needed,
        policy_version=version,
        policy_digest=_policy(version).digest,
        token=action_token(
            conversation_id="c1",
            kind="action",
            tool=tool,
            args=args,
            policy_version=version,
            policy_digest=_policy(version).digest,
        ),
    )


# -- the policy-version check, exercised directly ----------------------------------------


def test_a_decision_under_another_policy_version_is_stale(store: ApprovalStore) -> None:
    store.create(_request())
    for decision in ("approve", "reject", "edit"):
        with pytest.raises(
            ApprovalStale, match=r"requested under policy v1 \(\w+\), and v2 \(\w+\) is"
        ):
            store.decide(
                "apr_1",
                principal=ANA,
                decision=decision,
                policy=_policy("v2"),
                args={"order_id": "A-1", "amount": 10.0},
                new_token="x",
                now=NOW,
            )
    after = store.get("apr_1")
    assert (after.status, after.decisions) == ("pending", [])
    approved = store.decide("apr_1", principal=ANA, decision="approve", policy=_policy(), now=NOW)
    assert approved.status == "approved"


def test_decide_checks_in_order_and_records_nothing_on_refusal(store: ApprovalStore) -> None:
    with pytest.raises(NotFound):
        store.decide("apr_none", principal=ANA, decision="approve", policy=_policy(), now=NOW)
    store.create(_request(expires_at=NOW + 10))
    with pytest.raises(ApprovalStale, match="it has expired"):
        store.decide("apr_1", principal=ANA, decision="approve", policy=_policy(), now=NOW + 10)
    with pytest.raises(NotAuthorized, match="channel principals can never decide"):
        store.decide("apr_1", principal=WEB, decision="approve", policy=_policy(), now=NOW)
    with pytest.raises(NotAuthorized, match="exceeds the approval limit 100"):
        store.decide(
            "apr_1",
            principal=ANA,
            decision="edit",
            policy=_policy(),
            args={"order_id": "A-1", "amount": 101.0},
            new_token="x",
            now=NOW,
        )
    assert store.get("apr_1").decisions == []
    ok = store.decide("apr_1", principal=ANA, decision="approve", policy=_policy(), now=NOW + 9.99)
    assert ok.status == "approved"
    assert [(d.principal, d.decision, d.at) for d in ok.decisions] == [
        ("ana", "approve", NOW + 9.99)
    ]
    with pytest.raises(ApprovalStale, match="it is already approved"):
        store.decide("apr_1", principal=BEN, decision="reject", policy=_policy(), now=NOW)


def test_four_eyes_in_the_store(store: ApprovalStore) -> None:
    store.create(_request(tool="close_account", tier="critical", needed=2))
    with pytest.raises(NotAuthorized, match="needs one of the roles manager"):
        store.decide("apr_1", principal=ANA, decision="approve", policy=_policy(), now=NOW)
    first = store.decide("apr_1", principal=MIA, decision="approve", policy=_policy(), now=NOW)
    assert (first.status, first.approvers) == ("pending", ["mia"])
    with pytest.raises(DuplicateApprover):
        store.decide("apr_1", principal=MIA, decision="approve", policy=_policy(), now=NOW)
    assert store.get("apr_1").approvers == ["mia"]
    second = store.decide("apr_1", principal=MAX, decision="approve", policy=_policy(), now=NOW)
    assert (second.status, second.approvers) == ("approved", ["mia", "max"])
    assert store.get("apr_1").status == "approved"


def test_edit_drops_earlier_approvals_and_rebinds(store: ApprovalStore) -> None:
    store.create(_request(tool="close_account", tier="critical", needed=2))
    store.decide("apr_1", principal=MIA, decision="approve", policy=_policy(), now=NOW)
    edited = store.decide(
        "apr_1",
        principal=MAX,
        decision="edit",
        policy=_policy(),
        args={"reason": "x"},
        new_token="tok2",
        now=NOW,
    )
    assert (edited.status, edited.approvers, edited.token, edited.args) == (
        "pending",
        ["max"],
        "tok2",
        {"reason": "x"},
    )
    assert edited.decisions == [
        Decision(principal="max", decision="edit", args={"reason": "x"}, at=NOW)
    ]
    stored = store.get("apr_1")
    assert (stored.token, stored.args, stored.approvers) == ("tok2", {"reason": "x"}, ["max"])
    with pytest.raises(ValueError, match="edit needs args and new_token"):
        store.decide(
            "apr_1", principal=MIA, decision="edit", policy=_policy(), args={"reason": "y"}, now=NOW
        )
    done = store.decide("apr_1", principal=MIA, decision="approve", policy=_policy(), now=NOW)
    assert (done.status, done.approvers) == ("approved", ["max", "mia"])


def test_reject_ends_the_request_with_one_voice(store: ApprovalStore) -> None:
    store.create(_request(tool="close_account", tier="critical", needed=2))
    store.decide("apr_1", principal=MIA, decision="approve", policy=_policy(), now=NOW)
    rejected = store.decide(
        "apr_1", principal=MAX, decision="reject", policy=_policy(), comment="no", now=NOW
    )
    assert rejected.status == "rejected"
    assert store.get("apr_1").status == "rejected"
    assert [d.decision for d in store.get("apr_1").decisions] == ["approve", "reject"]


# -- two decisions at the same moment ------------------------------------------------------


def _race_threads(store: ApprovalStore, calls: list[Any]) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


@pytest.mark.parametrize("second", ["approve", "reject"])
def test_two_threads_decide_at_once_exactly_one_wins(
    store: ApprovalStore, second: DecisionKind
) -> None:
    for round_ in range(10):
        aid = f"apr_{round_}"
        store.create(_request(aid))
        results = _race_threads(
            store,
            [
                lambda aid=aid: store.decide(
                    aid, principal=ANA, decision="approve", policy=_policy(), now=NOW
                ),
                lambda aid=aid: store.decide(
                    aid, principal=BEN, decision=second, policy=_policy(), now=NOW
                ),
            ],
        )
        wins = [r for r in results if isinstance(r, ApprovalRequest)]
        stale = [r for r in results if isinstance(r, ApprovalStale)]
        assert (len(wins), len(stale)) == (1, 1), results
        final = store.get(aid)
        assert final.status == wins[0].status
        assert len(final.decisions) == 1
        assert final.decisions[0].principal == wins[0].decisions[0].principal


def test_two_approvers_of_a_four_eyes_request_race(store: ApprovalStore) -> None:
    """Two managers at once on a two-approver request: each decision is either recorded
    or refused as stale (SQLite serialises them, so both count; PostgreSQL's optimistic
    check refuses the later one, who retries); never a lost update that drops a recorded
    approval, and approved only with two recorded approvers."""
    for round_ in range(10):
        aid = f"apr_{round_}"
        store.create(_request(aid, tool="close_account", tier="critical", needed=2))
        results = _race_threads(
            store,
            [
                lambda aid=aid: store.decide(
                    aid, principal=MIA, decision="approve", policy=_policy(), now=NOW
                ),
                lambda aid=aid: store.decide(
                    aid, principal=MAX, decision="approve", policy=_policy(), now=NOW
                ),
            ],
        )
        assert all(isinstance(r, ApprovalRequest | ApprovalStale) for r in results), results
        won = {r.decisions[-1].principal for r in results if isinstance(r, ApprovalRequest)}
        assert won, results
        final = store.get(aid)
        assert set(final.approvers) == won
        assert final.status == ("approved" if len(won) == 2 else "pending")


def _decide_in_process(
    url: str, aid: str, name: str, decision: str, barrier: Any, out: Any
) -> None:
    db = Database(url)
    store = ApprovalStore(db)
    store.get(aid)  # connected and warm before the start line
    policy = _policy()
    barrier.wait()
    try:
        request = store.decide(
            aid,
            principal=PRINCIPALS[name],
            decision=decision,  # type: ignore[arg-type]
            policy=policy,
            now=NOW,
        )
        out.put((name, "won", request.status))
    except ApprovalStale as exc:
        out.put((name, "stale", exc.reason))
    except Exception as exc:  # reported, and fails the test
        out.put((name, "error", repr(exc)))
    finally:
        db.dispose()


def test_two_processes_decide_at_once_exactly_one_wins(store: ApprovalStore, url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    for round_ in range(3):
        aid = f"apr_p{round_}"
        store.create(_request(aid))
        barrier, out = ctx.Barrier(2), ctx.Queue()
        procs = [
            ctx.Process(target=_decide_in_process, args=(url, aid, name, decision, barrier, out))
            for name, decision in (("ana", "approve"), ("ben", "reject"))
        ]
        for p in procs:
            p.start()
        results = sorted(out.get(timeout=120) for _ in procs)
        for p in procs:
            p.join(60)
            assert p.exitcode == 0
        outcomes = sorted(r[1] for r in results)
        assert outcomes == ["stale", "won"], results
        winner = next(r for r in results if r[1] == "won")
        final = store.get(aid)
        assert [d.principal for d in final.decisions] == [winner[0]]
        assert final.status == winner[2] == ("approved" if winner[0] == "ana" else "rejected")


# -- expiry against a decision -----------------------------------------------------------


def _check_expiry_outcome(store: ApprovalStore, aid: str, decided: Any, expired: Any) -> None:
    final = store.get(aid)
    if isinstance(decided, ApprovalRequest):
        # The decision won: the caller will execute, so the request must stay approved.
        assert decided.status == "approved"
        assert expired is None, "expire() reported an expiry of a request it lost"
        assert final.status == "approved", (
            "a decision returned approved (and the caller executes) but the request now "
            f"reads {final.status}"
        )
    else:
        assert isinstance(decided, ApprovalStale), decided
        assert isinstance(expired, ApprovalRequest) and expired.status == "expired"
        assert final.status == "expired"
        assert final.decisions == []


def test_expiry_racing_a_decision_threads(
    store: ApprovalStore, backend: str, request: pytest.FixtureRequest
) -> None:
    for round_ in range(20):
        aid = f"apr_e{round_}"
        store.create(_request(aid, expires_at=NOW + 1))
        decided, expired = _race_threads(
            store,
            [
                lambda aid=aid: store.decide(
                    aid, principal=ANA, decision="approve", policy=_policy(), now=NOW
                ),
                lambda aid=aid: store.expire(aid, now=NOW + 2),
            ],
        )
        if isinstance(expired, Exception):
            raise expired
        _check_expiry_outcome(store, aid, decided, expired)


def _pause_expiry_update_until(
    store: ApprovalStore, done: threading.Event, expiring: set[int]
) -> None:
    """Hold the expiring thread's UPDATE (after its read) until the decision is done,
    for at most a second (on SQLite the expiring writer holds the lock, so the decision
    cannot finish first and the pause simply times out)."""

    @event.listens_for(store.db.engine, "before_cursor_execute")
    def _hold(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.get_ident() in expiring and statement.lstrip().upper().startswith(
            "UPDATE APPROVALS"
        ):
            done.wait(1.0)


def _expiry_after_read_decision_commits(store: ApprovalStore) -> None:
    store.create(_request("apr_x", expires_at=NOW + 1))
    done = threading.Event()
    expiring: set[int] = set()
    _pause_expiry_update_until(store, done, expiring)
    result: dict[str, Any] = {}

    def expire() -> None:
        expiring.add(threading.get_ident())
        try:
            result["expired"] = store.expire("apr_x", now=NOW + 2)
        except Exception as exc:
            result["expired"] = exc

    t = threading.Thread(target=expire)
    t.start()
    time.sleep(0.3)  # expire() has read the request as pending (and, on SQLite, holds the lock)
    try:
        result["decided"] = store.decide(
            "apr_x", principal=ANA, decision="approve", policy=_policy(), now=NOW
        )
    except Exception as exc:
        result["decided"] = exc
    done.set()
    t.join(30)
    if isinstance(result["expired"], Exception):
        raise result["expired"]
    _check_expiry_outcome(store, "apr_x", result["decided"], result["expired"])


def test_expiry_that_read_pending_cannot_overwrite_a_committed_decision(
    store: ApprovalStore, backend: str, request: pytest.FixtureRequest
) -> None:
    """Deterministic interleaving: expire() reads the request as pending, a decision
    commits "approved", then expire() writes. Before its UPDATE checked the version it
    read, PostgreSQL let it overwrite the approval (the decider was told approved and the
    action could run, while the request read expired)."""
    _expiry_after_read_decision_commits(store)


def test_decide_and_expire_default_to_the_current_time(store: ApprovalStore) -> None:
    now = time.time()
    store.create(_request("apr_live", expires_at=now + 3600))
    store.create(_request("apr_old", expires_at=now - 1))
    assert (
        store.decide("apr_live", principal=ANA, decision="approve", policy=_policy()).status
        == "approved"
    )
    with pytest.raises(ApprovalStale, match="it has expired"):
        store.decide("apr_old", principal=ANA, decision="approve", policy=_policy())
    expired = store.expire("apr_old")
    assert expired is not None and expired.status == "expired"
