"""Policy proposals: a candidate policy reviewed by people before it decides anything.

A proposal holds the candidate (canonical JSON bound to its digest, like an approval is
bound to its action), the policy that was active when it was made (its *base*), the
author's comment and the impact report. Reviewers are named by the ACTIVE policy's
``governance.policy_changes`` (never by the candidate's: a proposal cannot lower its own
bar); a candidate that raises the number of reviewers needs the higher number already.
The author cannot review their own proposal, and each principal counts once.

Once approved, a proposal goes live at once, or first in *shadow* (the candidate decides
every live turn beside the active policy, without effect) or as a *rollout* to a share of
the conversations. Which conversations take part is :func:`in_rollout`: a hash of the
proposal and the conversation, compared with the share in force when the conversation
started, so a conversation keeps its policy for its whole life while the rollout runs.

Example:
    >>> bar = review_bar(active, candidate)
    >>> bar.approvers, bar.roles
    (2, ('risk', 'auditor'))
"""

from __future__ import annotations

import builtins
import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from govcx.errors import (
    Conflict,
    DuplicateApprover,
    GovcxError,
    InvalidInput,
    NotAuthorized,
    NotFound,
    ProposalTampered,
)
from govcx.governance.policy import Policy, parse_policy
from govcx.governance.principal import Principal, canonical_name
from govcx.store.db import Database, dumps
from govcx.store.schema import policy_proposals, policy_reviews, policy_rollouts, policy_shadow

Status = Literal["pending", "approved", "rejected", "shadow", "rollout", "active", "ended"]
"""``pending`` (waiting for reviews), ``approved``, ``rejected``, ``shadow`` and
``rollout`` (running beside the active policy), ``active`` (activated), ``ended`` (a
shadow or rollout stopped by another activation or a rollback, or an active proposal
rolled back)."""

ImpactStatus = Literal["none", "pending", "running", "done", "failed"]
"""Where a proposal's impact report stands: ``none`` (proposed without one: no impact
function configured, or before reports were tracked), ``pending`` (waiting for a server
worker), ``running`` (claimed by one), ``done`` (``impact`` holds it), ``failed``
(``impact_error`` says why; re-run it with :meth:`ProposalStore.rerun_impact`)."""
IMPACT_UNSETTLED: tuple[str, ...] = ("pending", "running")

LIVE: tuple[str, ...] = ("shadow", "rollout")
BUCKETS = 10_000
"""Conversations are hashed into this many buckets: a share is precise to 0.01%."""
DEFAULT_BAR_ROLES: tuple[str, ...] = ("admin",)
"""Who reviews a proposal when the active policy has no ``governance.policy_changes``:
one admin other than the author."""


@dataclass(frozen=True, kw_only=True)
class ReviewBar:
    """What approving a proposal takes: ``approvers`` distinct principals holding any of
    ``roles``, none of them the author."""

    approvers: int
    roles: tuple[str, ...]


def review_bar(active: Policy, candidate: Policy) -> ReviewBar:
    """The bar of a change from ``active`` to ``candidate``.

    The active policy's section decides the roles and the number; a candidate that asks
    for more reviewers (or introduces the section) needs that many already, so a change
    to the governance section is reviewed at least as strictly as it will be enforced.
    """
    current, wanted = active.policy_changes, candidate.policy_changes
    approvers = current.approvers if current is not None else 1
    roles = tuple(current.roles) if current is not None else DEFAULT_BAR_ROLES
    if wanted is not None:
        approvers = max(approvers, wanted.approvers)
    return ReviewBar(approvers=approvers, roles=roles)


def may_review(bar: ReviewBar, who: Principal, proposal: Proposal) -> None:
    """Raise NotAuthorized (or DuplicateApprover) unless ``who`` may review ``proposal``."""
    if who.is_channel:
        raise NotAuthorized(who.name, "a channel can never review a policy change")
    if canonical_name(who.name) == canonical_name(proposal.author):
        raise NotAuthorized(
            who.name,
            f"you wrote proposal {proposal.proposal_id}; the author of a policy change "
            "cannot review it (another reviewer must)",
        )
    if not any(who.has(role) for role in bar.roles):
        raise NotAuthorized(
            who.name,
            f"reviewing a policy change needs one of the roles {', '.join(bar.roles)} "
            "(governance.policy_changes.roles of the active policy)",
        )
    if any(canonical_name(r.principal) == canonical_name(who.name) for r in proposal.reviews):
        raise DuplicateApprover(
            who.name,
            f"you already reviewed proposal {proposal.proposal_id}; each reviewer counts once",
        )


