"""Shared CLI plumbing: options, agent construction, output, and error handling."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from govcx.errors import GovcxError

console = Console()
err_console = Console(stderr=True, soft_wrap=True)

PackOpt = Annotated[Path | None, typer.Option("--pack", help="Pack folder (default: bundled acme)",
                                              envvar="GOVCX_PACK", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
AsOpt = Annotated[str | None, typer.Option("--as", help="Act as this principal of the pack.")]

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(fn: F) -> F:
    """Turn GovcxError into a one-line message and its exit code; never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GovcxError as exc:
            # The message is plain text: "[finetune]" in it is not a style tag.
            err_console.print(f"[red]error:[/red] {escape(exc.message)}", markup=True,
                              highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def open_agent(pack: Path | None) -> Any:
    from govcx.agent.agent import Agent
    from govcx.agent.settings import Settings

    settings = Settings()
    return Agent.open(pack, settings)


def load(pack: Path | None) -> Any:
    from govcx.agent.pack import load_pack
    from govcx.agent.settings import Settings

    return load_pack(pack or Settings().pack)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def parse_json_arg(text: str, name: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise GovcxError(f"{name} is not valid JSON ({exc.msg} at column {exc.colno}); "
                         'example: --args \'{"amount": 40}\'') from None
