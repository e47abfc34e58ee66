"""Ingest: make the store mirror a knowledge folder, changing only what changed.

For every file the byte hash is compared with the one recorded for its documents; an
unchanged file is not even parsed. A changed file is parsed and each of its documents is

- **added**: a document id that is not live yet;
- **updated**: a new version, or new governance fields (status, tags, dates) of the same
  version, or a version brought back;
- **unchanged**: nothing that matters changed (say, whitespace in the front matter).

Documents whose file is gone are **retired**: they leave search but every version stays
addressable with ``KnowledgeBase.get`` for audit. A file that cannot be used is **failed**
with its reason; the rest of the ingest goes on, and nothing already ingested from it is
lost (its documents stay live in their last good version).

A new version of a live document is written with ``current=False`` and switched live
only after it is complete, so a crash mid-ingest never mixes two versions in search; the
next ingest finishes the switch. (A document that was not live yet is written live at
once: there is nothing to mix it with.)
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from govcx.errors import ConfigError, DocumentError, GovcxError
from govcx.knowledge.chunking import split_passages
from govcx.knowledge.document import (
    Document,
    discover,
    effective_end,
    effective_start,
    parse,
    read_bytes,
)
from govcx.knowledge.index import embed_text

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from govcx.knowledge.config import KnowledgeConfig
    from govcx.knowledge.store import ChromaStore

Progress = Callable[[str, int, int], None]
"""Called before each file with (relative path, files done, files in total)."""


class Target(Protocol):
    """What an ingest run writes into (a :class:`~govcx.knowledge.base.KnowledgeBase`)."""

    store: ChromaStore
    embeddings: Embeddings
    config: KnowledgeConfig

    def refresh(self) -> None: ...

    def dangling_links(self) -> list[tuple[str, str]]: ...


_FAR = 1e15
"""Seconds standing in for open-ended dates (Chroma metadata cannot hold infinity)."""


@dataclass(frozen=True, kw_only=True)
class FileFailure:
    """A file that could not be ingested, and why."""

    file: str
    reason: str


@dataclass(kw_only=True)
class IngestReport:
    """What an ingest did, per document (failures per file)."""

    root: str
    files: int = 0
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    failed: list[FileFailure] = field(default_factory=list)
    undeclared: list[str] = field(default_factory=list)
    """Files with a document that declares no status (it took ``default_status``)."""
    dangling: list[tuple[str, str]] = field(default_factory=list)
    """(document, id) pairs where a live document's ``related`` names no live document."""
    default_status: str = "draft"
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "retired": len(self.retired),
            "failed": len(self.failed),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "files": self.files,
            **self.counts(),
            "seconds": round(self.seconds, 3),
            "documents": {"added": self.added, "updated": self.updated, "retired": self.retired},
            "failures": [{"file": f.file, "reason": f.reason} for f in self.failed],
            "undeclared_status": {"files": self.undeclared, "took": self.default_status},
            "dangling_related": [{"doc_id": d, "related": t} for d, t in self.dangling],
        }


def record_id(doc_id: str, version: str) -> str:
    return f"{doc_id}@{version}"


def chunk_ids(doc_id: str, version: str, n: int) -> list[str]:
    return [f"{doc_id}@{version}#{i}" for i in range(n)]


def language_of(locale: str | None) -> str:
    """``en-US`` -> ``en``; filters match on the language."""
    return (locale or "").replace("_", "-").split("-")[0].casefold()


_OPTIONAL_FIELDS = ("tags", "related")
"""Governance keys that :func:`governance_fields` leaves out when the article has none."""


def governance_fields(doc: Document) -> dict[str, Any]:
    """Metadata shared by a version's record and its chunks, which may change in place."""
    meta: dict[str, Any] = {
        "status": doc.status,
        "language": language_of(doc.locale),
        "locale": doc.locale or "",
        "start": max(effective_start(doc), -_FAR),
        "end": min(effective_end(doc), _FAR),
        "meta_hash": doc.meta_hash,
    }
    if doc.tags:
        meta["tags"] = sorted({t.casefold() for t in doc.tags})
    if doc.related:
        meta["related"] = json.dumps(dict(sorted(doc.related.items())))
    return meta


@dataclass(kw_only=True)
class _Pending:
    path: Path
    rel: str
    file_hash: str
    docs: list[Document]


