"""``govcx serve``: the HTTP API and the approval console."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from govcx.cli._common import PackOpt, console, handle_errors


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the govcx CLI."""

    @app.command()
    @handle_errors
    def serve(
        pack: PackOpt = None,
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
        dev: Annotated[
            bool,
            typer.Option(
                "--dev",
                help="Dev mode (as GOVCX_DEV=1): create local API keys (one per "
                "pack principal, kept in the state dir) and print them.",
            ),
        ] = False,
        workers: Annotated[
            int, typer.Option(min=1, help="Worker processes (they share the state dir / database).")
        ] = 1,
        log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    ) -> None:
        """Serve the HTTP API (/v1, OpenAPI at /docs) and the approval console (/console).

        API keys come from the database (`govcx keys create NAME`), and for bootstrapping
        from GOVCX_API_KEYS ("key:principal,...") or GOVCX_API_KEYS_FILE; without any key
        the server refuses to start unless --dev (or GOVCX_DEV=1) is given.
        """
        import uvicorn

        from govcx.agent.agent import Agent
        from govcx.api.app import create_app
        from govcx.api.auth import DEV_KEYS_FILE, KeyRing, dev_keys
        from govcx.api.settings import ServerSettings
        from govcx.governance.keys import KeyStore
        from govcx.pack import load_pack
        from govcx.store import migrate
        from govcx.store.db import Database, resolve_url

        overrides: dict[str, object] = {"dev": True} if dev else {}
        if pack is not None:
            overrides["pack"] = pack
        settings = ServerSettings(**overrides)  # type: ignore[arg-type]
        dev = settings.dev
        loaded = load_pack(settings.pack)
        loaded.close()  # only its config is read here; the agent connects its own tools
        keys = dev_keys(settings.state_dir(), loaded.principals) if dev else None
        db = Database(
            resolve_url(settings.database_url or loaded.config.storage.url, settings.state_dir())
        )
        try:
            from govcx.governance.audit import audit_key

            migrate.prepare(
                db,
                auto_upgrade=settings.auto_migrate,
                audit_key=audit_key(settings, settings.state_dir(), db.backend),
            )
            KeyRing.configured(
                api_keys=settings.api_keys,
                api_keys_file=settings.api_keys_file,
                principals=loaded.principals,
                dev_keys=keys,
                store=KeyStore(db),
            )  # fail before start
        finally:
            db.dispose()
        base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
        if keys:
            console.print(
                f"[bold]govcx[/bold] dev keys for pack [cyan]{loaded.name}[/cyan] "
                f"(kept in {settings.state_dir() / DEV_KEYS_FILE}):"
            )
            for name, key in keys.items():
                who = loaded.principals[name]
                roles = ", ".join(sorted(who.roles))
                if who.teams:
                    roles += f" (teams: {', '.join(sorted(who.teams))})"
                console.print(
                    f"  {name:<12} {key}  [dim]{roles}[/dim]", highlight=False, soft_wrap=True
                )
            console.print(
                "[yellow]dev mode[/yellow]: the CLI also accepts --as NAME without a "
                "key (recorded as unauthenticated); never use it in production",
                highlight=False,
                soft_wrap=True,
            )
        console.print(
            f"approval console: {base}/console   API docs: {base}/docs",
            highlight=False,
            soft_wrap=True,
        )
        if workers > 1:
            os.environ["GOVCX_DEV"] = "1" if dev else "0"
            os.environ["GOVCX_PACK"] = str(Path(loaded.root))
            uvicorn.run(
                "govcx.cli.serve:app_from_env",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level=log_level,
            )
            return
        agent = Agent.open(loaded.root, settings)
        from govcx.evals.impact import impact_report

        uvicorn.run(
            create_app(settings, agent, impact=impact_report),
            host=host,
            port=port,
            log_level=log_level,
        )
        agent.close()


def app_from_env() -> Any:
    """``govcx serve --workers N``'s factory: the API app with the impact report of
    policy proposals (the API layer does not import the evals; this layer joins them)."""
    from govcx.api.app import app_from_env as api_app
    from govcx.evals.impact import impact_report

    return api_app(impact=impact_report)
