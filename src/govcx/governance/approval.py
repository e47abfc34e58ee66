"""Approval requests and decisions, bound to exactly one action.

A request packages what a human needs to decide: the action and its canonical
arguments, tier, the rules that fired, rationale, evidence, the facts its tool's context
lookup found (``context``), and what the customer will be told if it is approved or
rejected. Its
token is a hash over tool, canonical arguments, policy version and content digest, and
conversation, so a decision applies to that action under that exact policy only; the
executor recomputes it before running. A request whose policy is no longer the active one
is ``superseded``: it can no longer be decided, and its conversation goes to a person.
An approved action whose tool then fails (or is refused by the executor) is ``failed``:
approving it did not make it happen, and the history says so.

Decisions are applied with optimistic concurrency (a version column), so when two
approvers decide at the same moment exactly one wins and the other gets ApprovalStale.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Connection, func, insert, select, update

from govcx.errors import ApprovalStale, DuplicateApprover, NotAuthorized, NotFound
from govcx.governance.policy import Policy
from govcx.governance.principal import Principal, canonical_name
from govcx.store.db import Database, dumps
from govcx.store.schema import approvals

Status = Literal["pending", "approved", "rejected", "expired", "superseded", "failed"]
STATUSES: tuple[str, ...] = ("pending", "approved", "rejected", "expired", "superseded", "failed")
CLOSED: tuple[str, ...] = STATUSES[1:]
"""Every status but pending: the history of requests (decided, or closed unanswered)."""
DecisionKind = Literal["approve", "reject", "edit"]
REFRESHED_BY_EDIT = frozenset({"context", "context_sealed", "reply_if_approved"})
"""What an edit recomputes with the new arguments (the decision's subject is the token)."""


def action_token(
    *,
    conversation_id: str,
    kind: str,
    tool: str | None,
    args: dict[str, Any] | None,
    policy_version: str,
    policy_digest: str,
    draft_reply: str | None = None,
) -> str:
    """The binding of a decision to one action under one policy content."""
    material = dumps(
        {
            "conversation_id": conversation_id,
            "kind": kind,
            "tool": tool,
            "args": args or {},
            "policy_version": policy_version,
            "policy_digest": policy_digest,
            "reply": draft_reply if kind == "reply" else None,
        }
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class Decision(BaseModel):
    principal: str
    decision: DecisionKind
    args: dict[str, Any] | None = None
    comment: str | None = None
    at: float
    authenticated: bool = True
    """False for a dev-mode decision made as ``--as NAME`` without a key."""


class ApprovalContext(BaseModel):
    """What the tool's context lookup found when the request was made (see
    :mod:`govcx.tools.lookup`): information for the approver, not part of the decision's
    subject (the action token does not cover it)."""

    status: Literal["ok", "unavailable"]
    facts: dict[str, Any] = Field(default_factory=dict)
    """The lookup's facts, in its order; strings redacted as stored (see
    :attr:`ApprovalRequest.context_sealed`)."""
    error: str | None = None
    """Why the context is unavailable (the lookup failed)."""
    looked_up_at: float


class ApprovalFields(BaseModel):
    """What an approver sees and decides (the API's ApprovalView shows exactly these)."""

    approval_id: str
    conversation_id: str
    turn_id: str
    customer_id: str | None = None
    kind: Literal["action", "reply"]
    intent: str | None = None
    tool: str | None = None
    args: dict[str, Any] | None = None
    tier: str
    rules: list[str]
    rationale: str
    evidence: list[dict[str, Any]] = Field(default_factory=list)
    draft_reply: str | None = None
    requested_at: float
    expires_at: float
    approvals_needed: int = 1
    decisions: list[Decision] = Field(default_factory=list)
    status: Status = "pending"
    policy_version: str
    policy_digest: str = ""
    """sha256 of the policy's canonical content the request was evaluated under."""
    context: ApprovalContext | None = None
    """Facts looked up for the approver (None when the tool declares no lookup)."""
    reply_if_approved: str | None = None
    """What the customer is told if it is approved: for an action, its tool's reply
    filled with the arguments and the facts known so far (a field only the call's result
    gives shows as ``[name]``); for a reply, the reply itself."""
    reply_if_rejected: str | None = None
    """What the customer is told if it is rejected."""
    failure: str | None = None
    """Why the approved action did not happen (status ``failed``): the tool's error or the
    executor's refusal."""


class ApprovalRequest(ApprovalFields):
    """A stored request: the fields plus its token, the binding to exactly one action."""

    token: str
    draft_support: float = 0.0
    """How well knowledge supported the draft (the reply if approved quotes its first
    sentence from 0.5 on, as the engines compose it); kept to recompose it after an edit."""
    context_sealed: str | None = None
    """The context's facts before redaction, encrypted with the data key (present only
    when redaction changed them, e.g. the customer's name); readers of the request see
    them decrypted (:class:`govcx.store.sealed.Sealer`), webhooks and audit never do."""

    def bound_to(self, policy: Policy) -> bool:
        """Was this request evaluated under exactly ``policy`` (version and content)?"""
        return self.policy_version == policy.version and self.policy_digest == policy.digest

    @property
    def approvers(self) -> list[str]:
        return [d.principal for d in self.decisions if d.decision in ("approve", "edit")]


Denial = Literal["stale", "not_authorized", "duplicate_approver"]
"""Why a decision is refused: the request can no longer be decided (``stale``), the
principal lacks the role or authority (``not_authorized``), or four-eyes
(``duplicate_approver``)."""


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """Whether a principal may decide a request, and if not, why (see :func:`can_decide`)."""

    allowed: bool
    denial: Denial | None = None
    reason: str | None = None
    """Why not, for a person (None when allowed)."""

    def raise_if_denied(self, approval_id: str, principal: str) -> None:
        """Raise the error this verdict stands for: ApprovalStale, NotAuthorized or
        DuplicateApprover. Nothing when allowed."""
        if self.allowed:
            return
        reason = self.reason or ""
        if self.denial == "stale":
            raise ApprovalStale(approval_id, reason)
        if self.denial == "duplicate_approver":
            raise DuplicateApprover(principal, reason)
        raise NotAuthorized(principal, reason)


ALLOWED = Verdict(allowed=True)


def _denied(denial: Denial, reason: str) -> Verdict:
    return Verdict(allowed=False, denial=denial, reason=reason)


def can_decide(
    policy: Policy,
    principal: Principal,
    request: ApprovalRequest,
    *,
    decision: DecisionKind = "approve",
    args: dict[str, Any] | None = None,
    now: float | None = None,
) -> Verdict:
    """May ``principal`` give ``decision`` on ``request`` under ``policy``, now?

    The one copy of the rule: :meth:`ApprovalStore.decide` enforces this verdict and the
    API shows it (``can_decide`` and ``authority`` of an approval), so they cannot drift.
    In order: the request must be pending, not expired at ``now`` (unchecked when None)
    and bound to ``policy``; the principal must not be a channel, must hold an approver
    role the request's tier accepts, within that role's amount limit for ``args`` (an edit's
    new arguments; the request's own otherwise); and an approval must come from someone
    who has not approved it already (four-eyes; names compared canonically).
    """
    if request.status == "superseded":
        return _denied(
            "stale",
            f"it is already superseded: it was requested under policy "
            f"{request.policy_version}, which is no longer active, and its "
            "conversation went to a person",
        )
    if request.status != "pending":
        return _denied("stale", f"it is already {request.status}")
    if now is not None and now >= request.expires_at:
        return _denied("stale", "it has expired")
    if not request.bound_to(policy):
        return _denied(
            "stale",
            f"it was requested under policy {request.policy_version} "
            f"({request.policy_digest[:12]}), and {policy.version} "
            f"({policy.digest[:12]}) is active",
        )
    authority = _authority(policy, principal, request, args if decision == "edit" else request.args)
    if not authority.allowed:
        return authority
    if decision == "approve" and canonical_name(principal.name) in {
        canonical_name(name) for name in request.approvers
    }:
        return _denied(
            "duplicate_approver",
            "already approved this request; a second approval must come from someone else",
        )
    return ALLOWED


def check_authority(
    policy: Policy, principal: Principal, request: ApprovalRequest, args: dict[str, Any] | None
) -> None:
    """Raise NotAuthorized unless ``principal``'s roles allow deciding ``request`` with
    ``args`` (roles and amount limits only; :func:`can_decide` is the whole rule)."""
    _authority(policy, principal, request, args).raise_if_denied(
        request.approval_id, principal.name
    )


def _authority(
    policy: Policy, principal: Principal, request: ApprovalRequest, args: dict[str, Any] | None
) -> Verdict:
    if principal.acts_for_customers:
        kind = "channel" if principal.is_channel else "mcp (tool client)"
        return _denied("not_authorized", f"{kind} principals can never decide approvals")
    roles = principal.approver_roles
    if not roles:
        return _denied("not_authorized", "not an approver (needs a role approver:<role>)")
    tier = policy.tiers.get(request.tier)
    allowed = set(tier.roles) if tier is not None and tier.roles else set(policy.approvals.roles)
    eligible = [r for r in roles if r in allowed and r in policy.approvals.roles]
    if not eligible:
        return _denied(
            "not_authorized",
            f"tier {request.tier!r} needs one of the roles "
            f"{', '.join(sorted(allowed)) or '(none configured)'}; "
            f"{principal.name} has {', '.join(roles)}",
        )
    amount = _amount(policy, request.tool, args)
    if amount is not None:
        limits = [policy.approvals.roles[r].max_amount for r in eligible]
        if any(limit is None for limit in limits):
            return ALLOWED
        limit = max(float(x) for x in limits if x is not None)
        if amount > limit:
            return _denied(
                "not_authorized",
                f"amount {amount:g} exceeds the approval limit "
                f"{limit:g} of role {', '.join(eligible)}",
            )
    return ALLOWED


def _amount(policy: Policy, tool: str | None, args: dict[str, Any] | None) -> float | None:
    if tool is None or not args:
        return None
    tool_policy = policy.tools.get(tool)
    arg = tool_policy.amount_arg if tool_policy and tool_policy.amount_arg else "amount"
    value = args.get(arg)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


class ApprovalStore:
    """Approval requests in the database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, request: ApprovalRequest) -> ApprovalRequest:
        """Insert the request; a retried step with the same approval_id is a no-op."""
        with self.db.begin() as conn:
            existing = conn.execute(
                select(approvals.c.body).where(approvals.c.approval_id == request.approval_id)
            ).first()
            if existing:
                return ApprovalRequest.model_validate_json(existing.body)
            now = time.time()
            conn.execute(
                insert(approvals).values(
                    approval_id=request.approval_id,
                    conversation_id=request.conversation_id,
                    turn_id=request.turn_id,
                    status=request.status,
                    expires_at=request.expires_at,
                    body=request.model_dump_json(),
                    version=0,
                    requested_at=request.requested_at,
                    updated_at=now,
                )
            )
        return request

    def get(self, approval_id: str) -> ApprovalRequest:
        with self.db.read() as conn:
            row = conn.execute(
                select(approvals.c.body).where(approvals.c.approval_id == approval_id)
            ).first()
        if row is None:
            raise NotFound(
                "approval", approval_id, hint="`govcx approvals list` shows pending ones"
            )
        return ApprovalRequest.model_validate_json(row.body)

    def list(
        self,
        *,
        status: str | Sequence[str] | None = None,
        conversation_id: str | None = None,
        customer_id: str | None = None,
        decided_by: str | None = None,
        tool: str | None = None,
        newest_first: bool = False,
        limit: int = 500,
    ) -> list[ApprovalRequest]:
        """Requests by status (one or several), conversation, customer, a principal who
        decided them (approved, edited or rejected; names compared canonically) and tool;
        oldest first (the queue) unless ``newest_first`` (a history), at most ``limit``.

        Customer, principal and tool live in the request's JSON body, so those filters
        read the rows the status and conversation select, newest first, until ``limit``
        match: a narrow filter over a long history reads more rows, not more memory."""
        order = (
            (approvals.c.requested_at.desc(), approvals.c.approval_id.desc())
            if newest_first
            else (approvals.c.requested_at, approvals.c.approval_id)
        )
        query = select(approvals.c.body).order_by(*order)
        if isinstance(status, str):
            query = query.where(approvals.c.status == status)
        elif status is not None:
            query = query.where(approvals.c.status.in_(tuple(status)))
        if conversation_id:
            query = query.where(approvals.c.conversation_id == conversation_id)
        by_body = customer_id is not None or decided_by is not None or tool is not None
        who = canonical_name(decided_by) if decided_by is not None else None
        found: builtins.list[ApprovalRequest] = []
        with self.db.read() as conn:
            rows = conn.execute(query if by_body else query.limit(limit))
            for row in rows:
                request = ApprovalRequest.model_validate_json(row.body)
                if by_body and not (
                    (customer_id is None or request.customer_id == customer_id)
                    and (tool is None or request.tool == tool)
                    and (
                        who is None
                        or any(canonical_name(d.principal) == who for d in request.decisions)
                    )
                ):
                    continue
                found.append(request)
                if len(found) >= limit:
                    break
        return found

    def overdue(self, now: float | None = None) -> Iterator[ApprovalRequest]:
        now = time.time() if now is None else now
        with self.db.read() as conn:
            rows = conn.execute(
                select(approvals.c.body).where(
                    approvals.c.status == "pending", approvals.c.expires_at <= now
                )
            ).all()
        for row in rows:
            yield ApprovalRequest.model_validate_json(row.body)

    def decide(
        self,
        approval_id: str,
        *,
        principal: Principal,
        decision: DecisionKind,
        policy: Policy,
        args: dict[str, Any] | None = None,
        comment: str | None = None,
        new_token: str | None = None,
        now: float | None = None,
        authenticated: bool = True,
        refreshed: dict[str, Any] | None = None,
        conn: Connection | None = None,
    ) -> ApprovalRequest:
        """Apply one decision atomically; raises ApprovalStale, NotAuthorized.

        ``args`` and ``new_token`` are required for ``edit`` (already validated against the
        tool's schema by the caller); ``refreshed`` holds what the caller recomputed for the
        edited arguments (any of :data:`REFRESHED_BY_EDIT`). With ``conn`` the decision
        joins the caller's transaction (to commit it with its audit event). Returns the
        updated request.
        """
        if conn is None:
            with self.db.begin() as own:
                return self.decide(
                    approval_id,
                    principal=principal,
                    decision=decision,
                    policy=policy,
                    args=args,
                    comment=comment,
                    new_token=new_token,
                    now=now,
                    authenticated=authenticated,
                    refreshed=refreshed,
                    conn=own,
                )

        now = time.time() if now is None else now
        row = conn.execute(
            select(approvals.c.body, approvals.c.version).where(
                approvals.c.approval_id == approval_id
            )
        ).first()
        if row is None:
            raise NotFound("approval", approval_id)
        request = ApprovalRequest.model_validate_json(row.body)
        can_decide(
            policy, principal, request, decision=decision, args=args, now=now
        ).raise_if_denied(approval_id, principal.name)
        record = Decision(
            principal=principal.name,
            decision=decision,
            args=args if decision == "edit" else None,
            comment=comment,
            at=now,
            authenticated=authenticated,
        )
        if decision == "reject":
            request.status = "rejected"
            request.decisions.append(record)
        elif decision == "edit":
            if args is None or new_token is None:
                raise ValueError("edit needs args and new_token")
            # An edit changes the action: approvals given for the old arguments lapse.
            request.decisions = [d for d in request.decisions if d.decision == "reject"]
            request.decisions.append(record)
            request.args = args
            request.token = new_token
            for name, value in (refreshed or {}).items():
                if name not in REFRESHED_BY_EDIT:
                    raise ValueError(f"an edit does not change {name}")
                setattr(request, name, value)
        else:
            request.decisions.append(record)
        if request.status == "pending" and len(request.approvers) >= request.approvals_needed:
            request.status = "approved"
        result = conn.execute(
            update(approvals)
            .where(approvals.c.approval_id == approval_id, approvals.c.version == row.version)
            .values(
                status=request.status,
                body=request.model_dump_json(),
                version=row.version + 1,
                updated_at=now,
            )
        )
        if result.rowcount != 1:
            raise ApprovalStale(approval_id, "another decision was recorded at the same time")
        return request

    def fail(
        self, approval_id: str, *, error: str, now: float, conn: Connection
    ) -> ApprovalRequest | None:
        """Mark an approved action whose execution failed or was refused as ``failed``,
        with the reason, in the caller's transaction (with its audit event). None when
        the request is not ``approved`` (already failed: a replayed step)."""
        row = conn.execute(
            select(approvals.c.body, approvals.c.version).where(
                approvals.c.approval_id == approval_id
            )
        ).first()
        if row is None:
            raise NotFound("approval", approval_id)
        request = ApprovalRequest.model_validate_json(row.body)
        if request.status != "approved":
            return None
        request.status = "failed"
        request.failure = error
        result = conn.execute(
            update(approvals)
            .where(approvals.c.approval_id == approval_id, approvals.c.version == row.version)
            .values(
                status="failed",
                body=request.model_dump_json(),
                version=row.version + 1,
                updated_at=now,
            )
        )
        if result.rowcount != 1:
            raise ApprovalStale(approval_id, "it changed while its failure was recorded")
        return request

    def status_counts(self) -> dict[str, tuple[int, float | None]]:
        """Per status: how many requests, and when the oldest of them was requested."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(
                    approvals.c.status, func.count(), func.min(approvals.c.requested_at)
                ).group_by(approvals.c.status)
            ).all()
        return {str(status): (int(count), earliest) for status, count, earliest in rows}

    def pending_fingerprint(self) -> tuple[Any, ...]:
        """Changes whenever a request joins or leaves the pending queue, or is decided:
        (how many pending, newest update, newest request)."""
        with self.db.read() as conn:
            row = conn.execute(
                select(
                    func.count(),
                    func.max(approvals.c.updated_at),
                    func.max(approvals.c.requested_at),
                ).where(approvals.c.status == "pending")
            ).first()
        return tuple(row) if row is not None else ()

    def stale(self, policy: Policy) -> builtins.list[ApprovalRequest]:
        """Pending requests evaluated under another policy than ``policy``."""
        return [r for r in self.list(status="pending", limit=100_000) if not r.bound_to(policy)]

    def expire(
        self,
        approval_id: str,
        *,
        now: float | None = None,
        status: Literal["expired", "superseded"] = "expired",
    ) -> ApprovalRequest | None:
        """Close a pending request nobody may decide any more (overdue, or evaluated under
        a policy no longer active); None if it was decided meanwhile."""
        now = time.time() if now is None else now
        with self.db.begin() as conn:
            row = conn.execute(
                select(approvals.c.body, approvals.c.version).where(
                    approvals.c.approval_id == approval_id
                )
            ).first()
            if row is None:
                raise NotFound("approval", approval_id)
            request = ApprovalRequest.model_validate_json(row.body)
            if request.status != "pending":
                return None
            request.status = status
            # Optimistic like decide(): on PostgreSQL a decision may commit between the read
            # and this update, and must not be overwritten by the expiry.
            result = conn.execute(
                update(approvals)
                .where(approvals.c.approval_id == approval_id, approvals.c.version == row.version)
                .values(
                    status=status,
                    body=request.model_dump_json(),
                    version=row.version + 1,
                    updated_at=now,
                )
            )
            if result.rowcount != 1:
                return None
        return request


def request_json(request: ApprovalRequest) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(request.model_dump_json())
    return data
