"""The knowledge base: ingest, hybrid search, audit look-ups and statistics.

Example:
    >>> kb = KnowledgeBase.open(Path(".govcx"))
    >>> report = kb.ingest(Path("mypack/knowledge"))
    >>> report.counts()
    {'added': 12, 'updated': 0, 'unchanged': 0, 'retired': 0, 'failed': 0}
    >>> [c.citation() for c in kb.search("how long do refunds take", k=2)]
    [{'doc_id': 'refunds', 'version': '3', 'title': 'Refunds'}, ...]
    >>> kb.get("refunds", "2").text          # a prior version, for audit

Scores: each hit's ``score`` is in [0, 1] and means the same thing for every query, so the
runtime can use the top score as a "there is relevant knowledge" signal:

- lexical part (:mod:`govcx.knowledge.lexical`): the share of the query's terms, weighted
  by rarity, that the passage contains (1.0: all of them);
- vector part: cosine similarity of query and passage vectors, clipped at 0;
- ``lexical`` (the default mode): the lexical part alone;
- ``vector``: the vector part alone;
- ``hybrid``: ``lexical_weight * lexical + (1 - lexical_weight) * vector``; the *order* in
  hybrid mode fuses the two parts after dividing each by its best value for the query
  (the scales of the two differ by model and by query length).

Both parts are also in ``chunk.metadata`` (``lexical``, ``vector``). In lexical mode an
unrelated question typically scores below 0.2 and a question that an article answers
above 0.5.
"""

from __future__ import annotations

import functools
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from govcx.errors import EmbeddingMismatch, NotFound
from govcx.knowledge.config import KnowledgeConfig, RetrievalMode
from govcx.knowledge.embeddings import embedding_signature, make_embeddings
from govcx.knowledge.index import LiveIndex
from govcx.knowledge.ingest import (
    _FAR,
    Ingester,
    IngestReport,
    Progress,
    chunk_ids,
    language_of,
    record_id,
)
from govcx.knowledge.lexical import terms
from govcx.knowledge.retriever import Chunk, DocumentHit
from govcx.knowledge.store import ChromaStore, drop_collections, open_client


@dataclass(frozen=True, kw_only=True)
class DocumentVersion:
    """One stored version of a document, live or not, for audit."""

    doc_id: str
    version: str
    title: str
    text: str
    status: str
    current: bool
    """Whether this is the version search uses now."""
    retired: bool
    """Whether the document has left the knowledge folder."""
    tags: tuple[str, ...] = ()
    locale: str | None = None
    effective_from: datetime | None = None
    effective_until: datetime | None = None
    source: str = ""
    content_hash: str = ""
    ingested_at: datetime | None = None
    retired_at: datetime | None = None
    chunks: tuple[Chunk, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "doc_id": self.doc_id,
            "version": self.version,
            "title": self.title,
            "status": self.status,
            "current": self.current,
            "retired": self.retired,
            "tags": list(self.tags),
            "locale": self.locale,
            "effective_from": iso(self.effective_from),
            "effective_until": iso(self.effective_until),
            "source": self.source,
            "content_hash": self.content_hash,
            "ingested_at": iso(self.ingested_at),
            "retired_at": iso(self.retired_at),
            "text": self.text,
            "chunks": [
                {"chunk_id": c.chunk_id, "heading": c.heading, "text": c.text} for c in self.chunks
            ],
        }


@dataclass(frozen=True, kw_only=True)
class KnowledgeStats:
    """Counts and settings of a knowledge base."""

    documents: int
    """Live documents (current version, not retired), any status."""
    searchable: int
    """Live documents that are approved (effective dates are checked per query)."""
    chunks: int
    """Searchable passages."""
    versions: int
    """Stored versions, including prior and retired ones."""
    retired: int
    by_status: dict[str, int]
    embedding: str
    location: str
    collection: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "searchable": self.searchable,
            "chunks": self.chunks,
            "versions": self.versions,
            "retired": self.retired,
            "by_status": self.by_status,
            "embedding": self.embedding,
            "location": self.location,
            "collection": self.collection,
        }


