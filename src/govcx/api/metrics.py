"""Prometheus metrics of one app, on its own registry (so several apps never collide).

Turns by status and workflow, node latencies (timed between the graph's per-node
events), guard findings, approval decisions and expiries, approvals by status with the
age of the oldest pending one (read from the database at scrape time, so decisions made
by other processes count too), webhook attempts and failures, HTTP latencies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from govcx.governance.approval import ApprovalStore
from govcx.store.db import Database
from govcx.store.schema import cases
from govcx.turn import Turn

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_AGES = (10, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 7 * 24 * 3600)


class _ApprovalCollector(Collector):
    """Approval requests by status and the age of the oldest pending one, from the DB."""

    def __init__(self, db: Database, clock: Callable[[], float]) -> None:
        self.approvals = ApprovalStore(db)
        self.clock = clock

    def describe(self) -> list[Metric]:
        return [
            GaugeMetricFamily("govcx_approvals", "Approval requests by status", labels=["status"]),
            GaugeMetricFamily(
                "govcx_approval_oldest_pending_age_seconds",
                "Age of the oldest pending approval request",
            ),
        ]

    def collect(self) -> Iterator[Metric]:
        by_status = GaugeMetricFamily(
            "govcx_approvals", "Approval requests by status", labels=["status"]
        )
        oldest = GaugeMetricFamily(
            "govcx_approval_oldest_pending_age_seconds",
            "Age of the oldest pending approval request",
        )
        counts = {"pending": 0, "approved": 0, "rejected": 0, "expired": 0, "failed": 0}
        first_pending: float | None = None
        for status, (count, earliest) in self.approvals.status_counts().items():
            counts[status] = count
            if status == "pending":
                first_pending = earliest
        for status, count in sorted(counts.items()):
            by_status.add_metric([status], count)
        oldest.add_metric(
            [], max(0.0, self.clock() - first_pending) if first_pending is not None else 0.0
        )
        yield by_status
        yield oldest


class _CaseCollector(Collector):
    """Open cases by status, team and priority, and those past a deadline, from the DB."""

    def __init__(self, db: Database, clock: Callable[[], float]) -> None:
        self.db = db
        self.clock = clock

    def describe(self) -> list[Metric]:
        return [self._open(), self._overdue()]

    @staticmethod
    def _open() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "govcx_cases_open",
            "Open cases by status, team and priority",
            labels=["status", "team", "priority"],
        )

    @staticmethod
    def _overdue() -> GaugeMetricFamily:
        return GaugeMetricFamily("govcx_cases_overdue", "Open cases past their resolution deadline")

    def collect(self) -> Iterator[Metric]:
        open_ = self._open()
        overdue = self._overdue()
        with self.db.read() as conn:
            rows = conn.execute(
                select(cases.c.status, cases.c.team, cases.c.priority, func.count())
                .where(cases.c.status.in_(("waiting", "human")))
                .group_by(cases.c.status, cases.c.team, cases.c.priority)
            ).all()
            late = conn.execute(
                select(func.count()).where(
                    cases.c.status.in_(("waiting", "human")),
                    cases.c.resolution_due <= self.clock(),
                )
            ).scalar_one()
        for status, team, priority, count in rows:
            open_.add_metric([status, team or "", priority], int(count))
        overdue.add_metric([], int(late))
        yield open_
        yield overdue


class Metrics:
    """The app's metrics. Every method is safe to call from any thread."""

    def __init__(self, db: Database, clock: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.turns = Counter(
            "govcx_turns",
            "Turns by outcome status and workflow (intent)",
            ["status", "workflow"],
            registry=r,
        )
        self.turn_seconds = Histogram(
            "govcx_turn_duration_seconds",
            "Time to produce a Turn (message, decision, expiry)",
            ["kind"],
            buckets=_FAST,
            registry=r,
        )
        self.node_seconds = Histogram(
            "govcx_node_duration_seconds",
            "Time per graph node",
            ["node"],
            buckets=_FAST,
            registry=r,
        )
        self.guard_findings = Counter(
            "govcx_guard_findings",
            "Guard findings by type and action",
            ["type", "action"],
            registry=r,
        )
        self.decisions = Counter(
            "govcx_approval_decisions",
            "Decisions by kind and outcome (recorded, stale, forbidden, invalid)",
            ["decision", "outcome"],
            registry=r,
        )
        self.decision_age = Histogram(
            "govcx_approval_decision_age_seconds",
            "Age of an approval request when it was decided",
            buckets=_AGES,
            registry=r,
        )
        self.case_actions = Counter(
            "govcx_case_actions_total",
            "What people did on cases (claim, assign, reply, note, hand_back, resolve)",
            ["action"],
            registry=r,
        )
        self.sla_breaches = Counter(
            "govcx_case_sla_breaches_total",
            "SLA deadlines missed by cases (target: first_response or resolution)",
            ["team", "priority", "target"],
            registry=r,
        )
        self.expired = Counter(
            "govcx_approvals_expired", "Approval requests that expired", registry=r
        )
        self.webhooks = Counter(
            "govcx_webhook_attempts",
            "Webhook delivery attempts by event and outcome (delivered, retry, failed)",
            ["event", "outcome"],
            registry=r,
        )
        self.webhook_failures = Counter(
            "govcx_webhook_failures",
            "Webhook deliveries given up after their last attempt",
            ["event"],
            registry=r,
        )
        self.http_seconds = Histogram(
            "govcx_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            buckets=_FAST,
            registry=r,
        )
        self.sse_first_event = Histogram(
            "govcx_sse_first_event_seconds",
            "Time from a streamed message post to its first event",
            buckets=_FAST,
            registry=r,
        )
        r.register(_ApprovalCollector(db, clock))
        r.register(_CaseCollector(db, clock))

    def turn(self, turn: Turn) -> None:
        self.turns.labels(turn.status, turn.intent or "none").inc()
        for finding in turn.findings:
            self.guard_findings.labels(
                str(finding.get("type", "?")), str(finding.get("action", "?"))
            ).inc()

    def webhook_attempt(self, event_type: str, outcome: str) -> None:
        self.webhooks.labels(event_type, outcome).inc()
        if outcome == "failed":
            self.webhook_failures.labels(event_type).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def observe_http(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_seconds.labels(method, route, str(status)).observe(seconds)

    def node(self, name: str, seconds: float) -> None:
        self.node_seconds.labels(name).observe(seconds)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Metrics({len(list(self.registry.collect()))} families)"


def summary(data: dict[str, Any]) -> dict[str, Any]:
    """The small, non-sensitive part of a node event, for progress events and spans."""
    keep = (
        "intent",
        "confidence",
        "route",
        "rules",
        "approval_id",
        "tool",
        "status",
        "reason",
        "action",
        "escalation_id",
        "knowledge_support",
    )
    out = {k: data[k] for k in keep if k in data and data[k] is not None}
    if "chunks" in data:
        out["documents"] = [c.get("doc_id") for c in data["chunks"] if isinstance(c, dict)]
    return out
