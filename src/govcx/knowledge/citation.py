"""Checking a reply's citations against what was retrieved for that turn.

A reply may cite only (doc_id, version) pairs that retrieval returned in the same turn:
retrieval only ever returns approved, in-effect passages, so this check is what keeps a
model from citing a draft, a retired article, an old version or something it made up.

Example:
    >>> check = check_citations([{"doc_id": "refunds", "version": "3"}], retrieved=chunks)
    >>> check.ok, check.unsupported
    (True, ())
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from govcx.knowledge.retriever import Chunk

CitationLike = Chunk | Mapping[str, Any] | tuple[str, str]
"""A ``Chunk``, a ``{"doc_id", "version", ...}`` mapping, or a ``(doc_id, version)`` pair."""


def citation_key(item: CitationLike) -> tuple[str, str]:
    """``(doc_id, version)`` of a chunk, a citation mapping or a pair."""
    if isinstance(item, Chunk):
        return item.doc_id, item.version
    if isinstance(item, tuple):
        return str(item[0]), str(item[1])
    try:
        return str(item["doc_id"]), str(item["version"])
    except KeyError as exc:
        raise ValueError(f"a citation needs doc_id and version, got keys {sorted(item)}") from exc


@dataclass(frozen=True, kw_only=True)
class CitationCheck:
    """The verdict on a reply's citations."""

    supported: tuple[tuple[str, str], ...]
    """Cited pairs that were retrieved for the turn."""
    unsupported: tuple[tuple[str, str], ...]
    """Cited pairs that were not: the reply must not carry them."""

    @property
    def ok(self) -> bool:
        return not self.unsupported


def check_citations(
    citations: Iterable[CitationLike], retrieved: Iterable[CitationLike]
) -> CitationCheck:
    """Split ``citations`` into those retrieved for the turn and those that were not.

    A citation without a version, or with another version than the one retrieved, is
    unsupported: citations are pinned to versions.
    """
    allowed = {citation_key(item) for item in retrieved}
    supported: list[tuple[str, str]] = []
    unsupported: list[tuple[str, str]] = []
    for item in citations:
        try:
            key = citation_key(item)
        except ValueError:
            doc_id = str(item.get("doc_id", "")) if isinstance(item, Mapping) else ""
            unsupported.append((doc_id, ""))
            continue
        target = supported if key in allowed else unsupported
        if key not in target:
            target.append(key)
    return CitationCheck(supported=tuple(supported), unsupported=tuple(unsupported))