class KnowledgeBase:
    """A versioned knowledge base in Chroma, searchable by BM25 and vectors.

    Use :meth:`open`; it implements the :class:`~govcx.knowledge.retriever.Retriever`
    protocol, so it can be handed to the runtime as it is.
    """

    def __init__(self, store: ChromaStore, embeddings: Embeddings, config: KnowledgeConfig) -> None:
        self.store = store
        self.embeddings = embeddings
        self.config = config
        self.last_report: IngestReport | None = None
        """The report of the last ingest by :func:`~govcx.knowledge.build_retriever`."""
        self._lock = threading.RLock()
        self._term_cache: dict[str, Counter[str]] = {}
        self._index = LiveIndex.build([], [], [], self._term_cache)
        self.refresh()

    @classmethod
    def open(
        cls,
        state_dir: Path,
        config: KnowledgeConfig | None = None,
        *,
        embeddings: Embeddings | None = None,
        client: Any = None,
        rebuild: bool = False,
    ) -> KnowledgeBase:
        """Open (or create) the knowledge base of a state dir.

        Args:
            state_dir: the govcx state dir; the store is ``<state_dir>/chroma`` unless
                ``config.chroma_url`` names a server.
            config: a pack's ``knowledge_config``; defaults run offline.
            embeddings: an embedding model to use instead of the configured one (tests).
            client: a Chroma client to use instead of opening one.
            rebuild: drop the stored collections first (to change embedding models).

        Raises:
            EmbeddingMismatch: the store was built with another embedding model.
            KnowledgeStoreError: Chroma cannot be opened or reached.
        """
        config = config or KnowledgeConfig()
        embeddings = embeddings or make_embeddings(config.embedding)
        signature = embedding_signature(config.embedding, embeddings)
        location = config.chroma_url or str(state_dir / "chroma")
        client = client or open_client(state_dir, config.chroma_url)
        if rebuild:
            drop_collections(client, config.collection, location)
        store = ChromaStore(client, config.collection, signature=signature, location=location)
        return cls(store, embeddings, config)

    # -- ingest ------------------------------------------------------------------------
    def ingest(
        self, root: Path, *, progress: Progress | None = None, retire_missing: bool = True
    ) -> IngestReport:
        """Bring the store in line with the folder ``root``; see :mod:`.ingest`.

        Args:
            root: the knowledge folder.
            progress: called before each file with (path, done, total).
            retire_missing: retire live documents whose file is gone (the folder is the
                whole knowledge base); False adds and updates only.
        """
        with self._lock:
            report = Ingester(
                self, Path(root).resolve(), progress=progress, retire_missing=retire_missing
            ).run()
            self.last_report = report
            return report

    def refresh(self) -> None:
        """Reload the live passages (after an ingest here or by another process)."""
        with self._lock:
            got = self.store.get(
                self.store.chunks,
                where={"$and": [{"current": True}, {"status": "approved"}]},
                include=("documents", "metadatas"),
            )
            index = LiveIndex.build(
                got["ids"], got.get("documents") or [], got.get("metadatas") or [], self._term_cache
            )
            old = self._index
            if old.vectors is not None:
                self._load_vectors(index, previous=old)
            self._index = index

    def _load_vectors(self, index: LiveIndex, previous: LiveIndex | None = None) -> None:
        """Fetch the live passages' vectors into memory (once; then only new ones)."""
        dims = 0
        rows: dict[str, Any] = {}
        if previous is not None and previous.vectors is not None:
            for cid, row in previous.position.items():
                if cid in index.position:
                    rows[cid] = previous.vectors[row]
            dims = previous.vectors.shape[1]
        missing = [cid for cid in index.ids if cid not in rows]
        for start in range(0, len(missing), 5000):
            got = self.store.get(
                self.store.chunks, ids=missing[start : start + 5000], include=("embeddings",)
            )
            embeddings = got.get("embeddings")
            for cid, emb in zip(got["ids"], [] if embeddings is None else embeddings, strict=False):
                rows[cid] = np.asarray(emb, dtype=np.float32)
                dims = len(rows[cid])
        matrix = np.zeros((index.size, dims), dtype=np.float32)
        for cid, row in index.position.items():
            if cid in rows:
                matrix[row] = rows[cid]
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        index.vectors = matrix / np.maximum(norms, 1e-12)

    def _similarities(self, index: LiveIndex, query: str) -> np.ndarray[Any, Any]:
        if index.vectors is None:
            with self._lock:
                if index.vectors is None:
                    self._load_vectors(index)
        assert index.vectors is not None
        qvec = np.asarray(self.embeddings.embed_query(query), dtype=np.float32)
        if index.size and qvec.shape[0] != index.vectors.shape[1]:
            raise EmbeddingMismatch(
                self.store.location,
                f"vectors of {index.vectors.shape[1]} dimensions",
                f"{self.store.signature} giving {qvec.shape[0]} dimensions",
            )
        qvec /= max(float(np.linalg.norm(qvec)), 1e-12)
        # One BLAS thread: on small matrices two threads spend longer synchronising than
        # computing (measured 20 ms vs 3 ms at 2,800 x 1,024); large ones are memory-bound.
        with _blas().limit(limits=1, user_api="blas"):
            sims: np.ndarray[Any, Any] = np.maximum(index.vectors @ qvec, 0.0)
        return sims

    # -- search ------------------------------------------------------------------------
    def _ranking(
        self,
        query: str,
        *,
        tags: Sequence[str] | None,
        now: datetime | None,
        locale: str | None,
        mode: RetrievalMode | None,
        doc_ids: Sequence[str] | None = None,
    ) -> _Ranking | None:
        """Score every live passage for ``query``; None when nothing can match."""
        index = self._index
        if not query.strip() or index.size == 0:
            return None
        mode = mode or self.config.retrieval
        language = language_of(locale or self.config.locale) or None
        mask = index.mask(now=_moment(now), tags=tags, language=language)
        if doc_ids is not None:
            mask &= np.isin(index.doc, np.asarray(list(doc_ids), dtype=str))
        if not mask.any():
            return None
        weight = {"hybrid": self.config.lexical_weight, "lexical": 1.0, "vector": 0.0}[mode]
        raw = np.zeros(index.size, dtype=np.float32)
        reference = 0.0
        if weight > 0:
            raw, reference = index.lexical.raw_scores(query)
        # Rank by unclipped BM25 (a short query saturates the [0, 1] score quickly).
        relative = raw / reference if reference > 0 else raw
        lexical = np.minimum(relative, 1.0)
        vector = self._similarities(index, query) if weight < 1 else np.zeros(index.size)
        scores = np.where(mask, weight * lexical + (1 - weight) * vector, 0.0)
        if mode == "lexical":
            rank = np.where(mask, relative, 0.0)
        elif mode == "vector":
            rank = scores
        else:
            # Fuse per-query max-normalised parts: the two scales differ by model and by
            # query length. Measured on tau2 banking: better than absolute mixing and RRF.
            top_lex = float(raw[mask].max(initial=0.0)) or 1.0
            top_vec = float(vector[mask].max(initial=0.0)) or 1.0
            rank = np.where(mask, weight * raw / top_lex + (1 - weight) * vector / top_vec, 0.0)
        return _Ranking(
            index=index, mask=mask, rank=rank, scores=scores, lexical=lexical, vector=vector
        )

    def search(
        self,
        query: str,
        *,
        k: int = 5,
        tags: Sequence[str] | None = None,
        now: datetime | None = None,
        locale: str | None = None,
        mode: RetrievalMode | None = None,
        max_per_doc: int | None = None,
    ) -> list[Chunk]:
        """Approved, in-effect passages for ``query``, best first.

        Args:
            query: the customer's words (any length).
            k: how many passages at most.
            tags: only documents with at least one of these tags.
            now: the moment that decides which documents are in effect (default: now).
            locale: only documents in this language or without a locale (default: the
                configured one).
            mode: hybrid, lexical or vector (default: the configured one).
            max_per_doc: at most this many passages of one document.
        """
        if k <= 0:
            return []
        ranking = self._ranking(query, tags=tags, now=now, locale=locale, mode=mode)
        if ranking is None:
            return []
        rank = ranking.rank
        rows = np.flatnonzero(rank > 0)
        limit = max_per_doc or self.config.max_chunks_per_doc
        wanted = max(self.config.candidates, k * limit)
        if len(rows) > wanted:
            top = rows[np.argpartition(-rank[rows], wanted)[:wanted]]
            hits = self._hits(ranking, top, k, limit)
            if len(hits) == k:
                return hits
        return self._hits(ranking, rows, k, limit)

    def search_documents(
        self,
        query: str,
        *,
        k: int = 5,
        tags: Sequence[str] | None = None,
        now: datetime | None = None,
        passages: int = 2,
        pinned: Sequence[str] | None = None,
        locale: str | None = None,
        mode: RetrievalMode | None = None,
    ) -> list[DocumentHit]:
        """The ``k`` best approved, in-effect documents for ``query``, best first.

        A document's score (and its place) is its best passage's; each hit carries its
        ``passages`` best passages, best first.

        Args:
            query: the customer's words.
            k: how many distinct documents at most.
            tags: only documents with at least one of these tags.
            now: the moment that decides which documents are in effect.
            passages: passages per document, at most.
            pinned: document ids or tags (a workflow's ``knowledge:``): only these
                documents, and each of them even when no word of the query matches it
                (ranked by the query first, then by id); their hits are ``pinned``.
            locale: as for :meth:`search`.
            mode: as for :meth:`search`.
        """
        if k <= 0:
            return []
        doc_ids = sorted(self.resolve(pinned)[0]) if pinned is not None else None
        ranking = self._ranking(
            query, tags=tags, now=now, locale=locale, mode=mode, doc_ids=doc_ids
        )
        if ranking is None:
            return []
        ranking, via = self._linked(ranking)
        rank = ranking.rank
        rows = np.flatnonzero(ranking.mask if doc_ids is not None else rank > 0)
        wanted = max(self.config.candidates, k * passages * 4)
        if len(rows) > wanted:
            top = rows[np.argpartition(-rank[rows], wanted)[:wanted]]
            hits = self._documents(
                ranking, top, k, passages, pinned=doc_ids is not None, via=via, query=query
            )
            if len(hits) == k:
                return hits
        return self._documents(
            ranking, rows, k, passages, pinned=doc_ids is not None, via=via, query=query
        )

    def _linked(self, ranking: _Ranking) -> tuple[_Ranking, dict[str, tuple[str, ...]]]:
        """The ranking with ``related`` links followed, and who lifted each document.

        Each of the ``related_from`` best documents (by best passage) adds
        ``related_share`` x its score x the link's weight to every passage of each
        document it names; the additions of several documents add up. Only documents the
        ranking may return are lifted (approved, current, in effect, within the filters):
        a link never brings in a draft, a retired or a filtered-out document.
        """
        index, share = ranking.index, self.config.related_share
        if share <= 0 or not index.related:
            return ranking, {}
        rank = ranking.rank
        rows = np.flatnonzero(rank > 0)
        rows = rows[np.argsort(-rank[rows], kind="stable")]
        sources: dict[str, float] = {}
        for row in rows.tolist():
            doc_id = str(index.doc[row])
            if doc_id not in sources:
                sources[doc_id] = float(rank[row])
                if len(sources) == self.config.related_from:
                    break
        lift: dict[str, float] = {}
        via: dict[str, list[str]] = {}
        for source, score in sources.items():
            for target, weight in index.related.get(source, {}).items():
                if target != source and target in index.doc_rows:
                    lift[target] = lift.get(target, 0.0) + share * score * weight
                    via.setdefault(target, []).append(source)
        if not lift:
            return ranking, {}
        lifted = rank.copy()
        for target, amount in lift.items():
            targets = index.doc_rows[target]
            lifted[targets] += np.where(ranking.mask[targets], amount, 0.0)
        return replace(ranking, rank=lifted), {t: tuple(s) for t, s in via.items()}

    def resolve(self, names: Sequence[str] | None) -> tuple[set[str], list[str]]:
        """Document ids that ``names`` (ids or tags) stand for among the live, approved
        documents, and the names that match none (in the order given)."""
        index = self._index
        ids = set(index.doc.tolist())
        found: set[str] = set()
        unknown: list[str] = []
        for name in names or ():
            rows = index.tag_rows.get(name.casefold())
            if name in ids:
                found.add(name)
            elif rows is not None:
                found.update(index.doc[rows].tolist())
            else:
                unknown.append(name)
        return found, unknown

    def dangling_links(self) -> list[tuple[str, str]]:
        """(document, id) for each ``related`` link of a live document that names no live
        (approved, current) document: such a link is not followed until it does."""
        index = self._index
        return sorted(
            (doc_id, target)
            for doc_id, links in index.related.items()
            for target in links
            if target not in index.doc_rows
        )

    def catalog(self) -> tuple[list[str], list[str]]:
        """Ids of the live, approved documents and their tags, sorted (for messages)."""
        index = self._index
        return sorted(set(index.doc.tolist())), sorted(index.tag_rows)

    def _documents(
        self,
        ranking: _Ranking,
        rows: np.ndarray[Any, Any],
        k: int,
        passages: int,
        *,
        pinned: bool,
        via: Mapping[str, tuple[str, ...]] | None = None,
        query: str = "",
    ) -> list[DocumentHit]:
        index, rank = ranking.index, ranking.rank
        ordered = sorted(rows.tolist(), key=lambda r: (-float(rank[r]), index.ids[r]))
        order: list[str] = []
        candidates: dict[str, list[int]] = {}
        best: dict[str, float] = {}
        for row in ordered:
            doc_id = str(index.doc[row])
            if doc_id not in candidates:
                if len(order) == k:
                    continue
                order.append(doc_id)
                candidates[doc_id] = []
                best[doc_id] = round(float(rank[row]), 6)
            candidates[doc_id].append(row)
        # A document's place is its best passage's; the order of its own passages also
        # weighs their section headings (a passage's rank times one plus the share of
        # the query's words its heading has): of "Rain jackets", "Down jackets" and
        # "Layering", "how do I clean my rain jacket" is about the first, though "clean"
        # is said twice under "Down jackets".
        asked = set(terms(query, pairs=False)) if query else set()
        found: dict[str, list[Chunk]] = {}
        for doc_id in order:
            rows_of = candidates[doc_id]
            if asked and len(rows_of) > 1:
                rows_of = sorted(
                    rows_of,
                    key=lambda r: -float(rank[r]) * (1 + _heading_overlap(index, r, asked)),
                )
            found[doc_id] = [self._chunk_at(ranking, r) for r in rows_of[:passages]]
        return [
            DocumentHit(
                doc_id=doc_id,
                version=found[doc_id][0].version,
                title=found[doc_id][0].title,
                score=_score(float(ranking.scores[candidates[doc_id][0]])),
                passages=tuple(found[doc_id]),
                tags=found[doc_id][0].tags,
                pinned=pinned,
                relevance=best[doc_id],
                via=(via or {}).get(doc_id, ()),
            )
            for doc_id in order
        ]

    @staticmethod
    def _chunk_at(ranking: _Ranking, row: int) -> Chunk:
        index = ranking.index
        return _chunk(
            index.ids[row],
            index.texts[row],
            index.metadatas[row],
            score=float(ranking.scores[row]),
            extra={
                "lexical": round(float(ranking.lexical[row]), 4),
                "vector": round(float(ranking.vector[row]), 4),
            },
        )

    @classmethod
    def _hits(
        cls, ranking: _Ranking, rows: np.ndarray[Any, Any], k: int, limit: int
    ) -> list[Chunk]:
        index, rank = ranking.index, ranking.rank
        ordered = sorted(rows.tolist(), key=lambda r: (-float(rank[r]), index.ids[r]))
        per_doc: Counter[str] = Counter()
        hits: list[Chunk] = []
        for row in ordered:
            doc_id = str(index.doc[row])
            if per_doc[doc_id] >= limit:
                continue
            per_doc[doc_id] += 1
            hits.append(cls._chunk_at(ranking, row))
            if len(hits) == k:
                break
        return hits

    # -- audit -------------------------------------------------------------------------
    def get(self, doc_id: str, version: str | None = None) -> DocumentVersion:
        """A stored version of a document (default: the current one, else the latest).

        Prior and retired versions stay addressable, so a citation can always be checked
        against the exact text it pointed to.

        Raises:
            NotFound: no such document or version.
        """
        store = self.store
        if version is not None:
            got = store.get(
                store.docs, ids=[record_id(doc_id, version)], include=("documents", "metadatas")
            )
            if not got["ids"]:
                known = [v.version for v in self.versions(doc_id)]
                hint = (
                    f"stored versions: {', '.join(known)}"
                    if known
                    else "no version of it is stored"
                )
                raise NotFound("document version", f"{doc_id}@{version}", hint=hint)
            meta, text = got["metadatas"][0], got["documents"][0]
        else:
            got = store.get(
                store.docs, where={"doc_id": doc_id}, include=("documents", "metadatas")
            )
            if not got["ids"]:
                raise NotFound("document", doc_id, hint="see `govcx kb stats`")
            pairs = sorted(
                zip(got["metadatas"], got["documents"], strict=True),
                key=lambda p: (bool(p[0].get("current")), float(p[0].get("ingested_at", 0))),
            )
            meta, text = pairs[-1]
        n = int(meta.get("chunks", 0))
        ids = chunk_ids(str(meta["doc_id"]), str(meta["version"]), n)
        chunks = store.get(store.chunks, ids=ids, include=("documents", "metadatas"))
        by_id = {
            cid: (doc, m)
            for cid, doc, m in zip(
                chunks["ids"], chunks["documents"], chunks["metadatas"], strict=True
            )
        }
        return _version(
            meta,
            text,
            tuple(_chunk(cid, by_id[cid][0], by_id[cid][1]) for cid in ids if cid in by_id),
        )

    def versions(self, doc_id: str) -> list[DocumentVersion]:
        """Every stored version of a document, oldest first (without passages)."""
        got = self.store.get(
            self.store.docs, where={"doc_id": doc_id}, include=("documents", "metadatas")
        )
        found = [
            _version(m, t, ()) for m, t in zip(got["metadatas"], got["documents"], strict=True)
        ]
        return sorted(found, key=lambda v: v.ingested_at or datetime.min.replace(tzinfo=UTC))

    def stats(self) -> KnowledgeStats:
        """Counts of documents, versions and passages."""
        store = self.store
        got = store.get(store.docs, where=None)
        metas = got.get("metadatas") or []
        live = [m for m in metas if m.get("current")]
        return KnowledgeStats(
            documents=len(live),
            searchable=sum(m.get("status") == "approved" for m in live),
            chunks=self._index.size,
            versions=len(metas),
            retired=len(
                {m["doc_id"] for m in metas if m.get("retired")} - {m["doc_id"] for m in live}
            ),
            by_status=dict(Counter(str(m.get("status")) for m in live)),
            embedding=store.signature,
            location=store.location,
            collection=self.config.collection,
        )


