"""Rich rendering of turns and approvals for the terminal."""

from __future__ import annotations

import time
from typing import Any

from rich.panel import Panel
from rich.table import Table

from govcx.cli._common import console

_STATUS_STYLE = {"answered": "green", "pending_approval": "yellow", "escalated": "magenta",
                 "blocked": "red"}


def turn(t: Any) -> None:
    style = _STATUS_STYLE.get(t.status, "white")
    lines = []
    if t.reply is not None:
        lines.append(t.reply.text)
        for c in t.reply.citations:
            lines.append(f"[dim]  source: {c.title} ({c.doc_id} v{c.version})[/dim]")
    for a in t.actions:
        lines.append(f"[bold]action[/bold] {a.tool}({_args(a.args)}) → {a.status}"
                     + (f": {a.error}" if a.error else ""))
    if t.approval_id and t.status == "pending_approval":
        lines.append(f"[yellow]approval needed:[/yellow] {t.approval_id}")
    if t.escalation is not None:
        lines.append(f"[magenta]escalated:[/magenta] {t.escalation.reason}")
    meta = f"{t.status} · intent {t.intent or '-'} · confidence {t.confidence:.2f}"
    if t.decision is not None:
        rules = ", ".join(t.decision.rules) or "-"
        meta += f" · rules {rules} · policy {t.decision.policy_version}"
    console.print(Panel("\n".join(lines) or "(no reply)", title=f"[{style}]{t.status}[/{style}]",
                        subtitle=f"[dim]{meta}[/dim]", title_align="left",
                        subtitle_align="left"))


def _args(args: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in (args or {}).items())


def approvals_table(items: list[Any]) -> None:
    table = Table(title="Approvals", show_lines=False)
    table.add_column("approval", no_wrap=True)
    for col in ("status", "tier", "action", "conversation", "age", "approvals"):
        table.add_column(col, overflow="fold")
    now = time.time()
    for a in items:
        action = f"{a.tool}({_args(a.args)})" if a.kind == "action" else "reply"
        age = _age(now - a.requested_at)
        table.add_row(a.approval_id, a.status, a.tier, action, a.conversation_id, age,
                      f"{len(a.approvers)}/{a.approvals_needed}")
    console.print(table)


def approval(a: Any) -> None:
    lines = [f"[bold]{a.kind}[/bold] {a.tool or ''}({_args(a.args)})" if a.kind == "action"
             else "[bold]reply[/bold] awaiting review",
             f"status: {a.status}   tier: {a.tier}   approvals: {len(a.approvers)}/"
             f"{a.approvals_needed}",
             f"rules: {', '.join(a.rules)}", f"rationale: {a.rationale}",
             f"conversation: {a.conversation_id}   customer: {a.customer_id or '-'}",
             f"policy: {a.policy_version}   expires in: {_age(a.expires_at - time.time())}"]
    if a.draft_reply:
        lines.append(f"draft reply: {a.draft_reply}")
    for e in a.evidence:
        lines.append(f"[dim]evidence: {e}[/dim]")
    for d in a.decisions:
        lines.append(f"decision: {d.principal} {d.decision}"
                     + (f" ({d.comment})" if d.comment else ""))
    console.print(Panel("\n".join(lines), title=a.approval_id, title_align="left"))


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"
