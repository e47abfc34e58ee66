"""Retrieval of approved knowledge, behind a small protocol.

Only approved articles that are in effect can ground a reply; a Retriever never returns
anything else, so a draft or retired article can never be cited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable


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