@dataclass(frozen=True, kw_only=True)
class _Ranking:
    """Every live passage scored for one query (arrays in the index's order)."""

    index: LiveIndex
    mask: np.ndarray[Any, Any]
    """Passages that may be returned (in effect, tags, language, documents)."""
    rank: np.ndarray[Any, Any]
    """What orders them (mode-dependent; 0 outside the mask)."""
    scores: np.ndarray[Any, Any]
    """The comparable [0, 1] score each hit reports."""
    lexical: np.ndarray[Any, Any]
    vector: np.ndarray[Any, Any]


def _heading_overlap(index: LiveIndex, row: int, asked: set[str]) -> float:
    """The share of the query's content words the passage's section heading has."""
    heading = str(index.metadatas[row].get("heading", ""))
    if not heading:
        return 0.0
    return len(asked.intersection(terms(heading, pairs=False))) / len(asked)


@functools.cache
def _blas() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _moment(now: datetime | None) -> float:
    if now is None:
        return datetime.now(UTC).timestamp()
    return (now if now.tzinfo else now.replace(tzinfo=UTC)).timestamp()


def _stamp(value: Any, *, none_beyond: float | None = None) -> datetime | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if none_beyond is not None and abs(number) >= none_beyond:
        return None
    return datetime.fromtimestamp(number, tz=UTC)


