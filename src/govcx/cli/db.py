"""`govcx db`: schema migrations and retention."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from govcx.cli._common import JsonOpt, PackOpt, console, handle_errors, print_json
from govcx.errors import GovcxError

if TYPE_CHECKING:
    from govcx.store.db import Database

db_app = typer.Typer(help="Database schema and retention.", no_args_is_help=True)


def _database(pack: Path | None) -> Database:
    from govcx.cli._stores import open_database

    return open_database(pack)[4]


@db_app.command("upgrade")
@handle_errors
def upgrade(pack: PackOpt = None, json_out: JsonOpt = False) -> None:
    """Apply schema migrations up to the current version."""
    from govcx.cli._stores import open_database
    from govcx.governance.audit import audit_key
    from govcx.store import migrate

    settings, _, _, state_dir, db = open_database(pack)
    key = audit_key(settings, state_dir, db.backend)
    before = migrate.current_revision(db)
    after = migrate.upgrade(db, audit_key=key)
    if json_out:
        print_json({"from": before, "to": after})
    else:
        console.print(f"schema {before or 'empty'} → {after}")


@db_app.command("current")
@handle_errors
def current(pack: PackOpt = None, json_out: JsonOpt = False) -> None:
    """Show the schema revision of the database and the one this govcx needs."""
    from govcx.store import migrate

    db = _database(pack)
    data = {"current": migrate.current_revision(db), "head": migrate.head_revision()}
    if json_out:
        print_json(data)
    else:
        console.print(f"database at {data['current'] or 'none'}, govcx needs {data['head']}")


@db_app.command("prune")
@handle_errors
def prune(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Age like 30d, 12h, 90m.")
    ] = "30d",
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Delete checkpoints of finished conversations; keeps transcripts, approvals and audit."""
    from govcx.cli._common import open_agent
    from govcx.governance.policy import parse_duration

    try:
        age = parse_duration(older_than).total_seconds()
    except ValueError as exc:
        raise GovcxError(f"--older-than: {exc}") from None
    agent = open_agent(pack)
    pruned = agent.prune(older_than=age)
    if json_out:
        print_json({"pruned": pruned})
    else:
        console.print(f"pruned checkpoints of {len(pruned)} conversation(s)")
