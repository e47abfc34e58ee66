"""``govcx kb``: ingest, search and inspect the knowledge base.

The state dir comes from ``GOVCX_HOME`` (default ``.govcx`` in the current folder); the
store is ``<state dir>/chroma`` unless the pack's ``knowledge_config.chroma_url`` names a
Chroma server. Exit status: 0 ok, 1 a file failed to ingest (or the store failed), 2 bad
input.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from govcx.cli._common import JsonOpt, PackOpt, console, err_console, handle_errors, print_json
from govcx.errors import ConfigError

kb_app = typer.Typer(
    help="Ingest, search and inspect approved knowledge.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])


def _guarded(fn: F) -> F:
    """GovcxError -> its message and exit code (handle_errors); anything else -> exit 1."""
    inner = handle_errors(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return inner(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            err_console.print(
                f"[red]error:[/red] {type(exc).__name__}: {exc}", markup=True, highlight=False
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def resolve_pack(pack: Path | None) -> tuple[Path | None, Any]:
    """The pack's knowledge folder and ``knowledge_config`` (None: the bundled acme pack).

    Reads only the ``knowledge`` and ``knowledge_config`` keys of govcx.yaml, so the
    knowledge of a pack can be ingested while its policy or tools are still being
    written; swap this for ``govcx.pack.load_pack`` to validate the whole pack.
    """
    from govcx.knowledge import KnowledgeConfig

    if pack is None:
        import govcx

        root = Path(govcx.__file__).resolve().parent / "packs" / "acme"
    else:
        root = pack.expanduser().resolve()
    if not root.is_dir():
        raise ConfigError(str(root), "pack folder not found (a pack is a folder with govcx.yaml)")
    import yaml
    from pydantic import ValidationError

    config_path = root / "govcx.yaml"
    data: Any = {}
    if config_path.is_file():
        try:
            data = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(str(config_path), f"not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(str(config_path), "must be a YAML mapping")
    knowledge = data.get("knowledge", "knowledge/")
    knowledge_dir = root / str(knowledge) if knowledge else None
    try:
        config = KnowledgeConfig.model_validate(data.get("knowledge_config") or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ConfigError(
            str(config_path),
            str(err["msg"]).removeprefix("Value error, "),
            field=f"knowledge_config.{loc}" if loc else "knowledge_config",
        ) from None
    return knowledge_dir, config


def _state_dir() -> Path:
    from govcx.settings import Settings

    return Settings().state_dir()


def _open(pack: Path | None, *, rebuild: bool = False) -> tuple[Any, Path | None]:
    from govcx.knowledge import KnowledgeBase

    knowledge_dir, config = resolve_pack(pack)
    return KnowledgeBase.open(_state_dir(), config, rebuild=rebuild), knowledge_dir


@kb_app.command("ingest")
@_guarded
def ingest(
    directory: Annotated[
        Path | None,
        typer.Argument(
            help="Knowledge folder (default: the pack's knowledge folder).", show_default=False
        ),
    ] = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help="Drop the stored knowledge first (needed to change embeddings; "
            "prior versions are lost).",
        ),
    ] = False,
    keep_missing: Annotated[
        bool,
        typer.Option("--keep-missing", help="Do not retire documents whose file is not in DIR."),
    ] = False,
) -> None:
    """Ingest .md, .txt, .html, .json and .jsonl files; only what changed is rewritten."""
    kb, knowledge_dir = _open(pack, rebuild=rebuild)
    root = directory or knowledge_dir
    if root is None:
        raise ConfigError(
            "govcx.yaml", "the pack has no knowledge folder; pass DIR", field="knowledge"
        )
    if not root.is_dir():
        raise ConfigError(str(root), "knowledge folder not found")
    if json_out:
        report = kb.ingest(root, retire_missing=not keep_missing)
    else:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        with Progress(
            TextColumn("[bold]ingest[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=err_console,
            transient=True,
        ) as bar:
            task = bar.add_task("", total=None)

            def progress(name: str, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, description=name)

            report = kb.ingest(root, progress=progress, retire_missing=not keep_missing)
    if json_out:
        print_json(report.to_dict())
    else:
        table = Table(title=f"Ingested {root}", show_header=True)
        for name in ("added", "updated", "unchanged", "retired", "failed"):
            table.add_column(name, justify="right")
        counts = report.counts()
        table.add_row(
            *(str(counts[n]) for n in ("added", "updated", "unchanged", "retired", "failed"))
        )
        console.print(table)
        for failure in report.failed:
            err_console.print(
                f"[red]failed:[/red] {failure.file}: {failure.reason}", markup=True, highlight=False
            )
        for rel in report.undeclared:
            what = (
                "a draft: not used in replies until it says `status: approved`"
                if report.default_status == "draft"
                else "published as approved (knowledge_config default_status: approved)"
            )
            err_console.print(
                f"[yellow]no status:[/yellow] {rel}: {what}", markup=True, highlight=False
            )
        for doc_id, target in report.dangling:
            err_console.print(
                f"[yellow]related:[/yellow] {doc_id} names {target!r}, which is not an "
                "approved document here: the link is not followed until it is",
                markup=True,
                highlight=False,
            )
        console.print(f"{report.files} files in {report.seconds:.2f}s", highlight=False)
    if report.failed:
        raise typer.Exit(1)


@kb_app.command("search")
@_guarded
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[
        int, typer.Option("-k", "--k", min=1, max=100, help="How many distinct documents.")
    ] = 5,
    passages: Annotated[
        int,
        typer.Option("--passages", min=1, max=10, help="Best passages shown per document."),
    ] = 2,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="Only documents with this tag (repeat for any of several)."),
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option("--mode", help="lexical, vector or hybrid (default: the pack's setting)."),
    ] = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Search approved, in-effect knowledge: the K best documents, each with its best
    passages.

    A document ranks by its best passage. ``--json`` prints ``{"query", "hits": [...]}``
    with one hit per document, best first: ``doc_id``, ``version``, ``title``, ``score``
    (its best passage's, 0-1), ``heading``/``chunk_id``/``text`` of that best passage,
    ``via`` (higher-ranked documents whose ``related`` links lifted it), and ``passages``
    (up to ``--passages``, best first: ``chunk_id``, ``heading``, ``score``, ``text``).
    """
    if mode is not None and mode not in ("lexical", "vector", "hybrid"):
        raise ConfigError("--mode", f"{mode!r} is not a mode; use lexical, vector or hybrid")
    if not query.strip():
        raise ConfigError("QUERY", "is empty; give the words to search for")
    kb, _ = _open(pack)
    hits = kb.search_documents(query, k=k, tags=tag or None, mode=mode, passages=passages)
    if json_out:
        print_json(
            {
                "query": query,
                "hits": [
                    {
                        "doc_id": h.doc_id,
                        "version": h.version,
                        "title": h.title,
                        "score": round(h.score, 4),
                        "heading": h.passages[0].heading,
                        "chunk_id": h.passages[0].chunk_id,
                        "text": h.passages[0].text,
                        "via": list(h.via),
                        "passages": [
                            {
                                "chunk_id": p.chunk_id,
                                "heading": p.heading,
                                "score": round(p.score, 4),
                                "text": p.text,
                            }
                            for p in h.passages
                        ],
                    }
                    for h in hits
                ],
            }
        )
        return
    if not hits:
        if kb.stats().searchable == 0:
            # A fresh state directory: the agent ingests the pack's knowledge when it
            # starts (`govcx ask`, `govcx serve`), this command does not.
            console.print(
                "the knowledge base holds no approved documents yet: `govcx kb ingest` "
                "loads the pack's knowledge folder",
                highlight=False,
            )
            return
        console.print("no approved knowledge matches", highlight=False)
        return
    table = Table(show_header=True)
    for name in ("score", "doc_id", "version", "title", "best passages"):
        table.add_column(name, overflow="fold")
    for hit in hits:
        shown = "; ".join(f"{p.heading or '(start)'} {p.score:.3f}" for p in hit.passages)
        if hit.via:
            shown += f" (related to {', '.join(hit.via)})"
        table.add_row(f"{hit.score:.3f}", hit.doc_id, hit.version, hit.title, shown)
    console.print(table)


