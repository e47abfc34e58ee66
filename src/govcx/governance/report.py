"""The operations report: what the agent did, measured from what the database recorded.

One function, :func:`build_report`, reads the turns, approvals, cases and policy
activations of a time window and computes the figures a risk owner and an operations lead
watch: containment (turns the AI handled with no person involved), escalation rate and its
reasons by rule, approvals by rule with their approve / edit / reject rates and time to
decision, SLA attainment of cases, guard findings; per workflow, per day (UTC) and per
policy version, with the activations in the window as before/after markers. The CLI
(``govcx report``), the API (``GET /v1/report``) and the console's dashboard all show this
one computation.

Definitions (also in the README, "Operations report"):

- A *turn* is one customer message and what came of it (``turns`` rows; a decision that
  resumes a turn updates that turn, it is not a new one).
- *Contained*: the turn ended ``answered`` or ``blocked`` with no approval requested and no
  escalation: nobody but the AI touched it. Turns that arrived while a person had the
  conversation (``with_human``) count as not contained.
- *Escalated*: the turn's status is ``escalated`` (a case was opened or joined).
- An approval is *approved* when its final status is ``approved`` or ``failed`` (approved,
  then the action failed) and no decision edited the arguments; *edited* when a decision
  edited them; *rejected* and *expired* by status; *pending* otherwise. Time to decision
  runs from the request to its last decision.
- SLA attainment counts a deadline as *met* when the case's first response (or its closing)
  came before the deadline, *missed* when it came later or the deadline passed without it,
  and *open* while the deadline is still ahead.

The report holds figures and rule ids only: no customer text, no arguments beyond amounts.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from govcx.errors import InvalidInput
from govcx.governance.policy import parse_duration
from govcx.store.db import Database
from govcx.store.schema import approvals, cases, policy_activations, turns

UNCLASSIFIED = "unclassified"
"""The workflow a turn counts under when it has no intent (e.g. a guard stopped it first)."""
TOP_REASONS = 10

DAY = 86_400.0

WHEN_HELP = (
    "a duration back from now (7d, 12h, 30m) or a UTC date or time (2026-12-01, 2026-12-01T09:00)"
)


def parse_when(text: str, *, now: float, option: str) -> float:
    """A point in time from ``--since``/``--until``: a duration back from ``now`` or an ISO
    date or time (UTC when it names no zone)."""
    value = text.strip()
    try:
        return now - parse_duration(value).total_seconds()
    except (ValueError, TypeError, OverflowError):
        pass
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    except (ValueError, OverflowError):
        raise InvalidInput(f"{option} {text!r} is not {WHEN_HELP}") from None


def window(since: str, until: str | None, *, now: float, prefix: str = "--") -> tuple[float, float]:
    """``[since, until)`` as timestamps; errors name the options as ``prefix`` + name
    (``--since`` on the CLI, ``since`` in the API)."""
    start = parse_when(since, now=now, option=f"{prefix}since")
    end = parse_when(until, now=now, option=f"{prefix}until") if until else now
    if end <= start:
        raise InvalidInput(
            f"{prefix}until must be after {prefix}since (got {since!r} .. {until or 'now'!r})"
        )
    return start, end


def day_of(ts: float) -> str:
    """The UTC day of a timestamp, ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass
class _Tally:
    """Turn counts of one slice (a workflow, a day, a policy version)."""

    turns: int = 0
    contained: int = 0
    escalated: int = 0
    pending_approval: int = 0
    with_approval: int = 0

    def add(self, turn: Mapping[str, Any]) -> None:
        self.turns += 1
        status = turn.get("status")
        if _contained(turn):
            self.contained += 1
        if status == "escalated":
            self.escalated += 1
        if status == "pending_approval":
            self.pending_approval += 1
        if turn.get("approval_id"):
            self.with_approval += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "turns": self.turns,
            "contained": self.contained,
            "containment": _rate(self.contained, self.turns),
            "escalated": self.escalated,
            "escalation_rate": _rate(self.escalated, self.turns),
            "with_approval": self.with_approval,
            "pending_approval": self.pending_approval,
        }


def _contained(turn: Mapping[str, Any]) -> bool:
    return (
        turn.get("status") in ("answered", "blocked")
        and not turn.get("approval_id")
        and not turn.get("escalation")
    )


def _workflow(turn: Mapping[str, Any]) -> str:
    return str(turn.get("intent") or UNCLASSIFIED)


def _version(turn: Mapping[str, Any]) -> str:
    decision = turn.get("decision") or {}
    return str(decision.get("policy_version") or "unknown")


