"""Compare two eval runs (their JSON reports): what got better and what got worse.

Cases are matched by id. A case that passed before and fails now is a regression; the
reverse is a fix. Metrics are compared with their direction (pass rate up is better,
latency up is worse); latency changes under 10% are reported as noise, not as a change.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from govcx.errors import ReportError

LATENCY_NOISE = 0.10
"""Relative latency change below which a difference is not called better or worse."""

_METRICS: list[tuple[str, Callable[[Mapping[str, Any]], Any], bool]] = [
    ("pass rate", lambda s: s.get("pass_rate"), True),
    ("governance compliance", lambda s: (s.get("compliance") or {}).get("rate"), True),
    ("route accuracy", lambda s: (s.get("confusion") or {}).get("accuracy"), True),
    ("escalation precision", lambda s: (s.get("escalation") or {}).get("precision"), True),
    ("escalation recall", lambda s: (s.get("escalation") or {}).get("recall"), True),
    ("latency p50 (ms)", lambda s: (s.get("latency_ms") or {}).get("p50"), False),
    ("latency p95 (ms)", lambda s: (s.get("latency_ms") or {}).get("p95"), False),
]


def load_report(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(str(path), "file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(str(path), f"not a JSON report ({exc})") from None
    if not isinstance(data, dict) or "summary" not in data or "cases" not in data:
        raise ReportError(
            str(path), "not a govcx eval report (written by `govcx eval run --json FILE`)"
        )
    return data


def _verdict(old: Any, new: Any, higher_is_better: bool, latency: bool) -> str:
    if old is None or new is None or old == new:
        return "same"
    if latency and old and abs(new - old) / abs(old) < LATENCY_NOISE:
        return "same"
    better = new > old if higher_is_better else new < old
    return "better" if better else "worse"


def compare_reports(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """What changed between two reports, as JSON-ready data."""
    old_summary, new_summary = old.get("summary") or {}, new.get("summary") or {}
    metrics = []
    for name, get, higher in _METRICS:
        a, b = get(old_summary), get(new_summary)
        delta = (
            round(b - a, 4) if isinstance(a, int | float) and isinstance(b, int | float) else None
        )
        metrics.append(
            {
                "metric": name,
                "old": a,
                "new": b,
                "delta": delta,
                "verdict": _verdict(a, b, higher, "latency" in name),
            }
        )
    tags = []
    old_tags, new_tags = old_summary.get("by_tag") or {}, new_summary.get("by_tag") or {}
    for tag in sorted(set(old_tags) | set(new_tags)):
        a = (old_tags.get(tag) or {}).get("pass_rate")
        b = (new_tags.get(tag) or {}).get("pass_rate")
        tags.append({"tag": tag, "old": a, "new": b, "verdict": _verdict(a, b, True, False)})
    old_cases = {c["case_id"]: c for c in old.get("cases") or []}
    new_cases = {c["case_id"]: c for c in new.get("cases") or []}
    fixed, regressed, still_failing, changed_failures = [], [], [], []
    for cid in sorted(set(old_cases) & set(new_cases)):
        a, b = old_cases[cid], new_cases[cid]
        if not a.get("passed") and b.get("passed"):
            fixed.append({"case_id": cid, "old_failures": a.get("failures") or []})
        elif a.get("passed") and not b.get("passed"):
            regressed.append({"case_id": cid, "failures": b.get("failures") or []})
        elif not a.get("passed") and not b.get("passed"):
            still_failing.append(cid)
            if (a.get("failures") or []) != (b.get("failures") or []):
                changed_failures.append(
                    {
                        "case_id": cid,
                        "old_failures": a.get("failures"),
                        "failures": b.get("failures"),
                    }
                )
    added = [
        {"case_id": cid, "passed": bool(new_cases[cid].get("passed"))}
        for cid in sorted(set(new_cases) - set(old_cases))
    ]
    removed = sorted(set(old_cases) - set(new_cases))
    return {
        "metrics": metrics,
        "tags": [t for t in tags if t["verdict"] != "same"],
        "fixed": fixed,
        "regressed": regressed,
        "still_failing": still_failing,
        "changed_failures": changed_failures,
        "added": added,
        "removed": removed,
        "better": sum(1 for m in metrics if m["verdict"] == "better") + len(fixed),
        "worse": sum(1 for m in metrics if m["verdict"] == "worse") + len(regressed),
    }
