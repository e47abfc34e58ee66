"""Retrieval of approved knowledge, behind a small protocol.

Only approved articles that are in effect can ground a reply; a Retriever never returns
anything else, so a draft or retired article can never be cited.

Two views of one ranking: :meth:`Retriever.search` returns passages (``k`` passages, at
most a few of one document), :meth:`DocumentRetriever.search_documents` returns
*documents*, best first, each with its best passages (``k`` distinct documents). The
runtime drafts from documents, in their order, through :func:`rank_documents`, which also
serves a retriever that only implements ``search`` (its passages grouped by document).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from govcx.errors import PolicyError

if TYPE_CHECKING:
    from govcx.governance.policy import Policy


@dataclass(frozen=True, kw_only=True)
class Chunk:
    """A retrieved passage of one version of one approved document."""

    doc_id: str
    version: str
    title: str
    text: str
    chunk_id: str
    heading: str = ""
    score: float = 0.0
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)

    def citation(self) -> dict[str, str]:
        return {"doc_id": self.doc_id, "version": self.version, "title": self.title}


@dataclass(frozen=True, kw_only=True)
class DocumentHit:
    """One retrieved document: its score is its best passage's, its passages best first."""

    doc_id: str
    version: str
    title: str
    score: float
    """The best passage's score, in [0, 1] (clipped: many documents can reach 1.0)."""
    passages: tuple[Chunk, ...]
    tags: tuple[str, ...] = ()
    pinned: bool = False
    """Retrieved because the workflow names it (policy ``knowledge:``), not by the words."""
    relevance: float | None = None
    """What ordered the documents (unclipped, e.g. BM25 over the query's reference
    score); None when the retriever gives only ``score``. Compare documents by this."""
    via: tuple[str, ...] = ()
    """Higher-ranked documents whose ``related`` links lifted this one (their ids)."""

    def citation(self) -> dict[str, str]:
        return {"doc_id": self.doc_id, "version": self.version, "title": self.title}


@runtime_checkable
class Retriever(Protocol):
    """Finds approved, in-effect chunks for a query, best first."""

    def search(
        self,
        query: str,
        *,
        k: int = 5,
        tags: Sequence[str] | None = None,
        now: datetime | None = None,
    ) -> list[Chunk]: ...


@runtime_checkable
class DocumentRetriever(Protocol):
    """Ranks approved, in-effect documents for a query, best first."""

    def search_documents(
        self,
        query: str,
        *,
        k: int = 5,
        tags: Sequence[str] | None = None,
        now: datetime | None = None,
        passages: int = 2,
        pinned: Sequence[str] | None = None,
    ) -> list[DocumentHit]: ...


def group_documents(chunks: Sequence[Chunk], k: int, passages: int = 2) -> list[DocumentHit]:
    """Passages ranked best first -> the first ``k`` distinct documents, in that order."""
    order: list[str] = []
    found: dict[str, list[Chunk]] = {}
    for chunk in chunks:
        if chunk.doc_id not in found:
            if len(order) == k:
                continue
            order.append(chunk.doc_id)
            found[chunk.doc_id] = []
        if len(found[chunk.doc_id]) < passages:
            found[chunk.doc_id].append(chunk)
    return [
        DocumentHit(
            doc_id=doc,
            version=found[doc][0].version,
            title=found[doc][0].title,
            score=found[doc][0].score,
            passages=tuple(found[doc]),
            tags=found[doc][0].tags,
        )
        for doc in order
    ]


def rank_documents(
    retriever: Retriever,
    query: str,
    *,
    k: int = 3,
    tags: Sequence[str] | None = None,
    now: datetime | None = None,
    passages: int = 2,
) -> list[DocumentHit]:
    """The ``k`` best documents for ``query`` from any retriever, best first."""
    if isinstance(retriever, DocumentRetriever):
        return retriever.search_documents(query, k=k, tags=tags, now=now, passages=passages)
    return group_documents(
        retriever.search(query, k=k * passages * 2, tags=tags, now=now), k, passages
    )


CLOSE_SCORES = 0.85
"""Two documents whose scores are within this ratio are equally good answers to the words."""
SAME_TOPIC = 0.3
"""Cosine of two documents' content terms at or above which they are on one topic."""


