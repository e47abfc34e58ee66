"""The govcx command line. Every command takes --pack and honours GOVCX_HOME.

Exit status: 0 ok, 1 a check failed (audit verify, eval thresholds, refused decision),
2 bad input.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from govcx.cli import render
from govcx.cli._common import (
    AsOpt,
    JsonOpt,
    KeyFileOpt,
    PackOpt,
    check_utf8,
    configure_logging,
    console,
    decider,
    err_console,
    handle_errors,
    load,
    open_agent,
    parse_json_arg,
    print_json,
)
from govcx.cli._stores import conversation_view, expiry_due, open_stores
from govcx.errors import GovcxError

CLI_OWNER = "cli"
"""Owner of the conversations the CLI starts: a channel of the API cannot use them."""

app = typer.Typer(
    help="govcx: a governed agent runtime for customer support.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
approvals_app = typer.Typer(help="Work the approval queue.", no_args_is_help=True)
policy_app = typer.Typer(
    help="Check and compare policy files; propose, review and roll out changes.",
    no_args_is_help=True,
)
conversations_app = typer.Typer(help="List and read conversations.", no_args_is_help=True)


@app.callback()
def _root(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Show library logging (alembic, chromadb, presidio, httpx, "
            "...) on stderr; without it only their errors are shown.",
        ),
    ] = False,
) -> None:
    configure_logging(verbose)


app.add_typer(approvals_app, name="approvals")
app.add_typer(policy_app, name="policy")
app.add_typer(conversations_app, name="conversations")


def _mount_optional() -> None:
    """Sub-apps owned by other areas."""
    import importlib

    for module, attr, name in (
        ("govcx.cli.kb", "kb_app", "kb"),
        ("govcx.cli.guard", "guard_app", "guard"),
        ("govcx.cli.evals", "eval_app", "eval"),
        ("govcx.cli.serve", "register", None),
        ("govcx.cli.db", "db_app", "db"),
        ("govcx.cli.classifier", "classifier_app", "classifier"),
        ("govcx.cli.keys", "keys_app", "keys"),
        ("govcx.cli.audit", "audit_app", "audit"),
        ("govcx.cli.cases", "cases_app", "cases"),
        ("govcx.cli.report", "register", None),
        ("govcx.cli.mcp", "mcp_app", "mcp"),
        ("govcx.cli.tools", "tools_app", "tools"),
    ):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        target = getattr(mod, attr)
        if name is None:
            target(app)
        else:
            app.add_typer(target, name=name)
    from govcx.cli.proposals import register

    register(policy_app)


# -- conversing ---------------------------------------------------------------------------
@app.command()
@handle_errors
def ask(
    text: Annotated[str, typer.Argument(help="The customer's message.")],
    conversation: Annotated[str | None, typer.Option(help="Conversation id to continue.")] = None,
    customer: Annotated[str | None, typer.Option(help="Customer id, e.g. C-1001.")] = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Send one customer message and print the Turn."""
    agent = open_agent(pack)
    conversation_id = conversation or f"cli-{uuid.uuid4().hex[:12]}"
    turn = agent.respond(conversation_id, text, customer_id=customer, owner=CLI_OWNER)
    if json_out:
        print_json(turn.model_dump(mode="json"))
        return
    render.turn(turn)
    console.print(
        f"[dim]conversation {conversation_id} (continue with --conversation "
        f"{conversation_id})[/dim]"
    )


