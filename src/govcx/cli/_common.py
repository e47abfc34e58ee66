"""Shared CLI plumbing: options, agent construction, output, and error handling."""

from __future__ import annotations

import json
import os
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

PackOpt = Annotated[
    Path | None,
    typer.Option(
        "--pack",
        help="Pack folder (default: bundled acme)",
        envvar="GOVCX_PACK",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
AsOpt = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="Act as this principal without a key: dev mode only (GOVCX_DEV=1), "
        "recorded as unauthenticated.",
    ),
]
KeyFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help="File holding your API key (from `govcx keys create`); default: the "
        "GOVCX_API_KEY environment variable.",
        show_default=False,
    ),
]

F = TypeVar("F", bound=Callable[..., Any])

LIBRARY_LOGGERS = (
    "alembic",
    "chromadb",
    "presidio-analyzer",
    "presidio-anonymizer",
    "httpx",
    "httpcore",
    "urllib3",
    "sentence_transformers",
    "spacy",
    "langchain",
    "langgraph",
    "openai",
    "faker",
)
"""Third-party loggers the CLI keeps quiet (errors only) unless ``--verbose``."""


def configure_logging(verbose: bool) -> None:
    """Library logging on stderr at INFO with ``--verbose``; otherwise only their errors.

    govcx's own warnings are shown either way (Python's default handler)."""
    import logging

    if not verbose:
        for name in LIBRARY_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        return
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    # govcx.store.migrate quiets alembic when it is imported: import it first, then undo.
    import govcx.store.migrate  # noqa: F401

    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)


def handle_errors(fn: F) -> F:
    """Turn GovcxError into a one-line message and its exit code; never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            check_text_args(kwargs)
            return fn(*args, **kwargs)
        except GovcxError as exc:
            # The message is plain text: "[finetune]" in it is not a style tag.
            err_console.print(
                f"[red]error:[/red] {escape(exc.message)}", markup=True, highlight=False
            )
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def check_text_args(values: dict[str, Any]) -> None:
    """Raise GovcxError (exit 2) for a text argument holding bytes that are not UTF-8.

    Python decodes the command line with ``surrogateescape``: a byte such as 0xff arrives
    as a lone surrogate (U+DCFF), which nothing downstream can store or print. File paths
    (``Path``) keep such bytes: they are valid file names."""
    for name, value in values.items():
        for item in value if isinstance(value, list | tuple) else (value,):
            if isinstance(item, str) and _surrogate(item) is not None:
                check_utf8(item, _option_name(name))


def check_utf8(text: str, what: str) -> None:
    """GovcxError (exit 2) naming ``what`` if ``text`` holds a lone surrogate: a byte that
    was not UTF-8 where it was read (the command line, stdin)."""
    bad = _surrogate(text)
    if bad is None:
        return
    char = text[bad]
    byte = (
        f"byte 0x{ord(char) - 0xDC00:02x}" if "\udc80" <= char <= "\udcff" else f"U+{ord(char):04X}"
    )
    raise GovcxError(
        f"{what} is not valid UTF-8 text ({byte} at character {bad + 1}); "
        "pass UTF-8 text (check the terminal's encoding, or convert with "
        "`iconv -t UTF-8`)"
    )


def _surrogate(text: str) -> int | None:
    return next((i for i, ch in enumerate(text) if "\ud800" <= ch <= "\udfff"), None)


def _option_name(param: str) -> str:
    """How the user wrote the parameter ``param``: ``--customer`` or ``TEXT``."""
    import click

    ctx = click.get_current_context(silent=True)
    for p in ctx.command.params if ctx is not None else ():
        if p.name == param:
            if isinstance(p, click.Argument):
                return f"the argument {p.human_readable_name}"
            return max(p.opts, key=len)
    return param


def open_agent(pack: Path | None) -> Any:
    from govcx.agent.agent import Agent
    from govcx.settings import Settings

    settings = Settings()
    return Agent.open(pack, settings)


def load(pack: Path | None) -> Any:
    from govcx.pack import load_pack
    from govcx.settings import Settings

    return load_pack(pack or Settings().pack)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def parse_json_arg(text: str, name: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise GovcxError(
            f"{name} is not valid JSON ({exc.msg} at column {exc.colno}); "
            "example: --args '{\"amount\": 40}'"
        ) from None


def read_key(key_file: Path | None) -> str | None:
    """The caller's API key: the first line of ``key_file``, else ``$GOVCX_API_KEY``."""
    from govcx.errors import Unauthenticated

    if key_file is not None:
        path = key_file.expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise Unauthenticated(f"cannot read the key file {path} ({reason})") from None
        lines = [
            line.strip()
            for line in text.splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]
        if not lines:
            raise Unauthenticated(
                f"the key file {path} holds no key; write the key printed by "
                "`govcx keys create NAME` into it"
            )
        return lines[0]
    value = os.environ.get("GOVCX_API_KEY", "").strip()
    return value or None


def decider(
    agent: Any,
    *,
    key_file: Path | None,
    as_: str | None,
    keys: Any = None,
    doing: str = "deciding",
    role: str = "approver",
) -> tuple[Any, bool]:
    """Who decides, and whether that is authenticated: ``(Principal, authenticated)``.

    With a key (``--key-file`` or ``$GOVCX_API_KEY``) the principal is the key's, and an
    ``--as`` naming someone else is refused. Without a key, ``--as NAME`` is accepted in
    dev mode only (``GOVCX_DEV=1``) and the decision is recorded as unauthenticated.
    Raises Unauthenticated (exit 2) otherwise.
    """
    from govcx.errors import Unauthenticated
    from govcx.governance.keys import KeyStore
    from govcx.governance.principal import canonical_name

    key = read_key(key_file)
    approvers = sorted(
        n
        for n, p in agent.pack.principals.items()
        if (p.approver_roles if role == "approver" else p.has(role))
    )
    example = approvers[0] if approvers else "NAME"
    if key is not None:
        store = keys if keys is not None else KeyStore(agent.db)
        record = store.verify(key)
        wanted = canonical_name(record.principal)
        principal = next(
            (p for p in agent.pack.principals.values() if canonical_name(p.name) == wanted), None
        )
        if principal is None:
            raise Unauthenticated(
                f"API key {record.key_id} belongs to {record.principal!r}, "
                "who is not a principal of this pack; principals: "
                f"{', '.join(sorted(agent.pack.principals))}"
            )
        if as_ is not None and canonical_name(as_) != wanted:
            raise Unauthenticated(
                f"your API key is {principal.name}'s, and --as {as_} names "
                "someone else; the key says who decides (drop --as, or "
                f"use {as_}'s own key)"
            )
        return principal, True
    if as_ is None:
        raise Unauthenticated(
            f"{doing} needs an API key: create one with `govcx keys create "
            f"{example}`, then `export GOVCX_API_KEY=gcx_...` or pass --key-file FILE"
            + ("; in dev mode --as NAME also works (unauthenticated)" if agent.settings.dev else "")
            + f"; {role}s in this pack: {', '.join(approvers) or 'none'}"
        )
    if not agent.settings.dev:
        name = as_.strip() or example
        raise Unauthenticated(
            f"--as {as_} is a name, not a credential, and is accepted only in dev mode "
            f"(GOVCX_DEV=1); authenticate with a key instead: `govcx keys create {name}`, "
            "then `export GOVCX_API_KEY=gcx_...` (or --key-file FILE) and decide without --as"
        )
    return agent.pack.principal(as_), False
