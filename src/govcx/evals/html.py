"""The HTML report: one self-contained file, charts drawn as inline SVG.

No script, no stylesheet or font from elsewhere, no link to fetch: the file opens the same
offline, attached to a CI run or mailed around. Text from cases (replies may hold URLs)
is escaped, and ``://`` is written as ``&#58;//`` so a reader sees the URL but the file
itself references nothing.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#b8c0cc;font-size:13px}
main{padding:20px 28px;max-width:1200px}
section{background:#fff;border:1px solid #e2e5ea;border-radius:8px;padding:16px 20px;
margin:0 0 18px}
h2{font-size:16px;margin:0 0 12px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #e2e5ea;border-radius:8px;padding:12px 16px;
min-width:150px}
.card b{display:block;font-size:24px}
.card span{color:#5b6472;font-size:12px}
.ok{color:#1a7f37}.bad{color:#c62828}.warn{color:#9a6700}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #eef0f3;vertical-align:top}
th{color:#5b6472;font-weight:600}
.pill{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600}
.pass{background:#dcf5e3;color:#1a7f37}.fail{background:#fde2e1;color:#c62828}
details summary{cursor:pointer}
code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}
pre{white-space:pre-wrap;background:#f6f7f9;padding:8px;border-radius:6px;margin:6px 0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:18px}
svg{display:block;max-width:100%;height:auto}
.muted{color:#5b6472}
"""


def esc(value: Any) -> str:
    """Escape text for HTML, and defuse URLs so the file references nothing."""
    return html.escape(str(value), quote=True).replace("://", "&#58;//")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def _card(label: str, value: str, klass: str = "") -> str:
    return f'<div class="card"><b class="{klass}">{esc(value)}</b><span>{esc(label)}</span></div>'


