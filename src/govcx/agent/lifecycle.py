"""The policy lifecycle on an Agent: propose, review, shadow, roll out, activate, roll back.

Every state change commits with its audit event (``policy.proposed``, ``policy.reviewed``,
``policy.shadow_started``, ``policy.rollout``, ``policy.activated``,
``policy.rolled_back``). The rules of who may review live in
:mod:`govcx.governance.proposals`; activation goes through :meth:`Agent.set_policy`, the
one place a policy becomes active (it also ends any shadow or rollout and supersedes the
pending approvals of another policy).

Who may do what: a proposal is written by an admin or a reviewer; reviewed by the
reviewers the ACTIVE policy names (never the author; each once); shadow, rollout,
activation and rollback are an admin's (the reviewed content is what goes live: an
approved proposal cannot be changed, only proposed again).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Protocol

from sqlalchemy import Connection

from govcx.errors import (
    Conflict,
    ImpactNotReady,
    InvalidInput,
    NotAuthorized,
    NotFound,
    PolicyGoverned,
)
from govcx.governance.audit import AuditLog
from govcx.governance.policy import Policy, diff_policies
from govcx.governance.policy_store import PolicyStore
from govcx.governance.principal import Principal, canonical_name
from govcx.governance.proposals import (
    IMPACT_UNSETTLED,
    Proposal,
    ProposalStore,
    Rollout,
    check_share,
    may_author,
    review_bar,
)
from govcx.guardrails.guard import Guard
from govcx.pack import Pack, cross_check
from govcx.store.conversation import new_id
from govcx.store.db import Database

MAX_COMMENT = 2000


class Agent(Protocol):
    """What the lifecycle uses of :class:`govcx.agent.agent.Agent` (which owns one)."""

    db: Database
    pack: Pack
    audit: AuditLog
    policies: PolicyStore
    proposals: ProposalStore
    guard: Guard
    clock: Callable[[], float]

    @property
    def policy(self) -> Policy: ...

    @property
    def rollout(self) -> Rollout | None: ...

    def sync_policy(self) -> Policy: ...

    def set_policy(
        self,
        policy: Policy,
        *,
        actor: str,
        source: str = ...,
        supersede: bool = ...,
        also: Callable[[Any], None] | None = ...,
    ) -> bool: ...

    def supersede_stale(self) -> Any: ...


class PolicyLifecycle:
    """What the CLI and the HTTP API call; principals are already authenticated."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    # -- direct changes -------------------------------------------------------------------
    def check_direct_change(self) -> None:
        """Raise PolicyGoverned when the active policy requires reviewed proposals."""
        policy = self.agent.sync_policy()
        changes = policy.policy_changes
        if changes is not None:
            raise PolicyGoverned(policy.version, changes.approvers, list(changes.roles))

    # -- proposing ------------------------------------------------------------------------
    def precheck(self, candidate: Policy, *, author: Principal) -> None:
        """What :meth:`propose` refuses, checked before the (slow) impact report runs."""
        active = self.agent.sync_policy()
        may_author(author, active)
        if candidate.digest == active.digest:
            raise Conflict(
                f"the candidate is the active policy {active.version} (same content); "
                "there is nothing to propose"
            )
        self.agent.policies.check_version(candidate, source="the candidate")
        cross_check(candidate, "the candidate", self.agent.pack.registry)

    def propose(
        self,
        candidate: Policy,
        *,
        author: Principal,
        comment: str | None = None,
        impact: dict[str, Any] | None = None,
        authenticated: bool = True,
        impact_pending: bool = False,
        impact_days: int | None = None,
    ) -> Proposal:
        """Record ``candidate`` (already validated and cross-checked) as a proposal.

        Its version is registered at once, so it names this content forever; proposing
        the active policy again, or other content under a known version, is refused.

        ``impact`` is a report computed beforehand (the CLI); ``impact_pending`` records
        none yet but marks it ``pending`` for a server worker to compute (replaying
        ``impact_days`` of conversations), so the proposal is stored at once and cannot
        be approved before its report is there."""
        agent = self.agent
        active = agent.sync_policy()
        self.precheck(candidate, author=author)
        comment = _comment(comment, agent)
        proposal_id = new_id("prop")
        now = agent.clock()
        with agent.db.begin() as conn:
            agent.policies.register(
                candidate, actor=author.name, source=f"proposal {proposal_id}", conn=conn
            )
            agent.proposals.create(
                proposal_id=proposal_id,
                candidate=candidate,
                base=active,
                author=author.name,
                comment=comment,
                impact=impact,
                now=now,
                conn=conn,
                impact_status="pending" if impact_pending and impact is None else None,
                impact_days=impact_days,
            )
            bar = review_bar(active, candidate)
            self._audit(
                conn,
                "policy.proposed",
                author.name,
                candidate,
                {
                    "proposal_id": proposal_id,
                    "base_version": active.version,
                    "base_digest": active.digest,
                    "comment": comment,
                    "changes": len(diff_policies(active, candidate)),
                    "approvers_needed": bar.approvers,
                    "reviewer_roles": list(bar.roles),
                    "authenticated": authenticated,
                },
            )
        return agent.proposals.get(proposal_id)

    def rerun_impact(
        self, proposal_id: str, *, who: Principal, authenticated: bool = True
    ) -> Proposal:
        """Set a failed impact report back to ``pending``, for a server worker to compute
        again. Its author or an admin may; only a pending proposal's report is re-run
        (a decided one is never approved on it)."""
        agent = self.agent
        proposal = agent.proposals.get(proposal_id)
        if who.is_channel or not (
            who.has("admin") or canonical_name(who.name) == canonical_name(proposal.author)
        ):
            raise NotAuthorized(
                who.name,
                f"only the author of proposal {proposal_id} or an admin may re-run "
                "its impact report",
            )
        if proposal.status != "pending":
            raise Conflict(
                f"proposal {proposal_id} is {proposal.status}; only a pending proposal's "
                "impact report is re-run"
            )
        with agent.db.begin() as conn:
            if not agent.proposals.rerun_impact(proposal_id, conn=conn):
                current = agent.proposals.get(proposal_id, conn)
                raise Conflict(
                    f"the impact report of proposal {proposal_id} is {current.impact_status}; "
                    "only a failed report is re-run"
                )
            self._audit(
                conn,
                "policy.impact_rerun",
                who.name,
                proposal.candidate,
                {
                    "proposal_id": proposal_id,
                    "error": proposal.impact_error,
                    "authenticated": authenticated,
                },
            )
        return agent.proposals.get(proposal_id)

    def diff(self, proposal: Proposal) -> list[dict[str, Any]]:
        """The candidate against the policy it was proposed over (its base)."""
        try:
            base = self.agent.policies.load(proposal.base_version)
        except NotFound:
            base = self.agent.policy
        return diff_policies(base, proposal.candidate)

    # -- reviewing ------------------------------------------------------------------------
    def review(
        self,
        proposal_id: str,
        *,
        who: Principal,
        decision: Literal["approve", "reject"],
        comment: str | None = None,
        authenticated: bool = True,
    ) -> Proposal:
        if decision not in ("approve", "reject"):
            raise InvalidInput(
                f"decision {decision!r} is not valid; use approve or reject",
                details={"field": "decision"},
            )
        agent = self.agent
        active = agent.sync_policy()
        comment = _comment(comment, agent)
        now = agent.clock()
        with agent.db.begin() as conn:
            proposal = agent.proposals.get(proposal_id, conn)
            self._check_base(proposal, active)
            if decision == "approve" and (
                proposal.impact_status in IMPACT_UNSETTLED or proposal.impact_status == "failed"
            ):
                # The report is what a reviewer approves on; rejecting needs none.
                raise ImpactNotReady(proposal_id, proposal.impact_status, proposal.impact_error)
            bar = review_bar(active, proposal.candidate)
            updated = agent.proposals.review(
                proposal_id,
                who=who,
                decision=decision,
                comment=comment,
                bar=bar,
                authenticated=authenticated,
                now=now,
                conn=conn,
            )
            self._audit(
                conn,
                "policy.reviewed",
                who.name,
                proposal.candidate,
                {
                    "proposal_id": proposal_id,
                    "decision": decision,
                    "comment": comment,
                    "status": updated.status,
                    "approvals": len(updated.approvals),
                    "approvals_needed": bar.approvers,
                    "authenticated": authenticated,
                },
            )
        return updated

    # -- going live -----------------------------------------------------------------------
    def shadow(self, proposal_id: str, *, who: Principal) -> Proposal:
        """Run the candidate beside the active policy on every live turn, without effect."""
        proposal = self._ready(proposal_id, who, ("approved",), "run in shadow")
        self._go_live(proposal, who, mode="shadow", share=0, kind="policy.shadow_started")
        return self.agent.proposals.get(proposal_id)

    def rollout(
        self, proposal_id: str, *, who: Principal, share: int, supersede: bool = True
    ) -> Proposal:
        """Let the candidate decide ``share`` percent of the conversations (100: activate).

        A conversation's policy is fixed by the share in force when it started, so while
        the rollout runs a conversation never changes policy (raising or lowering the
        share applies to conversations that start afterwards)."""
        check_share(share)
        if share == 100:
            return self.activate(proposal_id, who=who, supersede=supersede)
        proposal = self._ready(
            proposal_id, who, ("approved", "shadow", "rollout"), f"roll out to {share}%"
        )
        self._go_live(proposal, who, mode="rollout", share=share, kind="policy.rollout")
        return self.agent.proposals.get(proposal_id)

    def activate(self, proposal_id: str, *, who: Principal, supersede: bool = True) -> Proposal:
        """Make the candidate the active policy for every conversation."""
        agent = self.agent
        proposal = self._ready(proposal_id, who, ("approved", "shadow", "rollout"), "activate")
        now = agent.clock()

        def bookkeeping(conn: Connection) -> None:
            agent.proposals.end_live(now=now, conn=conn, keep=proposal_id)
            agent.proposals.set_status(proposal_id, "active", now=now, share=100, conn=conn)

        changed = agent.set_policy(
            proposal.candidate,
            actor=who.name,
            source=f"proposal {proposal_id}",
            also=bookkeeping,
            supersede=supersede,
        )
        if not changed:  # the candidate became active meanwhile (another admin)
            with agent.db.begin() as conn:
                bookkeeping(conn)
        return agent.proposals.get(proposal_id)

    def rollback(
        self, version: str | None = None, *, who: Principal, supersede: bool = True
    ) -> dict[str, Any]:
        """Return to an earlier policy in one step, ending any shadow or rollout.

        Without ``version``: a running shadow or rollout is stopped (every conversation
        is back on the active policy); with none running, the policy active before the
        current one is activated again. ``version`` must have been active before: a
        rollback restores what was once live, it never activates unreviewed content."""
        agent = self.agent
        _admin(who, "roll back the policy")
        current = agent.sync_policy()
        rollout = agent.rollout
        now = agent.clock()
        if version is None and rollout is not None:
            with agent.db.begin() as conn:
                agent.proposals.set_rollout(
                    None, mode="off", share=0, actor=who.name, now=now, conn=conn
                )
                agent.proposals.end_live(now=now, conn=conn)
                self._audit(
                    conn,
                    "policy.rolled_back",
                    who.name,
                    current,
                    {
                        "version": current.version,
                        "ended_proposal": rollout.proposal_id,
                        "ended_mode": rollout.mode,
                    },
                )
            agent.sync_policy()
            if supersede:
                agent.supersede_stale()
            return {"version": current.version, "ended_proposal": rollout.proposal_id}
        history = agent.policies.history(limit=10_000)
        earlier = [a for a in history if a.digest != current.digest]
        if version is None:
            if not earlier:
                raise Conflict(
                    f"policy {current.version} is the only policy ever active here; "
                    "there is nothing to roll back to"
                )
            version = earlier[0].version
        elif version == current.version:
            raise Conflict(f"policy {version} is already active")
        elif not any(a.version == version for a in history):
            versions = ", ".join(dict.fromkeys(a.version for a in earlier)) or "none"
            raise InvalidInput(
                f"policy {version} was never active here, so it cannot be rolled back "
                f"to (propose it instead); earlier versions: {versions}",
                details={"field": "version"},
            )
        target = agent.policies.load(version)
        ended = rollout.proposal_id if rollout is not None else None

        def bookkeeping(conn: Connection) -> None:
            agent.proposals.end_live(now=now, conn=conn)
            self._audit(
                conn,
                "policy.rolled_back",
                who.name,
                target,
                {
                    "from_version": current.version,
                    "version": target.version,
                    "ended_proposal": ended,
                },
            )

        agent.set_policy(
            target, actor=who.name, source="rollback", also=bookkeeping, supersede=supersede
        )
        return {"version": target.version, "from_version": current.version, "ended_proposal": ended}

    def shadow_report(self, proposal_id: str) -> dict[str, Any]:
        proposal = self.agent.proposals.get(proposal_id)
        report = self.agent.proposals.shadow_report(proposal_id)
        report["status"] = proposal.status
        report["version"] = proposal.version
        report["base_version"] = proposal.base_version
        return report

    # -- helpers ----------------------------------------------------------------------------
    def _ready(
        self, proposal_id: str, who: Principal, statuses: tuple[str, ...], doing: str
    ) -> Proposal:
        _admin(who, doing)
        agent = self.agent
        active = agent.sync_policy()
        proposal = agent.proposals.get(proposal_id)  # ProposalTampered for an edited row
        if proposal.status not in statuses:
            hint = {
                "pending": f"it has {len(proposal.approvals)} approval(s) and needs "
                f"{review_bar(active, proposal.candidate).approvers}",
                "rejected": "it was rejected",
            }.get(proposal.status, f"it is {proposal.status}")
            raise Conflict(f"proposal {proposal_id} cannot {doing}: {hint}")
        self._check_base(proposal, active)
        return proposal

    def _check_base(self, proposal: Proposal, active: Policy) -> None:
        """A proposal was reviewed as a change of its base: once another policy is active,
        its diff and impact report describe another change, so it must be proposed again."""
        if proposal.base_digest != active.digest and proposal.digest != active.digest:
            raise Conflict(
                f"proposal {proposal.proposal_id} changes policy {proposal.base_version}, "
                f"but {active.version} is active now; propose it again against the "
                "active policy"
            )

    def _go_live(
        self,
        proposal: Proposal,
        who: Principal,
        *,
        mode: Literal["shadow", "rollout"],
        share: int,
        kind: str,
    ) -> None:
        agent = self.agent
        now = agent.clock()
        previous = agent.rollout
        with agent.db.begin() as conn:
            agent.proposals.end_live(now=now, conn=conn, keep=proposal.proposal_id)
            agent.proposals.set_rollout(
                proposal.proposal_id, mode=mode, share=share, actor=who.name, now=now, conn=conn
            )
            agent.proposals.set_status(
                proposal.proposal_id, mode, now=now, share=share or None, conn=conn
            )
            self._audit(
                conn,
                kind,
                who.name,
                proposal.candidate,
                {
                    "proposal_id": proposal.proposal_id,
                    "mode": mode,
                    "share": share,
                    "active_version": agent.policy.version,
                    "previous": (
                        {"proposal_id": previous.proposal_id, "mode": previous.mode}
                        if previous is not None
                        else None
                    ),
                },
            )
        agent.sync_policy()

    def _audit(
        self, conn: Connection, kind: str, actor: str, policy: Policy, data: dict[str, Any]
    ) -> None:
        self.agent.audit.append_many(
            [
                {
                    "kind": kind,
                    "actor": actor,
                    "policy_version": policy.version,
                    "policy_digest": policy.digest,
                    "data": data,
                }
            ],
            conn=conn,
        )


def _admin(who: Principal, doing: str) -> None:
    if who.is_channel or not who.has("admin"):
        raise NotAuthorized(who.name, f"only an admin may {doing}")


def _comment(comment: str | None, agent: Agent) -> str | None:
    if comment is None:
        return None
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(
            f"the comment is {len(comment)} characters; the limit is {MAX_COMMENT}",
            details={"field": "comment"},
        )
    return agent.guard.redact(comment)
