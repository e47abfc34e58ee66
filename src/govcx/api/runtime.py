"""The server's runtime: the Agent plus what the HTTP layer adds around each call.

Routers call :class:`ApiRuntime`; it enforces conversation ownership and idempotency,
times the graph's nodes (metrics, spans, progress events of streamed turns) and
publishes events (webhooks, live console updates) for the Turns it produces.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from govcx.agent.agent import Agent, check_id, check_text
from govcx.api.auth import (
    ROLE_ADMIN,
    ROLE_AGENT,
    ROLE_APPROVER,
    ROLE_AUDITOR,
    ROLE_CHANNEL,
    Caller,
    KeyRing,
)
from govcx.api.errors import ApiError
from govcx.api.events import (
    APPROVAL_DECIDED,
    APPROVAL_EXPIRED,
    APPROVAL_REQUESTED,
    ESCALATION_CREATED,
    Event,
    EventBus,
)
from govcx.api.idempotency import IdempotencyStore, request_hash
from govcx.api.impacts import ImpactReport, ImpactWorker
from govcx.api.metrics import Metrics, summary
from govcx.api.policy_store import PolicyActivations
from govcx.api.schemas import ApprovalView, DecisionIn, MessageIn
from govcx.api.settings import ServerSettings
from govcx.api.tracing import Tracing, TurnSpan
from govcx.api.webhooks import WebhookDispatcher
from govcx.errors import ApprovalStale, GovcxError, InvalidInput, NotAuthorized, NotFound
from govcx.governance.approval import ApprovalRequest, can_decide
from govcx.governance.cases import (
    ESCALATED,
    HUMAN_REPLY,
    OPEN,
    SLA_BREACHED,
    Case,
    Transition,
    may_work,
)
from govcx.governance.policy import Policy
from govcx.governance.principal import Principal
from govcx.governance.rules import conditions
from govcx.store import schema
from govcx.store.conversation import new_id
from govcx.turn import Turn

log = logging.getLogger("govcx.api")

Sink = Callable[[str, dict[str, Any], float], None]
"""Receives (node, summary, seconds) after each graph node of a streamed turn."""
TokenSink = Callable[[str, str], None]
"""Receives the reply's draft as it streams (LLM engine): ``("delta", text)``,
``("reset", reason)``, ``("end", draft)``; see :meth:`govcx.agent.agent.Agent.respond`."""


@dataclass(kw_only=True)
class _Run:
    """The graph run of one API call on this thread."""

    conversation_id: str | None
    sink: Sink | None = None
    last: float = field(default_factory=time.perf_counter)
    span: TurnSpan | None = None
    turn: Turn | None = None


@dataclass(frozen=True, kw_only=True)
class PreparedMessage:
    conversation_id: str
    text: str
    customer_id: str | None
    idempotency_key: str | None
    claimed: bool
    owner: str


class ApiRuntime:
    """What the routers call. Thread-safe like the Agent it wraps."""

    def __init__(
        self,
        agent: Agent,
        settings: ServerSettings,
        keys: KeyRing,
        *,
        metrics: Metrics,
        bus: EventBus,
        webhooks: WebhookDispatcher,
        tracing: Tracing | None = None,
    ) -> None:
        self.agent = agent
        self.settings = settings
        self.keys = keys
        self.metrics = metrics
        self.bus = bus
        self.webhooks = webhooks
        self.tracing = tracing
        self.idempotency = IdempotencyStore(agent.db)
        self._local = threading.local()
        self.policies = PolicyActivations(agent, bus)
        self._policies: dict[tuple[str, str], Policy | None] = {}
        self.verbatim = _Recent()
        self.impact: ImpactReport | None = None
        self.impacts: ImpactWorker | None = None
        """Computes the reports of proposals in the background (with ``impact`` only)."""
        agent.observers.append(self._observe)

    def use_impact(self, impact: ImpactReport | None) -> None:
        """Compute proposals' impact reports with ``impact`` (None: proposals carry none)."""
        self.impact = impact
        self.impacts = (
            ImpactWorker(self.agent, impact, lease=self.settings.impact_lease)
            if impact is not None
            else None
        )

    def close(self) -> None:
        if self.impacts is not None:
            self.impacts.stop()
        if self._observe in self.agent.observers:
            self.agent.observers.remove(self._observe)
        self.webhooks.stop()
        if self.tracing is not None:
            self.tracing.shutdown()

    # -- timing graph nodes ---------------------------------------------------------------
    @contextmanager
    def _run(
        self, kind: str, conversation_id: str | None, sink: Sink | None = None
    ) -> Iterator[_Run]:
        run = _Run(conversation_id=conversation_id, sink=sink)
        if self.tracing is not None:
            run.span = self.tracing.turn(kind, conversation_id)
            run.last = time.perf_counter()
        self._local.run = run
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            yield run
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._local.run = None
            self.metrics.turn_seconds.labels(kind).observe(time.perf_counter() - started)
            if run.span is not None:
                run.span.finish(run.turn, error)

    def _observe(self, node: str, data: dict[str, Any]) -> None:
        """Agent observer: called in the thread that runs the graph, after each node."""
        run: _Run | None = getattr(self._local, "run", None)
        if run is None or run.conversation_id != data.get("conversation_id"):
            return
        now = time.perf_counter()
        start, run.last = run.last, now
        self.metrics.node(node, now - start)
        if run.span is None and run.sink is None:
            return
        brief = summary(data)
        if run.span is not None:
            run.span.node(node, start, now, brief)
        if run.sink is not None:
            try:
                run.sink(node, brief, now - start)
            except Exception:  # a slow or gone stream must not fail the turn
                log.exception("progress sink failed")

    # -- conversations --------------------------------------------------------------------
    @staticmethod
    def _owner_of(caller: Caller) -> str | None:
        """The owner a caller converses as: channels only see their own conversations;
        approvers, auditors and admins (without the channel role) read any."""
        if caller.has(ROLE_CHANNEL):
            return caller.name
        return None

    def _check_owner(self, caller: Caller, conversation_id: str) -> None:
        """404 for a conversation that is not the caller's, exactly as for one that does
        not exist (no existence leak)."""
        owner = self._owner_of(caller)
        if owner is None:
            self.agent.conversations.get(conversation_id)
            return
        self.agent.conversations.check_owner(conversation_id, owner)

    def create_conversation(self, caller: Caller, customer_id: str | None) -> str:
        conversation_id = new_id("conv")
        if customer_id is not None:
            check_id("customer_id", customer_id)
        self.agent.conversations.ensure(conversation_id, customer_id, owner=caller.name)
        return conversation_id

    def prepare_message(
        self, caller: Caller, conversation_id: str, body: MessageIn, idempotency_key: str | None
    ) -> PreparedMessage:
        """Validate, check ownership and take the idempotency key; nothing runs yet."""
        check_id("conversation_id", conversation_id)
        check_text(body.text)
        if body.customer_id is not None:
            check_id("customer_id", body.customer_id)
        owner = self._owner_of(caller)
        # Refused early, before the idempotency key is taken; the Agent checks again under
        # the conversation's lock (a new id starts a conversation owned by the caller).
        if (
            owner is not None
            and self.agent.conversations.exists_for(conversation_id, owner) is False
        ):
            raise NotFound("conversation", conversation_id)
        claimed = False
        if idempotency_key is not None:
            claim = self.idempotency.claim(
                f"message:{conversation_id}",
                idempotency_key,
                request_hash({"text": body.text, "customer_id": body.customer_id}),
            )
            claimed = claim.new
        return PreparedMessage(
            conversation_id=conversation_id,
            text=body.text,
            customer_id=body.customer_id,
            idempotency_key=idempotency_key,
            claimed=claimed,
            owner=owner or caller.name,
        )

    def run_message(
        self, message: PreparedMessage, sink: Sink | None = None, on_token: TokenSink | None = None
    ) -> Turn:
        try:
            with self._run("message", message.conversation_id, sink) as run:
                turn = run.turn = self.agent.respond(
                    message.conversation_id,
                    message.text,
                    customer_id=message.customer_id,
                    idempotency_key=message.idempotency_key,
                    owner=message.owner,
                    on_token=on_token,
                )
        except GovcxError:
            if message.claimed and message.idempotency_key is not None:
                self.idempotency.release(
                    f"message:{message.conversation_id}", message.idempotency_key
                )
            raise
        # No need to store the response: the core derives the turn id from the key and
        # returns the stored Turn on a repeat; the row only guards against body reuse.
        self._after_turn(turn)
        return turn

    def respond(
        self,
        caller: Caller,
        conversation_id: str,
        body: MessageIn,
        idempotency_key: str | None = None,
    ) -> Turn:
        return self.run_message(
            self.prepare_message(caller, conversation_id, body, idempotency_key)
        )

    def conversation(self, caller: Caller, conversation_id: str) -> dict[str, Any]:
        check_id("conversation_id", conversation_id)
        self._check_owner(caller, conversation_id)
        data = self.agent.conversation(conversation_id)
        data["pending_approvals"] = [
            self.approval_view(caller, ApprovalRequest.model_validate(a)).model_dump(mode="json")
            for a in data["pending_approvals"]
        ]
        data["actions"] = [
            {**a, "args": _loads(a.get("args")), "result": _loads(a.get("result"))}
            for a in data["actions"]
        ]
        return data

    # -- approvals ------------------------------------------------------------------------
    def approval_view(self, caller: Caller, request: ApprovalRequest) -> ApprovalView:
        """The request as ``caller`` sees it: ``can_decide`` is None for a key that is no
        approver (read-only), else the verdict of :func:`can_decide` on an approval now,
        the very rule :meth:`ApprovalStore.decide` enforces. The context facts are opened
        from their sealed copy: every caller that may read a request (approvers,
        auditors, admins) may read its facts."""
        facts = self.agent.sealer.open(request.context_sealed) if request.context_sealed else None
        if not caller.has(ROLE_APPROVER):
            return self._view(request, can_decide=None, facts=facts)
        policy = self.agent.policy_for(request.conversation_id)  # a rollout's candidate too
        verdict = can_decide(policy, caller.principal, request, now=self.agent.clock())
        # A closed request needs no explanation (its status says it).
        return self._view(
            request,
            can_decide=verdict.allowed,
            authority=verdict.reason if request.status == "pending" else None,
            facts=facts,
        )

    def _view(self, request: ApprovalRequest, **kwargs: Any) -> ApprovalView:
        """The view with each rule's condition, from the policy it was requested under;
        for events and webhooks (no caller) the facts stay redacted."""
        found = conditions(
            request, self.agent.policies, active=self.agent.policy, cache=self._policies
        )
        return ApprovalView.of(request, conditions=found, **kwargs)

    def approvals(
        self,
        caller: Caller,
        *,
        status: str | Sequence[str] | None,
        conversation_id: str | None,
        limit: int,
        customer_id: str | None = None,
        decided_by: str | None = None,
        tool: str | None = None,
        newest_first: bool = False,
    ) -> list[ApprovalView]:
        requests = self.agent.approvals.list(
            status=status,
            conversation_id=conversation_id,
            customer_id=customer_id,
            decided_by=decided_by,
            tool=tool,
            newest_first=newest_first,
            limit=limit,
        )
        return [self.approval_view(caller, r) for r in requests]

    def queue_fingerprint(self) -> tuple[Any, ...]:
        """Changes whenever the pending queue (or the active policy) changes."""
        return (self.agent.approvals.pending_fingerprint(), self.agent.policy.version)

    def decide(
        self, caller: Caller, approval_id: str, body: DecisionIn, idempotency_key: str | None = None
    ) -> tuple[Turn, bool]:
        """Apply a decision; returns the Turn and whether it was replayed from the key."""
        if caller.has(ROLE_CHANNEL):
            raise ApiError(
                403,
                "forbidden",
                f"{caller.name} is a channel; channel keys can never decide approvals",
            )
        check_id("approval_id", approval_id)
        request = self.agent.approvals.get(approval_id)  # 404 before anything else
        scope = f"decision:{caller.name}:{approval_id}"
        if idempotency_key is not None:
            claim = self.idempotency.claim(
                scope, idempotency_key, request_hash(body.model_dump(mode="json"))
            )
            if not claim.new:
                if claim.response is None:
                    raise ApiError(
                        409,
                        "idempotency_in_progress",
                        "a request with this "
                        "Idempotency-Key is still being processed; retry shortly",
                    )
                return Turn.model_validate(claim.response), True
        try:
            with self._run("decision", request.conversation_id) as run:
                turn = run.turn = self.agent.decide(
                    approval_id,
                    principal=caller.principal,
                    decision=body.decision,
                    args=body.args,
                    comment=body.comment,
                )
        except GovcxError as exc:
            if idempotency_key is not None:
                self.idempotency.release(scope, idempotency_key)
            outcome = (
                "stale"
                if isinstance(exc, ApprovalStale)
                else "forbidden"
                if isinstance(exc, NotAuthorized)
                else "invalid"
            )
            self.metrics.decisions.labels(body.decision, outcome).inc()
            if isinstance(exc, ApprovalStale):
                self._maybe_expired(approval_id)
            raise
        if idempotency_key is not None:
            stored = self.agent.at_rest(turn)  # no customer details at rest
            self.idempotency.complete(scope, idempotency_key, stored.model_dump(mode="json"))
        self.metrics.decisions.labels(body.decision, "recorded").inc()
        self.metrics.decision_age.observe(max(0.0, self.agent.clock() - request.requested_at))
        updated = self.agent.approvals.get(approval_id)
        self.bus.publish(
            Event(
                id=f"{APPROVAL_DECIDED}:{approval_id}:{len(updated.decisions)}",
                type=APPROVAL_DECIDED,
                data={
                    "approval": self._view(updated).model_dump(mode="json"),
                    "decision": updated.decisions[-1].model_dump(mode="json")
                    if updated.decisions
                    else None,
                    "turn": turn.model_dump(mode="json"),
                },
            )
        )
        self._after_turn(turn)
        return turn, False

    def _maybe_expired(self, approval_id: str) -> None:
        """A decision that found its approval overdue expired it: announce that."""
        request = self.agent.approvals.get(approval_id)
        if request.status == "expired":
            turn = self.agent.conversations.get_turn(request.turn_id)
            self._expired(request, turn)

    def _expired(self, request: ApprovalRequest, turn: Turn | None) -> None:
        published = self.bus.publish(
            Event(
                id=f"{APPROVAL_EXPIRED}:{request.approval_id}",
                type=APPROVAL_EXPIRED,
                data={
                    "approval": self._view(request).model_dump(mode="json"),
                    "on_expiry": self.agent.policy.approvals.on_expiry,
                    "turn": turn.model_dump(mode="json") if turn else None,
                },
            )
        )
        if published:
            self.metrics.expired.inc()
        if turn is not None:
            self._after_turn(turn)

    def expire_overdue(self) -> list[Turn]:
        """Apply on_expiry to overdue approvals, and close those of a policy no longer
        active (the background sweep)."""
        turns = self.supersede_stale()
        overdue = list(self.agent.approvals.overdue(self.agent.clock()))
        if not overdue:
            return turns
        with self._run("expiry", None):
            expired = self.agent.expire_overdue()
        by_turn = {t.turn_id: t for t in expired}
        for request in overdue:
            current = self.agent.approvals.get(request.approval_id)
            if current.status == "expired":
                self._expired(current, by_turn.get(current.turn_id))
        return [*turns, *expired]

    def supersede_stale(self) -> list[Turn]:
        """Escalate the conversations whose pending approval was requested under another
        policy than the active one, and announce it (webhooks, console)."""
        self.agent.sync_policy()
        if not self.agent.approvals.stale(self.agent.policy):
            return []
        with self._run("supersede", None):
            turns = self.agent.supersede_stale()
        for turn in turns:
            self._after_turn(turn)
        if turns:
            self.bus.queue_changed()
        return turns

    def activate_policy(self, caller: Caller, policy: Policy) -> bool:
        """Activate ``policy`` for the deployment (PUT /v1/policy); False when it is the
        active one already. Raises PolicyVersionConflict (409) for a reused version."""
        changed = self.agent.set_policy(
            policy, actor=caller.name, source="PUT /v1/policy", supersede=False
        )
        if changed:
            self.bus.queue_changed()
            self.supersede_stale()
        return changed

    def recover(self) -> list[Turn]:
        """Finish the runs a dead process left mid-step (at start-up; safe with several
        workers: a conversation another live worker holds is skipped)."""
        with self._run("recovery", None):
            turns = self.agent.recover()
        for turn in turns:
            log.info(
                "recovered conversation %s: turn %s %s",
                turn.conversation_id,
                turn.turn_id,
                turn.status,
            )
            self._after_turn(turn)
        return turns

    # -- cases: the hand-off to people --------------------------------------------------
    def _reads_all_cases(self, caller: Caller) -> bool:
        return any(caller.has(r) for r in (ROLE_ADMIN, ROLE_AUDITOR, ROLE_APPROVER))

    def case_view(self, caller: Caller, case: Case) -> dict[str, Any]:
        """The case as ``caller`` sees it; 404 for an agent outside the case's team (as
        for a case that does not exist), unless the caller reads every case."""
        allowed = may_work(caller.principal, case) is None
        if not allowed and not self._reads_all_cases(caller):
            raise NotFound("case", case.case_id)
        can_work = allowed if caller.has(ROLE_AGENT) or caller.has(ROLE_ADMIN) else None
        return {**case.as_dict(), "can_work": can_work}

    def cases(
        self,
        caller: Caller,
        *,
        status: str | None,
        team: str | None,
        priority: str | None,
        assignee: str | None,
        customer_id: str | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """The queue: open cases by urgency (or closed ones, the history). An agent sees
        the cases of their teams; admins, auditors and approvers see every team's."""
        teams: list[str] | None = None
        if not self._reads_all_cases(caller):
            teams = sorted(caller.principal.teams)
        if team is not None:
            teams = [t for t in (teams if teams is not None else [team]) if t == team]
        found = self.agent.cases.list(
            status=status,
            teams=teams,
            priority=priority,
            assignee=assignee,
            customer_id=customer_id,
            limit=limit,
        )
        return [self.case_view(caller, c) for c in found]

    def case_teams(self, caller: Caller) -> list[str]:
        """The teams whose cases ``caller`` sees (the console's team filter)."""
        if self._reads_all_cases(caller):
            return sorted(self.agent.policy.routing.teams)
        return sorted(caller.principal.teams)

    def cases_fingerprint(self) -> tuple[Any, ...]:
        """Changes whenever a case changes, and when a line is added to the conversation
        of an open case (the customer writing to the person who has it): the inbox's
        stream sends the queue again then."""
        lines, rows = schema.messages, schema.cases
        with self.agent.db.read() as conn:
            latest = conn.execute(
                select(func.max(lines.c.message_id))
                .select_from(lines.join(rows, rows.c.conversation_id == lines.c.conversation_id))
                .where(rows.c.status.in_(OPEN))
            ).scalar()
        return (*self.agent.cases.fingerprint(), latest)

    def case_detail(self, caller: Caller, case_id: str) -> dict[str, Any]:
        check_id("case_id", case_id)
        case = self.agent.cases.get(case_id)
        view = self.case_view(caller, case)
        pending = self.agent.approvals.list(status="pending", conversation_id=case.conversation_id)
        return {
            **view,
            "transcript": self.agent.conversations.transcript(case.conversation_id),
            "events": self.agent.cases.events(case_id),
            "pending_approvals": [
                self.approval_view(caller, r).model_dump(mode="json") for r in pending
            ],
        }

    def case_action(
        self,
        caller: Caller,
        case_id: str,
        action: str,
        *,
        text: str | None = None,
        agent: str | None = None,
    ) -> dict[str, Any]:
        """claim | assign | reply | note | hand_back | resolve, by ``caller``; announced
        (webhook, console, the channel's stream) when it changed something."""
        check_id("case_id", case_id)
        self.case_view(caller, self.agent.cases.get(case_id))  # 404 outside the team
        to = self._principal_named(str(agent)) if action == "assign" else None
        done = self.agent.cases.act(action, case_id, caller.principal, text=text, to=to)
        self.metrics.case_actions.labels(action).inc()
        self.announce(done)
        return self.case_view(caller, done.case)

    def case_suggestion(self, caller: Caller, case_id: str) -> dict[str, Any]:
        """A reply the AI suggests to the person working the case (never sent)."""
        check_id("case_id", case_id)
        self.case_view(caller, self.agent.cases.get(case_id))  # 404 outside the team
        with self._run("suggestion", None):
            return self.agent.suggest_reply(case_id, caller.principal)

    def _principal_named(self, name: str) -> Principal:
        try:
            return self.agent.pack.principal(name)
        except GovcxError:
            agents = sorted(n for n, p in self.agent.pack.principals.items() if p.has("agent"))
            raise InvalidInput(
                f"unknown principal {name!r}; people with the role agent: "
                f"{', '.join(agents) or 'none'}",
                details={"field": "agent"},
            ) from None

    def announce(self, done: Transition) -> None:
        """Publish a case transition (webhook, console, channel streams)."""
        if done.event_type == HUMAN_REPLY and done.data.get("message_id") is not None:
            self.verbatim.put(int(done.data["message_id"]), str(done.data["text"]))
        if done.event_type is None:
            self.bus.queue_changed()  # a note: the console refreshes, nobody else is told
            return
        case = done.case
        suffix = f":{done.data['target']}" if done.event_type == SLA_BREACHED else ""
        self.bus.publish(
            Event(
                id=f"{done.event_type}:{case.case_id}:{case.version}{suffix}",
                type=done.event_type,
                data={
                    "conversation_id": case.conversation_id,
                    "case": _public_case(case),
                    **done.data,
                },
            )
        )
        if done.event_type == SLA_BREACHED:
            self.metrics.sla_breaches.labels(
                case.team or "", case.priority, str(done.data["target"])
            ).inc()

    def breach_sla(self) -> list[Transition]:
        """Record and announce every SLA deadline open cases have passed (the sweep)."""
        done = self.agent.cases.breach_due(self.agent.clock())
        for transition in done:
            self.announce(transition)
        return done

    def conversation_updates(
        self, caller: Caller, conversation_id: str, after: int
    ) -> tuple[list[dict[str, Any]], str]:
        """What the channel has not seen yet: lines after ``after`` that are not the
        customer's, and who answers the conversation now (``control``)."""
        check_id("conversation_id", conversation_id)
        self._check_owner(caller, conversation_id)
        lines = self.agent.conversations.transcript(conversation_id, after=after)
        control = str(self.agent.conversations.get(conversation_id).get("control") or "ai")
        out = []
        for line in lines:
            if line["role"] == "agent":
                verbatim = self.verbatim.get(int(line["message_id"]))
                if verbatim is not None:
                    line = {**line, "text": verbatim}
            out.append(line)
        return out, control

    # -- events of a Turn ----------------------------------------------------------------
    def announce_turn(self, turn: Turn) -> None:
        """Metrics and events for a Turn produced outside the routers (an MCP tool call):
        the approval it requested reaches webhooks and the console like a chat turn's."""
        self._after_turn(turn)

    def _after_turn(self, turn: Turn) -> None:
        self.metrics.turn(turn)
        if turn.status == "pending_approval" and turn.approval_id:
            event_id = f"{APPROVAL_REQUESTED}:{turn.approval_id}"
            try:
                request = self.agent.approvals.get(turn.approval_id)
            except GovcxError:
                return
            if request.turn_id == turn.turn_id:  # not a message sent while it waits
                self.bus.publish(
                    Event(
                        id=event_id,
                        type=APPROVAL_REQUESTED,
                        data={
                            "approval": self._view(request).model_dump(mode="json"),
                            "turn": turn.model_dump(mode="json"),
                        },
                    )
                )
        elif turn.status == "with_human":
            self.bus.queue_changed()  # the inbox shows the customer's new line
        elif turn.status == "escalated":
            # The output guard escalates without an Escalation on the Turn; say so.
            escalation = (
                turn.escalation.model_dump(mode="json")
                if turn.escalation
                else {"reason": "output guard", "summary": "", "rules": []}
            )
            self.bus.publish(
                Event(
                    id=f"{ESCALATION_CREATED}:{turn.turn_id}",
                    type=ESCALATION_CREATED,
                    data={
                        "conversation_id": turn.conversation_id,
                        "turn_id": turn.turn_id,
                        "escalation": escalation,
                        "turn": turn.model_dump(mode="json"),
                    },
                )
            )
            case_id = turn.escalation.case_id if turn.escalation else None
            if case_id:
                case = self.agent.cases.get(case_id)
                if case.turn_id == turn.turn_id:  # a new case, not one it joined
                    self.bus.publish(
                        Event(
                            id=f"{ESCALATED}:{case.case_id}",
                            type=ESCALATED,
                            data={
                                "conversation_id": case.conversation_id,
                                "case": _public_case(case),
                            },
                        )
                    )


def _public_case(case: Case) -> dict[str, Any]:
    """A case as webhooks carry it: a channel receives these, so no notes and no
    hand-off summary (which quotes the gate's rules and the AI's recommendation)."""
    return {
        "case_id": case.case_id,
        "status": case.status,
        "team": case.team,
        "priority": case.priority,
        "tags": case.tags,
        "assignee": case.assignee,
        "first_response_due": case.first_response_due,
        "resolution_due": case.resolution_due,
        "breached": case.breached,
    }


class _Recent:
    """The last few human replies verbatim, by message id, for the channel's stream: the
    transcript stores them redacted like every line at rest. Another worker's replies
    are streamed from the transcript (redacted)."""

    def __init__(self, size: int = 1000) -> None:
        self._items: OrderedDict[int, str] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def put(self, key: int, text: str) -> None:
        with self._lock:
            self._items[key] = text
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def get(self, key: int) -> str | None:
        with self._lock:
            return self._items.get(key)


def _loads(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
