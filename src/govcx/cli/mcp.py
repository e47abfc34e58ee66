"""``govcx mcp serve``: the pack's governed tools as an MCP server (stdio or HTTP)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Annotated, Any

import typer

from govcx.cli._common import KeyFileOpt, PackOpt, err_console, handle_errors, read_key

mcp_app = typer.Typer(
    help="govcx as an MCP server: the pack's governed tools for MCP clients.",
    no_args_is_help=True,
)


class Transport(StrEnum):
    stdio = "stdio"
    http = "http"


@mcp_app.command()
@handle_errors
def serve(
    pack: PackOpt = None,
    transport: Annotated[
        Transport, typer.Option(help="stdio (one client, this process) or streamable HTTP.")
    ] = Transport.stdio,
    host: Annotated[str, typer.Option(help="Interface to listen on (http).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (http).")] = 8765,
    key_file: KeyFileOpt = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level (http).")] = "warning",
) -> None:
    """Serve the pack's governed tools (those the policy tiers and a workflow lists) to
    MCP clients. Every call goes through the policy gate: it runs, or returns
    pending_approval with an approval id that a person decides (`govcx approvals`,
    the API or the console); clients poll the tool govcx.approval_status.

    The client is a principal with the role mcp. Over stdio it is the principal of the
    key in GOVCX_API_KEY or --key-file; over HTTP (POST /mcp) every request carries
    `Authorization: Bearer <key>`. `govcx serve` also serves the endpoint at /mcp.
    """
    import anyio

    from govcx.agent.agent import Agent
    from govcx.api.auth import KeyRing
    from govcx.api.mcp_server import McpEndpoint, ToolGateway, serve_stdio
    from govcx.api.settings import ServerSettings
    from govcx.governance.keys import KeyStore

    settings = ServerSettings(**({"pack": pack} if pack is not None else {}))  # type: ignore[arg-type]
    principal = None
    if transport is Transport.stdio:
        # Who the client is, before the (slower) agent opens: a bad key fails at once.
        principal = _stdio_principal(settings, read_key(key_file))
    # Over stdio, stdout is the protocol: whatever a library prints while the agent opens
    # goes to stderr instead.
    with contextlib.redirect_stdout(sys.stderr):
        agent = Agent.open(settings.pack, settings)
    try:
        gateway = ToolGateway(agent=agent)
        if principal is not None:
            err_console.print(
                f"govcx MCP server (stdio) for pack {agent.pack.name}, as {principal.name}"
            )
            anyio.run(serve_stdio, gateway, principal)
            return
        import uvicorn
        from starlette.applications import Starlette
        from starlette.routing import Route

        keys = KeyRing.configured(
            api_keys=settings.api_keys,
            api_keys_file=settings.api_keys_file,
            principals=agent.pack.principals,
            store=KeyStore(agent.db),
        )
        endpoint = McpEndpoint(gateway, keys)

        @contextlib.asynccontextmanager
        async def lifespan(_app: Starlette) -> AsyncIterator[None]:
            async with endpoint.running():
                yield

        app = Starlette(
            routes=[Route("/mcp", endpoint=endpoint, methods=["GET", "POST", "DELETE"])],
            lifespan=lifespan,
        )
        err_console.print(f"govcx MCP server: http://{host}:{port}/mcp (pack {agent.pack.name})")
        uvicorn.run(app, host=host, port=port, log_level=log_level)
    finally:
        agent.close()


def _stdio_principal(settings: Any, key: str | None) -> Any:
    """The principal of the stdio client's key (role mcp), from the database's keys and
    GOVCX_API_KEYS / GOVCX_API_KEYS_FILE, as the HTTP server accepts them."""
    from govcx.api.auth import KeyRing
    from govcx.api.mcp_server import stdio_principal
    from govcx.errors import ConfigError, Unauthenticated
    from govcx.governance.audit import audit_key
    from govcx.governance.keys import KeyStore
    from govcx.pack import load_pack
    from govcx.store import migrate
    from govcx.store.db import Database, resolve_url

    loaded = load_pack(settings.pack)
    state_dir = settings.state_dir()
    db = Database(resolve_url(settings.database_url or loaded.config.storage.url, state_dir))
    try:
        migrate.prepare(
            db,
            auto_upgrade=settings.auto_migrate,
            audit_key=audit_key(settings, state_dir, db.backend),
        )
        try:
            keys = KeyRing.configured(
                api_keys=settings.api_keys,
                api_keys_file=settings.api_keys_file,
                principals=loaded.principals,
                store=KeyStore(db),
            )
        except ConfigError as exc:
            if "no API keys" not in exc.message:
                raise
            raise Unauthenticated(
                "no API key exists yet: create one for a principal with the role mcp "
                "(`govcx keys create NAME`), then `export GOVCX_API_KEY=gcx_...`"
            ) from None
        return stdio_principal(keys, key)
    finally:
        db.dispose()
