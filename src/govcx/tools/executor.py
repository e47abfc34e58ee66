"""The executor: runs a tool call at most once per idempotency key, and only if allowed.

Before any call the executor re-checks the policy: an action that needs approval runs
only with an approved request whose token binds exactly this tool, these canonical
arguments, this policy version and this conversation. This check does not trust the
graph; it is the last line of the guarantee that nothing gated runs unapproved.

Cumulative limits are re-checked here too: a write that the policy gate reserved room
for (a ``reserved`` ledger row under the same key) runs; one without a reservation or
an approval bound to it runs only if the limits and the duplicate rule still hold, in
the same transaction that records it as started. A refusal releases the reservation.

The execution ledger records ``started`` before the call and ``succeeded``/``failed``
after. A retried step whose ledger row says succeeded returns the recorded result and
calls nothing; a row left ``started`` by a crash is called again with the same
idempotency key, which the tool passes downstream so the business system drops the
duplicate.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import bindparam, insert, select, update

from govcx.errors import GateViolation, NotFound, ToolArgumentError, ToolError
from govcx.governance import limits
from govcx.governance.approval import ApprovalStore, action_token
from govcx.governance.gate import amount_problem, approval_need
from govcx.governance.policy import Policy
from govcx.store.db import Database, dumps
from govcx.store.schema import executions
from govcx.tools.registry import ToolRegistry

Status = Literal["executed", "failed", "refused"]


# Built once: constructing a statement costs several times executing a built one.
_LEDGER_ROW = select(executions).where(executions.c.key == bindparam("key"))
_LEDGER_START = insert(executions)
_LEDGER_END = (
    update(executions)
    .where(executions.c.key == bindparam("k"))
    .values(
        status=bindparam("new_status"),
        result=bindparam("new_result"),
        error=bindparam("new_error"),
        finished_at=bindparam("now"),
    )
)


def idempotency_key(*, conversation_id: str, step: str, tool: str, args: dict[str, Any]) -> str:
    """Stable for the same conversation, approval or turn step, tool and canonical args."""
    material = dumps([conversation_id, step, tool, args])
    return "gcx-" + hashlib.sha256(material.encode("utf-8")).hexdigest()[:40]


@dataclass(frozen=True, kw_only=True)
class Execution:
    tool: str
    args: dict[str, Any]
    status: Status
    result: dict[str, Any] | None = None
    error: str | None = None
    key: str = ""
    replayed: bool = False
    """True when the ledger already had this step: nothing was called."""
    rules: tuple[str, ...] = field(default=())

    def as_action(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tool": self.tool, "args": self.args, "status": self.status}
        if self.result is not None:
            out["result"] = self.result
        if self.error:
            out["error"] = self.error
        return out


class Executor:
    """Runs tools for a conversation, through the ledger and the approval check."""

    def __init__(
        self,
        *,
        db: Database,
        registry: ToolRegistry,
        approvals: ApprovalStore,
        data_dir: Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.clock = clock
        self.registry = registry
        self.approvals = approvals
        self.data_dir = data_dir

    def run(
        self,
        *,
        policy: Policy,
        conversation_id: str,
        customer_id: str | None,
        tool: str,
        args: dict[str, Any],
        autonomy: str,
        step: str,
        approval_id: str | None = None,
    ) -> Execution:
        """Execute one tool call. ``step`` is the turn or approval id the call belongs to."""
        try:
            spec = self.registry.get(tool)
        except NotFound as exc:
            return Execution(tool=tool, args=args, status="refused", error=exc.message)
        try:
            canonical = spec.validate(args)
        except ToolArgumentError as exc:
            return Execution(tool=tool, args=args, status="refused", error=exc.message)
        key = idempotency_key(
            conversation_id=conversation_id, step=approval_id or step, tool=tool, args=canonical
        )
        try:
            need = approval_need(policy, tool, canonical, autonomy)
            approved = None
            if need.needed or approval_id is not None:
                try:
                    self._require_bound_approval(
                        policy, conversation_id, tool, canonical, approval_id
                    )
                    approved = approval_id
                except (GateViolation, NotFound):
                    if need.needed:
                        raise
                    # Not needed per call: it runs if the cumulative limits allow it.
            problem = amount_problem(policy, tool, canonical)
            if problem:
                raise GateViolation(f"{tool}: {problem}")
            replay = self._ledger_begin(
                key, policy, conversation_id, customer_id, tool, canonical, approved
            )
        except GateViolation as exc:
            self.release(key, exc.message)
            raise
        if replay is not None:
            return replay
        context: dict[str, Any] = {
            "customer_id": customer_id,
            "conversation_id": conversation_id,
            "idempotency_key": key,
            "data_dir": self.data_dir,
        }
        kwargs = dict(canonical)
        for name in spec.context_params:
            kwargs[name] = context[name]
        try:
            raw = spec.fn(**kwargs)
        except ToolError as exc:
            self._ledger_end(key, "failed", None, exc.message)
            return Execution(tool=tool, args=canonical, status="failed", error=exc.message, key=key)
        except Exception as exc:  # a broken tool must not take the turn down with it
            error = f"the tool failed unexpectedly ({type(exc).__name__})"
            self._ledger_end(key, "failed", None, error)
            return Execution(tool=tool, args=canonical, status="failed", error=error, key=key)
        result = _as_result(raw)
        self._ledger_end(key, "succeeded", result, None)
        return Execution(tool=tool, args=canonical, status="executed", result=result, key=key)

    def _require_bound_approval(
        self,
        policy: Policy,
        conversation_id: str,
        tool: str,
        args: dict[str, Any],
        approval_id: str | None,
    ) -> None:
        if approval_id is None:
            raise GateViolation(f"{tool} needs approval and none was given")
        request = self.approvals.get(approval_id)
        expected = action_token(
            conversation_id=conversation_id,
            kind="action",
            tool=tool,
            args=args,
            policy_version=policy.version,
            policy_digest=policy.digest,
        )
        if request.status != "approved":
            raise GateViolation(f"approval {approval_id} is {request.status}, not approved")
        if request.conversation_id != conversation_id or request.token != expected:
            raise GateViolation(f"approval {approval_id} is bound to another action")

    def _ledger_begin(
        self,
        key: str,
        policy: Policy,
        conversation_id: str,
        customer_id: str | None,
        tool: str,
        args: dict[str, Any],
        approval_id: str | None,
    ) -> Execution | None:
        now = self.clock()
        # Approved calls are counted but not limited (a human allowed crossing the limit).
        checked = limits.tracked(policy, tool) and approval_id is None
        with limits.transaction(self.db, tool) if checked else self.db.begin() as conn:
            row = conn.execute(_LEDGER_ROW, {"key": key}).first()
            if row is None or row.status == "released":
                if checked:
                    current = limits.usage(
                        conn,
                        policy,
                        tool=tool,
                        args=args,
                        conversation_id=conversation_id,
                        customer_id=customer_id,
                        now=now,
                        exclude_key=key,
                    )
                    rules = limits.crossed(policy, tool, args, current)
                    if rules:
                        raise GateViolation(
                            f"{tool} would cross {', '.join(rules)} and has "
                            "no reservation from the policy gate or approval"
                        )
                if row is None:
                    conn.execute(
                        _LEDGER_START,
                        {
                            "key": key,
                            "conversation_id": conversation_id,
                            "tool": tool,
                            "args": dumps(args),
                            "status": "started",
                            "attempts": 1,
                            "started_at": now,
                            "customer_id": customer_id,
                            "approval_id": approval_id,
                            "policy_version": policy.version,
                            "policy_digest": policy.digest,
                        },
                    )
                    return None
            if row.status in ("reserved", "released"):
                # The call the gate reserved room for (counted from the reservation on).
                conn.execute(
                    update(executions)
                    .where(executions.c.key == key)
                    .values(
                        status="started",
                        attempts=1,
                        approval_id=approval_id,
                        policy_version=policy.version,
                        policy_digest=policy.digest,
                        started_at=now if row.status == "released" else row.started_at,
                    )
                )
                return None
            if row.status == "succeeded":
                return Execution(
                    tool=tool,
                    args=args,
                    status="executed",
                    result=json.loads(row.result) if row.result else None,
                    key=key,
                    replayed=True,
                )
            if row.status == "failed":
                return Execution(
                    tool=tool, args=args, status="failed", error=row.error, key=key, replayed=True
                )
            # started: a crash interrupted the call; run it again with the same key.
            conn.execute(
                update(executions).where(executions.c.key == key).values(attempts=row.attempts + 1)
            )
            return None

    def release(self, key: str, reason: str | None = None) -> bool:
        """Release the reservation under ``key`` (a refused call): it stops counting."""
        with self.db.begin() as conn:
            return limits.release(conn, key, reason=reason)

    def _ledger_end(
        self, key: str, status: str, result: dict[str, Any] | None, error: str | None
    ) -> None:
        with self.db.begin() as conn:
            conn.execute(
                _LEDGER_END,
                {
                    "k": key,
                    "new_status": status,
                    "new_result": dumps(result) if result is not None else None,
                    "new_error": error,
                    "now": time.time(),
                },
            )

    def ledger(self, conversation_id: str) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(executions)
                .where(executions.c.conversation_id == conversation_id)
                .order_by(executions.c.started_at)
            ).all()
        return [dict(r._mapping) for r in rows]


def _as_result(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, dict):
        data: dict[str, Any] = json.loads(dumps(raw))
        return data
    return {"value": json.loads(dumps(raw))}
