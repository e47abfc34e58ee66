"""``govcx report``: the operations report, from the database (govcx.governance.report).

The same figures as the console's dashboard and ``GET /v1/report``: containment,
escalations and their reasons, approvals by rule, SLA attainment, guard findings, per
workflow, per day and per policy version; then the changes the record supports
(govcx.governance.suggestions). Only the database is opened.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from govcx.cli._common import JsonOpt, PackOpt, console, handle_errors, print_json
from govcx.errors import InvalidInput

WHEN_HELP = "a duration back from now (7d, 12h) or a UTC date or time (2026-12-01)"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to the govcx CLI."""

    @app.command()
    @handle_errors
    def report(
        since: Annotated[str, typer.Option(help=f"Start of the window: {WHEN_HELP}.")] = "7d",
        until: Annotated[
            str | None, typer.Option(help="End of the window (default now); same forms.")
        ] = None,
        workflow: Annotated[
            str | None, typer.Option(help="Only this workflow's turns, approvals and cases.")
        ] = None,
        candidate: Annotated[
            str | None,
            typer.Option(
                help="Write the candidate policy of this suggestion (sug_...) to --out, "
                "to propose it with `govcx policy propose FILE`."
            ),
        ] = None,
        out: Annotated[
            Path | None, typer.Option(help="File for --candidate (YAML); - prints it.")
        ] = None,
        pack: PackOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Containment, escalations, approvals, SLAs and guard findings, with the policy
        changes the record supports."""
        from govcx.cli._stores import open_stores
        from govcx.governance.report import build_report, window
        from govcx.governance.suggestions import find, suggest

        now = time.time()
        start, end = window(since, until, now=now)
        if candidate and out is None:
            raise InvalidInput("--candidate needs --out FILE (or --out - to print it)")
        with open_stores(pack, data_key=False) as stores:
            figures = build_report(stores.db, since=start, until=end, now=now, workflow=workflow)
            active = stores.policies.active()
            policy = (
                stores.policies.load(active.version) if active is not None else stores.pack.policy
            )
            found = suggest(stores.db, policy, since=start, until=end)
        if candidate:
            item = find(found, candidate)
            if item.candidate is None:
                raise InvalidInput(
                    f"suggestion {candidate} ({item.kind}) has no candidate policy: "
                    "a person writes that change"
                )
            _write_candidate(item.candidate, item.text, out)
            return
        figures["suggestions"] = [s.as_dict() for s in found]
        if json_out:
            print_json(figures)
            return
        _print(figures)


def _write_candidate(data: dict[str, Any], why: str, out: Path | None) -> None:
    import yaml

    text = f"# Suggested by govcx report: {why}\n" + yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True
    )
    if out is None or str(out) == "-":
        console.print(text, markup=False, highlight=False, end="")
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot write {out}: {exc.strerror}") from None
    console.print(f"wrote the candidate policy {data['version']} to {escape(str(out))}")


def _print(figures: dict[str, Any]) -> None:
    w = figures["window"]
    t = figures["turns"]
    e = figures["escalations"]
    a = figures["approvals"]
    s = figures["sla"]
    console.print(
        f"[bold]govcx report[/bold] {_when(w['since'])} → {_when(w['until'])}", highlight=False
    )
    console.print(
        f"turns {t['turns']} · contained {t['contained']} ({_pct(t['containment'])}) · "
        f"escalated {e['total']} ({_pct(e['rate'])}) · approvals {a['requested']} "
        f"(approve {_pct(a['approve_rate'])}, edit {_pct(a['edit_rate'])}, "
        f"reject {_pct(a['reject_rate'])}) · cases {s['cases']}",
        highlight=False,
    )
    fr, rs = s["first_response"], s["resolution"]
    console.print(
        f"SLA first response {_pct(fr['attainment'])} ({fr['met']} met, {fr['missed']} missed, "
        f"{fr['open']} open) · resolution {_pct(rs['attainment'])} ({rs['met']} met, "
        f"{rs['missed']} missed, {rs['open']} open)",
        highlight=False,
    )

    table = Table(title="By workflow", box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("workflow", "turns", "contained", "escalated", "approvals", "top reason"):
        left = column in ("workflow", "top reason")
        table.add_column(column, justify="left" if left else "right")
    for name, row in figures["by_workflow"].items():
        reason = row["top_reasons"][0]["rule"] if row["top_reasons"] else ""
        table.add_row(
            escape(name),
            str(row["turns"]),
            _pct(row["containment"]),
            _pct(row["escalation_rate"]),
            str(row["with_approval"]),
            escape(reason),
        )
    console.print(table)

    if a["by_rule"]:
        table = Table(title="Approvals by rule", box=box.SIMPLE_HEAD, title_justify="left")
        for column in ("rule", "requested", "approve", "edit", "reject", "expired", "median min"):
            table.add_column(column, justify="left" if column == "rule" else "right")
        for rule, row in a["by_rule"].items():
            median = row["minutes_to_decision_median"]
            table.add_row(
                escape(rule),
                str(row["requested"]),
                _pct(row["approve_rate"]),
                _pct(row["edit_rate"]),
                _pct(row["reject_rate"]),
                str(row["expired"]),
                "–" if median is None else f"{median:g}",
            )
        console.print(table)
    if e["top_reasons"]:
        reasons = ", ".join(f"{r['rule']} {r['count']}" for r in e["top_reasons"])
        console.print(f"escalation reasons: {escape(reasons)}", highlight=False)
    if figures["guard_findings"]:
        found = ", ".join(f"{k} {v}" for k, v in figures["guard_findings"].items())
        console.print(f"guard findings: {escape(found)}", highlight=False)
    versions = ", ".join(
        f"{v} ({row['turns']} turns, contained {_pct(row['containment'])})"
        for v, row in figures["by_policy_version"].items()
    )
    if versions:
        console.print(f"policy versions: {escape(versions)}", highlight=False)
    for act in figures["activations"]:
        console.print(
            f"activated {escape(act['version'])} by {escape(act['actor'])} at {_when(act['at'])}",
            highlight=False,
        )
    if figures["suggestions"]:
        console.print("\n[bold]Suggested changes[/bold]")
        for item in figures["suggestions"]:
            how = (
                f"  → govcx policy propose --suggestion {item['suggestion_id']}"
                if item["proposable"]
                else "  (a person writes this change)"
            )
            console.print(f"{item['suggestion_id']}  {escape(item['text'])}", highlight=False)
            console.print(how, highlight=False, style="dim")
