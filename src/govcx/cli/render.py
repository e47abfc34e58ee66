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
    if t.approval_status == "failed":
        style = "red"  # approved, but the action did not happen
        lines.append(f"[red]approval {t.approval_id} failed:[/red] the approved action failed")
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


_APPROVAL_STYLE = {
    "pending": "yellow",
    "approved": "green",
    "failed": "red",
    "rejected": "magenta",
    "expired": "dim",
    "superseded": "dim",
}


def approvals_table(items: list[Any], conditions: dict[str, list[dict[str, str]]]) -> None:
    """Three lines per request, readable at 80 columns: what to copy (the id), what to
    decide on (the action and its arguments) and why (each rule's condition, in the
    policy the request was made under); text too long for the terminal ends in "…"
    (``approvals show ID`` or ``--json`` has it in full)."""
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
    table.add_column("action\narguments\nwhy", no_wrap=True, overflow="ellipsis", min_width=12)
    now = time.time()
    for a in items:
        if a.kind == "action":
            action = f"{escape(a.tool or '')}\n[dim]{escape(_short_args(a.args))}[/dim]"
        else:
            action = "reply\n[dim]awaiting review[/dim]"
        why = "; ".join(c["condition"] for c in conditions.get(a.approval_id, [])) or "-"
        # The reason must not widen the table past what the action needs (or 30 columns).
        room = max(30, len(a.tool or ""), len(_short_args(a.args)))
        why = why if len(why) <= room else why[: room - 1] + "…"
        style = _APPROVAL_STYLE.get(a.status, "white")
        table.add_row(
            f"{a.approval_id}\n[dim]{escape(a.conversation_id)}[/dim]",
            f"[{style}]{a.status}[/{style}] {len(a.approvers)}/{a.approvals_needed}\n"
            f"[dim]tier {escape(a.tier)}[/dim]",
            _age(now - a.requested_at),
            f"{action}\n[italic]{escape(why)}[/italic]",
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


def approval(a: dict[str, Any]) -> None:
    """One request in full (the JSON view of ``approvals show``)."""
    approvers = [d for d in a["decisions"] if d["decision"] in ("approve", "edit")]
    style = _APPROVAL_STYLE.get(a["status"], "white")
    lines = [
        f"[bold]{a['kind']}[/bold] {escape(a['tool'] or '')}({escape(_args(a['args']))})"
        if a["kind"] == "action"
        else "[bold]reply[/bold] awaiting review",
        f"status: [{style}]{a['status']}[/{style}]   tier: {escape(a['tier'])}   "
        f"approvals: {len(approvers)}/{a['approvals_needed']}",
        f"conversation: {escape(a['conversation_id'])}   "
        f"customer: {escape(a['customer_id'] or '-')}",
        f"policy: {escape(a['policy_version'])}   "
        f"expires in: {_age(a['expires_at'] - time.time())}",
    ]
    if a.get("failure"):
        lines.append(f"[red]failed after approval:[/red] {escape(a['failure'])}")
    lines.append("[bold]why[/bold]")
    for c in a.get("rule_conditions") or []:
        lines.append(f"  {escape(c['condition'])} [dim]({escape(c['rule'])})[/dim]")
    lines.append(f"  [dim]{escape(a['rationale'])}[/dim]")
    context = a.get("context")
    if context:
        lines.append("[bold]context[/bold]")
        if context["status"] != "ok":
            lines.append(f"  [yellow]unavailable:[/yellow] {escape(context.get('error') or '')}")
        for key, value in context["facts"].items():
            lines.append(f"  {escape(key)}: {escape(_fact(value))}")
    if a.get("reply_if_approved"):
        lines.append(f"[bold]reply if approved[/bold]\n  {escape(a['reply_if_approved'])}")
    if a.get("reply_if_rejected"):
        lines.append(f"[bold]reply if rejected[/bold]\n  {escape(a['reply_if_rejected'])}")
    for e in a["evidence"]:
        lines.append(f"[dim]evidence: {escape(str(e))}[/dim]")
    for d in a["decisions"]:
        lines.append(
            f"decision: {escape(d['principal'])} {d['decision']}"
            + (f" ({escape(d['comment'])})" if d.get("comment") else "")
        )
    console.print(Panel("\n".join(lines), title=a["approval_id"], title_align="left"))


def _fact(value: Any) -> str:
    """A context fact on one line: lists item by item, objects as ``key value`` pairs."""
    if isinstance(value, list):
        return "; ".join(_fact(v) for v in value) if value else "none"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fact(v)}" for k, v in value.items())
    return str(value)


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"