@kb_app.command("stats")
@_guarded
def stats(pack: PackOpt = None, json_out: JsonOpt = False) -> None:
    """Documents, versions and passages in the knowledge base."""
    kb, _ = _open(pack)
    data = kb.stats().to_dict()
    if json_out:
        print_json(data)
        return
    table = Table(show_header=False)
    table.add_column("key")
    table.add_column("value", overflow="fold")
    for key, value in data.items():
        table.add_row(
            key,
            ", ".join(f"{k}: {v}" for k, v in value.items())
            if isinstance(value, dict)
            else str(value),
        )
    console.print(table)


@kb_app.command("show")
@_guarded
def show(
    doc_id: Annotated[str, typer.Argument(help="Document id.")],
    version: Annotated[
        str | None, typer.Option("--version", help="A stored version (default: the current one).")
    ] = None,
    pack: PackOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show a stored version of a document, including prior and retired ones (audit)."""
    kb, _ = _open(pack)
    doc = kb.get(doc_id, version)
    if json_out:
        data = doc.to_dict()
        data["versions"] = [v.version for v in kb.versions(doc_id)]
        print_json(data)
        return
    state = "current" if doc.current else ("retired" if doc.retired else "prior version")
    console.print(
        f"[bold]{doc.title}[/bold]  {doc.doc_id}@{doc.version}  {doc.status}, {state}",
        highlight=False,
    )
    console.print(f"source: {doc.source}  sha256: {doc.content_hash[:16]}", highlight=False)
    console.print(doc.text, markup=False, highlight=False)