@dataclass
class _ApprovalTally:
    requested: int = 0
    approved: int = 0
    edited: int = 0
    rejected: int = 0
    expired: int = 0
    failed: int = 0
    pending: int = 0
    other: int = 0
    minutes: list[float] = field(default_factory=list)

    def add(self, request: Mapping[str, Any]) -> None:
        self.requested += 1
        outcome = approval_outcome(request)
        if outcome == "approved":
            self.approved += 1
        elif outcome == "edited":
            self.edited += 1
        elif outcome == "rejected":
            self.rejected += 1
        elif outcome == "expired":
            self.expired += 1
        elif outcome == "pending":
            self.pending += 1
        else:
            self.other += 1
        if request.get("status") == "failed":
            self.failed += 1
        decisions = request.get("decisions") or []
        if outcome in ("approved", "edited", "rejected") and decisions:
            last = max(float(d.get("at") or 0.0) for d in decisions)
            self.minutes.append(max(0.0, (last - float(request["requested_at"])) / 60.0))

    def as_dict(self) -> dict[str, Any]:
        decided = self.approved + self.edited + self.rejected
        minutes = sorted(self.minutes)
        return {
            "requested": self.requested,
            "approved": self.approved,
            "edited": self.edited,
            "rejected": self.rejected,
            "expired": self.expired,
            "failed_after_approval": self.failed,
            "pending": self.pending,
            "approve_rate": _rate(self.approved, decided),
            "edit_rate": _rate(self.edited, decided),
            "reject_rate": _rate(self.rejected, decided),
            "minutes_to_decision_median": (
                round(statistics.median(minutes), 2) if minutes else None
            ),
            "minutes_to_decision_p90": (
                round(minutes[min(len(minutes) - 1, int(0.9 * len(minutes)))], 2)
                if minutes
                else None
            ),
        }


def approval_outcome(request: Mapping[str, Any]) -> str:
    """``approved | edited | rejected | expired | pending | superseded`` for a stored
    ApprovalRequest body (see the module docstring)."""
    status = str(request.get("status") or "pending")
    decisions = request.get("decisions") or []
    if status in ("approved", "failed"):
        if any(d.get("decision") == "edit" for d in decisions):
            return "edited"
        return "approved"
    return status


@dataclass
class _SlaTally:
    met: int = 0
    missed: int = 0
    open: int = 0

    def add(self, due: float | None, done: float | None, now: float) -> None:
        if due is None:
            return
        if done is not None:
            if done <= due:
                self.met += 1
            else:
                self.missed += 1
        elif now > due:
            self.missed += 1
        else:
            self.open += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "met": self.met,
            "missed": self.missed,
            "open": self.open,
            "attainment": _rate(self.met, self.met + self.missed),
        }


