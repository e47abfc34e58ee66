"""`govcx keys`: API keys in the database (create, list, revoke).

A key is printed once, when it is created; the database keeps only a scrypt hash of it.
The same keys authenticate the HTTP API and the CLI's deciding commands
(``GOVCX_API_KEY`` or ``--key-file``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from govcx.cli._common import JsonOpt, PackOpt, console, handle_errors, load, print_json

keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.",
                       no_args_is_help=True)


def _audit(store: Any, kind: str, actor: str, data: dict[str, Any]) -> None:
    """Record a key's creation or revocation in the audit chain (never the key)."""
    from govcx.governance.audit import AuditLog, audit_key
    from govcx.settings import Settings

    settings = Settings()
    log = AuditLog(store.db, key=audit_key(settings, settings.state_dir(), store.db.backend))
    log.append(kind=kind, actor=actor, data=data)


def _open(pack: Any) -> tuple[Any, Any]:
    """The pack and a KeyStore on its database (schema prepared as at start-up)."""
    from govcx.governance.audit import audit_key
    from govcx.governance.keys import KeyStore
    from govcx.settings import Settings
    from govcx.store import migrate
    from govcx.store.db import Database, resolve_url

    settings = Settings()
    the_pack = load(pack)
    url = resolve_url(settings.database_url or the_pack.config.storage.url,
                      settings.state_dir())
    db = Database(url)
    # A fresh database is created here as at start-up: its audit chain is sealed with the
    # audit key (ConfigError, exit 2, on PostgreSQL outside dev mode without one).
    try:
        migrate.prepare(db, auto_upgrade=settings.auto_migrate, audit_key=audit_key(
            settings, settings.state_dir(), db.backend))
    except BaseException:
        db.dispose()
        raise
    return the_pack, KeyStore(db)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@keys_app.command("create")
@handle_errors
def create(principal: Annotated[str, typer.Argument(help="A principal of the pack, e.g. dana.")],
           out: Annotated[Path | None, typer.Option(
               "--out", help="Write the key to this new file (mode 600) instead of printing "
                             "it; pass the file to --key-file.", show_default=False)] = None,
           pack: PackOpt = None, json_out: JsonOpt = False) -> None:
    """Create a key for PRINCIPAL and print it once (it is stored only as a hash)."""
    import getpass
    import os

    from govcx.errors import GovcxError

    if out is not None and out.expanduser().exists():
        raise GovcxError(f"{out} already exists; choose a new file for the key (--out)")
    the_pack, store = _open(pack)
    who = the_pack.principal(principal)  # canonical match; exit 2 naming the principals
    try:
        creator = getpass.getuser()
    except (KeyError, OSError):
        creator = None
    by = f"cli:{creator}" if creator else "cli"
    issued = store.create(who.name, created_by=by)
    _audit(store, "key.created", by, {"key_id": issued.key_id, "principal": issued.principal})
    store.db.dispose()
    if out is not None:
        path = out.expanduser()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(issued.key + "\n")
        if json_out:
            print_json({"key_id": issued.key_id, "principal": issued.principal,
                        "key_file": str(path)})
        else:
            console.print(f"API key {issued.key_id} for {issued.principal} written to {path} "
                          f"(mode 600); use it with --key-file {path}", highlight=False,
                          soft_wrap=True)
        return
    if json_out:
        print_json({"key_id": issued.key_id, "principal": issued.principal, "key": issued.key})
        return
    roles = ", ".join(sorted(who.roles))
    console.print(f"API key {issued.key_id} for {issued.principal} [dim]({roles})[/dim]; "
                  "shown once, store it now:", highlight=False)
    typer.echo(issued.key)
    console.print(f"[dim]use it with: export GOVCX_API_KEY={issued.key}   (or --key-file FILE; "
                  "the HTTP API takes it as 'Authorization: Bearer <key>')[/dim]",
                  highlight=False, soft_wrap=True)


@keys_app.command("list")
@handle_errors
def list_keys(pack: PackOpt = None, json_out: JsonOpt = False) -> None:
    """List keys, revoked ones too (id, principal, created, revoked); never the keys."""
    _, store = _open(pack)
    records = store.list()
    store.db.dispose()
    if json_out:
        print_json([r.as_dict() for r in records])
        return
    if not records:
        console.print("no API keys; create one with `govcx keys create NAME`")
        return
    from rich.table import Table

    table = Table("key id", "principal", "created", "by", "revoked")
    for r in records:
        table.add_row(r.key_id, r.principal, _when(r.created_at), r.created_by or "-",
                      _when(r.revoked_at))
    console.print(table)


@keys_app.command("revoke")
@handle_errors
def revoke(key_id: Annotated[str, typer.Argument(help="The key id (`govcx keys list`).")],
           pack: PackOpt = None, json_out: JsonOpt = False) -> None:
    """Revoke a key: it stops working at once, in the API and the CLI."""
    import getpass

    _, store = _open(pack)
    try:
        revoker: str | None = f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        revoker = "cli"
    record = store.revoke(key_id, revoked_by=revoker)
    _audit(store, "key.revoked", revoker or "cli",
           {"key_id": record.key_id, "principal": record.principal})
    store.db.dispose()
    if json_out:
        print_json(record.as_dict())
        return
    console.print(f"revoked API key {record.key_id} of {record.principal} "
                  f"({_when(record.revoked_at)})", highlight=False)
