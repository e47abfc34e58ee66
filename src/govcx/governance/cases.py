"""Cases: the human side of an escalated conversation, and who answers the customer.

A conversation is always answered by exactly one side (``conversations.control``)::

    ai ─escalate→ waiting ─claim/assign→ human ─hand back→ ai
                     └──────────────────────┴──resolve→ resolved (the next message: ai)

Every escalation opens a case (or joins the conversation's open one): team, priority and
tags from the policy's ``routing``, SLA deadlines from its ``sla``, and a hand-off
summary. While a case is ``waiting`` or ``human`` the AI never replies to the customer
(``graphs.nodes.with_human``). Each transition is one transaction: the case row (a
compare-and-set on its version, so two people racing for one case change it once), the
conversation's control, the transcript line of a reply, and the audit event.

Who may work a case is :func:`may_work`, the one rule the API, the CLI and the store
share: a principal with the ``agent`` role in the case's team, or an admin; never a
channel.
"""

from __future__ import annotations

import builtins
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, func, insert, or_, select, update

from govcx.errors import Conflict, InvalidInput, NotAuthorized, NotFound
from govcx.governance.audit import AuditLog
from govcx.governance.policy import PRIORITIES, Policy
from govcx.governance.principal import Principal
from govcx.governance.routing import Route, deadlines
from govcx.store.conversation import new_id
from govcx.store.db import Database, dumps
from govcx.store.schema import case_events, cases, conversations, messages

CaseStatus = Literal["waiting", "human", "handed_back", "resolved"]
OPEN: tuple[str, ...] = ("waiting", "human")
_SELF = "AGENTSELF"
"""Stands in for a reply's author while it is redacted (see CaseStore._redact_reply)."""
MAX_TEXT = 8000

# Webhook and event types of the transitions (also the audit kinds, as ``case.*``).
ESCALATED = "conversation.escalated"
ASSIGNED = "conversation.assigned"
HUMAN_REPLY = "conversation.human_reply"
HANDED_BACK = "conversation.handed_back"
RESOLVED = "conversation.resolved"
SLA_BREACHED = "conversation.sla_breached"
ACTIONS = ("claim", "assign", "reply", "note", "hand_back", "resolve")
CASE_EVENT_TYPES = (ESCALATED, ASSIGNED, HUMAN_REPLY, HANDED_BACK, RESOLVED, SLA_BREACHED)


@dataclass(frozen=True, kw_only=True)
class Case:
    case_id: str
    conversation_id: str
    turn_id: str
    status: str
    team: str | None
    priority: str
    tags: list[str]
    assignee: str | None
    customer_id: str | None
    reason: str
    summary: dict[str, Any]
    first_response_due: float | None
    resolution_due: float | None
    first_response_at: float | None
    closed_at: float | None
    breached: list[str]
    policy_version: str | None
    version: int
    created_at: float
    updated_at: float

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def next_due(self) -> float | None:
        """The earliest deadline still to meet (None: none left, or no SLA)."""
        if not self.is_open:
            return None
        due = [self.resolution_due]
        if self.first_response_at is None:
            due.append(self.first_response_due)
        known = [d for d in due if d is not None]
        return min(known) if known else None

    def as_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["next_due"] = self.next_due()
        return data

    @classmethod
    def of(cls, row: Any) -> Case:
        data = dict(row._mapping)
        data["tags"] = json.loads(data["tags"])
        data["summary"] = json.loads(data["summary"])
        data["breached"] = json.loads(data["breached"])
        return cls(**data)


@dataclass(frozen=True, kw_only=True)
class Transition:
    """What a change did, for the caller to announce (webhook type, data)."""

    case: Case
    event_type: str | None
    data: dict[str, Any] = field(default_factory=dict)


def may_work(
    principal: Principal, case: Case | None = None, *, team: str | None = None
) -> str | None:
    """None if ``principal`` may work ``case`` (or cases of ``team``), else why not."""
    if principal.acts_for_customers:
        kind = "channel" if principal.is_channel else "mcp principal (tool client)"
        return f"a {kind} speaks for customers and can never work their cases"
    if principal.has("admin"):
        return None
    if not principal.has("agent"):
        return f"{principal.name} does not hold the role agent"
    wanted = case.team if case is not None else team
    if wanted is None:
        return None if principal.teams else f"{principal.name} belongs to no team"
    if wanted not in principal.teams:
        mine = ", ".join(sorted(principal.teams)) or "none"
        return f"the case belongs to team {wanted}; {principal.name}'s teams: {mine}"
    return None


