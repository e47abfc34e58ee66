"""``govcx audit``: verify, anchor and export the keyed audit chain.

Exit status: 0 ok, 1 the chain does not verify (or extend the anchor), 2 bad input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from govcx.cli._common import JsonOpt, PackOpt, console, err_console, handle_errors
from govcx.cli._common import print_json as _print_json
from govcx.cli._stores import open_stores

audit_app = typer.Typer(
    help="Verify, anchor and export the keyed audit chain.", no_args_is_help=True
)


@audit_app.command("verify")
@handle_errors
def audit_verify(
    anchor: Annotated[
        Path | None,
        typer.Option(
            "--anchor",
            help="An anchor from `govcx audit anchor --json`: also fail "
            "when the chain no longer extends it.",
            exists=False,
        ),
    ] = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Check the chain, its anchor and that every decision, execution and turn has its
    audit event; exit 1 naming every problem."""
    from govcx.errors import InvalidAnchor
    from govcx.governance.audit import Anchor

    parsed = None
    if anchor is not None:
        try:
            text = anchor.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidAnchor(f"cannot read the anchor file {anchor} ({exc.strerror})") from None
        parsed = Anchor.parse(text, source=str(anchor))
    with open_stores(pack) as stores:
        result = stores.audit.verify(anchor=parsed)
    if json_out:
        _print_json(result.as_dict())
    else:
        for note in result.notes:
            console.print(escape(note), highlight=False)
        if result.ok:
            extends = (
                f"; extends the anchor of {parsed.time} (seq {parsed.seq})"
                if parsed is not None
                else ""
            )
            console.print(
                f"[green]audit chain verified[/green]: {result.events} events{escape(extends)}",
                highlight=False,
            )
        else:
            for problem in result.problems:
                err_console.print(f"[red]broken:[/red] {escape(problem)}", highlight=False)
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("anchor")
@handle_errors
def audit_anchor(pack: PackOpt = None, json_out: JsonOpt = False) -> None:
    """Print the signed head of the chain, to keep outside the database (exit 1 if the
    chain does not verify: a broken chain is not signed)."""
    with open_stores(pack) as stores:
        anchor = stores.audit.anchor()
    if json_out:
        _print_json(anchor.as_dict())
        return
    console.print(
        f"audit head: seq {anchor.seq}, hash {anchor.hash}, at {anchor.time}, "
        f"keyed from seq {anchor.keyed_from}",
        highlight=False,
    )
    console.print(f"signature (key id {anchor.key_id}): {anchor.signature}", highlight=False)
    console.print(
        "keep it outside the database: `govcx audit anchor --json > anchor.json`; "
        "later `govcx audit verify --anchor anchor.json`",
        highlight=False,
    )


@audit_app.command("export")
@handle_errors
def audit_export(
    conversation: Annotated[str | None, typer.Option(help="Only this conversation.")] = None,
    pack: PackOpt = None,
) -> None:
    """Print audit events as JSON lines."""
    with open_stores(pack) as stores:
        if conversation is not None:
            from govcx.agent.agent import check_id

            stores.conversations.get(check_id("conversation_id", conversation))  # exit 2
        for event in stores.audit.events(conversation_id=conversation):
            typer.echo(json.dumps(event.as_dict(), ensure_ascii=False, sort_keys=True))


@audit_app.command("seal")
@handle_errors
def audit_seal(pack: PackOpt = None) -> None:
    """Seal the key boundary of a database upgraded without the audit key (only then:
    start-up and `govcx db upgrade` seal it themselves)."""
    with open_stores(pack) as stores:
        sealed = stores.audit.seal()
    if sealed:
        console.print("key boundary sealed")
    else:
        console.print("the key boundary was already sealed; nothing changed")
