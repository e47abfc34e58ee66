"""Cumulative limits and duplicate writes: usage from the ledger, reserved atomically.

The gate (:func:`govcx.governance.gate.decide`) compares; this module counts. What counts
against a proposal for a tool is, within each limit's window and for the same key
(customer, conversation, or the value of an argument):

- ledger rows (``executions``) that are ``reserved`` (the gate let a call through and
  it has not run yet), ``started`` (running, or interrupted by a crash) or
  ``succeeded``; ``failed`` and ``released`` rows do not count;
- approved action requests that have not reached the ledger yet (in flight).

A reservation is the ledger row itself, under the same idempotency key the executor
will use for the call (conversation, turn, tool, canonical arguments): the executor
turns it into ``started`` and then ``succeeded``/``failed``, a replayed policy gate
finds it again, and an executor refusal releases it. A reservation whose turn died
keeps counting (conservatively) until recovery finishes or fails that turn.

Check and reserve run in one write transaction: SQLite serialises writers
(``BEGIN IMMEDIATE``); on PostgreSQL a transaction-scoped advisory lock per tool is
taken first. So ten concurrent requests on ten workers cannot all see the same
"room left" under a limit.

Example:
    >>> with limits.transaction(db, "issue_refund") as conn:        # doctest: +SKIP
    ...     usage = limits.usage(conn, policy, tool="issue_refund", args=args,
    ...                          conversation_id="c1", customer_id="C-1001",
    ...                          now=time.time(), exclude_key=key)
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, and_, insert, select, text, update

from govcx.governance.gate import Usage, limit_rules
from govcx.governance.policy import Limit, Policy
from govcx.store.db import Database, dumps
from govcx.store.schema import approvals, executions

COUNTED = ("reserved", "started", "succeeded")
"""Ledger statuses that count against limits."""


def tracked(policy: Policy, tool: str) -> bool:
    """Whether ``tool`` is a write the policy knows (limits and duplicates apply)."""
    return tool in policy.tools and not policy.is_read_only(tool)


@contextmanager
def transaction(db: Database, tool: str) -> Iterator[Connection]:
    """A write transaction in which usage of ``tool`` cannot change under the caller."""
    with db.begin() as conn:
        if db.backend == "postgresql":
            conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended('govcx-limits:' || :tool, 0))"),
                {"tool": tool},
            )
        yield conn


def _horizon(policy: Policy, tool: str) -> timedelta:
    windows = [limit.window for limit in policy.tools[tool].limits]
    return max([policy.duplicate_window, *windows])


def _key_of(
    limit: Limit, *, customer_id: str | None, conversation_id: str, args: Mapping[str, Any]
) -> Any:
    if limit.per == "customer":
        return customer_id
    if limit.per == "conversation":
        return conversation_id
    return _canon(args.get(limit.per))


def _canon(value: Any) -> Any:
    return dumps(value)


def _measure(limit: Limit, args: Mapping[str, Any]) -> float:
    if limit.sum is None:
        return 1.0
    value = args.get(limit.sum)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return 0.0


def usage(
    conn: Connection,
    policy: Policy,
    *,
    tool: str,
    args: Mapping[str, Any],
    conversation_id: str,
    customer_id: str | None,
    now: float,
    exclude_key: str | None = None,
) -> Usage:
    """What counts against ``tool(args)`` for each of the tool's limits, and whether it
    duplicates a write of this conversation. ``exclude_key`` (the proposal's own ledger
    key) is never counted, so a replayed step does not count against itself."""
    if not tracked(policy, tool):
        return Usage()
    limits = policy.tools[tool].limits
    since = now - _horizon(policy, tool).total_seconds()
    rows = conn.execute(
        select(
            executions.c.key,
            executions.c.conversation_id,
            executions.c.customer_id,
            executions.c.args,
            executions.c.started_at,
            executions.c.approval_id,
        ).where(
            and_(
                executions.c.tool == tool,
                executions.c.started_at >= since,
                executions.c.status.in_(COUNTED),
            )
        )
    ).all()
    entries: list[tuple[str, str | None, dict[str, Any], float]] = []
    ran_approvals: set[str] = set()
    for row in rows:
        if row.approval_id:
            ran_approvals.add(row.approval_id)
        if row.key == exclude_key:
            continue
        entries.append(
            (row.conversation_id, row.customer_id, json.loads(row.args), float(row.started_at))
        )
    if limits:
        entries += _in_flight(conn, tool, since, ran_approvals)
    used = []
    for limit in limits:
        start = now - limit.window.total_seconds()
        key = _key_of(limit, customer_id=customer_id, conversation_id=conversation_id, args=args)
        total = 0.0
        for conv, customer, row_args, at in entries:
            if at < start:
                continue
            if _key_of(limit, customer_id=customer, conversation_id=conv, args=row_args) != key:
                continue
            total += _measure(limit, row_args)
        used.append(total)
    canonical = dumps(dict(args))
    dup_start = now - policy.duplicate_window.total_seconds()
    duplicate = policy.duplicate_window.total_seconds() > 0 and any(
        conv == conversation_id and at >= dup_start and dumps(row_args) == canonical
        for conv, _, row_args, at in entries
    )
    return Usage(used=tuple(used), duplicate=duplicate)


def _in_flight(
    conn: Connection, tool: str, since: float, ran: set[str]
) -> list[tuple[str, str | None, dict[str, Any], float]]:
    """Approved action requests for ``tool`` that have not reached the ledger yet."""
    out = []
    rows = conn.execute(
        select(approvals.c.approval_id, approvals.c.body, approvals.c.updated_at).where(
            and_(approvals.c.status == "approved", approvals.c.updated_at >= since)
        )
    ).all()
    for row in rows:
        if row.approval_id in ran:
            continue
        body = json.loads(row.body)
        if body.get("kind") != "action" or body.get("tool") != tool:
            continue
        out.append(
            (
                body["conversation_id"],
                body.get("customer_id"),
                dict(body.get("args") or {}),
                float(row.updated_at),
            )
        )
    return out


def crossed(policy: Policy, tool: str, args: Mapping[str, Any], current: Usage) -> list[str]:
    """Rule ids of the limits (and duplicate rule) ``tool(args)`` would break."""
    return list(limit_rules(policy, tool, args, current))


def reserve(
    conn: Connection,
    *,
    key: str,
    conversation_id: str,
    customer_id: str | None,
    tool: str,
    args: Mapping[str, Any],
    now: float,
) -> None:
    """Record (idempotently) that the gate let ``tool(args)`` through for this turn."""
    row = conn.execute(select(executions.c.status).where(executions.c.key == key)).first()
    if row is None:
        conn.execute(
            insert(executions).values(
                key=key,
                conversation_id=conversation_id,
                tool=tool,
                args=dumps(dict(args)),
                status="reserved",
                attempts=0,
                started_at=now,
                customer_id=customer_id,
            )
        )
    elif row.status == "released":
        conn.execute(
            update(executions)
            .where(executions.c.key == key)
            .values(status="reserved", started_at=now)
        )


def release_conversation(conn: Connection, conversation_id: str, *, reason: str) -> int:
    """Release every reservation of a conversation whose run failed (its lock is held, so
    no live run will use them); returns how many were released."""
    result = conn.execute(
        update(executions)
        .where(
            and_(executions.c.conversation_id == conversation_id, executions.c.status == "reserved")
        )
        .values(status="released", error=reason)
    )
    return int(result.rowcount or 0)


def release(conn: Connection, key: str, *, reason: str | None = None) -> bool:
    """Release a reservation that will not run (it stops counting). True if one was."""
    result = conn.execute(
        update(executions)
        .where(and_(executions.c.key == key, executions.c.status == "reserved"))
        .values(status="released", error=reason)
    )
    return bool(result.rowcount)