@dataclass(frozen=True, kw_only=True)
class Grounding:
    """The knowledge one turn may draft from: documents, best first, and whether the best
    two disagree.

    ``conflict`` names the top two documents found by the customer's words when their
    scores are close (within :data:`CLOSE_SCORES`) but they are on different topics
    (tags in common, or, without tags, similar words): the words alone cannot say which
    one answers, so a reply drafted from either would be a guess.
    """

    documents: tuple[DocumentHit, ...]
    conflict: tuple[str, str] | None = None

    def passages(self) -> list[Chunk]:
        """Every passage, documents in rank order, each marked with its document's rank
        (``doc_rank``, 0 is the best) and whether the workflow named it (``pinned``)."""
        out: list[Chunk] = []
        for rank, doc in enumerate(self.documents):
            for passage in doc.passages:
                meta = {**passage.metadata, "doc_rank": rank, "pinned": doc.pinned}
                out.append(replace(passage, metadata=meta))
        return out


def ground(
    retriever: Retriever,
    query: str,
    *,
    pinned: Sequence[str] = (),
    tags: Sequence[str] | None = None,
    now: datetime | None = None,
    k: int = 4,
    passages: int = 1,
    pinned_passages: int = 2,
) -> Grounding:
    """The documents a reply to ``query`` may use: first those the workflow names
    (``pinned``: its policy ``knowledge:`` ids or tags, ranked among themselves by the
    query and retrieved even when no word matches; at most two, with
    ``pinned_passages`` passages each), then the ``k`` best documents of an open search by
    the customer's words (restricted to ``tags``, the workflow's ``knowledge_tags``), with
    their best ``passages``, without repeats.
    """
    named: list[DocumentHit] = []
    if pinned and isinstance(retriever, DocumentRetriever):
        named = retriever.search_documents(
            query, k=2, now=now, passages=pinned_passages, pinned=list(pinned)
        )
    elif pinned:  # a retriever without documents: the names as tags
        named = [
            replace(d, pinned=True)
            for d in rank_documents(
                retriever, query, k=2, tags=pinned, now=now, passages=pinned_passages
            )
        ]
    found = rank_documents(
        retriever, query, k=k + len(named), tags=tags, now=now, passages=passages
    )
    seen = {d.doc_id for d in named}
    opened = [d for d in found if d.doc_id not in seen][:k]
    return Grounding(documents=(*named, *opened), conflict=disagreement(opened))


def disagreement(documents: Sequence[DocumentHit]) -> tuple[str, str] | None:
    """The top two documents when they are close in score but on different topics.

    Two documents that one names in ``related`` never disagree: their author said that
    they are needed together.
    """
    if len(documents) < 2:
        return None
    first, second = documents[0], documents[1]
    if first.doc_id in second.via or second.doc_id in first.via:
        return None
    top, runner_up = (
        (first.relevance, second.relevance)
        if first.relevance is not None and second.relevance is not None
        else (first.score, second.score)
    )
    if top <= 0 or runner_up < CLOSE_SCORES * top:
        return None
    if first.tags and second.tags:
        same = bool({t.casefold() for t in first.tags} & {t.casefold() for t in second.tags})
    else:
        same = _cosine(_words(first), _words(second)) >= SAME_TOPIC
    return None if same else (first.doc_id, second.doc_id)


def _words(doc: DocumentHit) -> Counter[str]:
    from govcx.knowledge.lexical import terms

    text = "\n".join([doc.title, *(f"{p.heading}\n{p.text}" for p in doc.passages)])
    return Counter(terms(text, pairs=False))


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    dot = sum(n * b[t] for t, n in a.items() if t in b)
    norm = math.sqrt(sum(n * n for n in a.values())) * math.sqrt(sum(n * n for n in b.values()))
    return dot / norm if norm else 0.0


def check_workflow_knowledge(policy: Policy, retriever: Retriever, policy_file: str) -> None:
    """Every workflow's ``knowledge:`` entry names a live approved document or a tag of
    one; raise PolicyError naming the workflow, the unknown names and what is known.

    A retriever that cannot list its documents (one without ``resolve``) is not checked.
    """
    resolve = getattr(retriever, "resolve", None)
    if not callable(resolve):
        return
    for name, workflow in policy.workflows.items():
        if not workflow.knowledge:
            continue
        _, unknown = resolve(workflow.knowledge)
        if unknown:
            catalog = getattr(retriever, "catalog", None)
            ids, tags = catalog() if callable(catalog) else ([], [])
            hint = (
                f"approved document ids: {', '.join(ids[:20]) or 'none'}"
                + (" ..." if len(ids) > 20 else "")
                + f"; tags: {', '.join(tags[:20]) or 'none'}"
                + (" ..." if len(tags) > 20 else "")
            )
            raise PolicyError(
                policy_file,
                f"{', '.join(repr(u) for u in unknown)} "
                f"{'is' if len(unknown) == 1 else 'are'} neither the id of an approved, "
                f"current knowledge document nor a tag of one ({hint}); a draft or retired "
                "document cannot be named",
                field=f"workflows.{name}.knowledge",
            )
