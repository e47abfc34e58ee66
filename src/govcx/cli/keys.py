"""`govcx keys`: API keys in the database (create, list, revoke).

A key is printed once, when it is created; the database keeps only a scrypt hash of it.
The same keys authenticate the HTTP API and the CLI's deciding commands
(``GOVCX_API_KEY`` or ``--key-file``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from govcx.cli._common import JsonOpt, PackOpt, console, handle_errors, print_json

if TYPE_CHECKING:
    from govcx.cli._stores import Stores

keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)


def _audit(stores: Stores, kind: str, actor: str, data: dict[str, Any]) -> None:
    """Record a key's creation or revocation in the audit chain (never the key)."""
    stores.audit.append(kind=kind, actor=actor, data=data)


def _open(pack: Path | None, *, load: bool = False) -> Stores:
    """The stores of the pack's database (schema prepared as at start-up). A fresh
    database is created here as at start-up: its audit chain is sealed with the audit key
    (ConfigError, exit 2, on PostgreSQL outside dev mode without one)."""
    from govcx.cli._stores import open_stores

    return open_stores(pack, data_key=False, load=load)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@keys_app.command("create")
@handle_errors
def create(
    principal: Annotated[str, typer.Argument(help="A principal of the pack, e.g. dana.")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the key to this new file (mode 600) instead of printing "
            "it; pass the file to --key-file.",
            show_default=False,
        ),
    ] = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a key for PRINCIPAL and print it once (it is stored only as a hash)."""
    import getpass
    import os

    from govcx.errors import GovcxError

    if out is not None and out.expanduser().exists():
        raise GovcxError(f"{out} already exists; choose a new file for the key (--out)")
    with _open(pack, load=True) as stores:
        who = stores.pack.principal(principal)  # canonical match; exit 2 naming principals
        try:
            creator = getpass.getuser()
        except (KeyError, OSError):
            creator = None
        by = f"cli:{creator}" if creator else "cli"
        issued = stores.keys.create(who.name, created_by=by)
        _audit(stores, "key.created", by, {"key_id": issued.key_id, "principal": issued.principal})
    if out is not None:
        path = out.expanduser()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(issued.key + "\n")
        if json_out:
            print_json(
                {"key_id": issued.key_id, "principal": issued.principal, "key_file": str(path)}
            )
        else:
            console.print(
                f"API key {issued.key_id} for {issued.principal} written to {path} "
                f"(mode 600); use it with --key-file {path}",
                highlight=False,
                soft_wrap=True,
            )
        return
    if json_out:
        print_json({"key_id": issued.key_id, "principal": issued.principal, "key": issued.key})
        return
    roles = ", ".join(sorted(who.roles))
    console.print(
        f"API key {issued.key_id} for {issued.principal} [dim]({roles})[/dim]; "
        "shown once, store it now:",
        highlight=False,
    )
    typer.echo(issued.key)
    console.print(
        f"[dim]use it with: export GOVCX_API_KEY={issued.key}   (or --key-file FILE; "
        "the HTTP API takes it as 'Authorization: Bearer <key>')[/dim]",
        highlight=False,
        soft_wrap=True,
    )


@keys_app.command("list")
@handle_errors
def list_keys(pack: PackOpt = None, json_out: JsonOpt = False) -> None:
    """List keys, revoked ones too (id, principal, created, revoked); never the keys."""
    with _open(pack) as stores:
        records = stores.keys.list()
    if json_out:
        print_json([r.as_dict() for r in records])
        return
    if not records:
        console.print("no API keys; create one with `govcx keys create NAME`")
        return
    from rich.table import Table

    table = Table("key id", "principal", "created", "by", "revoked")
    for r in records:
        table.add_row(
            r.key_id, r.principal, _when(r.created_at), r.created_by or "-", _when(r.revoked_at)
        )
    console.print(table)


@keys_app.command("revoke")
@handle_errors
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (`govcx keys list`).")],
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Revoke a key: it stops working at once, in the API and the CLI."""
    import getpass

    with _open(pack) as stores:
        try:
            revoker: str | None = f"cli:{getpass.getuser()}"
        except (KeyError, OSError):
            revoker = "cli"
        record = stores.keys.revoke(key_id, revoked_by=revoker)
        _audit(
            stores,
            "key.revoked",
            revoker or "cli",
            {"key_id": record.key_id, "principal": record.principal},
        )
    if json_out:
        print_json(record.as_dict())
        return
    console.print(
        f"revoked API key {record.key_id} of {record.principal} ({_when(record.revoked_at)})",
        highlight=False,
    )