def build_report(
    db: Database,
    *,
    since: float,
    until: float,
    now: float | None = None,
    workflow: str | None = None,
) -> dict[str, Any]:
    """The figures of turns, approvals and cases created in ``[since, until)``; with
    ``workflow``, of that workflow's only (a case counts under the workflow of the turn
    that escalated it)."""
    now = until if now is None else now
    with db.read() as conn:
        turn_rows = conn.execute(
            select(turns.c.body, turns.c.created_at)
            .where(turns.c.created_at >= since, turns.c.created_at < until)
            .order_by(turns.c.created_at)
        ).all()
        approval_rows = conn.execute(
            select(approvals.c.body)
            .where(approvals.c.requested_at >= since, approvals.c.requested_at < until)
            .order_by(approvals.c.requested_at)
        ).all()
        case_rows = conn.execute(
            select(cases).where(cases.c.created_at >= since, cases.c.created_at < until)
        ).all()
        activation_rows = conn.execute(
            select(policy_activations).order_by(policy_activations.c.seq)
        ).all()

    bodies = [(row.created_at, json.loads(row.body)) for row in turn_rows]
    workflows = sorted({_workflow(turn) for _, turn in bodies})
    if workflow is not None:
        keep = {turn["turn_id"] for _, turn in bodies if _workflow(turn) == workflow}
        bodies = [(at, turn) for at, turn in bodies if turn["turn_id"] in keep]
        case_rows = [case for case in case_rows if case.turn_id in keep]

    overall = _Tally()
    by_workflow: dict[str, _Tally] = defaultdict(_Tally)
    by_day: dict[str, _Tally] = defaultdict(_Tally)
    by_version: dict[str, _Tally] = defaultdict(_Tally)
    reasons: Counter[str] = Counter()
    reasons_by_workflow: dict[str, Counter[str]] = defaultdict(Counter)
    findings: Counter[str] = Counter()
    findings_by_day: dict[str, Counter[str]] = defaultdict(Counter)
    statuses: Counter[str] = Counter()
    for created_at, turn in bodies:
        day = day_of(created_at)
        overall.add(turn)
        by_workflow[_workflow(turn)].add(turn)
        by_day[day].add(turn)
        by_version[_version(turn)].add(turn)
        statuses[str(turn.get("status"))] += 1
        if turn.get("status") == "escalated":
            rules = (turn.get("escalation") or {}).get("rules") or (
                (turn.get("decision") or {}).get("rules") or []
            )
            for rule in rules or ["(no rule)"]:
                reasons[rule] += 1
                reasons_by_workflow[_workflow(turn)][rule] += 1
        for finding in turn.get("findings") or []:
            kind = str(finding.get("type") or "UNKNOWN")
            findings[kind] += 1
            findings_by_day[day][kind] += 1

    approvals_by_rule: dict[str, _ApprovalTally] = defaultdict(_ApprovalTally)
    approvals_by_tool: dict[str, _ApprovalTally] = defaultdict(_ApprovalTally)
    approvals_by_day: dict[str, _ApprovalTally] = defaultdict(_ApprovalTally)
    approvals_all = _ApprovalTally()
    for row in approval_rows:
        request = json.loads(row.body)
        if workflow is not None and str(request.get("intent") or UNCLASSIFIED) != workflow:
            continue
        approvals_all.add(request)
        for rule in request.get("rules") or ["(no rule)"]:
            approvals_by_rule[rule].add(request)
        approvals_by_tool[str(request.get("tool") or "(reply)")].add(request)
        approvals_by_day[day_of(float(request["requested_at"]))].add(request)

    first_response = _SlaTally()
    resolution = _SlaTally()
    sla_by_team: dict[str, dict[str, _SlaTally]] = defaultdict(
        lambda: {"first_response": _SlaTally(), "resolution": _SlaTally()}
    )
    case_status: Counter[str] = Counter()
    for case in case_rows:
        case_status[case.status] += 1
        team = case.team or "(none)"
        first_response.add(case.first_response_due, case.first_response_at, now)
        resolution.add(case.resolution_due, case.closed_at, now)
        sla_by_team[team]["first_response"].add(
            case.first_response_due, case.first_response_at, now
        )
        sla_by_team[team]["resolution"].add(case.resolution_due, case.closed_at, now)

    activations = [
        {"version": a.version, "digest": a.digest, "actor": a.actor, "at": a.activated_at}
        for a in activation_rows
        if since <= a.activated_at < until
    ]
    days = _days(since, until, set(by_day) | set(approvals_by_day))
    return {
        "window": {"since": since, "until": until},
        "workflow": workflow,
        "workflows": workflows,
        "turns": {**overall.as_dict(), "by_status": dict(sorted(statuses.items()))},
        "escalations": {
            "total": overall.escalated,
            "rate": _rate(overall.escalated, overall.turns),
            "top_reasons": [
                {"rule": rule, "count": n} for rule, n in reasons.most_common(TOP_REASONS)
            ],
        },
        "approvals": {
            **approvals_all.as_dict(),
            "by_rule": {k: v.as_dict() for k, v in sorted(approvals_by_rule.items())},
            "by_tool": {k: v.as_dict() for k, v in sorted(approvals_by_tool.items())},
        },
        "sla": {
            "cases": sum(case_status.values()),
            "by_status": dict(sorted(case_status.items())),
            "first_response": first_response.as_dict(),
            "resolution": resolution.as_dict(),
            "by_team": {
                team: {k: t.as_dict() for k, t in tallies.items()}
                for team, tallies in sorted(sla_by_team.items())
            },
        },
        "guard_findings": dict(findings.most_common()),
        "by_workflow": {
            name: {
                **tally.as_dict(),
                "top_reasons": [
                    {"rule": rule, "count": n}
                    for rule, n in reasons_by_workflow[name].most_common(3)
                ],
            }
            for name, tally in sorted(by_workflow.items())
        },
        "by_day": [
            {
                "day": day,
                **by_day[day].as_dict(),
                "approvals": approvals_by_day[day].as_dict(),
                "guard_findings": dict(findings_by_day[day]),
            }
            for day in days
        ],
        "by_policy_version": {k: v.as_dict() for k, v in sorted(by_version.items())},
        "activations": activations,
    }


def _days(since: float, until: float, seen: Iterable[str]) -> list[str]:
    """Every UTC day of the window (days with nothing show as zero), or only the days with
    data when the window is longer than a year."""
    if until - since > 366 * DAY:
        return sorted(seen)
    out: list[str] = []
    start = datetime.fromtimestamp(since, tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    ts = start.timestamp()
    while ts < until:
        out.append(day_of(ts))
        ts += DAY
    return out
