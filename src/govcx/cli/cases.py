"""``govcx cases``: the queue of escalated conversations, from the terminal.

The same rules as ``/v1/cases`` (govcx.governance.cases): a person with the role agent
works the cases of their teams, authenticated by an API key (``--as`` in dev mode
only). Only the database is opened; a reply or a note also loads the guard, which
redacts what is stored. Actions taken here are audited like any other; a channel
following the conversation's event stream on a running server sees a reply within its
poll interval, but webhooks are sent by the server only.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from govcx.cli._common import (
    AsOpt,
    JsonOpt,
    KeyFileOpt,
    PackOpt,
    console,
    decider,
    err_console,
    handle_errors,
    print_json,
)
from govcx.cli._stores import Stores, open_stores
from govcx.errors import GovcxError

cases_app = typer.Typer(
    help="Work escalated conversations: list, show, claim, reply, hand back, resolve.",
    no_args_is_help=True,
)

STATUSES = ("open", "waiting", "human", "closed", "handed_back", "resolved", "all")
NoteOpt = Annotated[str | None, typer.Option(help="An internal note recorded with it.")]


def _store(stores: Stores, *, redacting: bool = False) -> Any:
    from govcx.governance.cases import CaseStore

    redact = None
    if redacting:
        from govcx.guardrails import build_guard

        redact = build_guard(stores.pack.policy.guards).redact
    if redact is None:
        return CaseStore(stores.db, stores.audit)
    return CaseStore(stores.db, stores.audit, redact=redact)


def _who(stores: Any, as_: str | None, key_file: Path | None) -> Any:
    """The person acting (a Stores or an Agent: both have pack, settings and db)."""
    keys = getattr(stores, "keys", None)
    principal, authenticated = decider(
        stores, key_file=key_file, as_=as_, keys=keys, doing="working a case", role="agent"
    )
    if not authenticated:
        err_console.print(
            f"[yellow]unauthenticated[/yellow] dev-mode action as {principal.name} (GOVCX_DEV=1)",
            highlight=False,
        )
    return principal


def _due(case: Any, now: float) -> str:
    due = case.next_due()
    if due is None:
        return "-"
    left = due - now
    sign = "overdue " if left < 0 else "in "
    left = abs(left)
    text = (
        f"{int(left // 3600)}h{int(left % 3600 // 60):02d}m"
        if left >= 3600
        else (f"{int(left // 60)}m")
    )
    return sign + text


@cases_app.command("list")
@handle_errors
def cases_list(
    status: Annotated[str, typer.Option(help="|".join(STATUSES))] = "open",
    team: Annotated[str | None, typer.Option(help="Only this team's cases.")] = None,
    priority: Annotated[str | None, typer.Option(help="urgent|high|normal|low")] = None,
    assignee: Annotated[str | None, typer.Option(help="Only cases this person has.")] = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer's cases.")] = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Cases by urgency: the nearest SLA deadline first."""
    if status not in STATUSES:
        raise GovcxError(f"--status {status!r} is not valid; use one of {', '.join(STATUSES)}")
    if priority is not None and priority not in ("urgent", "high", "normal", "low"):
        raise GovcxError(f"--priority {priority!r} is not valid; use urgent, high, normal or low")
    with open_stores(pack) as stores:
        found = _store(stores).list(
            status=None if status == "all" else status,
            teams=[team] if team else None,
            priority=priority,
            assignee=assignee,
            customer_id=customer,
        )
    if json_out:
        print_json([c.as_dict() for c in found])
        return
    if not found:
        console.print(f"no {status} cases")
        return
    now = time.time()
    # Two lines per case, readable at 80 columns: the id to copy, and what it is about.
    table = Table(
        title="Cases", box=box.SIMPLE_HEAD, pad_edge=False, leading=1, title_justify="left"
    )
    for column in ("case", "status", "team", "priority", "due", "assignee"):
        table.add_column(column, no_wrap=column != "case", min_width=len(column))
    for case in found:
        late = bool(case.breached)
        wants = " ".join(str(case.summary.get("customer_wants") or case.reason).split())
        table.add_row(
            f"{case.case_id}\n[dim]{escape(wants[:60])}[/dim]",
            case.status,
            case.team or "-",
            case.priority,
            f"[red]{_due(case, now)}[/red]" if late else _due(case, now),
            case.assignee or "-",
        )
    console.print(table)


