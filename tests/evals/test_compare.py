"""Comparing two runs: fixes, regressions and metric verdicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from govcx.errors import ReportError
from govcx.evals.compare import compare_reports, load_report


def _report(pass_rate: float, p95: float, cases: dict[str, bool]) -> dict[str, Any]:
    return {
        "summary": {
            "pass_rate": pass_rate,
            "compliance": {"rate": 1.0},
            "latency_ms": {"p50": 100.0, "p95": p95},
            "by_tag": {"refund": {"pass_rate": pass_rate}},
        },
        "cases": [
            {"case_id": cid, "passed": ok, "failures": [] if ok else ["step 1: x"]}
            for cid, ok in cases.items()
        ],
    }


def test_better_and_worse() -> None:
    old = _report(0.5, 200.0, {"a": True, "b": False, "c": False, "gone": True})
    new = _report(0.75, 400.0, {"a": False, "b": True, "c": False, "new": True})
    diff = compare_reports(old, new)
    assert diff["fixed"] == [{"case_id": "b", "old_failures": ["step 1: x"]}]
    assert diff["regressed"] == [{"case_id": "a", "failures": ["step 1: x"]}]
    assert diff["still_failing"] == ["c"]
    assert diff["added"] == [{"case_id": "new", "passed": True}]
    assert diff["removed"] == ["gone"]
    verdicts = {m["metric"]: m["verdict"] for m in diff["metrics"]}
    assert verdicts["pass rate"] == "better"
    assert verdicts["latency p95 (ms)"] == "worse"
    assert verdicts["latency p50 (ms)"] == "same"
    assert verdicts["governance compliance"] == "same"
    assert diff["tags"] == [{"tag": "refund", "old": 0.5, "new": 0.75, "verdict": "better"}]
    assert (diff["better"], diff["worse"]) == (2, 2)


def test_small_latency_changes_are_noise() -> None:
    diff = compare_reports(_report(1.0, 100.0, {}), _report(1.0, 105.0, {}))
    assert all(m["verdict"] == "same" for m in diff["metrics"])


def test_bad_report_files(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="file not found"):
        load_report(tmp_path / "none.json")
    (tmp_path / "x.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(ReportError, match="not a govcx eval report"):
        load_report(tmp_path / "x.json")