@app.command()
@handle_errors
def chat(
    customer: Annotated[str | None, typer.Option(help="Customer id, e.g. C-1001.")] = "C-1001",
    approver: AsOpt = None,
    key_file: KeyFileOpt = None,
    pack: PackOpt = None,
) -> None:
    """Interactive terminal chat; approvals are decided inline with your API key
    (GOVCX_API_KEY or --key-file); in dev mode (GOVCX_DEV=1) also as --as NAME.

    Commands: /approve, /reject, /edit {json}, /new, /customer ID, /help, /quit.
    """
    from govcx.governance.keys import KeyStore

    agent = open_agent(pack)
    keys = KeyStore(agent.db)
    approvers = [n for n, p in agent.pack.principals.items() if p.approver_roles]
    inline = _ChatDecider(
        agent, keys, key_file=key_file, as_=approver, default=approvers[0] if approvers else None
    )
    conversation_id = f"chat-{uuid.uuid4().hex[:12]}"
    console.print(
        f"[bold]govcx chat[/bold] · pack [cyan]{agent.pack.name}[/cyan] · customer "
        f"{customer or '-'} · approvals {inline.describe()} · /help for commands",
        highlight=False,
        soft_wrap=True,
    )
    pending: str | None = None
    while True:
        try:
            line = console.input("[bold cyan]you>[/bold cyan] ").strip()
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        if not line:
            continue
        try:
            check_utf8(line, "the line")
            if line in ("/quit", "/exit"):
                return
            if line == "/help":
                console.print(
                    '/approve  /reject  /edit {"amount": 40}  /new  /customer ID  '
                    "/quit  (dev mode: a NAME after /approve, /reject, /edit)"
                )
                continue
            if line == "/new":
                conversation_id = f"chat-{uuid.uuid4().hex[:12]}"
                pending = None
                console.print(f"[dim]new conversation {conversation_id}[/dim]")
                continue
            if line.startswith("/customer"):
                customer = line.split(maxsplit=1)[1] if " " in line else None
                conversation_id = f"chat-{uuid.uuid4().hex[:12]}"
                console.print(f"[dim]customer {customer}, new conversation[/dim]")
                continue
            if line.startswith(("/approve", "/reject", "/edit")):
                if pending is None:
                    console.print("[dim]nothing is waiting for approval[/dim]")
                    continue
                turn = inline.decide(pending, line)
            else:
                turn = agent.respond(conversation_id, line, customer_id=customer, owner=CLI_OWNER)
            render.turn(turn)
            pending = turn.approval_id if turn.status == "pending_approval" else None
            if pending:
                request = agent.approvals.get(pending)
                render.approval(_approval_view(request, agent.policies, agent.sealer))
                console.print("[dim]/approve, /reject or /edit {json} to decide[/dim]")
        except GovcxError as exc:
            err_console.print(f"[red]error:[/red] {exc.message}")


class _ChatDecider:
    """Inline decisions in ``govcx chat``: authenticated by the caller's key; by name
    (``--as``, or a name after the command) only in dev mode, flagged unauthenticated."""

    def __init__(
        self, agent: Any, keys: Any, *, key_file: Path | None, as_: str | None, default: str | None
    ) -> None:
        from govcx.cli._common import read_key

        self.agent, self.keys, self.key_file, self.as_ = agent, keys, key_file, as_
        self.default = default
        self.has_key = read_key(key_file) is not None
        if self.has_key:
            self.who, _ = decider(agent, key_file=key_file, as_=as_, keys=keys)  # exit 2 early
        elif agent.settings.dev:
            self.who = agent.pack.principal(as_) if as_ else None
        else:
            self.who = None

    def describe(self) -> str:
        if self.has_key:
            return f"as {self.who.name} (API key)"
        if self.agent.settings.dev:
            name = self.who.name if self.who else self.default
            return f"as {name or '-'} (dev mode: unauthenticated)"
        return "need an API key (GOVCX_API_KEY or --key-file)"

    def decide(self, approval_id: str, line: str) -> Any:
        command, _, rest = line.partition(" ")
        args = None
        rest = rest.strip()
        if command == "/edit":
            if not rest.startswith("{"):
                raise GovcxError('usage: /edit {"amount": 40}')
            end = rest.rfind("}") + 1
            args = parse_json_arg(rest[:end], "/edit")
            rest = rest[end:].strip()
        name = rest or self.as_
        if not self.has_key and name is None and self.agent.settings.dev:
            name = self.default
        # Re-authenticated on every decision: a key revoked meanwhile stops working.
        who, authenticated = decider(self.agent, key_file=self.key_file, as_=name, keys=self.keys)
        if not authenticated:
            err_console.print(
                f"[yellow]unauthenticated[/yellow] dev-mode decision as {who.name}", highlight=False
            )
        decision = {"/approve": "approve", "/reject": "reject", "/edit": "edit"}[command]
        return self.agent.decide(
            approval_id, principal=who, decision=decision, args=args, authenticated=authenticated
        )


