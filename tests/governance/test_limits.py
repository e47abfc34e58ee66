"""Cumulative limits, duplicate writes and money checks: the policy fields, the pure gate
rules, the ledger's reservations, the executor's re-check, and an interleaving property."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import Field
from sqlalchemy import select

from govcx import tool
from govcx.errors import GateViolation, PolicyError
from govcx.governance import limits, money
from govcx.governance.approval import ApprovalStore
from govcx.governance.gate import GateInput, Proposal, Usage, decide, limit_rules
from govcx.governance.policy import parse_policy, policy_from_text
from govcx.store.db import Database
from govcx.store.schema import executions
from govcx.tools.executor import Executor, idempotency_key
from govcx.tools.registry import ToolRegistry

ACME = Path(__file__).resolve().parents[2] / "src" / "govcx" / "packs" / "acme"


@tool(reply="Paid {amount}.")
def pay(
    order_id: str,
    amount: Annotated[float, Field(gt=0, le=1000)],
    customer_id: str,
    idempotency_key: str,
) -> dict[str, Any]:
    """Pay money back."""
    return {"order_id": order_id, "amount": amount}


def _policy(**tool_extra: Any) -> Any:
    data: dict[str, Any] = {
        "version": "1",
        "currency": "USD",
        "tiers": {"low": {}, "read": {"read_only": True}},
        "workflows": {"w": {"autonomy": "act", "tools": ["pay"]}},
        "tools": {
            "pay": {
                "tier": "low",
                "approval_if": "amount > 50",
                "amount_arg": "amount",
                "limits": [
                    {"sum": "amount", "per": "customer", "window": "1h", "max": 100},
                    {"count": True, "per": "order_id", "window": "2h", "max": 3},
                    {"sum": "amount", "per": "conversation", "window": "30m", "max": 60},
                ],
                **tool_extra,
            }
        },
    }
    return parse_policy(data)


POLICY = _policy()


# -- the policy file ------------------------------------------------------------------------
_BASE = """
version: "1"
tiers: {low: {}}
workflows: {refund: {autonomy: act, tools: [issue_refund]}}
tools:
  issue_refund:
    tier: low
