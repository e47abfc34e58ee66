"""The in-memory view of the live passages: BM25 plus the arrays that filters need.

Live means: the current version of a document that is approved. Whether it is *in
effect* depends on the moment of the query, so dates, tags and language are applied as
masks at query time (numpy, microseconds for tens of thousands of passages).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from govcx.knowledge.lexical import LexicalIndex, terms

TITLE_WEIGHT = 2
"""The title counts this many times in a passage's lexical text: it names the topic."""


def index_text(title: str, heading: str, text: str) -> str:
    """What BM25 sees of a passage."""
    return "\n".join([title] * TITLE_WEIGHT + [heading, text])


def embed_text(title: str, heading: str, text: str) -> str:
    """What the embedding model sees of a passage."""
    return "\n".join(p for p in (title, heading, text) if p)


@dataclass(kw_only=True)
class LiveIndex:
    """Live passages in a fixed order, with their lexical index and filter arrays."""

    ids: list[str]
    texts: list[str]
    metadatas: list[Mapping[str, Any]]
    lexical: LexicalIndex
    start: npt.NDArray[np.float64]
    end: npt.NDArray[np.float64]
    language: npt.NDArray[np.str_]
    tag_rows: dict[str, npt.NDArray[np.int64]]
    doc: npt.NDArray[np.str_]
    """The document id of each passage."""
    position: dict[str, int] = field(default_factory=dict)
    related: dict[str, dict[str, float]] = field(default_factory=dict)
    """Each document's ``related`` links (id to weight), for documents that have any."""
    doc_rows: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)
    """The passages of each document."""
    vectors: npt.NDArray[np.float32] | None = None
    """Unit vectors of the passages, loaded from the store on the first vector search."""

    @property
    def size(self) -> int:
        return len(self.ids)

    @classmethod
    def build(
        cls,
        ids: Sequence[str],
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
        cache: dict[str, Counter[str]] | None = None,
    ) -> LiveIndex:
        """Index the passages; ``cache`` keeps term counts by chunk id between rebuilds."""
        cache = cache if cache is not None else {}
        counts: list[Counter[str]] = []
        for cid, text, meta in zip(ids, texts, metadatas, strict=True):
            counter = cache.get(cid)
            if counter is None:
                counter = Counter(
                    terms(
                        index_text(str(meta.get("title", "")), str(meta.get("heading", "")), text)
                    )
                )
                cache[cid] = counter
            counts.append(counter)
        for stale in set(cache) - set(ids):
            del cache[stale]
        tag_lists: dict[str, list[int]] = {}
        doc_lists: dict[str, list[int]] = {}
        related: dict[str, dict[str, float]] = {}
        for row, meta in enumerate(metadatas):
            for tag in meta.get("tags") or ():
                tag_lists.setdefault(str(tag).casefold(), []).append(row)
            doc_id = str(meta.get("doc_id", ""))
            doc_lists.setdefault(doc_id, []).append(row)
            if meta.get("related") and doc_id not in related:
                related[doc_id] = _links(meta["related"])
        return cls(
            ids=list(ids),
            texts=list(texts),
            metadatas=list(metadatas),
            lexical=LexicalIndex(counts=counts),
            start=np.array([float(m.get("start", -np.inf)) for m in metadatas], dtype=float),
            end=np.array([float(m.get("end", np.inf)) for m in metadatas], dtype=float),
            language=np.array([str(m.get("language", "")) for m in metadatas], dtype=str),
            tag_rows={t: np.array(rows, dtype=np.int64) for t, rows in tag_lists.items()},
            doc=np.array([str(m.get("doc_id", "")) for m in metadatas], dtype=str),
            position={cid: row for row, cid in enumerate(ids)},
            related={d: links for d, links in related.items() if links},
            doc_rows={d: np.array(rows, dtype=np.int64) for d, rows in doc_lists.items()},
        )

    def mask(
        self, *, now: float, tags: Sequence[str] | None, language: str | None
    ) -> npt.NDArray[np.bool_]:
        """Passages in effect at ``now``, with any of ``tags``, in ``language`` (or none)."""
        keep = (self.start <= now) & (now < self.end)
        if tags:
            tagged = np.zeros(self.size, dtype=bool)
            for tag in tags:
                rows = self.tag_rows.get(tag.casefold())
                if rows is not None:
                    tagged[rows] = True
            keep &= tagged
        if language:
            keep &= (self.language == language) | (self.language == "")
        return keep


def _links(raw: Any) -> dict[str, float]:
    """A stored ``related`` field (JSON of id to weight); nothing when it is unreadable."""
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {
        str(k): float(v)
        for k, v in value.items()
        if isinstance(v, int | float) and 0.0 < float(v) <= 1.0
    }