@cases_app.command("show")
@handle_errors
def cases_show(case_id: str, pack: PackOpt = None, json_out: JsonOpt = False) -> None:
    """One case: the hand-off summary, the transcript and what people did on it."""
    with open_stores(pack) as stores:
        store = _store(stores)
        case = store.get(case_id)
        transcript = stores.conversations.transcript(case.conversation_id)
        events = store.events(case_id)
    if json_out:
        print_json({**case.as_dict(), "transcript": transcript, "events": events})
        return
    s = case.summary
    lines = [
        f"[bold]customer wants[/bold] {escape(str(s.get('customer_wants', '')))}",
        f"[bold]why the AI stopped[/bold] {escape(str(s.get('why', case.reason)))} "
        f"(rules {', '.join(s.get('rules') or []) or '-'}; intent {s.get('intent') or '-'}, "
        f"confidence {float(s.get('confidence') or 0):.2f})",
    ]
    if s.get("recommended_action"):
        action = s["recommended_action"]
        lines.append(
            f"[bold]recommended[/bold] {escape(str(action['tool']))}"
            f"({escape(str(action.get('args')))})"
        )
    for doc in s.get("knowledge") or []:
        title, doc_id = escape(str(doc.get("title"))), escape(str(doc.get("doc_id")))
        lines.append(f"[dim]knowledge: {title} ({doc_id})[/dim]")
    for approval in s.get("pending_approvals") or []:
        lines.append(f"[yellow]pending approval[/yellow] {approval['approval_id']}")
    lines.append("")
    for line in transcript:
        who = line["role"] + (f" {line['author']}" if line.get("author") else "")
        lines.append(f"[cyan]{escape(who)}[/cyan]: {escape(line['text'])}")
    notes = [e for e in events if e["kind"] == "note"]
    for note in notes:
        lines.append(f"[magenta]note {escape(note['actor'])}[/magenta]: {escape(note['text'])}")
    meta = (
        f"{case.status} · team {case.team or '-'} · {case.priority} · "
        f"assignee {case.assignee or '-'} · due {_due(case, time.time())}"
        + (f" · breached {', '.join(case.breached)}" if case.breached else "")
    )
    console.print(
        Panel(
            "\n".join(lines),
            title=f"{case.case_id} · {case.conversation_id}",
            subtitle=f"[dim]{meta}[/dim]",
            title_align="left",
            subtitle_align="left",
        )
    )


def _act(
    case_id: str,
    action: str,
    *,
    pack: Path | None,
    as_: str | None,
    key_file: Path | None,
    json_out: bool,
    text: str | None = None,
    agent: str | None = None,
) -> None:
    with open_stores(pack, load=True) as stores:
        who = _who(stores, as_, key_file)
        to = stores.pack.principal(str(agent)) if action == "assign" else None
        store = _store(stores, redacting=text is not None)
        done = store.act(action, case_id, who, text=text, to=to)
    if json_out:
        print_json(done.case.as_dict())
        return
    case = done.case
    console.print(
        f"{case.case_id}: {case.status}"
        + (f" · {case.assignee}" if case.assignee else "")
        + (" (no change)" if done.event_type is None and action in ("claim", "assign") else "")
    )


@cases_app.command("claim")
@handle_errors
def cases_claim(
    case_id: str,
    as_: AsOpt = None,
    key_file: KeyFileOpt = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Take a case: the AI stops replying in its conversation."""
    _act(case_id, "claim", pack=pack, as_=as_, key_file=key_file, json_out=json_out)


@cases_app.command("assign")
@handle_errors
def cases_assign(
    case_id: str,
    agent: str,
    as_: AsOpt = None,
    key_file: KeyFileOpt = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Give a case to an agent of its team."""
    _act(case_id, "assign", pack=pack, as_=as_, key_file=key_file, json_out=json_out, agent=agent)


@cases_app.command("reply")
@handle_errors
def cases_reply(
    case_id: str,
    text: str,
    as_: AsOpt = None,
    key_file: KeyFileOpt = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Answer the customer (you must have claimed the case)."""
    _act(case_id, "reply", pack=pack, as_=as_, key_file=key_file, json_out=json_out, text=text)


@cases_app.command("suggest")
@handle_errors
def cases_suggest(
    case_id: str,
    as_: AsOpt = None,
    key_file: KeyFileOpt = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Ask the AI for a reply to the customer's latest message; it is not sent (send it
    yourself with `govcx cases reply`)."""
    from govcx.cli._common import open_agent

    agent = open_agent(pack)
    who = _who(agent, as_, key_file)
    suggestion = agent.suggest_reply(case_id, who)
    if json_out:
        print_json(suggestion)
        return
    if not suggestion["text"]:
        console.print(
            "the AI has nothing to suggest: no approved knowledge covers the last message"
        )
        return
    lines = [escape(suggestion["text"])]
    for citation in suggestion["citations"]:
        lines.append(f"[dim]  source: {escape(citation.get('title', ''))}[/dim]")
    for problem in suggestion["problems"]:
        lines.append(f"[yellow]  checked: {escape(problem)}[/yellow]")
    console.print(
        Panel(
            "\n".join(lines),
            title="suggested reply (not sent)",
            subtitle=f"[dim]intent {suggestion['intent'] or '-'} · "
            f"confidence {suggestion['confidence']:.2f}[/dim]",
            title_align="left",
            subtitle_align="left",
        )
    )


@cases_app.command("note")
@handle_errors
def cases_note(
    case_id: str,
    text: str,
    as_: AsOpt = None,
    key_file: KeyFileOpt = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Add an internal note (never shown to the customer)."""
    _act(case_id, "note", pack=pack, as_=as_, key_file=key_file, json_out=json_out, text=text)


@cases_app.command("handback")
@handle_errors
def cases_handback(
    case_id: str,
    note: NoteOpt = None,
    as_: AsOpt = None,
    key_file: KeyFileOpt = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Give the conversation back to the AI and close the case."""
    _act(case_id, "hand_back", pack=pack, as_=as_, key_file=key_file, json_out=json_out, text=note)


@cases_app.command("resolve")
@handle_errors
def cases_resolve(
    case_id: str,
    note: NoteOpt = None,
    as_: AsOpt = None,
    key_file: KeyFileOpt = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Close the case as resolved."""
    _act(case_id, "resolve", pack=pack, as_=as_, key_file=key_file, json_out=json_out, text=note)