def _score(value: float) -> float:
    """A hit's score as reported: capped at 1, six decimals."""
    return round(min(1.0, value), 6)


def _chunk(
    cid: str, text: str, meta: Any, *, score: float = 0.0, extra: dict[str, Any] | None = None
) -> Chunk:
    tags = meta.get("tags") or []
    details = {
        "status": meta.get("status"),
        "locale": meta.get("locale") or None,
        "index": meta.get("index"),
        **(extra or {}),
    }
    return Chunk(
        doc_id=str(meta["doc_id"]),
        version=str(meta["version"]),
        title=str(meta.get("title", "")),
        text=text,
        chunk_id=cid,
        heading=str(meta.get("heading", "")),
        score=_score(score),
        tags=tuple(str(t) for t in tags),
        metadata=details,
    )


def _version(meta: Any, text: str, chunks: tuple[Chunk, ...]) -> DocumentVersion:
    tags = tuple(t.strip() for t in str(meta.get("display_tags", "")).split(",") if t.strip())
    extra = {k[2:]: v for k, v in meta.items() if k.startswith("x_")}
    return DocumentVersion(
        doc_id=str(meta["doc_id"]),
        version=str(meta["version"]),
        title=str(meta.get("title", "")),
        text=text or "",
        status=str(meta.get("status")),
        current=bool(meta.get("current")),
        retired=bool(meta.get("retired")),
        tags=tags,
        locale=meta.get("locale") or None,
        effective_from=_stamp(meta.get("start"), none_beyond=_FAR),
        effective_until=_stamp(meta.get("end"), none_beyond=_FAR),
        source=str(meta.get("source", "")),
        content_hash=str(meta.get("content_hash", "")),
        ingested_at=_stamp(meta.get("ingested_at")),
        retired_at=_stamp(meta.get("retired_at")) if meta.get("retired") else None,
        chunks=chunks,
        metadata=extra,
    )