class Ingester:
    """One ingest run of ``root`` into ``kb``."""

    def __init__(
        self,
        kb: Target,
        root: Path,
        *,
        progress: Progress | None = None,
        retire_missing: bool = True,
    ) -> None:
        self.kb = kb
        self.store = kb.store
        self.config = kb.config
        self.root = root
        self.progress = progress
        self.retire_missing = retire_missing
        self.report = IngestReport(root=str(root), default_status=self.config.default_status)
        self.chunking = (
            f"{self.config.chunk_size}/{self.config.min_chunk_size}/{self.config.default_status}"
        )

    def run(self) -> IngestReport:
        started = time.perf_counter()
        root = self.root
        if not root.is_dir():
            raise ConfigError(str(root), "knowledge folder not found")
        files = discover(root)
        self.report.files = len(files)
        live = self._live_records()
        by_source: dict[str, list[Mapping[str, Any]]] = {}
        for meta in live.values():
            by_source.setdefault(str(meta.get("source", "")), []).append(meta)
        seen: dict[str, list[tuple[str, str]]] = {}  # doc_id -> [(source, signature)]
        failed_sources: set[str] = set()
        pending: list[_Pending] = []
        for path in files:
            rel = path.relative_to(root).as_posix()
            try:
                data = read_bytes(path, max_bytes=self.config.max_file_bytes)
                file_hash = hashlib.sha256(data).hexdigest()
                prior = by_source.get(rel, [])
                if prior and all(
                    m.get("source_hash") == file_hash and m.get("chunking") == self.chunking
                    for m in prior
                ):
                    for meta in prior:
                        doc_id = str(meta["doc_id"])
                        seen.setdefault(doc_id, []).append((rel, _signature_of(meta)))
                        self.report.unchanged.append(doc_id)
                    continue
                docs = parse(data, path, root, default_status=self.config.default_status)
                if any(not d.status_declared for d in docs):
                    self.report.undeclared.append(rel)
            except DocumentError as exc:
                self._fail(rel, exc.reason, failed_sources)
                continue
            fresh = []
            for doc in docs:
                places = seen.setdefault(doc.doc_id, [])
                if any(sig == _signature(doc) for _, sig in places):
                    continue  # an identical copy elsewhere: ingest it once
                places.append((rel, _signature(doc)))
                fresh.append(doc)
            docs = fresh
            pending.append(_Pending(path=path, rel=rel, file_hash=file_hash, docs=docs))
        conflicts = self._conflicts(seen, {p.rel for p in pending})
        existing = self._existing([d for item in pending for d in item.docs])
        batch = _Batch()
        done = len(files) - len(pending)
        for item in pending:
            if self.progress:
                self.progress(item.rel, done, len(files))
            done += 1
            reason = next(
                (
                    conflicts[d.doc_id][item.rel]
                    for d in item.docs
                    if item.rel in conflicts.get(d.doc_id, {})
                ),
                None,
            )
            if reason:
                self._fail(item.rel, reason, failed_sources)
                continue
            self._plan_file(item, live, existing, batch, failed_sources)
        if self.progress:
            self.progress("", len(files), len(files))
        if self.retire_missing:
            self._plan_retire(live, set(seen), failed_sources, batch)
        if not batch.empty:
            batch.write(self.store)
            self.kb.refresh()
        self.report.dangling = self.kb.dangling_links()
        self.report.seconds = time.perf_counter() - started
        return self.report

    # -- steps -------------------------------------------------------------------------
    def _live_records(self) -> dict[str, Mapping[str, Any]]:
        got = self.store.get(self.store.docs, where={"current": True})
        return {str(m["doc_id"]): m for m in got.get("metadatas") or []}

    def _fail(self, rel: str, reason: str, failed_sources: set[str]) -> None:
        failed_sources.add(rel)
        self.report.failed.append(FileFailure(file=rel, reason=reason))

    @staticmethod
    def _conflicts(
        seen: Mapping[str, list[tuple[str, str]]], changed: set[str]
    ) -> dict[str, dict[str, str]]:
        """doc_id -> {changed file: reason} for ids defined twice with different content."""
        out: dict[str, dict[str, str]] = {}
        for doc_id, places in seen.items():
            if len({sig for _, sig in places}) < 2:
                continue
            for rel, _sig in places:
                if rel not in changed:
                    continue  # an unchanged file keeps its live document
                others = sorted({r for r, _ in places if r != rel})
                out.setdefault(doc_id, {})[rel] = (
                    f"duplicate id {doc_id!r} with different content in "
                    + ", ".join(others)
                    + "; ids must be unique"
                )
        return out

    def _existing(self, docs: Sequence[Document]) -> dict[str, Mapping[str, Any]]:
        """Stored records of the (doc_id, version) pairs about to be written."""
        ids = sorted({record_id(d.doc_id, d.version) for d in docs})
        got: dict[str, Mapping[str, Any]] = {}
        for start in range(0, len(ids), 1000):
            page = self.store.get(self.store.docs, ids=ids[start : start + 1000])
            got.update(zip(page["ids"], page.get("metadatas") or [], strict=True))
        return got

    def _plan_file(
        self,
        item: _Pending,
        live: dict[str, Mapping[str, Any]],
        existing: Mapping[str, Mapping[str, Any]],
        batch: _Batch,
        failed_sources: set[str],
    ) -> None:
        """Plan every document of a file, or fail the whole file."""
        mark = batch.mark()
        outcomes: list[tuple[str, str]] = []
        staged = dict(live)
        try:
            for doc in item.docs:
                outcomes.append((doc.doc_id, self._plan(doc, item, staged, existing, batch)))
        except GovcxError as exc:
            batch.rollback(mark)
            self._fail(
                item.rel,
                exc.reason if isinstance(exc, DocumentError) else exc.message,
                failed_sources,
            )
            return
        except Exception as exc:  # an embedding service error fails this file only
            batch.rollback(mark)
            self._fail(item.rel, f"{type(exc).__name__}: {exc}"[:300], failed_sources)
            return
        live.update(staged)
        for doc_id, outcome in outcomes:
            getattr(self.report, outcome).append(doc_id)

    def _plan(
        self,
        doc: Document,
        item: _Pending,
        live: dict[str, Mapping[str, Any]],
        existing: Mapping[str, Mapping[str, Any]],
        batch: _Batch,
    ) -> str:
        """Stage the writes for one document; returns added | updated | unchanged."""
        rid = record_id(doc.doc_id, doc.version)
        was_live = live.get(doc.doc_id)
        stored = existing.get(rid)
        if stored is not None and stored.get("content_hash") != doc.content_hash:
            raise DocumentError(
                item.rel,
                f"version {doc.version!r} of {doc.doc_id!r} was "
                f"ingested before with different text (from "
                f"{stored.get('source')}); give the changed article a new "
                "version so citations of the old text stay true",
            )
        governance = governance_fields(doc)
        record = {
            **governance,
            "source": item.rel,
            "source_hash": item.file_hash,
            "chunking": self.chunking,
        }
        rewrite = stored is None or stored.get("chunking") != self.chunking
        # A document that is not live yet has nothing to switch away from: its passages
        # are written live at once, halving the writes of a first ingest.
        direct = rewrite and was_live is None
        if rewrite:
            n = self._stage_version(
                doc, record, int(stored.get("chunks", 0)) if stored else 0, batch, current=direct
            )
        else:
            n = int(stored.get("chunks", 0)) if stored is not None else 0
            # An update merges keys: one the article no longer has must be cleared (None
            # deletes it), or removed tags and links would go on matching.
            cleared = {key: None for key in _OPTIONAL_FIELDS if key not in governance}
            batch.update_docs([rid], [{**record, **cleared}])
            batch.update_chunks(
                chunk_ids(doc.doc_id, doc.version, n), [{**governance, **cleared}] * n
            )
        previously_current = was_live is not None and was_live.get("version") == doc.version
        if was_live and not previously_current:
            _stage_current(
                batch,
                str(was_live["doc_id"]),
                str(was_live["version"]),
                int(was_live.get("chunks", 0)),
                False,
            )
        if (rewrite and not direct) or (not rewrite and not previously_current):
            _stage_current(batch, doc.doc_id, doc.version, n, True)
        live[doc.doc_id] = {**record, "doc_id": doc.doc_id, "version": doc.version, "chunks": n}
        if was_live is None:
            return "added"
        if stored is None or not previously_current or stored.get("meta_hash") != doc.meta_hash:
            return "updated"
        return "unchanged"

    def _stage_version(
        self, doc: Document, record: Mapping[str, Any], n_old: int, batch: _Batch, *, current: bool
    ) -> int:
        """Passages, vectors and records of a version (not yet current unless told)."""
        passages = split_passages(
            doc.body,
            title=doc.title,
            chunk_size=self.config.chunk_size,
            min_chunk_size=self.config.min_chunk_size,
        )
        if not passages:
            raise DocumentError(doc.source, f"document {doc.doc_id!r} has no text")
        ids = chunk_ids(doc.doc_id, doc.version, len(passages))
        vectors = self.kb.embeddings.embed_documents(
            [embed_text(doc.title, p.heading, p.text) for p in passages]
        )
        base = {
            "doc_id": doc.doc_id,
            "version": doc.version,
            "title": doc.title,
            "content_hash": doc.content_hash,
            "current": current,
            **governance_fields(doc),
        }
        if n_old > len(passages):
            batch.deletes.extend(chunk_ids(doc.doc_id, doc.version, n_old)[len(passages) :])
        batch.add_chunks(
            ids,
            [p.text for p in passages],
            [{**base, "heading": p.heading, "index": p.index} for p in passages],
            vectors,
        )
        doc_meta = {
            **record,
            "doc_id": doc.doc_id,
            "version": doc.version,
            "title": doc.title,
            "content_hash": doc.content_hash,
            "version_declared": doc.version_declared,
            "chunks": len(passages),
            "ingested_at": time.time(),
            "current": current,
            "retired": False,
            "retired_at": 0.0,
            "display_tags": ", ".join(doc.tags),
        }
        for key, value in doc.metadata.items():
            if isinstance(value, str | int | float | bool) and f"x_{key}" not in doc_meta:
                doc_meta[f"x_{key}"] = value
        batch.add_doc(record_id(doc.doc_id, doc.version), doc.body, doc_meta, _mean(vectors))
        return len(passages)

    def _plan_retire(
        self,
        live: Mapping[str, Mapping[str, Any]],
        seen: set[str],
        failed_sources: set[str],
        batch: _Batch,
    ) -> None:
        now = time.time()
        for doc_id, meta in sorted(live.items()):
            if doc_id in seen or str(meta.get("source", "")) in failed_sources:
                continue
            version = str(meta["version"])
            _stage_current(batch, doc_id, version, int(meta.get("chunks", 0)), False)
            batch.update_docs([record_id(doc_id, version)], [{"retired": True, "retired_at": now}])
            self.report.retired.append(doc_id)