# -- approvals ----------------------------------------------------------------------------
@approvals_app.command("list")
@handle_errors
def approvals_list(
    status: Annotated[
        str,
        typer.Option(
            help="pending|approved|rejected|failed|expired|superseded, closed (every status "
            "but pending: the history) or all."
        ),
    ] = "pending",
    customer: Annotated[str | None, typer.Option(help="Only requests of this customer id.")] = None,
    approver: Annotated[
        str | None, typer.Option(help="Only requests this principal approved, edited or rejected.")
    ] = None,
    tool: Annotated[str | None, typer.Option(help="Only requests for this tool.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 500,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List approval requests (applies expiry first): the pending queue oldest first, any
    other status newest first, with the condition of each rule that asked for a person."""
    from govcx.governance.approval import CLOSED, STATUSES

    valid = (*STATUSES, "closed", "all")
    if status not in valid:
        raise GovcxError(f"--status {status!r} is not valid; use one of {', '.join(valid)}")
    statuses = {"all": None, "closed": CLOSED}.get(status, status)
    filters: dict[str, Any] = {
        "status": statuses,
        "customer_id": customer,
        "decided_by": approver,
        "tool": tool,
        "newest_first": status != "pending",
        "limit": limit,
    }
    with open_stores(pack, load=True) as stores:
        if expiry_due(stores):
            # Expiry resumes conversations through the graph: only the Agent can do that.
            stores.close()
            agent = open_agent(pack)
            agent.expire_overdue()
            items = agent.approvals.list(**filters)
            views = [_approval_view(r, agent.policies, agent.sealer) for r in items]
        else:
            items = stores.approvals.list(**filters)
            views = [_approval_view(r, stores.policies, stores.sealer) for r in items]
    if json_out:
        print_json(views)
        return
    if not items:
        named = [
            f"{label} {value}"
            for label, value in (("customer", customer), ("approver", approver), ("tool", tool))
            if value
        ]
        what = f"no {status if status != 'all' else ''} approvals".replace("  ", " ")
        console.print(what + (f" for {', '.join(named)}" if named else ""), markup=False)
        return
    render.approvals_table(items, {v["approval_id"]: v["rule_conditions"] for v in views})


def _approval_view(request: Any, policies: Any, sealer: Any) -> dict[str, Any]:
    """The request as JSON, as the API shows it to a reader: each rule's condition in
    the policy it was made under, and the context facts opened from their sealed copy."""
    from govcx.governance.rules import conditions

    data: dict[str, Any] = request.model_dump(
        mode="json", exclude={"context_sealed", "draft_support"}
    )
    facts = sealer.open(request.context_sealed) if sealer and request.context_sealed else None
    if facts is not None and data.get("context"):
        data["context"]["facts"] = facts
    data["rule_conditions"] = [
        {"rule": rule, "condition": condition}
        for rule, condition in conditions(request, policies, cache=_POLICY_CACHE)
    ]
    return data


_POLICY_CACHE: dict[tuple[str, str], Any] = {}


@approvals_app.command("show")
@handle_errors
def approvals_show(approval_id: str, pack: PackOpt = None, json_out: JsonOpt = False) -> None:
    """Show one approval request in full: the action, the context looked up for it, each
    rule's condition, and what the customer is told if it is approved or rejected."""
    with open_stores(pack) as stores:
        request = stores.approvals.get(approval_id)
        view = _approval_view(request, stores.policies, stores.sealer)
    if json_out:
        print_json(view)
        return
    render.approval(view)


def _decide(
    approval_id: str,
    decision: str,
    who: str | None,
    key_file: Path | None,
    pack: Path | None,
    args: dict[str, object] | None,
    comment: str | None,
    json_out: bool,
) -> None:
    agent = open_agent(pack)
    principal, authenticated = decider(agent, key_file=key_file, as_=who)
    if not authenticated:
        err_console.print(
            f"[yellow]unauthenticated[/yellow] dev-mode decision as "
            f"{principal.name} (GOVCX_DEV=1); it is recorded as such",
            highlight=False,
        )
    turn = agent.decide(
        approval_id,
        principal=principal,
        decision=decision,
        args=args,
        comment=comment,
        authenticated=authenticated,
    )
    if json_out:
        print_json(turn.model_dump(mode="json"))
    else:
        render.turn(turn)
    if turn.approval_status == "failed":
        # Approving it did not make it happen: say so, and exit like a failed check.
        errors = "; ".join(a.error for a in turn.actions if a.error) or "the action failed"
        err_console.print(
            f"[red]error:[/red] approval {approval_id} is failed: the approved action did "
            f"not happen: {escape(errors)}",
            highlight=False,
        )
        raise typer.Exit(1)


CommentOpt = Annotated[str | None, typer.Option(help="A note recorded with the decision.")]


@approvals_app.command("approve")
@handle_errors
def approvals_approve(
    approval_id: str,
    as_: AsOpt = None,
    key_file: KeyFileOpt = None,
    comment: CommentOpt = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Approve a pending request with your API key; the conversation resumes."""
    _decide(approval_id, "approve", as_, key_file, pack, None, comment, json_out)


@approvals_app.command("reject")
@handle_errors
def approvals_reject(
    approval_id: str,
    as_: AsOpt = None,
    key_file: KeyFileOpt = None,
    comment: CommentOpt = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Reject a pending request with your API key; the customer is told it could not be
    approved."""
    _decide(approval_id, "reject", as_, key_file, pack, None, comment, json_out)


@approvals_app.command("edit")
@handle_errors
def approvals_edit(
    approval_id: str,
    args: Annotated[
        str, typer.Option("--args", help="New arguments as JSON, e.g. '{\"amount\": 40}'")
    ],
    as_: AsOpt = None,
    key_file: KeyFileOpt = None,
    comment: CommentOpt = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Change the action's arguments and approve them (re-checked against your authority)."""
    parsed = parse_json_arg(args, "--args")
    if not isinstance(parsed, dict):
        raise GovcxError("--args must be a JSON object, e.g. '{\"amount\": 40}'")
    _decide(approval_id, "edit", as_, key_file, pack, parsed, comment, json_out)


# -- conversations ------------------------------------------------------------------------
@conversations_app.command("list")
@handle_errors
def conversations_list(
    limit: Annotated[
        int, typer.Option(min=1, max=10_000, help="At most this many, newest first.")
    ] = 20,
    status: Annotated[str, typer.Option(help="idle|running|pending_approval|all")] = "all",
    owner: Annotated[
        str | None,
        typer.Option(help="Only conversations of this owner (cli, local, or an API channel)."),
    ] = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List conversations, the most recently updated first: owner, customer, status (of
    the last turn, or running / pending_approval), turns and last update."""
    valid = ("idle", "running", "pending_approval", "all")
    if status not in valid:
        raise GovcxError(f"--status {status!r} is not valid; use one of {', '.join(valid)}")
    with open_stores(pack) as stores:
        rows = stores.conversations.recent(
            limit=limit, status=None if status == "all" else status, owner=owner
        )
    if json_out:
        print_json(rows)
        return
    if not rows:
        console.print(
            "no conversations"
            + (f" with status {status}" if status != "all" else "")
            + (f" of owner {owner}" if owner else ""),
            highlight=False,
            markup=False,
        )
        return
    render.conversations_table(rows)


@conversations_app.command("show")
@handle_errors
def conversations_show(
    conversation_id: str, pack: PackOpt = None, json_out: JsonOpt = False
) -> None:
    """Transcript, status, turns and pending approvals of a conversation."""
    with open_stores(pack) as stores:
        data = conversation_view(stores, conversation_id)
    if json_out:
        print_json(data)
        return
    console.print(
        f"[bold]{conversation_id}[/bold] · customer {data['customer_id'] or '-'} · "
        f"status {data['status']} · {data['turn_count']} turns"
    )
    for message in data["transcript"]:
        who = {"customer": "[cyan]customer[/cyan]", "system": "[dim]notice[/dim]"}.get(
            message["role"], "[green]agent[/green]"
        )
        console.print(f"{who}: {message['text']}", highlight=False)
    for a in data["pending_approvals"]:
        console.print(
            f"[yellow]pending approval[/yellow] {a['approval_id']} {a.get('tool') or 'reply'}"
        )


@app.command()
@handle_errors
def recover(pack: PackOpt = None, json_out: JsonOpt = False) -> None:
    """Finish runs that a crash left mid-step."""
    agent = open_agent(pack)
    turns = agent.recover()
    if json_out:
        print_json([t.model_dump(mode="json") for t in turns])
        return
    if not turns:
        console.print("nothing to recover")
    for t in turns:
        console.print(f"recovered {t.conversation_id} turn {t.turn_id}: {t.status}")


# -- policy --------------------------------------------------------------------------------
@policy_app.command("check")
@handle_errors
def policy_check(file: Path, pack: PackOpt = None, json_out: JsonOpt = False) -> None:
    """Validate a policy file (and its tools against the pack)."""
    from govcx.governance.policy import load_policy
    from govcx.pack import cross_check

    policy = load_policy(file)
    the_pack = load(pack)
    cross_check(policy, file, the_pack.registry)
    summary = {
        "ok": True,
        "version": policy.version,
        "workflows": len(policy.workflows),
        "tools": len(policy.tools),
        "tiers": list(policy.tiers),
    }
    if json_out:
        print_json(summary)
        return
    console.print(
        f"[green]ok[/green] {file}: version {policy.version}, "
        f"{len(policy.workflows)} workflows, {len(policy.tools)} tools, tiers "
        f"{', '.join(policy.tiers)}"
    )


@policy_app.command("diff")
@handle_errors
def policy_diff(old: Path, new: Path, json_out: JsonOpt = False) -> None:
    """Field-by-field differences between two policy files."""
    from govcx.governance.policy import diff_policies, load_policy

    rows = diff_policies(load_policy(old), load_policy(new))
    if json_out:
        print_json(rows)
        return
    if not rows:
        console.print("no differences")
        return
    for row in rows:
        mark = {
            "added": "[green]+[/green]",
            "removed": "[red]-[/red]",
            "changed": "[yellow]~[/yellow]",
        }[row["change"]]
        console.print(f"{mark} {row['path']}: {row['old']!r} → {row['new']!r}", highlight=False)


@app.command()
@handle_errors
def graph() -> None:
    """Print the turn graph as Mermaid."""
    from govcx.graphs.graph import mermaid

    typer.echo(mermaid())


_mount_optional()


def main() -> None:
    # Owner-only files for everything this process creates, also by third-party code
    # govcx does not control (Chroma's index, SQLite's -wal/-shm, a pack's own store);
    # govcx's own files are created with explicit modes as well (govcx.store.sealed).
    os.umask(0o077)
    app()


if __name__ == "__main__":
    main()
