"""`govcx eval`: run eval suites, compare runs, simulate a policy change, read readiness.

Exit status: 0 ok, 1 a check failed (``eval run``: a case failed or, with ``--fail-under``,
the pass rate is below it; ``--fail-on-regression``), 2 bad input (a suite, policy or
report file that does not validate).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from govcx.cli._common import JsonOpt, PackOpt, console, err_console, handle_errors, print_json
from govcx.errors import GovcxError

eval_app = typer.Typer(
    help="Run eval suites, compare runs, simulate policy changes, and read autonomy readiness.",
    no_args_is_help=True,
)

SuitesArg = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Suite files or folders of *.yaml (default: the pack's evals/ folder).",
        show_default=False,
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        "-w",
        min=1,
        help="Worker processes (default: CPU count, at most 4).",
        show_default=False,
    ),
]


def _suites(paths: list[Path] | None, pack: Path | None) -> list[Any]:
    from govcx.cli._common import load
    from govcx.evals.suite import load_suites

    if paths:
        return load_suites(paths)
    the_pack = load(pack)
    if the_pack.evals_dir is None:
        raise GovcxError(f"pack {the_pack.name} has no evals/ folder; name the suite files")
    return load_suites([the_pack.evals_dir])


def parse_rate(text: str) -> float:
    """``0.95``, ``95`` or ``95%`` → 0.95."""
    raw = text.strip().rstrip("%")
    try:
        value = float(raw)
    except ValueError:
        raise GovcxError(f"--fail-under {text!r} is not a rate; use 0.95, 95 or 95%") from None
    if value > 1.0 or text.strip().endswith("%"):
        value /= 100.0
    if not 0.0 <= value <= 1.0:
        raise GovcxError(f"--fail-under {text!r} must be between 0 and 1 (or 0% and 100%)")
    return value


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise GovcxError(f"cannot write {path}: {exc.strerror}") from None


# -- run ------------------------------------------------------------------------------------
@eval_app.command("run")
@handle_errors
def run(
    suites: SuitesArg = None,
    pack: PackOpt = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a self-contained HTML report here.")
    ] = None,
    json_file: Annotated[
        Path | None,
        typer.Option("--json", help="Write the JSON report here (read by `govcx eval compare`)."),
    ] = None,
    fail_under: Annotated[
        str | None,
        typer.Option(
            "--fail-under",
            help="Exit 1 if the pass rate is below this (0.95, 95 or 95%); "
            "without it, exit 1 if any case fails.",
        ),
    ] = None,
    workers: WorkersOpt = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="Only cases with this tag (repeatable).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the summary.")] = False,
) -> None:
    """Run eval suites: each case on fresh state, in parallel; print the results."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from govcx.evals.html import render_html
    from govcx.evals.runner import default_workers, run_suites

    threshold = parse_rate(fail_under) if fail_under is not None else None

    loaded = _suites(suites, pack)
    n_workers = workers or default_workers()
    progress = Progress(
        TextColumn("[bold]eval[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )
    task = progress.add_task("cases", total=None, last="starting workers…")

    def planned(n: int) -> None:
        progress.update(task, total=n)
        progress.start()

    def done(result: Any) -> None:
        mark = "[green]✓[/green]" if result.passed else "[red]✗[/red]"
        progress.update(task, advance=1, last=f"{mark} {escape(result.case_id)}")

    try:
        result = run_suites(
            loaded,
            pack_dir=pack,
            workers=n_workers,
            tags=tag or (),
            on_result=done,
            on_plan=planned,
        )
    finally:
        progress.stop()
    data = result.as_dict()
    if not result.cases:
        raise GovcxError("no case matched" + (f" the tags {', '.join(tag)}" if tag else ""))
    render_run(data, quiet=quiet)
    if json_file is not None:
        _write(json_file, json.dumps(data, indent=2, ensure_ascii=False, default=str))
        console.print(f"[dim]JSON report: {json_file}[/dim]")
    if report is not None:
        _write(report, render_html(data))
        console.print(f"[dim]HTML report: {report}[/dim]")
    rate = result.summary["pass_rate"] or 0.0
    if threshold is not None:
        if rate < threshold:
            err_console.print(
                f"[red]pass rate {_pct(rate)} is below --fail-under {_pct(threshold)}[/red]"
            )
            raise typer.Exit(1)
        return
    failed = result.summary["cases"] - result.summary["passed"]
    if failed:
        err_console.print(
            f"[red]{failed} of {result.summary['cases']} case(s) failed[/red] "
            f"(pass rate {_pct(rate)}); to accept a lower pass rate, pass "
            "--fail-under, e.g. --fail-under 0.95",
            highlight=False,
        )
        raise typer.Exit(1)


def render_run(data: dict[str, Any], *, quiet: bool = False) -> None:
    summary = data["summary"]
    cases = data["cases"]
    if not quiet:
        failing = [c for c in cases if not c["passed"]]
        if failing:
            table = Table(
                title=f"Failing cases ({len(failing)})", show_lines=True, title_justify="left"
            )
            table.add_column("case", style="bold", no_wrap=True)
            table.add_column("tags")
            table.add_column("why")
            for case in failing:
                table.add_row(
                    escape(case["case_id"]),
                    escape(", ".join(case["tags"])),
                    escape("\n".join(case["failures"])),
                )
            console.print(table)
        tags = Table(title="Pass rate by tag", title_justify="left")
        for col in ("tag", "passed", "cases", "rate"):
            tags.add_column(col, justify="right" if col != "tag" else "left")
        for name, row in summary["by_tag"].items():
            style = (
                "green"
                if row["pass_rate"] == 1.0
                else "yellow"
                if (row["pass_rate"] or 0) >= 0.8
                else "red"
            )
            tags.add_row(
                escape(name),
                str(row["passed"]),
                str(row["cases"]),
                f"[{style}]{_pct(row['pass_rate'])}[/{style}]",
            )
        console.print(tags)
        confusion = summary["confusion"]
        labels = [
            c
            for c in confusion["labels"]
            if c in confusion["expected"]
            or any(confusion["matrix"][e].get(c) for e in confusion["expected"])
        ]
        matrix = Table(
            title="Route confusion (rows expected, columns actual)", title_justify="left"
        )
        matrix.add_column("expected \\ actual")
        for label in labels:
            matrix.add_column(label, justify="right")
        for exp in confusion["expected"]:
            row = confusion["matrix"][exp]
            matrix.add_row(
                exp,
                *[
                    (
                        f"[green]{row.get(a, 0)}[/green]"
                        if a == exp and row.get(a, 0)
                        else f"[red]{row.get(a, 0)}[/red]"
                        if row.get(a, 0)
                        else "0"
                    )
                    for a in labels
                ],
            )
        console.print(matrix)
    comp = summary["compliance"]
    esc = summary["escalation"]
    lat = summary["latency_ms"]
    totals = Table(title="Summary", title_justify="left", show_header=False)
    totals.add_column("metric")
    totals.add_column("value", justify="right")
    rate = summary["pass_rate"]
    style = "green" if rate == 1.0 else "yellow" if (rate or 0) >= 0.9 else "red"
    totals.add_row(
        "pass rate",
        f"[{style}]{_pct(rate)}[/{style}] ({summary['passed']}/{summary['cases']} cases)",
    )
    totals.add_row(
        "route accuracy",
        f"{_pct(summary['confusion']['accuracy'])} ({summary['confusion']['steps']} steps)",
    )
    comp_style = "green" if comp["rate"] == 1.0 else "red"
    totals.add_row(
        "governance compliance",
        f"[{comp_style}]{_pct(comp['rate'])}"
        f"[/{comp_style}] ({comp['compliant']}/{comp['cases']})"
        + (
            ""
            if not comp["violations"]
            else " violations: " + ", ".join(f"{k} {v}" for k, v in comp["violations"].items())
        )
        + (
            ""
            if not comp.get("unauthenticated_decisions")
            else f" · [yellow]{comp['unauthenticated_decisions']} unauthenticated "
            "decision(s)[/yellow] (dev mode, no key)"
        ),
    )
    totals.add_row(
        "escalation precision / recall",
        f"{_pct(esc['precision'])} / {_pct(esc['recall'])} "
        f"(tp {esc['tp']}, fp {esc['fp']}, fn {esc['fn']})",
    )
    totals.add_row(
        "latency p50 / p95 per step",
        f"{lat['p50'] or 0:.0f} / {lat['p95'] or 0:.0f} ms ({lat['steps']} steps)",
    )
    totals.add_row(
        "duration", f"{data['run']['duration_s']} s on {data['run']['workers']} worker(s)"
    )
    console.print(totals)


# -- compare ----------------------------------------------------------------------------------
@eval_app.command("compare")
@handle_errors
def compare(
    old: Annotated[Path, typer.Argument(help="The earlier run's JSON report.")],
    new: Annotated[Path, typer.Argument(help="The later run's JSON report.")],
    json_out: JsonOpt = False,
    fail_on_regression: Annotated[
        bool, typer.Option("--fail-on-regression", help="Exit 1 if a case that passed now fails.")
    ] = False,
) -> None:
    """List what got better and what got worse between two runs."""
    from govcx.evals.compare import compare_reports, load_report

    diff = compare_reports(load_report(old), load_report(new))
    if json_out:
        print_json(diff)
    else:
        render_compare(diff)
    if fail_on_regression and diff["regressed"]:
        raise typer.Exit(1)


def render_compare(diff: dict[str, Any]) -> None:
    table = Table(title="Metrics", title_justify="left")
    for col in ("metric", "old", "new", "delta", ""):
        table.add_column(col, justify="left" if col == "metric" else "right")
    marks = {"better": "[green]better[/green]", "worse": "[red]worse[/red]", "same": ""}
    for row in diff["metrics"]:
        table.add_row(
            row["metric"],
            _fmt(row["old"]),
            _fmt(row["new"]),
            _fmt(row["delta"], signed=True),
            marks[row["verdict"]],
        )
    console.print(table)
    for tag in diff["tags"]:
        console.print(
            f"tag {tag['tag']}: {_pct(tag['old'])} → {_pct(tag['new'])} {marks[tag['verdict']]}"
        )
    for item in diff["regressed"]:
        console.print(
            f"[red]regressed[/red] {escape(item['case_id'])}: "
            + escape("; ".join(item["failures"])),
            highlight=False,
        )
    for item in diff["fixed"]:
        console.print(f"[green]fixed[/green] {item['case_id']}")
    for item in diff["added"]:
        console.print(f"added {item['case_id']} ({'pass' if item['passed'] else 'fail'})")
    for cid in diff["removed"]:
        console.print(f"removed {cid}")
    if diff["still_failing"]:
        console.print(f"[dim]still failing: {', '.join(diff['still_failing'])}[/dim]")
    console.print(f"[bold]{diff['better']} better, {diff['worse']} worse[/bold]")


def _fmt(value: Any, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:+.4g}" if signed else f"{value:.4g}"
    return str(value)


# -- simulate ---------------------------------------------------------------------------------
@eval_app.command("simulate")
@handle_errors
def simulate(
    policy: Annotated[Path, typer.Option("--policy", help="The new policy file to try.")],
    suites: SuitesArg = None,
    pack: PackOpt = None,
    recorded: Annotated[
        bool,
        typer.Option(
            "--recorded/--no-recorded",
            help="Also replay the conversations recorded in GOVCX_HOME's audit log.",
        ),
    ] = True,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", min=1, help="Replay at most the N most recent recorded conversations."
        ),
    ] = None,
    workers: WorkersOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Replay suites and recorded conversations under a new policy; list what changes."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from govcx.cli._common import load
    from govcx.evals.runner import default_workers
    from govcx.evals.simulate import (
        load_new_policy,
        recorded_conversations,
        suite_conversations,
    )
    from govcx.evals.simulate import simulate as run_simulation
    from govcx.settings import Settings

    the_pack = load(pack)
    new_policy = load_new_policy(policy, the_pack)
    conversations = (
        suite_conversations(_suites(suites, pack))
        if suites or the_pack.evals_dir is not None
        else []
    )
    if recorded:
        conversations += recorded_conversations(the_pack, Settings(), limit=limit)
    if not conversations:
        raise GovcxError("nothing to replay: name suite files, or record conversations first")
    progress = Progress(
        TextColumn("[bold]simulate[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )
    task = progress.add_task("conversations", total=len(conversations))
    with progress:
        report = run_simulation(
            new_policy,
            conversations,
            pack_dir=pack,
            workers=workers or default_workers(),
            on_result=lambda _: progress.advance(task),
        )
    if json_out:
        print_json(report)
        return
    render_simulation(report)


def render_simulation(report: dict[str, Any]) -> None:
    summary = report["summary"]
    console.print(
        f"[bold]policy {report['old_policy']} → {report['new_policy']}[/bold]: "
        f"{summary['conversations']} conversations replayed ({summary['from_suites']} "
        f"from suites, {summary['recorded']} recorded), {summary['steps']} steps"
    )
    for row in report["policy_diff"]:
        console.print(
            f"  [dim]{row['change']}[/dim] {row['path']}: {row['old']!r} → {row['new']!r}",
            highlight=False,
        )
    if not summary["changed_steps"]:
        console.print("[green]no decision changes[/green]")
        return
    console.print(
        f"[yellow]{summary['changed_steps']} decisions change in "
        f"{summary['changed_conversations']} conversations[/yellow]: "
        + ", ".join(f"{k} {v}" for k, v in summary["by_change"].items())
    )
    for title, key, first in (
        ("By workflow", "by_workflow", "workflow"),
        ("By tier", "by_tier", "tier"),
    ):
        table = Table(title=title, title_justify="left")
        table.add_column(first)
        table.add_column("changes")
        for name, counts in report[key].items():
            table.add_row(name, ", ".join(f"{k}: {v}" for k, v in counts.items()))
        console.print(table)
    table = Table(title="Examples", title_justify="left", show_lines=True)
    for col in ("workflow", "change", "conversation", "message", "before", "after"):
        table.add_column(col)
    for workflow, changes in report["examples"].items():
        for label, items in changes.items():
            for item in items:
                table.add_row(
                    escape(workflow),
                    label,
                    escape(f"{item['conversation']} #{item['step']}"),
                    escape(item["input"]),
                    escape(_side(item["old"])),
                    escape(_side(item["new"])),
                )
    console.print(table)
    for error in report["errors"]:
        err_console.print(
            f"[red]replay error[/red] {error['conversation']}: {error['error'].splitlines()[0]}"
        )


def _side(outcome: dict[str, Any]) -> str:
    if outcome.get("error"):
        return f"error {outcome['error']}"
    parts = [str(outcome.get("status"))]
    if outcome.get("route"):
        parts.append(f"route {outcome['route']}")
    if outcome.get("rules"):
        parts.append(", ".join(outcome["rules"]))
    if outcome.get("approvers"):
        parts.append(f"{outcome['approvers']} approver(s)")
    return "\n".join(parts)


# -- readiness ---------------------------------------------------------------------------------
@eval_app.command("readiness")
@handle_errors
def readiness(
    pack: PackOpt = None,
    json_out: JsonOpt = False,
    min_sample: Annotated[
        int,
        typer.Option("--min-sample", min=1, help="Decided approvals needed before recommending."),
    ] = 30,
) -> None:
    """From recorded approvals: how often humans approved, edited or rejected the AI's
    proposals per workflow, and which autonomy changes the evidence supports."""
    from govcx.cli._common import load
    from govcx.evals.readiness import Thresholds
    from govcx.evals.readiness import readiness as compute
    from govcx.evals.state import recorded_approvals
    from govcx.settings import Settings

    the_pack = load(pack)
    data = compute(
        the_pack.policy,
        recorded_approvals(the_pack, Settings()),
        thresholds=Thresholds(min_sample=min_sample),
    )
    if json_out:
        print_json(data)
        return
    table = Table(
        title=f"Autonomy readiness ({data['requests']} approval requests, policy "
        f"{data['policy_version']})",
        title_justify="left",
    )
    for col in (
        "workflow",
        "autonomy",
        "decided",
        "unchanged",
        "edited",
        "rejected",
        "recommendation",
    ):
        table.add_column(
            col,
            justify="right" if col in ("decided", "unchanged", "edited", "rejected") else "left",
        )
    for row in data["workflows"]:
        rec = row["recommendation"]
        label = {
            "promote": f"[green]promote to {rec['to']}[/green]",
            "demote": f"[red]demote to {rec['to']}[/red]",
            "review_limits": "[yellow]review limits[/yellow]",
        }.get(rec["action"], rec["action"])
        table.add_row(
            row["workflow"],
            row["autonomy"],
            str(row["decided"]),
            _share(row, "unchanged"),
            _share(row, "edited"),
            _share(row, "rejected"),
            label,
        )
    console.print(table)
    for row in data["workflows"]:
        console.print(
            f"[bold]{escape(row['workflow'])}[/bold]: {escape(row['recommendation']['reason'])}",
            highlight=False,
        )
    console.print(f"[dim]{data['note']}[/dim]")


def _share(row: dict[str, Any], key: str) -> str:
    rate = row.get(f"{key}_rate")
    return f"{row[key]}" + (f" ({rate * 100:.0f}%)" if rate is not None else "")