def may_author(who: Principal, active: Policy) -> None:
    """Raise NotAuthorized unless ``who`` may propose a change: an admin or a reviewer."""
    roles = review_bar(active, active).roles
    if who.is_channel or not (who.has("admin") or any(who.has(r) for r in roles)):
        raise NotAuthorized(
            who.name,
            "proposing a policy change needs the admin role or a reviewer role "
            f"({', '.join(roles)})",
        )


def bucket(conversation_id: str, proposal_id: str) -> int:
    """The conversation's bucket for this proposal, in ``[0, BUCKETS)``: a hash, so the
    same conversation always lands in the same bucket, and another proposal's rollout
    takes a different (independent) sample."""
    material = f"{proposal_id}\x00{conversation_id}".encode()
    return int.from_bytes(hashlib.sha256(material).digest()[:8], "big") % BUCKETS


def in_rollout(conversation_id: str, proposal_id: str, share: int) -> bool:
    """Does the candidate of ``proposal_id`` decide ``conversation_id`` at ``share``
    percent? Monotone in ``share``: raising it only adds conversations."""
    return bucket(conversation_id, proposal_id) < share * (BUCKETS // 100)


@dataclass(frozen=True, kw_only=True)
class Review:
    principal: str
    decision: Literal["approve", "reject"]
    digest: str
    comment: str | None
    authenticated: bool
    at: float


@dataclass(frozen=True, kw_only=True)
class Proposal:
    proposal_id: str
    status: Status
    candidate: Policy
    base_version: str
    base_digest: str
    author: str
    comment: str | None
    impact: dict[str, Any] | None
    share: int | None
    created_at: float
    updated_at: float
    reviews: list[Review] = field(default_factory=list)
    impact_status: ImpactStatus = "none"
    impact_error: str | None = None
    impact_claimed_at: float | None = None
    """When a worker claimed the running report: the token of the compare-and-set."""
    impact_days: int | None = None

    @property
    def version(self) -> str:
        return self.candidate.version

    @property
    def digest(self) -> str:
        return self.candidate.digest

    @property
    def approvals(self) -> list[Review]:
        return [r for r in self.reviews if r.decision == "approve"]

    def view(self) -> dict[str, Any]:
        """As JSON data (the candidate itself under ``policy``)."""
        return {
            "proposal_id": self.proposal_id,
            "status": self.status,
            "version": self.version,
            "digest": self.digest,
            "base_version": self.base_version,
            "base_digest": self.base_digest,
            "author": self.author,
            "comment": self.comment,
            "share": self.share,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "reviews": [
                {
                    "principal": r.principal,
                    "decision": r.decision,
                    "comment": r.comment,
                    "authenticated": r.authenticated,
                    "at": r.at,
                }
                for r in self.reviews
            ],
            "impact": self.impact,
            "impact_status": self.impact_status,
            "impact_error": self.impact_error,
            "policy": self.candidate.model_dump(mode="json"),
        }


@dataclass(frozen=True, kw_only=True)
class ImpactClaim:
    """A proposal's report as a worker saw it: the compare-and-set token of a claim."""

    proposal_id: str
    status: str
    claimed_at: float | None


@dataclass(frozen=True, kw_only=True)
class Rollout:
    """The proposal running beside the active policy: its candidate, the mode, and the
    share history (``(since, share)``, oldest first) that pins each conversation."""

    seq: int
    proposal_id: str
    mode: Literal["shadow", "rollout"]
    share: int
    candidate: Policy
    history: tuple[tuple[float, int], ...] = ()

    def share_at(self, started: float) -> int:
        """The share in force when a conversation started at ``started`` (0 before the
        rollout began: a conversation already running keeps the active policy)."""
        share = 0
        for since, value in self.history:
            if since <= started:
                share = value
        return share

    def applies(self, conversation_id: str, started: float | None) -> bool:
        """Does the candidate decide this conversation? ``started`` None: it is new."""
        if self.mode != "rollout":
            return False
        share = self.share if started is None else self.share_at(started)
        return in_rollout(conversation_id, self.proposal_id, share)


class ProposalStore:
    """Proposals, reviews, the rollout state and the shadow differences in the database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- proposals ------------------------------------------------------------------------
    def create(
        self,
        *,
        proposal_id: str,
        candidate: Policy,
        base: Policy,
        author: str,
        comment: str | None,
        impact: dict[str, Any] | None,
        now: float,
        conn: Connection,
        impact_status: ImpactStatus | None = None,
        impact_days: int | None = None,
    ) -> None:
        """Store a new pending proposal; ``impact_status`` defaults to ``done`` with a
        report and ``none`` without (``pending``: a server worker computes it)."""
        if impact_status is None:
            impact_status = "done" if impact is not None else "none"
        conn.execute(
            insert(policy_proposals).values(
                proposal_id=proposal_id,
                status="pending",
                version=candidate.version,
                digest=candidate.digest,
                body=dumps(candidate.model_dump(mode="json")),
                base_version=base.version,
                base_digest=base.digest,
                author=author,
                comment=comment,
                impact=dumps(impact) if impact is not None else None,
                share=None,
                created_at=now,
                updated_at=now,
                impact_status=impact_status,
                impact_error=None,
                impact_claimed_at=None,
                impact_days=impact_days,
            )
        )

    def get(self, proposal_id: str, conn: Connection | None = None) -> Proposal:
        """The proposal, its candidate checked against the digest it was proposed with
        (and every review against it): raises ProposalTampered for an edited row."""
        if conn is None:
            with self.db.read() as own:
                return self.get(proposal_id, own)
        row = conn.execute(
            select(policy_proposals).where(policy_proposals.c.proposal_id == proposal_id)
        ).first()
        if row is None:
            raise NotFound("policy proposal", proposal_id, hint="list them: govcx policy proposals")
        reviews = conn.execute(
            select(policy_reviews)
            .where(policy_reviews.c.proposal_id == proposal_id)
            .order_by(policy_reviews.c.review_id)
        ).all()
        return _proposal(row, reviews)

    def list(self, *, status: str | None = None, limit: int = 100) -> builtins.list[Proposal]:
        with self.db.read() as conn:
            query = select(policy_proposals.c.proposal_id).order_by(
                policy_proposals.c.created_at.desc()
            )
            if status is not None:
                query = query.where(policy_proposals.c.status == status)
            ids = [r.proposal_id for r in conn.execute(query.limit(limit)).all()]
            out = []
            for pid in ids:
                try:
                    out.append(self.get(pid, conn))
                except ProposalTampered:
                    continue  # listed by `proposals`; never usable
            return out

    def ids(self) -> builtins.list[tuple[str, str]]:
        """(proposal_id, stored status) of every proposal, newest first, unverified."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(policy_proposals.c.proposal_id, policy_proposals.c.status).order_by(
                    policy_proposals.c.created_at.desc()
                )
            ).all()
        return [(r.proposal_id, r.status) for r in rows]

    def review(
        self,
        proposal_id: str,
        *,
        who: Principal,
        decision: Literal["approve", "reject"],
        comment: str | None,
        bar: ReviewBar,
        authenticated: bool,
        now: float,
        conn: Connection,
    ) -> Proposal:
        """Record one review and settle the status; ``conn`` is the caller's transaction
        (its audit event commits with it)."""
        _lock(conn, proposal_id)
        proposal = self.get(proposal_id, conn)
        if proposal.status != "pending":
            raise Conflict(
                f"proposal {proposal_id} is {proposal.status}; only a pending proposal "
                "can be reviewed"
            )
        may_review(bar, who, proposal)
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(policy_reviews).values(
                        proposal_id=proposal_id,
                        principal=canonical_name(who.name),
                        decision=decision,
                        digest=proposal.digest,
                        comment=comment,
                        authenticated=1 if authenticated else 0,
                        at=now,
                    )
                )
        except IntegrityError:
            raise DuplicateApprover(
                who.name, f"you already reviewed proposal {proposal_id}; each reviewer counts once"
            ) from None
        approvals = len(proposal.approvals) + (decision == "approve")
        status: Status = (
            "rejected"
            if decision == "reject"
            else "approved"
            if approvals >= bar.approvers
            else "pending"
        )
        self.set_status(proposal_id, status, now=now, conn=conn)
        if status == "rejected" and proposal.impact_status == "pending":
            # Not started, and now never will be (only a proposal pending review is
            # computed): say there is no report rather than one forever pending. A
            # report already running finishes, for the record.
            conn.execute(
                update(policy_proposals)
                .where(policy_proposals.c.proposal_id == proposal_id)
                .values(impact_status="none")
            )
        return self.get(proposal_id, conn)

    def set_status(
        self,
        proposal_id: str,
        status: Status,
        *,
        now: float,
        share: int | None = None,
        conn: Connection,
    ) -> None:
        values: dict[str, Any] = {"status": status, "updated_at": now}
        if share is not None:
            values["share"] = share
        conn.execute(
            update(policy_proposals)
            .where(policy_proposals.c.proposal_id == proposal_id)
            .values(**values)
        )

    def end_live(
        self, *, now: float, conn: Connection, keep: str | None = None
    ) -> builtins.list[str]:
        """Mark every shadow, rollout or active proposal (but ``keep``) as ended."""
        rows = conn.execute(
            select(policy_proposals.c.proposal_id).where(
                policy_proposals.c.status.in_(("shadow", "rollout", "active"))
            )
        ).all()
        ended = [r.proposal_id for r in rows if r.proposal_id != keep]
        for pid in ended:
            self.set_status(pid, "ended", now=now, conn=conn)
        return ended

    # -- impact reports -------------------------------------------------------------------
    def impact_due(
        self, *, now: float, lease: float, proposal_id: str | None = None
    ) -> builtins.list[ImpactClaim]:
        """The reports a worker should compute (of ``proposal_id`` only, if given), oldest
        proposal first: ``pending`` ones, and ``running`` ones claimed more than ``lease``
        seconds ago (their worker died or was killed). Only of proposals still waiting
        for reviews: a rejected proposal is never approved on its report, so minutes of
        replay would be spent for nobody."""
        table = policy_proposals
        query = (
            select(table.c.proposal_id, table.c.impact_status, table.c.impact_claimed_at)
            .where(table.c.status == "pending")
            .where(
                (table.c.impact_status == "pending")
                | (
                    (table.c.impact_status == "running")
                    & (
                        table.c.impact_claimed_at.is_(None)
                        | (table.c.impact_claimed_at < now - lease)
                    )
                )
            )
            .order_by(table.c.created_at)
        )
        if proposal_id is not None:
            query = query.where(table.c.proposal_id == proposal_id)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [
            ImpactClaim(
                proposal_id=r.proposal_id, status=r.impact_status, claimed_at=r.impact_claimed_at
            )
            for r in rows
        ]

    def claim_impact(self, seen: ImpactClaim, *, now: float) -> ImpactClaim | None:
        """Take the report of ``seen.proposal_id`` as it was seen, or None when another
        worker changed it since (claimed it, finished it, or a person re-ran it).

        A compare-and-set on (status, claimed_at): of several workers sharing the database
        that saw the same state, exactly one UPDATE matches. The returned claim is the
        token :meth:`finish_impact` needs."""
        table = policy_proposals
        with self.db.begin() as conn:
            result = conn.execute(
                update(table)
                .where(*_as_seen(seen))
                .values(impact_status="running", impact_claimed_at=now, impact_error=None)
            )
        if result.rowcount != 1:
            return None
        return ImpactClaim(proposal_id=seen.proposal_id, status="running", claimed_at=now)

    def finish_impact(
        self,
        claim: ImpactClaim,
        *,
        report: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> bool:
        """Store the report (``done``) or the error (``failed``) of a claimed report; False
        when the claim was lost meanwhile (taken over after the lease): the result is
        dropped, the newer claim stores its own."""
        table = policy_proposals
        values: dict[str, Any] = (
            {"impact_status": "failed", "impact_error": error or "the impact report failed"}
            if report is None
            else {"impact_status": "done", "impact": dumps(report), "impact_error": None}
        )
        with self.db.begin() as conn:
            result = conn.execute(
                update(table).where(*_as_seen(claim)).values(impact_claimed_at=None, **values)
            )
        return bool(result.rowcount == 1)

    def renew_impact(self, claim: ImpactClaim, *, now: float) -> ImpactClaim | None:
        """Extend a claim that is still held (a heartbeat of a report that runs long):
        the new token, or None when the claim was lost (taken over after the lease)."""
        table = policy_proposals
        with self.db.begin() as conn:
            result = conn.execute(
                update(table).where(*_as_seen(claim)).values(impact_claimed_at=now)
            )
        if result.rowcount != 1:
            return None
        return ImpactClaim(proposal_id=claim.proposal_id, status="running", claimed_at=now)

    def rerun_impact(self, proposal_id: str, *, conn: Connection) -> bool:
        """Set a ``failed`` report back to ``pending``; False when it is not failed."""
        table = policy_proposals
        result = conn.execute(
            update(table)
            .where(table.c.proposal_id == proposal_id, table.c.impact_status == "failed")
            .values(impact_status="pending", impact_error=None, impact_claimed_at=None)
        )
        return bool(result.rowcount == 1)

    # -- rollout state --------------------------------------------------------------------
    def rollout_seq(self) -> int:
        with self.db.read() as conn:
            value = conn.execute(select(func.max(policy_rollouts.c.seq))).scalar()
        return int(value or 0)

    def set_rollout(
        self,
        proposal_id: str | None,
        *,
        mode: Literal["shadow", "rollout", "off"],
        share: int,
        actor: str,
        now: float,
        conn: Connection,
    ) -> None:
        conn.execute(
            insert(policy_rollouts).values(
                proposal_id=proposal_id, mode=mode, share=share, actor=actor, at=now
            )
        )

    def rollout(self, conn: Connection | None = None) -> Rollout | None:
        """The proposal running beside the active policy, or None."""
        if conn is None:
            with self.db.read() as own:
                return self.rollout(own)
        rows = conn.execute(select(policy_rollouts).order_by(policy_rollouts.c.seq.desc())).all()
        if not rows or rows[0].mode == "off" or rows[0].proposal_id is None:
            return None
        newest = rows[0]
        history: builtins.list[tuple[float, int]] = []
        for row in rows:  # newest first: this proposal's rows since it last started
            if row.proposal_id != newest.proposal_id or row.mode == "off":
                break
            if row.mode == "rollout":
                history.append((row.at, row.share))
        candidate = self.get(newest.proposal_id, conn).candidate
        return Rollout(
            seq=newest.seq,
            proposal_id=newest.proposal_id,
            mode=newest.mode,
            share=newest.share,
            candidate=candidate,
            history=tuple(reversed(history)),
        )

    # -- shadow ---------------------------------------------------------------------------
    def record_shadow(
        self,
        *,
        proposal_id: str,
        conversation_id: str,
        turn_id: str,
        workflow: str | None,
        active: tuple[str, builtins.list[str]],
        candidate: tuple[str, builtins.list[str]],
        now: float,
    ) -> None:
        """One live turn decided by both gates; a replayed gate (crash recovery) records
        nothing twice."""
        try:
            with self.db.begin() as conn:
                conn.execute(
                    insert(policy_shadow).values(
                        proposal_id=proposal_id,
                        conversation_id=conversation_id,
                        turn_id=turn_id,
                        workflow=workflow,
                        active_route=active[0],
                        candidate_route=candidate[0],
                        change=classify(active[0], candidate[0], active[1], candidate[1]),
                        rules=json.dumps({"active": active[1], "candidate": candidate[1]}),
                        at=now,
                    )
                )
        except IntegrityError:
            return

    def shadow_report(self, proposal_id: str, *, examples: int = 5) -> dict[str, Any]:
        """What the candidate would have decided differently on live turns."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(policy_shadow)
                .where(policy_shadow.c.proposal_id == proposal_id)
                .order_by(policy_shadow.c.id)
            ).all()
        by_change: Counter[str] = Counter()
        by_workflow: dict[str, Counter[str]] = defaultdict(Counter)
        by_rule: dict[str, Counter[str]] = defaultdict(Counter)
        shown: builtins.list[dict[str, Any]] = []
        for row in rows:
            if row.change is None:
                continue
            rules = json.loads(row.rules)
            by_change[row.change] += 1
            by_workflow[row.workflow or "(none)"][row.change] += 1
            for rule in sorted(set(rules["active"]) ^ set(rules["candidate"])) or ["(route)"]:
                by_rule[rule][row.change] += 1
            if len(shown) < examples:
                shown.append(
                    {
                        "conversation_id": row.conversation_id,
                        "turn_id": row.turn_id,
                        "workflow": row.workflow,
                        "change": row.change,
                        "active": {"route": row.active_route, "rules": rules["active"]},
                        "candidate": {"route": row.candidate_route, "rules": rules["candidate"]},
                        "at": row.at,
                    }
                )
        return {
            "proposal_id": proposal_id,
            "turns": len(rows),
            "changed": sum(by_change.values()),
            "by_change": dict(sorted(by_change.items())),
            "by_workflow": {w: dict(sorted(c.items())) for w, c in sorted(by_workflow.items())},
            "by_rule": {r: dict(sorted(c.items())) for r, c in sorted(by_rule.items())},
            "examples": shown,
        }


def classify(
    old_route: str | None,
    new_route: str | None,
    old_rules: list[str] | None = None,
    new_rules: list[str] | None = None,
) -> str | None:
    """How a decision changes between two policies, as a risk owner reads it:
    ``newly autonomous`` (a person was needed, now the AI answers or acts), ``newly
    gated`` (now waits for an approval), ``newly escalated``, ``newly blocked``, ``rules
    changed`` (same route, other rules); None when nothing changed."""
    people = ("await_approval", "escalate", "block")
    if old_route != new_route:
        if new_route == "await_approval":
            return "newly gated"
        if new_route == "escalate":
            return "newly escalated"
        if new_route == "block":
            return "newly blocked"
        if old_route in people:
            return "newly autonomous"
        return "route changed"
    if set(old_rules or []) != set(new_rules or []):
        return "rules changed"
    return None


def check_share(share: int) -> int:
    if isinstance(share, bool) or not isinstance(share, int) or not 1 <= share <= 100:
        raise InvalidInput(
            f"share {share!r} is not valid; use a whole percentage from 1 to 100 "
            "(100 activates the proposal)",
            details={"field": "share"},
        )
    return share


def _lock(conn: Connection, proposal_id: str) -> None:
    """Serialise reviews of one proposal (SQLite's write transactions already are)."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            select(policy_proposals.c.proposal_id)
            .where(policy_proposals.c.proposal_id == proposal_id)
            .with_for_update()
        )


def _as_seen(claim: ImpactClaim) -> tuple[Any, ...]:
    """The compare-and-set guard: the report is still as ``claim`` saw (or left) it."""
    table = policy_proposals
    return (
        table.c.proposal_id == claim.proposal_id,
        table.c.impact_status == claim.status,
        _same(table.c.impact_claimed_at, claim.claimed_at),
    )


def _same(column: Any, value: float | None) -> Any:
    """``column = value``, where None matches NULL (SQL's ``=`` never does)."""
    return column.is_(None) if value is None else column == value


def _proposal(row: Any, reviews: Sequence[Any]) -> Proposal:
    where = f"policy_proposals[{row.proposal_id}]"
    try:
        candidate = parse_policy(json.loads(row.body), file=where)
    except (ValueError, GovcxError) as exc:
        raise ProposalTampered(
            row.proposal_id, f"its stored candidate does not parse ({exc})"
        ) from None
    if candidate.digest != row.digest or candidate.version != row.version:
        raise ProposalTampered(
            row.proposal_id,
            "its stored candidate does not match the digest it was proposed with "
            f"({row.digest[:12]}, now {candidate.digest[:12]})",
        )
    for review in reviews:
        if review.digest != row.digest:
            raise ProposalTampered(
                row.proposal_id, f"the review by {review.principal} was of other content"
            )
    return Proposal(
        proposal_id=row.proposal_id,
        status=row.status,
        candidate=candidate,
        base_version=row.base_version,
        base_digest=row.base_digest,
        author=row.author,
        comment=row.comment,
        impact=json.loads(row.impact) if row.impact else None,
        share=row.share,
        created_at=row.created_at,
        updated_at=row.updated_at,
        impact_status=row.impact_status or ("done" if row.impact else "none"),
        impact_error=row.impact_error,
        impact_claimed_at=row.impact_claimed_at,
        impact_days=row.impact_days,
        reviews=[
            Review(
                principal=r.principal,
                decision=r.decision,
                digest=r.digest,
                comment=r.comment,
                authenticated=bool(r.authenticated),
                at=r.at,
            )
            for r in reviews
        ],
    )