@dataclass(kw_only=True)
class _Batch:
    """Writes of one ingest, sent to Chroma in few large calls.

    New versions are added with ``current=False`` first; the switches of ``current``
    (and other metadata changes) follow, so a crash never exposes half a version.
    """

    chunk_rows: list[tuple[str, str, dict[str, Any], Sequence[float]]] = field(default_factory=list)
    doc_rows: list[tuple[str, str, dict[str, Any], Sequence[float]]] = field(default_factory=list)
    chunk_updates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    doc_updates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(self.mark())

    def mark(self) -> tuple[int, ...]:
        return (
            len(self.chunk_rows),
            len(self.doc_rows),
            len(self.chunk_updates),
            len(self.doc_updates),
            len(self.deletes),
        )

    def rollback(self, mark: tuple[int, ...]) -> None:
        del self.chunk_rows[mark[0] :], self.doc_rows[mark[1] :]
        del self.chunk_updates[mark[2] :], self.doc_updates[mark[3] :], self.deletes[mark[4] :]

    def add_chunks(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        metas: Sequence[dict[str, Any]],
        vectors: Sequence[Sequence[float]],
    ) -> None:
        self.chunk_rows.extend(zip(ids, texts, metas, vectors, strict=True))

    def add_doc(self, rid: str, text: str, meta: dict[str, Any], vector: Sequence[float]) -> None:
        self.doc_rows.append((rid, text, meta, vector))

    def update_chunks(self, ids: Sequence[str], changes: Sequence[Mapping[str, Any]]) -> None:
        self.chunk_updates.extend((i, dict(c)) for i, c in zip(ids, changes, strict=True))

    def update_docs(self, ids: Sequence[str], changes: Sequence[Mapping[str, Any]]) -> None:
        self.doc_updates.extend((i, dict(c)) for i, c in zip(ids, changes, strict=True))

    def write(self, store: ChromaStore) -> None:
        store.delete(store.chunks, self.deletes)
        for collection, rows in ((store.chunks, self.chunk_rows), (store.docs, self.doc_rows)):
            if rows:
                ids, texts, metas, vectors = zip(*rows, strict=True)
                store.add(collection, ids, texts, metas, vectors)
        for collection, updates in (
            (store.chunks, self.chunk_updates),
            (store.docs, self.doc_updates),
        ):
            merged: dict[str, dict[str, Any]] = {}
            for rid, change in updates:  # later changes of one record win, in order
                merged.setdefault(rid, {}).update(change)
            if merged:
                store.update_metadata(collection, list(merged), list(merged.values()))


def _stage_current(batch: _Batch, doc_id: str, version: str, n_chunks: int, current: bool) -> None:
    change: dict[str, Any] = {"current": current}
    batch.update_chunks(chunk_ids(doc_id, version, n_chunks), [change] * n_chunks)
    doc_change = {**change, "retired": False, "retired_at": 0.0} if current else change
    batch.update_docs([record_id(doc_id, version)], [doc_change])


def _signature(doc: Document) -> str:
    return f"{doc.content_hash}:{doc.meta_hash}:{doc.version}"


def _signature_of(meta: Mapping[str, Any]) -> str:
    return f"{meta.get('content_hash')}:{meta.get('meta_hash')}:{meta.get('version')}"


def _mean(vectors: Sequence[Sequence[float]]) -> list[float]:
    import numpy as np

    if not vectors:
        raise DocumentError("", "document has no passages")
    centre = np.asarray(vectors, dtype=np.float64).mean(axis=0)
    norm = float(np.linalg.norm(centre))
    return (centre / norm if norm else centre).tolist()  # type: ignore[no-any-return]