"""


@pytest.mark.parametrize(
    ("extra", "field", "says"),
    [
        (
            "    limits: [{count: true, sum: amount, per: customer, window: 24h, max: 1}]",
            "tools.issue_refund.limits[0]",
            "exactly one of `sum: ARGUMENT` or `count: true`",
        ),
        (
            "    limits: [{per: customer, window: 24h, max: 1}]",
            "tools.issue_refund.limits[0]",
            "exactly one of",
        ),
        (
            "    limits: [{count: false, per: customer, window: 24h, max: 1}]",
            "tools.issue_refund.limits[0]",
            "exactly one of",
        ),
        (
            "    limits: [{count: true, per: customer, window: soon, max: 1}]",
            "tools.issue_refund.limits[0].window",
            "is not a duration",
        ),
        (
            "    limits: [{count: true, per: customer, window: 0s, max: 1}]",
            "tools.issue_refund.limits[0].window",
            "longer than zero",
        ),
        (
            "    limits: [{count: true, per: customer, window: 24h, max: -1}]",
            "tools.issue_refund.limits[0].max",
            "greater than or equal to 0",
        ),
        (
            "    limits: [{count: true, per: customer, window: 24h, max: .inf}]",
            "tools.issue_refund.limits[0].max",
            "finite",
        ),
        (
            "    limits: [{count: true, per: customer, window: 24h}]",
            "tools.issue_refund.limits[0].max",
            "required",
        ),
        (
            "    limits: [{count: true, per: customer, window: 24h, max: 1, every: 2}]",
            "tools.issue_refund.limits[0].every",
            "unknown key",
        ),
        (
            "    limits: [{count: true, per: 'order id', window: 24h, max: 1}]",
            "tools.issue_refund.limits[0].per",
            "not an argument name",
        ),
        ("currency: usd", "currency", "ISO 4217"),
        ("currency: DOLLARS", "currency", "ISO 4217"),
        ("duplicate_window: later", "duplicate_window", "is not a duration"),
    ],
)
def test_policy_refuses_bad_limits_naming_the_field(extra: str, field: str, says: str) -> None:
    with pytest.raises(PolicyError) as info:
        policy_from_text(_BASE + extra + "\n")
    assert info.value.details.get("field") == field, str(info.value)
    assert says in str(info.value)


def test_policy_limits_and_defaults_load() -> None:
    policy = policy_from_text(
        _BASE + "    limits:\n"
        "      - {sum: amount, per: customer, window: 24h, max: 100}\n"
        "      - {count: true, per: order_id, window: 30d, max: 2}\n"
    )
    first, second = policy.tools["issue_refund"].limits
    assert (first.sum, first.per, first.window.total_seconds(), first.max) == (
        "amount",
        "customer",
        86400,
        100,
    )
    assert second.count is True and second.window.days == 30
    assert policy.duplicate_window.total_seconds() == 600 and policy.currency is None
    assert "sum of amount per customer within 1d at most 100" == first.describe()


@pytest.mark.parametrize(
    ("limit", "field", "says"),
    [
        (
            "{sum: order_id, per: customer, window: 24h, max: 1}",
            "limits[0].sum",
            "no numeric argument 'order_id'",
        ),
        (
            "{sum: amunt, per: customer, window: 24h, max: 1}",
            "limits[0].sum",
            "no numeric argument 'amunt'",
        ),
        (
            "{count: true, per: order, window: 24h, max: 1}",
            "limits[0].per",
            "per must be customer, conversation or an argument",
        ),
    ],
)
def test_pack_cross_check_names_the_tools_arguments(
    tmp_path: Path, limit: str, field: str, says: str
) -> None:
    from govcx.pack import load_pack

    pack = tmp_path / "acme"
    shutil.copytree(ACME, pack, ignore=shutil.ignore_patterns("knowledge", "evals", "cassettes"))
    text = (pack / "policy.yaml").read_text()
    text = text.replace(
        "      - {sum: amount, per: customer, window: 24h, max: 100}\n"
        "      - {count: true, per: order_id, window: 30d, max: 2}",
        f"      - {limit}",
        1,
    )
    (pack / "policy.yaml").write_text(text)
    (pack / "govcx.yaml").write_text(
        (pack / "govcx.yaml")
        .read_text()
        .replace("knowledge: knowledge/", "")
        .replace("evals: evals/", "")
    )
    with pytest.raises(PolicyError) as info:
        load_pack(pack)
    assert info.value.details.get("field") == f"tools.issue_refund.{field}"
    assert says in str(info.value) and "order_id" in str(info.value)


# -- the gate ----------------------------------------------------------------------------------
def _facts(args: dict[str, Any], usage: Usage | None, **kw: Any) -> GateInput:
    return GateInput(
        intent="w", confidence=0.9, proposal=Proposal(tool="pay", args=args), usage=usage, **kw
    )


@pytest.mark.parametrize(
    ("args", "used", "duplicate", "route", "rules"),
    [
        ({"order_id": "A", "amount": 40}, (0, 0, 0), False, "execute", ["tool.pay.within_policy"]),
        (
            {"order_id": "A", "amount": 40},
            (60, 0, 20),
            False,
            "execute",
            ["tool.pay.within_policy"],
        ),  # exactly at the limits
        (
            {"order_id": "A", "amount": 40},
            (60.01, 0, 0),
            False,
            "await_approval",
            ["tool.pay.limits[0]"],
        ),
        (
            {"order_id": "A", "amount": 1},
            (0, 3, 0),
            False,
            "await_approval",
            ["tool.pay.limits[1]"],
        ),
        (
            {"order_id": "A", "amount": 40},
            (0, 0, 21),
            False,
            "await_approval",
            ["tool.pay.limits[2]"],
        ),
        (
            {"order_id": "A", "amount": 45},
            (90, 3, 50),
            True,
            "await_approval",
            [
                "tool.pay.limits[0]",
                "tool.pay.limits[1]",
                "tool.pay.limits[2]",
                "tool.pay.duplicate",
            ],
        ),
        (
            {"order_id": "A", "amount": 80},
            (90, 0, 0),
            False,
            "await_approval",
            ["tool.pay.approval_if", "tool.pay.limits[0]", "tool.pay.limits[2]"],
        ),
        ({"order_id": "A", "amount": 5}, (0, 0, 0), True, "await_approval", ["tool.pay.duplicate"]),
    ],
)
def test_gate_compares_usage_with_each_limit(
    args: dict[str, Any], used: tuple[float, ...], duplicate: bool, route: str, rules: list[str]
) -> None:
    decision = decide(POLICY, _facts(args, Usage(used=used, duplicate=duplicate)))
    assert (decision.route, list(decision.rules)) == (route, rules)


def test_gate_needs_approval_when_usage_is_unknown() -> None:
    decision = decide(POLICY, _facts({"order_id": "A", "amount": 5}, None))
    assert decision.route == "await_approval"
    assert list(decision.rules) == [
        "tool.pay.limits[0]",
        "tool.pay.limits[1]",
        "tool.pay.limits[2]",
    ]
    # Too short a usage tuple is unknown as well; a sum argument that is no number crosses.
    assert limit_rules(POLICY, "pay", {"amount": 5}, Usage(used=(0,))) == (
        "tool.pay.limits[1]",
        "tool.pay.limits[2]",
    )
    assert "tool.pay.limits[0]" in limit_rules(
        POLICY, "pay", {"amount": "5"}, Usage(used=(0, 0, 0))
    )


@pytest.mark.parametrize(
    "amount", [1e308, float("nan"), float("inf"), -5, 0, 12.345, True, "45", 2e9]
)
def test_gate_refuses_amounts_out_of_range_whatever_the_engine_proposes(amount: Any) -> None:
    decision = decide(POLICY, _facts({"order_id": "A", "amount": amount}, Usage(used=(0, 0, 0))))
    assert decision.route == "respond" and decision.rules == ("slot.invalid",)


@pytest.mark.parametrize(
    "text",
    [
        "please refund £49",
        "refund 49 EUR",
        "€49 back please",
        "refund $1e308",
        "refund $-5",
        "refund $0",
        "$12.345",
        "$nan",
    ],
)
def test_gate_asks_again_for_amounts_the_customer_wrote_that_cannot_run(text: str) -> None:
    facts = _facts(
        {"order_id": "A", "amount": 10},
        Usage(used=(0, 0, 0)),
        money_problems=money.problems(text, currency="USD"),
    )
    decision = decide(POLICY, facts)
    assert decision.route == "respond" and decision.rules == ("slot.invalid",)


def test_money_is_normalised_and_parsed_whole() -> None:
    assert money.amounts("refund $4\u200b5 please") == [45.0]
    assert money.amounts("refund $4\u2060\u00ad5") == [45.0]
    assert money.amounts("refund ＄４５") == [45.0]
    assert money.amounts("$1e308") == [] and money.amounts("$1,00") == []
    assert money.amounts("order A-1002 $45.50, thanks") == [45.5]
    assert money.amounts("I'd like $1,000.50 and 20 dollars") == [1000.5, 20.0]
    assert money.problems("please refund $45", currency="USD") == ()
    assert money.problems("please refund 45 usd", currency="USD") == ()
    assert money.problems("please refund £49", currency=None) == ()
    assert money.problems("please refund 49€", currency="USD") == (
        "49€ is in EUR; amounts must be in USD",
    )
    assert money.argument_problem(45.5) is None
    assert money.argument_problem(1e9 + 1) is not None


# -- ledger: usage, reservation, executor re-check ----------------------------------------------
class _Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _setup(url: str) -> tuple[Database, Executor, _Clock]:
    db = Database(url)
    db.create_schema()
    clock = _Clock()
    executor = Executor(
        db=db,
        registry=ToolRegistry([pay.__govcx_tool__]),  # type: ignore[attr-defined]
        approvals=ApprovalStore(db),
        data_dir=Path(tempfile.gettempdir()),
        clock=clock,
    )
    return db, executor, clock


def _gate_and_reserve(
    db: Database, *, conv: str, customer: str, turn: str, args: dict[str, Any], now: float
) -> tuple[str, list[str]]:
    key = idempotency_key(conversation_id=conv, step=turn, tool="pay", args=args)
    with limits.transaction(db, "pay") as conn:
        usage = limits.usage(
            conn,
            POLICY,
            tool="pay",
            args=args,
            conversation_id=conv,
            customer_id=customer,
            now=now,
            exclude_key=key,
        )
        decision = decide(
            POLICY,
            GateInput(
                intent="w", confidence=1.0, usage=usage, proposal=Proposal(tool="pay", args=args)
            ),
        )
        rules = [] if decision.route == "execute" else list(decision.rules)
        if not rules:
            limits.reserve(
                conn,
                key=key,
                conversation_id=conv,
                customer_id=customer,
                tool="pay",
                args=args,
                now=now,
            )
    return key, rules


def _statuses(db: Database) -> list[str]:
    with db.read() as conn:
        return [r.status for r in conn.execute(select(executions.c.status)).all()]


def test_reservation_is_idempotent_per_turn_and_never_counts_itself(tmp_path: Path) -> None:
    db, executor, clock = _setup(f"sqlite:///{tmp_path / 'l.db'}")
    args = {"order_id": "A-1", "amount": 45.0}
    first = _gate_and_reserve(db, conv="c1", customer="C", turn="t1", args=args, now=clock.now)
    replay = _gate_and_reserve(db, conv="c1", customer="C", turn="t1", args=args, now=clock.now)
    assert first == replay and first[1] == [] and _statuses(db) == ["reserved"]
    # The reservation counts for everyone else: 45 + 45 + 45 > 100.
    _, rules = _gate_and_reserve(db, conv="c2", customer="C", turn="t2", args=args, now=clock.now)
    assert rules == []
    _, rules = _gate_and_reserve(db, conv="c3", customer="C", turn="t3", args=args, now=clock.now)
    assert rules == ["tool.pay.limits[0]"]
    done = executor.run(
        policy=POLICY,
        conversation_id="c1",
        customer_id="C",
        tool="pay",
        args=args,
        autonomy="act",
        step="t1",
    )
    assert done.status == "executed" and sorted(_statuses(db)) == ["reserved", "succeeded"]


def test_executor_refuses_a_crossing_without_reservation_or_approval(tmp_path: Path) -> None:
    _db, executor, clock = _setup(f"sqlite:///{tmp_path / 'l.db'}")
    args = {"order_id": "A-1", "amount": 45.0}
    for i in range(2):  # within the limit without a reservation: checked and recorded at once
        ran = executor.run(
            policy=POLICY,
            conversation_id=f"c{i}",
            customer_id="C",
            tool="pay",
            args=args,
            autonomy="act",
            step=f"t{i}",
        )
        assert ran.status == "executed"
    with pytest.raises(GateViolation, match=r"limits\[0\]"):
        executor.run(
            policy=POLICY,
            conversation_id="c9",
            customer_id="C",
            tool="pay",
            args=args,
            autonomy="act",
            step="t9",
        )
    # Another customer has their own room; a day later the window is empty again.
    assert (
        executor.run(
            policy=POLICY,
            conversation_id="d",
            customer_id="D",
            tool="pay",
            args=args,
            autonomy="act",
            step="t",
        ).status
        == "executed"
    )
    clock.now += 3 * 3600
    assert (
        executor.run(
            policy=POLICY,
            conversation_id="c9",
            customer_id="C",
            tool="pay",
            args=args,
            autonomy="act",
            step="t9",
        ).status
        == "executed"
    )


def test_executor_refusal_releases_the_reservation(tmp_path: Path) -> None:
    db, executor, clock = _setup(f"sqlite:///{tmp_path / 'l.db'}")
    args = {"order_id": "A-1", "amount": 45.0}
    key, _ = _gate_and_reserve(db, conv="c1", customer="C", turn="t1", args=args, now=clock.now)
    strict = _policy(approval_if="amount > 10")  # the policy changed: now it needs approval
    with pytest.raises(GateViolation):
        executor.run(
            policy=strict,
            conversation_id="c1",
            customer_id="C",
            tool="pay",
            args=args,
            autonomy="act",
            step="t1",
        )
    assert _statuses(db) == ["released"]
    with db.read() as conn:
        usage = limits.usage(
            conn,
            POLICY,
            tool="pay",
            args=args,
            conversation_id="c2",
            customer_id="C",
            now=clock.now,
        )
    assert usage.used == (0.0, 0.0, 0.0)
    assert key


def test_duplicate_write_in_the_conversation_needs_approval(tmp_path: Path) -> None:
    db, executor, clock = _setup(f"sqlite:///{tmp_path / 'l.db'}")
    args = {"order_id": "A-1", "amount": 5.0}
    assert (
        executor.run(
            policy=POLICY,
            conversation_id="c1",
            customer_id="C",
            tool="pay",
            args=args,
            autonomy="act",
            step="t1",
        ).status
        == "executed"
    )
    # The replay of the same step is the ledger's business: it returns the first result.
    assert executor.run(
        policy=POLICY,
        conversation_id="c1",
        customer_id="C",
        tool="pay",
        args=args,
        autonomy="act",
        step="t1",
    ).replayed
    _, rules = _gate_and_reserve(db, conv="c1", customer="C", turn="t2", args=args, now=clock.now)
    assert rules == ["tool.pay.duplicate"]
    _, rules = _gate_and_reserve(db, conv="c2", customer="C", turn="t2", args=args, now=clock.now)
    assert rules == []  # another conversation: not a duplicate
    clock.now += 601
    _, rules = _gate_and_reserve(db, conv="c1", customer="C", turn="t3", args=args, now=clock.now)
    assert rules == []  # outside the 10m duplicate window


# -- property: limits under interleavings ------------------------------------------------------
_amounts = st.sampled_from([5.0, 20.0, 35.5, 45.0, 60.0])
_request = st.tuples(
    st.just("request"),
    st.sampled_from(["C1", "C2"]),
    st.sampled_from(["A-1", "A-2", "A-3"]),
    st.sampled_from(["k1", "k2", "k3"]),
    _amounts,
)
_direct = st.tuples(
    st.just("direct"),
    st.sampled_from(["C1", "C2"]),
    st.sampled_from(["A-1", "A-2"]),
    st.sampled_from(["k1", "k4"]),
    _amounts,
)
_steps = st.lists(
    st.one_of(
        _request,
        _request,
        _request,
        _direct,
        st.tuples(st.just("run"), st.integers(0, 20)),
        st.tuples(st.just("release"), st.integers(0, 20)),
        st.tuples(st.just("tick"), st.sampled_from([60, 600, 1800, 3600, 7300])),
    ),
    min_size=1,
    max_size=40,
)
_counter = itertools.count()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=_steps)
def test_what_runs_without_approval_never_exceeds_any_limit(steps: list[tuple[Any, ...]]) -> None:
    home = Path(tempfile.mkdtemp(prefix="govcx-limits-"))
    try:
        db, executor, clock = _setup(f"sqlite:///{home / 'p.db'}")
        pending: list[tuple[str, str, str, dict[str, Any]]] = []
        for step in steps:
            kind = step[0]
            n = next(_counter)
            if kind == "tick":
                clock.now += step[1]
            elif kind == "request":
                _, customer, order, conv, amount = step
                args = {"order_id": order, "amount": amount}
                _, rules = _gate_and_reserve(
                    db, conv=conv, customer=customer, turn=f"t{n}", args=args, now=clock.now
                )
                if not rules:
                    pending.append((conv, customer, f"t{n}", args))
            elif kind == "direct":  # a caller that skips the gate: the executor decides
                _, customer, order, conv, amount = step
                try:
                    executor.run(
                        policy=POLICY,
                        conversation_id=conv,
                        customer_id=customer,
                        tool="pay",
                        args={"order_id": order, "amount": amount},
                        autonomy="act",
                        step=f"t{n}",
                    )
                except GateViolation:
                    pass
            elif pending:
                conv, customer, turn, args = pending.pop(step[1] % len(pending))
                if kind == "run":
                    ran = executor.run(
                        policy=POLICY,
                        conversation_id=conv,
                        customer_id=customer,
                        tool="pay",
                        args=args,
                        autonomy="act",
                        step=turn,
                    )
                    assert ran.status == "executed"
                else:
                    executor.release(
                        idempotency_key(conversation_id=conv, step=turn, tool="pay", args=args)
                    )
        for conv, customer, turn, args in pending:  # late runs still fit what was reserved
            executor.run(
                policy=POLICY,
                conversation_id=conv,
                customer_id=customer,
                tool="pay",
                args=args,
                autonomy="act",
                step=turn,
            )
        _assert_within_limits(db)
        db.dispose()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _assert_within_limits(db: Database) -> None:
    import json

    with db.read() as conn:
        rows = conn.execute(
            select(executions).where(
                executions.c.status == "succeeded", executions.c.approval_id.is_(None)
            )
        ).all()
    for i, limit in enumerate(POLICY.tools["pay"].limits):
        window = limit.window.total_seconds()
        keys = [
            r.customer_id
            if limit.per == "customer"
            else r.conversation_id
            if limit.per == "conversation"
            else json.loads(r.args)[limit.per]
            for r in rows
        ]
        for row, key in zip(rows, keys, strict=True):
            inside = [
                r
                for r, k in zip(rows, keys, strict=True)
                if k == key and row.started_at - window <= r.started_at <= row.started_at
            ]
            total = sum(json.loads(r.args)["amount"] if limit.sum else 1 for r in inside)
            assert total <= limit.max + 1e-9, (i, limit, [dict(r._mapping) for r in inside])


def test_a_failed_run_releases_only_its_own_conversations_reservations(tmp_path: Path) -> None:
    db, _, clock = _setup(f"sqlite:///{tmp_path / 'l.db'}")
    args = {"order_id": "A-1", "amount": 45.0}
    _gate_and_reserve(db, conv="c1", customer="C", turn="t1", args=args, now=clock.now)
    _gate_and_reserve(db, conv="c2", customer="C", turn="t2", args=args, now=clock.now)
    with db.begin() as conn:
        assert limits.release_conversation(conn, "c1", reason="the turn failed") == 1
    with db.read() as conn:
        rows = {
            r.conversation_id: (r.status, r.error)
            for r in conn.execute(
                select(executions.c.conversation_id, executions.c.status, executions.c.error)
            )
        }
    assert rows == {"c1": ("released", "the turn failed"), "c2": ("reserved", None)}
    # What was released stops counting: c3 fits again beside c2's 45.
    _, rules = _gate_and_reserve(db, conv="c3", customer="C", turn="t3", args=args, now=clock.now)
    assert rules == []
    with db.begin() as conn:
        assert limits.release_conversation(conn, "c1", reason="again") == 0


def test_the_agent_releases_the_reservation_of_a_run_that_raised(
    make_agent: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = make_agent()

    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("the ledger's database went away")

    monkeypatch.setattr(agent.executor, "run", broken)
    with pytest.raises(RuntimeError):
        agent.respond("c1", "please refund $20 for order A-1001", customer_id="C-1")
    with agent.db.read() as conn:
        statuses = [r.status for r in conn.execute(select(executions.c.status))]
    assert statuses == ["released"]  # the gate's reservation no longer counts
    assert agent.conversation("c1")["status"] == "idle"


def test_a_per_argument_limit_counts_each_value_on_its_own(tmp_path: Path) -> None:
    """`per: order_id` keys usage by the order: three payments on one order fill its count,
    and do not count against another order (nor do 'A-1', 'a-1' and 'A-1 ' merge)."""
    db, _, clock = _setup(f"sqlite:///{tmp_path / 'l.db'}")
    for n, conv in enumerate(("c1", "c2", "c3")):
        _, rules = _gate_and_reserve(
            db,
            conv=conv,
            customer=f"C{n}",
            turn=f"t{n}",
            args={"order_id": "A-1", "amount": 5.0},
            now=clock.now,
        )
        assert rules == []
    _, rules = _gate_and_reserve(
        db,
        conv="c4",
        customer="C4",
        turn="t4",
        args={"order_id": "A-1", "amount": 5.0},
        now=clock.now,
    )
    assert rules == ["tool.pay.limits[1]"]
    for n, order in enumerate(("A-2", "a-1", "A-1 ")):
        _, rules = _gate_and_reserve(
            db,
            conv=f"d{n}",
            customer=f"D{n}",
            turn=f"u{n}",
            args={"order_id": order, "amount": 5.0},
            now=clock.now,
        )
        assert rules == [], order
