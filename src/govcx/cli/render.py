"""Rich rendering of turns and approvals for the terminal."""

from __future__ import annotations

import time
from typing import Any

from rich import box
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from govcx.cli._common import console

_STATUS_STYLE = {
    "answered": "green",
    "pending_approval": "yellow",
    "escalated": "magenta",
    "blocked": "red",
    "with_human": "cyan",
}


def turn(t: Any) -> None:
    style = _STATUS_STYLE.get(t.status, "white")
    lines = []
    if t.reply is not None:
        lines.append(t.reply.text)
        for c in t.reply.citations:
            lines.append(f"[dim]  source: {c.title} ({c.doc_id} v{c.version})[/dim]")
    for a in t.actions:
        lines.append(
            f"[bold]action[/bold] {a.tool}({_args(a.args)}) → {a.status}"
            + (f": {a.error}" if a.error else "")
        )
    if t.approval_id and t.status == "pending_approval":
        lines.append(f"[yellow]approval needed:[/yellow] {t.approval_id}")
    if t.escalation is not None:
        lines.append(f"[magenta]escalated:[/magenta] {t.escalation.reason}")
        if t.escalation.case_id:
            lines.append(
                f"[magenta]case[/magenta] {t.escalation.case_id} · team "
                f"{t.escalation.team or '-'} · {t.escalation.priority}"
            )
    if t.status == "with_human":
        lines.append(
            f"[cyan]a person has this conversation[/cyan] (case {t.case_id}); "
            "the AI does not reply until it is handed back"
        )
    meta = f"{t.status} · intent {t.intent or '-'} · confidence {t.confidence:.2f}"
    if t.decision is not None:
        rules = ", ".join(t.decision.rules) or "-"
        meta += f" · rules {rules} · policy {t.decision.policy_version}"
    console.print(
        Panel(
            "\n".join(lines) or "(no reply)",
            title=f"[{style}]{t.status}[/{style}]",
            subtitle=f"[dim]{meta}[/dim]",
            title_align="left",
            subtitle_align="left",
        )
    )


def _args(args: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in (args or {}).items())


def approvals_table(items: list[Any]) -> None:
    """Two lines per request, readable at 80 columns: what to copy (the id) and what to
    decide on (the action and its arguments); arguments too long for the terminal end in
    "…" (``approvals show ID`` or ``--json`` has them in full)."""
    table = Table(
        title="Approvals", box=box.SIMPLE_HEAD, pad_edge=False, leading=1, title_justify="left"
    )
    # The id is never cut: it is what the next command needs.
    table.add_column(
        "approval\nconversation",
        no_wrap=True,
        overflow="ellipsis",
        min_width=max(len(a.approval_id) for a in items),
    )
    table.add_column("status\ntier", no_wrap=True, min_width=len("pending 0/1"))
    table.add_column("age", no_wrap=True, justify="right")
    table.add_column("action\narguments", no_wrap=True, overflow="ellipsis", min_width=12)
    now = time.time()
    for a in items:
        if a.kind == "action":
            action = f"{escape(a.tool or '')}\n[dim]{escape(_short_args(a.args))}[/dim]"
        else:
            action = "reply\n[dim]awaiting review[/dim]"
        table.add_row(
            f"{a.approval_id}\n[dim]{escape(a.conversation_id)}[/dim]",
            f"{a.status} {len(a.approvers)}/{a.approvals_needed}\n[dim]tier {escape(a.tier)}[/dim]",
            _age(now - a.requested_at),
            action,
        )
    console.print(table)


def _short_args(args: dict[str, Any] | None) -> str:
    """``order_id=A-1002, amount=80.0``: values without quotes, for a one-line summary."""
    return ", ".join(f"{k}={v}" for k, v in (args or {}).items()) or "(no arguments)"


def conversations_table(rows: list[dict[str, Any]]) -> None:
    """One line per conversation; ids too long for the terminal end in "…" (``--json``
    has them in full)."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("conversation", no_wrap=True, overflow="ellipsis", min_width=12)
    table.add_column("owner", no_wrap=True, overflow="ellipsis", max_width=12)
    table.add_column("customer", no_wrap=True, overflow="ellipsis", max_width=12)
    table.add_column("status", no_wrap=True)
    table.add_column("turns", justify="right", no_wrap=True)
    table.add_column("updated", justify="right", no_wrap=True)
    now = time.time()
    for row in rows:
        status = (
            row["status"] if row["status"] != "idle" else (row.get("last_turn_status") or "idle")
        )
        style = _STATUS_STYLE.get(status)
        table.add_row(
            escape(row["conversation_id"]),
            escape(row.get("owner") or "-"),
            escape(row.get("customer_id") or "-"),
            f"[{style}]{status}[/{style}]" if style else escape(status),
            str(row["turn_count"]),
            f"{_age(now - row['updated_at'])} ago",
        )
    console.print(table)


def approval(a: Any) -> None:
    lines = [
        f"[bold]{a.kind}[/bold] {a.tool or ''}({_args(a.args)})"
        if a.kind == "action"
        else "[bold]reply[/bold] awaiting review",
        f"status: {a.status}   tier: {a.tier}   approvals: {len(a.approvers)}/{a.approvals_needed}",
        f"rules: {', '.join(a.rules)}",
        f"rationale: {a.rationale}",
        f"conversation: {a.conversation_id}   customer: {a.customer_id or '-'}",
        f"policy: {a.policy_version}   expires in: {_age(a.expires_at - time.time())}",
    ]
    if a.draft_reply:
        lines.append(f"draft reply: {a.draft_reply}")
    for e in a.evidence:
        lines.append(f"[dim]evidence: {e}[/dim]")
    for d in a.decisions:
        lines.append(
            f"decision: {d.principal} {d.decision}" + (f" ({d.comment})" if d.comment else "")
        )
    console.print(Panel("\n".join(lines), title=a.approval_id, title_align="left"))


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"
