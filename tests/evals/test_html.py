"""The HTML report is one self-contained file."""

from __future__ import annotations

import re

from govcx.evals.html import render_html
from govcx.evals.metrics import summarize
from govcx.evals.result import CaseResult, StepResult
from govcx.evals.runner import RunReport


def _report() -> dict[str, object]:
    cases = [
        CaseResult(
            suite="s",
            case_id="ok",
            tags=["refund"],
            steps=[
                StepResult(
                    index=0,
                    kind="user",
                    input="where is my order?",
                    expected_status="answered",
                    status="answered",
                    latency_ms=120.0,
                    reply="Track it at https://acme.example/track/A-1004 <b>now</b>",
                )
            ],
        ),
        CaseResult(
            suite="s",
            case_id="bad<script>",
            tags=["guard"],
            steps=[
                StepResult(
                    index=0,
                    kind="user",
                    input="x",
                    expected_status="escalated",
                    status="answered",
                    latency_ms=80.0,
                    failures=["status: expected escalated, got answered"],
                )
            ],
            violations=[{"kind": "unapproved_execution", "message": "ran without approval"}],
        ),
    ]
    report = RunReport(
        run={"pack": "shop", "suites": [{"name": "s", "cases": 2}]},
        summary=summarize(cases),
        cases=cases,
    )
    return report.as_dict()


def test_report_is_self_contained() -> None:
    page = render_html(_report())
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"https?://", page)
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(", page, re.IGNORECASE)
    assert page.count("<svg") >= 3  # tags, confusion matrix, latency (suites)
    assert "acme.example/track/A-1004" in page  # URL shown as text, defused
    assert "bad&lt;script&gt;" in page and "&lt;b&gt;now&lt;/b&gt;" in page
    assert "ran without approval" in page
    assert "50.0%" in page  # pass rate card
