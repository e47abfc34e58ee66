"""Run metrics: pass rates, the route confusion matrix, compliance, escalation quality,
latency.

- pass rate: cases that met every expectation with no governance violation, overall, per
  tag and per suite.
- route confusion: for each step whose ``expect`` names a status, expected status (row)
  against actual status (column); a step that raised counts as ``error``.
- compliance: cases without governance violations (see :mod:`govcx.evals.compliance`).
- escalation: a step is a positive when it escalated; precision and recall of escalation
  against the expected statuses (None when undefined: nothing escalated or expected).
- latency: wall time of each step (``respond``/``decide``), p50 and p95 in milliseconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from govcx.evals.result import CaseResult
from govcx.evals.suite import STATUSES

ROUTE_LABELS: tuple[str, ...] = (*STATUSES, "error", "none")


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    return round(float(np.percentile(np.asarray(values, dtype=float), q)), 2)


def summarize(results: Sequence[CaseResult]) -> dict[str, Any]:
    """Every figure of a run, as JSON-ready data."""
    passed = sum(1 for r in results if r.passed)
    by_tag: dict[str, dict[str, Any]] = {}
    by_suite: dict[str, dict[str, Any]] = {}
    for result in results:
        for key, table in [(t, by_tag) for t in result.tags] + [(result.suite, by_suite)]:
            row = table.setdefault(key, {"cases": 0, "passed": 0})
            row["cases"] += 1
            row["passed"] += int(result.passed)
    for table in (by_tag, by_suite):
        for row in table.values():
            row["pass_rate"] = _rate(row["passed"], row["cases"])

    matrix = {e: dict.fromkeys(ROUTE_LABELS, 0) for e in STATUSES}
    tp = fp = fn = tn = 0
    checked = correct = 0
    steps = [s for r in results for s in r.steps]
    for step in steps:
        if step.expected_status is None:
            continue
        actual = step.status or "none"
        matrix[step.expected_status][actual] = matrix[step.expected_status].get(actual, 0) + 1
        checked += 1
        correct += int(actual == step.expected_status)
        expected_esc = step.expected_status == "escalated"
        actual_esc = actual == "escalated"
        tp += int(expected_esc and actual_esc)
        fp += int(actual_esc and not expected_esc)
        fn += int(expected_esc and not actual_esc)
        tn += int(not expected_esc and not actual_esc)

    violations: Counter[str] = Counter(v["kind"] for r in results for v in r.violations)
    compliant = sum(1 for r in results if r.compliant and not r.error)
    latencies = [s.latency_ms for s in steps if s.status not in (None,)]
    by_kind: dict[str, dict[str, Any]] = {}
    for kind in sorted({s.kind for s in steps}):
        values = [s.latency_ms for s in steps if s.kind == kind]
        by_kind[kind] = {
            "steps": len(values),
            "p50": percentile(values, 50),
            "p95": percentile(values, 95),
        }
    return {
        "cases": len(results),
        "passed": passed,
        "failed": len(results) - passed,
        "pass_rate": _rate(passed, len(results)),
        "steps": len(steps),
        "steps_passed": sum(1 for s in steps if s.passed),
        "by_tag": dict(sorted(by_tag.items())),
        "by_suite": dict(sorted(by_suite.items())),
        "confusion": {
            "labels": list(ROUTE_LABELS),
            "expected": list(STATUSES),
            "matrix": matrix,
            "steps": checked,
            "accuracy": _rate(correct, checked),
        },
        "compliance": {
            "cases": len(results),
            "compliant": compliant,
            "rate": _rate(compliant, len(results)),
            "violations": dict(sorted(violations.items())),
            "unauthenticated_decisions": sum(len(r.unauthenticated_decisions) for r in results),
        },
        "escalation": {
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "tn": tn,
            "precision": _rate(tp, tp + fp),
            "recall": _rate(tp, tp + fn),
        },
        "latency_ms": {
            "steps": len(latencies),
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "mean": round(float(np.mean(latencies)), 2) if latencies else None,
            "max": round(max(latencies), 2) if latencies else None,
            "by_kind": by_kind,
        },
        "failing": [r.case_id for r in results if not r.passed],
    }