def bar_chart(rows: Sequence[tuple[str, float, str]], *, width: int = 520) -> str:
    """Horizontal bars: (label, value 0..1, annotation)."""
    if not rows:
        return '<p class="muted">no data</p>'
    label_w, bar_w, row_h = 170, width - 170 - 90, 22
    height = row_h * len(rows) + 10
    parts = [
        f'<svg role="img" aria-label="bar chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">'
    ]
    for i, (label, value, note) in enumerate(rows):
        y = 5 + i * row_h
        w = max(0.0, min(1.0, value)) * bar_w
        color = "#2e9e5b" if value >= 0.95 else "#d9a21b" if value >= 0.8 else "#d64545"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" font-size="12" '
            f'fill="#1d2330">{esc(label[:26])}</text>'
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{bar_w}" height="{row_h - 8}" '
            'fill="#eef0f3" rx="3"/>'
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" '
            f'fill="{color}" rx="3"/>'
        )
        parts.append(
            f'<text x="{label_w + bar_w + 8}" y="{y + 15}" font-size="12" '
            f'fill="#5b6472">{esc(note)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def confusion_chart(confusion: Mapping[str, Any]) -> str:
    """Expected status (rows) against actual status (columns) as a heat map."""
    expected: list[str] = list(confusion.get("expected") or [])
    labels: list[str] = [
        c
        for c in confusion.get("labels") or []
        if c in expected or any(confusion["matrix"][e].get(c) for e in expected)
    ]
    matrix: Mapping[str, Mapping[str, int]] = confusion.get("matrix") or {}
    cell, left, top = 80, 130, 70
    width, height = left + cell * len(labels) + 10, top + cell * len(expected) + 10
    peak = max([1, *(int(matrix[e].get(a, 0)) for e in expected for a in labels)])
    parts = [
        f'<svg role="img" aria-label="route confusion matrix" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">',
        f'<text x="{left}" y="14" font-size="11" fill="#5b6472">actual →</text>',
        f'<text x="4" y="{top - 8}" font-size="11" fill="#5b6472">expected ↓</text>',
    ]
    for j, actual in enumerate(labels):
        x = left + j * cell + cell / 2
        words = actual.split("_")
        lines = "".join(
            f'<tspan x="{x}" dy="{0 if k == 0 else 13}">{esc(w)}</tspan>'
            for k, w in enumerate(words)
        )
        parts.append(
            f'<text x="{x}" y="{top - 10 - 13 * (len(words) - 1)}" '
            f'text-anchor="middle" font-size="11" fill="#1d2330">{lines}</text>'
        )
    for i, exp in enumerate(expected):
        y = top + i * cell
        parts.append(
            f'<text x="{left - 8}" y="{y + cell / 2 + 4}" text-anchor="end" '
            f'font-size="11" fill="#1d2330">{esc(exp.replace("_", " "))}</text>'
        )
        for j, actual in enumerate(labels):
            n = int(matrix.get(exp, {}).get(actual, 0))
            share = n / peak
            if exp == actual:
                fill = f"rgba(46,158,91,{0.12 + 0.78 * share:.2f})" if n else "#f6f7f9"
            else:
                fill = f"rgba(214,69,69,{0.15 + 0.75 * share:.2f})" if n else "#f6f7f9"
            x = left + j * cell
            parts.append(
                f'<rect x="{x + 2}" y="{y + 2}" width="{cell - 4}" height="{cell - 4}" '
                f'rx="4" fill="{fill}"/>'
            )
            parts.append(
                f'<text x="{x + cell / 2}" y="{y + cell / 2 + 5}" text-anchor="middle" '
                f'font-size="14" fill="#1d2330">{n}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def latency_chart(
    values: Sequence[float],
    p50: float | None,
    p95: float | None,
    *,
    width: int = 520,
    height: int = 180,
) -> str:
    """A histogram of step latencies with the p50 and p95 marked."""
    if not values:
        return '<p class="muted">no data</p>'
    top = max(values)
    bins = 24
    size = top / bins if top > 0 else 1.0
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int(v / size))] += 1
    left, bottom = 40, 28
    plot_w, plot_h = width - left - 10, height - bottom - 10
    peak = max(counts) or 1
    bar = plot_w / bins
    parts = [
        f'<svg role="img" aria-label="latency histogram" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">',
        f'<line x1="{left}" y1="{10 + plot_h}" x2="{left + plot_w}" y2="{10 + plot_h}" '
        'stroke="#c4c9d2"/>',
    ]
    for i, n in enumerate(counts):
        h = plot_h * n / peak
        parts.append(
            f'<rect x="{left + i * bar + 1:.1f}" y="{10 + plot_h - h:.1f}" '
            f'width="{bar - 2:.1f}" height="{h:.1f}" fill="#4f7cc9"/>'
        )
    for label, value, color in (("p50", p50, "#2e9e5b"), ("p95", p95, "#d64545")):
        if value is None:
            continue
        x = left + plot_w * min(1.0, value / (size * bins))
        parts.append(
            f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{10 + plot_h}" '
            f'stroke="{color}" stroke-dasharray="4 3"/>'
        )
        parts.append(
            f'<text x="{x + 3:.1f}" y="20" font-size="11" fill="{color}">'
            f"{label} {value:.0f} ms</text>"
        )
    parts.append(f'<text x="{left}" y="{height - 8}" font-size="11" fill="#5b6472">0</text>')
    parts.append(
        f'<text x="{left + plot_w}" y="{height - 8}" font-size="11" fill="#5b6472" '
        f'text-anchor="end">{top:.0f} ms</text>'
    )
    parts.append(f'<text x="4" y="18" font-size="11" fill="#5b6472">{peak}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _case_rows(cases: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    ordered = sorted(
        cases, key=lambda c: (bool(c.get("passed")), c.get("suite", ""), c.get("case_id", ""))
    )
    for case in ordered:
        ok = bool(case.get("passed"))
        pill = (
            '<span class="pill pass">pass</span>' if ok else '<span class="pill fail">fail</span>'
        )
        failures = case.get("failures") or []
        steps = []
        for step in case.get("steps") or []:
            actions = ", ".join(
                f"{a.get('tool')}→{a.get('status')}" for a in step.get("actions") or []
            )
            line = (
                f"{step.get('index', 0) + 1}. [{step.get('kind')}] {step.get('input')}\n"
                f"   → {step.get('status')} (expected {step.get('expected_status') or '-'})"
                f" intent {step.get('intent') or '-'} · route {step.get('route') or '-'}"
                f" · {step.get('latency_ms', 0):.0f} ms"
                + (f"\n   actions: {actions}" if actions else "")
                + (f"\n   reply: {step.get('reply')}" if step.get("reply") else "")
            )
            steps.append(line)
        detail = ""
        if failures:
            detail += "<pre>" + esc("\n".join(failures)) + "</pre>"
        detail += (
            f"<details><summary>{len(steps)} steps</summary><pre>"
            + esc("\n".join(steps))
            + "</pre></details>"
        )
        rows.append(
            f"<tr><td>{pill}</td><td><code>{esc(case.get('case_id'))}</code><br>"
            f"<span class='muted'>{esc(case.get('description') or '')}</span></td>"
            f"<td>{esc(', '.join(case.get('tags') or []))}</td>"
            f"<td>{esc(case.get('suite'))}</td><td>{detail}</td></tr>"
        )
    return "".join(rows)