def check_text(text: Any, what: str = "text") -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"{what} must be a non-empty string", details={"field": what})
    if len(text) > MAX_TEXT:
        raise InvalidInput(
            f"{what} is {len(text)} characters; the limit is {MAX_TEXT}",
            details={"field": what, "limit": MAX_TEXT},
        )
    return text.strip()


class CaseStore:
    """Cases and their transitions, each one audited in the same transaction."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        *,
        clock: Callable[[], float] = time.time,
        redact: Callable[[str], str] = lambda text: text,
    ) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self.redact = redact
        """Applied to what people write before it is stored (transcript, notes, audit)."""

    # -- reading --------------------------------------------------------------------------
    def get(self, case_id: str, *, conn: Connection | None = None) -> Case:
        query = select(cases).where(cases.c.case_id == case_id)
        if conn is not None:
            row = conn.execute(query).first()
        else:
            with self.db.read() as own:
                row = own.execute(query).first()
        if row is None:
            raise NotFound("case", case_id, hint="list cases with `govcx cases list`")
        return Case.of(row)

    def open_for(self, conversation_id: str, *, conn: Connection | None = None) -> Case | None:
        """The conversation's open case (waiting or human), if any."""
        query = (
            select(cases)
            .where(cases.c.conversation_id == conversation_id, cases.c.status.in_(OPEN))
            .order_by(cases.c.created_at.desc())
        )
        if conn is not None:
            row = conn.execute(query).first()
        else:
            with self.db.read() as own:
                row = own.execute(query).first()
        return Case.of(row) if row else None

    def list(
        self,
        *,
        status: str | None = None,
        teams: list[str] | None = None,
        priority: str | None = None,
        assignee: str | None = None,
        customer_id: str | None = None,
        conversation_id: str | None = None,
        limit: int = 200,
    ) -> builtins.list[Case]:
        """Cases, the most urgent first: open ones by their next deadline (no SLA last),
        then by priority and age; closed ones most recently closed first."""
        query = select(cases)
        if status == "open":
            query = query.where(cases.c.status.in_(OPEN))
        elif status == "closed":
            query = query.where(cases.c.status.not_in(OPEN))
        elif status:
            query = query.where(cases.c.status == status)
        if teams is not None:
            query = query.where(cases.c.team.in_(teams))
        if priority:
            query = query.where(cases.c.priority == priority)
        if assignee:
            query = query.where(func.lower(cases.c.assignee) == assignee.strip().casefold())
        if customer_id:
            query = query.where(cases.c.customer_id == customer_id)
        if conversation_id:
            query = query.where(cases.c.conversation_id == conversation_id)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(cases.c.created_at.desc()).limit(limit)).all()
        found = [Case.of(r) for r in rows]
        rank = {p: i for i, p in enumerate(PRIORITIES)}
        return sorted(
            found,
            key=lambda c: (
                not c.is_open,
                c.next_due() if c.next_due() is not None else float("inf"),
                rank.get(c.priority, len(rank)),
                c.created_at if c.is_open else -(c.closed_at or c.updated_at),
            ),
        )

    def events(self, case_id: str) -> builtins.list[dict[str, Any]]:
        """Claims, replies, notes and hand-backs of a case, oldest first (internal)."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(case_events)
                .where(case_events.c.case_id == case_id)
                .order_by(case_events.c.event_id)
            ).all()
        return [
            {
                "kind": r.kind,
                "actor": r.actor,
                "text": r.text,
                "data": json.loads(r.data) if r.data else None,
                "at": r.at,
            }
            for r in rows
        ]

    def counts(self) -> dict[tuple[str, str, str], int]:
        """Open cases by (status, team, priority), for metrics."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(cases.c.status, cases.c.team, cases.c.priority, func.count())
                .where(cases.c.status.in_(OPEN))
                .group_by(cases.c.status, cases.c.team, cases.c.priority)
            ).all()
        return {(s, t or "", p): int(n) for s, t, p, n in rows}

    def fingerprint(self) -> tuple[Any, ...]:
        """Changes whenever any case changes (for live console updates): every change
        bumps a case's version, so the sum moves even when the clock has not."""
        with self.db.read() as conn:
            row = conn.execute(
                select(func.count(), func.max(cases.c.updated_at), func.sum(cases.c.version))
            ).first()
        return tuple(row) if row else ()

    # -- opening --------------------------------------------------------------------------
    def open(
        self,
        conn: Connection,
        *,
        conversation_id: str,
        turn_id: str,
        customer_id: str | None,
        reason: str,
        route: Route,
        summary: dict[str, Any],
        policy: Policy,
    ) -> tuple[Case, bool]:
        """Open the case of an escalation in the caller's transaction, and hand the
        conversation to the queue. Idempotent per turn (a step replayed after a crash
        finds its case); a conversation with an open case keeps it (the new escalation is
        added to it). Returns the case and whether it is new."""
        case_id = "case_" + turn_id.split("_", 1)[-1]
        now = self.clock()
        existing = conn.execute(select(cases).where(cases.c.case_id == case_id)).first()
        if existing is not None:
            return Case.of(existing), False
        current = self.open_for(conversation_id, conn=conn)
        if current is not None:
            self._event(
                conn,
                current,
                "escalated_again",
                "system",
                data={"turn_id": turn_id, "reason": reason},
            )
            return current, False
        due = deadlines(policy, route.priority, now)
        conn.execute(
            insert(cases).values(
                case_id=case_id,
                conversation_id=conversation_id,
                turn_id=turn_id,
                status="waiting",
                team=route.team,
                priority=route.priority,
                tags=dumps(list(route.tags)),
                assignee=None,
                customer_id=customer_id,
                reason=reason[:200],
                summary=dumps(summary),
                first_response_due=due.first_response,
                resolution_due=due.resolution,
                first_response_at=None,
                closed_at=None,
                breached="[]",
                policy_version=policy.version,
                version=0,
                created_at=now,
                updated_at=now,
            )
        )
        self._control(conn, conversation_id, "waiting")
        case = self.get(case_id, conn=conn)
        self._event(
            conn,
            case,
            "opened",
            "system",
            data={"team": route.team, "priority": route.priority, "rule": route.rule},
        )
        return case, True

    # -- transitions by people ----------------------------------------------------------
    def act(
        self,
        action: str,
        case_id: str,
        principal: Principal,
        *,
        text: str | None = None,
        to: Principal | None = None,
    ) -> Transition:
        """One of ACTIONS by name (the API's and the CLI's one entry): ``text`` is the
        reply or note, or the hand-back/resolve note; ``to`` whom to assign."""
        if action == "claim":
            return self.claim(case_id, principal)
        if action == "assign":
            if to is None:
                raise InvalidInput("assign needs the agent to give the case to")
            return self.assign(case_id, principal, to=to)
        if action == "reply":
            return self.reply(case_id, principal, str(text))
        if action == "note":
            return self.note(case_id, principal, str(text))
        if action == "hand_back":
            return self.hand_back(case_id, principal, text)
        if action == "resolve":
            return self.resolve(case_id, principal, text)
        raise InvalidInput(
            f"unknown case action {action!r}; valid: {', '.join(ACTIONS)}",
            details={"field": "action"},
        )

    def claim(self, case_id: str, principal: Principal) -> Transition:
        """Take a waiting case. One someone else holds is a Conflict (two people racing:
        one wins); claiming one's own case again changes nothing. To take over a case
        someone holds, assign it (to oneself too)."""
        return self._give(case_id, principal, to=principal, claiming=True)

    def assign(self, case_id: str, principal: Principal, *, to: Principal) -> Transition:
        """Give the case to ``to`` (an agent of its team, or the caller), taking it over
        from whoever holds it."""
        return self._give(case_id, principal, to=to, claiming=False)

    def _give(
        self, case_id: str, principal: Principal, *, to: Principal, claiming: bool
    ) -> Transition:
        with self.db.begin() as conn:
            case = self._authorized(conn, case_id, principal)
            if not case.is_open:
                raise Conflict(f"case {case_id} is {case.status}; only open cases can be assigned")
            if to.name != principal.name:
                why = may_work(to, case)
                if why is not None:
                    raise InvalidInput(
                        f"{to.name} cannot take case {case_id}: {why}",
                        details={"field": "agent"},
                    )
            if claiming and case.assignee is not None and case.assignee != principal.name:
                raise Conflict(
                    f"case {case_id} is already claimed by {case.assignee}; "
                    "assign it to take it over"
                )
            if case.status == "human" and case.assignee == to.name:
                return Transition(case=case, event_type=None)
            updated = self._change(conn, case, status="human", assignee=to.name, control="human")
            kind = "claimed" if claiming else "assigned"
            self._event(conn, updated, kind, principal.name, data={"assignee": to.name})
        return Transition(
            case=updated,
            event_type=ASSIGNED,
            data={"assignee": to.name, "by": principal.name, "previous": case.assignee},
        )

    def reply(self, case_id: str, principal: Principal, text: str) -> Transition:
        """Answer the customer as a person: a transcript line (role ``agent``)."""
        text = check_text(text)
        with self.db.begin() as conn:
            case = self._held_by(conn, case_id, principal, "reply to the customer")
            now = self.clock()
            message_id = conn.execute(
                insert(messages).values(
                    conversation_id=case.conversation_id,
                    turn_id=new_id("msg"),
                    role="agent",
                    author=principal.name,
                    text=self._redact_reply(text, principal.name),
                    created_at=now,
                )
            ).inserted_primary_key
            first = case.first_response_at is None
            updated = self._change(
                conn, case, first_response_at=now if first else case.first_response_at
            )
            self._event(
                conn,
                updated,
                "reply",
                principal.name,
                text=self._redact_reply(text, principal.name),
                data={"first_response": first},
            )
        return Transition(
            case=updated,
            event_type=HUMAN_REPLY,
            data={
                "text": text,
                "author": principal.name,
                "message_id": message_id[0] if message_id else None,
            },
        )

    def note(self, case_id: str, principal: Principal, text: str) -> Transition:
        """An internal note for the people on the case; never shown to the customer."""
        text = check_text(text)
        with self.db.begin() as conn:
            case = self._authorized(conn, case_id, principal)
            updated = self._change(conn, case)
            self._event(conn, updated, "note", principal.name, text=self.redact(text))
        return Transition(case=updated, event_type=None)

    def check(self, case_id: str, principal: Principal) -> Case:
        """The case, if ``principal`` may work it (NotAuthorized otherwise)."""
        with self.db.read() as conn:
            return self._authorized(conn, case_id, principal)

    def record_suggestion(
        self, case_id: str, principal: Principal, suggestion: dict[str, Any]
    ) -> None:
        """Audit a reply the AI suggested to ``principal`` (never sent by itself)."""
        with self.db.begin() as conn:
            case = self._authorized(conn, case_id, principal)
            self._event(
                conn,
                case,
                "suggestion",
                principal.name,
                text=self.redact(str(suggestion.get("text", ""))),
                data={k: v for k, v in suggestion.items() if k != "text"},
            )

    def hand_back(self, case_id: str, principal: Principal, note: str | None = None) -> Transition:
        """Give the conversation back to the AI: its next message is answered again."""
        with self.db.begin() as conn:
            case = self._held_by(conn, case_id, principal, "hand it back")
            updated = self._change(
                conn, case, status="handed_back", closed_at=self.clock(), control="ai"
            )
            self._event(
                conn,
                updated,
                "handed_back",
                principal.name,
                text=self.redact(check_text(note, "note")) if note else None,
            )
        return Transition(case=updated, event_type=HANDED_BACK, data={"by": principal.name})

    def resolve(self, case_id: str, principal: Principal, note: str | None = None) -> Transition:
        """Close the case; the conversation is resolved (a new message starts with the AI)."""
        with self.db.begin() as conn:
            case = self._authorized(conn, case_id, principal)
            if not case.is_open:
                raise Conflict(f"case {case_id} is already {case.status}")
            if case.assignee is not None and case.assignee != principal.name:
                if not principal.has("admin"):
                    raise Conflict(
                        f"case {case_id} is claimed by {case.assignee}; they resolve it "
                        "(or assign it to you first)"
                    )
            updated = self._change(
                conn, case, status="resolved", closed_at=self.clock(), control="resolved"
            )
            self._event(
                conn,
                updated,
                "resolved",
                principal.name,
                text=self.redact(check_text(note, "note")) if note else None,
            )
        return Transition(case=updated, event_type=RESOLVED, data={"by": principal.name})

    def make_urgent(self, conn: Connection, case_id: str, *, policy: Policy, reason: str) -> None:
        """Raise an open case to ``urgent`` in the caller's transaction (the deadlines
        move up to the urgent SLA's, from the case's opening, where that is sooner)."""
        case = self.get(case_id, conn=conn)
        if not case.is_open or case.priority == "urgent":
            return
        due = deadlines(policy, "urgent", case.created_at)

        def sooner(a: float | None, b: float | None) -> float | None:
            known = [x for x in (a, b) if x is not None]
            return min(known) if known else None

        updated = self._change(
            conn,
            case,
            priority="urgent",
            first_response_due=sooner(case.first_response_due, due.first_response),
            resolution_due=sooner(case.resolution_due, due.resolution),
        )
        self._event(
            conn, updated, "priority_raised", "system", data={"from": case.priority, "why": reason}
        )

    # -- SLA ------------------------------------------------------------------------------
    def breach_due(self, now: float | None = None) -> builtins.list[Transition]:
        """Record every deadline passed by an open case, once each."""
        now = self.clock() if now is None else now
        with self.db.read() as conn:
            rows = conn.execute(
                select(cases).where(
                    cases.c.status.in_(OPEN),
                    or_(cases.c.first_response_due <= now, cases.c.resolution_due <= now),
                )
            ).all()
        out = []
        for row in rows:
            case = Case.of(row)
            late = []
            if (
                case.first_response_at is None
                and case.first_response_due is not None
                and case.first_response_due <= now
                and "first_response" not in case.breached
            ):
                late.append("first_response")
            if (
                case.resolution_due is not None
                and case.resolution_due <= now
                and "resolution" not in case.breached
            ):
                late.append("resolution")
            if not late:
                continue
            with self.db.begin() as conn:
                try:
                    updated = self._change(conn, case, breached=[*case.breached, *late])
                except Conflict:
                    continue  # someone changed it meanwhile: the next sweep looks again
                for target in late:
                    self._event(conn, updated, "sla_breached", "system", data={"target": target})
            for target in late:
                due = case.first_response_due if target == "first_response" else case.resolution_due
                out.append(
                    Transition(
                        case=updated,
                        event_type=SLA_BREACHED,
                        data={"target": target, "due": due, "late_by_s": round(now - (due or now))},
                    )
                )
        return out

    # -- internals ------------------------------------------------------------------------
    def _redact_reply(self, text: str, author: str) -> str:
        """Redacted like every stored line, except the author's own name ("Hi, I'm Kim"):
        theirs to share, not the customer's data."""
        pattern = re.compile(rf"\b{re.escape(author)}\b", re.IGNORECASE)
        found = pattern.findall(text)
        if not found:
            return self.redact(text)
        masked = pattern.sub(_SELF, text)
        redacted = self.redact(masked)
        for original in found:
            redacted = redacted.replace(_SELF, original, 1)
        return redacted

    def _authorized(self, conn: Connection, case_id: str, principal: Principal) -> Case:
        case = self.get(case_id, conn=conn)
        why = may_work(principal, case)
        if why is not None:
            raise NotAuthorized(principal.name, why)
        return case

    def _held_by(self, conn: Connection, case_id: str, principal: Principal, what: str) -> Case:
        case = self._authorized(conn, case_id, principal)
        if not case.is_open:
            raise Conflict(f"case {case_id} is {case.status}; it is closed")
        if case.status != "human" or case.assignee != principal.name:
            holder = (
                f"it is claimed by {case.assignee}"
                if case.assignee
                else "it is waiting in the queue"
            )
            raise Conflict(
                f"claim case {case_id} before you {what}: {holder}",
                details={"case_id": case_id, "assignee": case.assignee},
            )
        return case

    def _change(
        self, conn: Connection, case: Case, *, control: str | None = None, **values: Any
    ) -> Case:
        """Compare-and-set on the case's version: a concurrent change wins, this one is a
        Conflict and changes nothing."""
        if "breached" in values:
            values["breached"] = dumps(values["breached"])
        result = conn.execute(
            update(cases)
            .where(cases.c.case_id == case.case_id, cases.c.version == case.version)
            .values(version=case.version + 1, updated_at=self.clock(), **values)
        )
        if result.rowcount != 1:
            raise Conflict(
                f"case {case.case_id} changed while this request was handled; reload it and "
                "try again"
            )
        if control is not None:
            self._control(conn, case.conversation_id, control)
        return self.get(case.case_id, conn=conn)

    def _control(self, conn: Connection, conversation_id: str, control: str) -> None:
        conn.execute(
            update(conversations)
            .where(conversations.c.conversation_id == conversation_id)
            .values(control=control, updated_at=self.clock())
        )

    def _event(
        self,
        conn: Connection,
        case: Case,
        kind: str,
        actor: str,
        *,
        text: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        conn.execute(
            insert(case_events).values(
                case_id=case.case_id,
                kind=kind,
                actor=actor,
                text=text,
                data=dumps(data) if data is not None else None,
                at=self.clock(),
            )
        )
        self.audit.append_many(
            [
                {
                    "kind": f"case.{kind}",
                    "actor": actor,
                    "conversation_id": case.conversation_id,
                    "turn_id": case.turn_id,
                    "policy_version": case.policy_version,
                    "data": {
                        "case_id": case.case_id,
                        "status": case.status,
                        "team": case.team,
                        "priority": case.priority,
                        "assignee": case.assignee,
                        **({"text": text} if text is not None else {}),
                        **(data or {}),
                    },
                }
            ],
            conn=conn,
        )
