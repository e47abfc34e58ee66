"""`govcx db`: schema migrations and retention."""

from __future__ import annotations

from typing import Annotated

import typer

from govcx.cli._common import JsonOpt, PackOpt, console, handle_errors, load, print_json
from govcx.errors import GovcxError

db_app = typer.Typer(help="Database schema and retention.", no_args_is_help=True)


def _database(pack: object) -> object:
    from govcx.settings import Settings
    from govcx.store.db import Database, resolve_url

    settings = Settings()
    the_pack = load(pack)  # type: ignore[arg-type]
    url = resolve_url(settings.database_url or the_pack.config.storage.url, settings.state_dir())
    return Database(url)


@db_app.command("upgrade")
@handle_errors
def upgrade(pack: PackOpt = None, json_out: JsonOpt = False) -> None:
    """Apply schema migrations up to the current version."""
    from govcx.governance.audit import audit_key
    from govcx.settings import Settings
    from govcx.store import migrate

    db = _database(pack)
    settings = Settings()
    key = audit_key(settings, settings.state_dir(), db.backend)  # type: ignore[attr-defined]
    before = migrate.current_revision(db)  # type: ignore[arg-type]
    after = migrate.upgrade(db, audit_key=key)  # type: ignore[arg-type]
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
    data = {"current": migrate.current_revision(db), "head": migrate.head_revision()}  # type: ignore[arg-type]
    if json_out:
        print_json(data)
    else:
        console.print(f"database at {data['current'] or 'none'}, govcx needs {data['head']}")


@db_app.command("prune")
@handle_errors
def prune(older_than: Annotated[str, typer.Option("--older-than",
                                                  help="Age like 30d, 12h, 90m.")] = "30d",
          pack: PackOpt = None, json_out: JsonOpt = False) -> None:
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