def render_html(report: Mapping[str, Any], *, title: str = "govcx eval report") -> str:
    """The report (as :meth:`RunReport.as_dict` data) as one self-contained HTML page."""
    run: Mapping[str, Any] = report.get("run") or {}
    summary: Mapping[str, Any] = report.get("summary") or {}
    cases: Sequence[Mapping[str, Any]] = report.get("cases") or []
    compliance = summary.get("compliance") or {}
    escalation = summary.get("escalation") or {}
    latency = summary.get("latency_ms") or {}
    pass_rate = summary.get("pass_rate")
    klass = "ok" if (pass_rate or 0) >= 0.95 else "warn" if (pass_rate or 0) >= 0.8 else "bad"
    comp_rate = compliance.get("rate")
    cards = "".join(
        [
            _card(
                f"pass rate ({summary.get('passed', 0)}/{summary.get('cases', 0)} cases)",
                _pct(pass_rate),
                klass,
            ),
            _card(
                f"governance compliance ({compliance.get('compliant', 0)}/"
                f"{compliance.get('cases', 0)})",
                _pct(comp_rate),
                "ok" if comp_rate == 1.0 else "bad",
            ),
            _card(
                f"route accuracy ({(summary.get('confusion') or {}).get('steps', 0)} steps)",
                _pct((summary.get("confusion") or {}).get("accuracy")),
            ),
            _card(
                f"escalation precision (tp {escalation.get('tp', 0)}, fp "
                f"{escalation.get('fp', 0)})",
                _pct(escalation.get("precision")),
            ),
            _card(
                f"escalation recall (fn {escalation.get('fn', 0)})", _pct(escalation.get("recall"))
            ),
            _card("latency p50 / step", _ms(latency.get("p50"))),
            _card("latency p95 / step", _ms(latency.get("p95"))),
        ]
    )
    tag_rows = [
        (tag, float(row.get("pass_rate") or 0.0), f"{row.get('passed')}/{row.get('cases')}")
        for tag, row in (summary.get("by_tag") or {}).items()
    ]
    suite_rows = [
        (name, float(row.get("pass_rate") or 0.0), f"{row.get('passed')}/{row.get('cases')}")
        for name, row in (summary.get("by_suite") or {}).items()
    ]
    values = [float(s.get("latency_ms") or 0.0) for c in cases for s in c.get("steps") or []]
    violations = [(c.get("case_id"), v) for c in cases for v in c.get("violations") or []]
    violation_html = (
        "<p class='ok'>No governance violations: every gated action ran with a "
        "bound, sufficient approval; every audit chain verifies.</p>"
        if not violations
        else "<table><tr><th>case</th><th>kind</th><th>problem</th></tr>"
        + "".join(
            f"<tr><td><code>{esc(cid)}</code></td><td>{esc(v.get('kind'))}</td>"
            f"<td>{esc(v.get('message'))}</td></tr>"
            for cid, v in violations
        )
        + "</table>"
    )
    suites = ", ".join(f"{s.get('name')} ({s.get('cases')})" for s in run.get("suites") or [])
    subtitle = (
        f"pack {run.get('pack', '?')} · policy {run.get('policy_version', '?')} · "
        f"{suites} · started {run.get('started_at', '?')} · "
        f"{run.get('duration_s', '?')} s on {run.get('workers', 1)} worker(s)"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title><style>{_CSS}</style></head>
<body><header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header><main>
<section><div class="cards">{cards}</div></section>
<div class="grid">
<section><h2>Pass rate by tag</h2>{bar_chart(tag_rows)}</section>
<section><h2>Route confusion (expected vs actual status)</h2>
{confusion_chart(summary.get("confusion") or {})}</section>
<section><h2>Latency per step</h2>{
        latency_chart(values, latency.get("p50"), latency.get("p95"))
    }</section>
<section><h2>Pass rate by suite</h2>{bar_chart(suite_rows)}</section>
</div>
<section><h2>Governance</h2>{violation_html}</section>
<section><h2>Cases</h2><table><tr><th></th><th>case</th><th>tags</th><th>suite</th>
<th>details</th></tr>{_case_rows(cases)}</table></section>
</main></body></html>
"""
