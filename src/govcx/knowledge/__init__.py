"""Approved knowledge: a versioned knowledge base in Chroma with hybrid retrieval.

Only approved, in-effect content can ground a reply, and every citation names a document
id and version; prior versions stay addressable for audit.

Example:
    >>> from govcx.knowledge import build_retriever
    >>> retriever = build_retriever(Path("mypack/knowledge"), Path(".govcx"))
    >>> for chunk in retriever.search("how do I return boots", k=3):
    ...     print(chunk.score, chunk.citation())
"""

from __future__ import annotations

import logging
from pathlib import Path

from govcx.errors import DocumentError, EmbeddingMismatch, KnowledgeStoreError
from govcx.knowledge.base import DocumentVersion, KnowledgeBase, KnowledgeStats
from govcx.knowledge.citation import CitationCheck, check_citations, citation_key
from govcx.knowledge.config import EmbeddingConfig, KnowledgeConfig
from govcx.knowledge.document import Document
from govcx.knowledge.embeddings import HashingEmbeddings, make_embeddings
from govcx.knowledge.ingest import FileFailure, IngestReport
from govcx.knowledge.retriever import Chunk, Retriever

logger = logging.getLogger("govcx.knowledge")


def build_retriever(
    knowledge_dir: Path | None, state_dir: Path, *, config: KnowledgeConfig | None = None
) -> KnowledgeBase:
    """Open the knowledge base under ``state_dir`` and bring it up to date.

    Ingest is incremental: files whose bytes did not change are not even parsed, so this
    is cheap to call at every process start. Files that fail are logged as warnings
    (their documents stay live in their last good version); the report is on
    ``retriever.last_report``.

    Args:
        knowledge_dir: the pack's knowledge folder, or None to use what is stored.
        state_dir: the govcx state dir (``<state_dir>/chroma`` holds the store).
        config: the pack's ``knowledge_config``; None runs offline with defaults.

    Returns:
        A :class:`KnowledgeBase`, which implements :class:`Retriever`.

    Raises:
        EmbeddingMismatch: the store was built with another embedding model.
        KnowledgeStoreError: the store cannot be opened or reached.
    """
    kb = KnowledgeBase.open(Path(state_dir), config)
    if knowledge_dir is not None:
        report = kb.ingest(Path(knowledge_dir))
        kb.last_report = report
        for failure in report.failed:
            logger.warning("knowledge file %s not ingested: %s", failure.file, failure.reason)
    return kb


__all__ = [
    "Chunk",
    "CitationCheck",
    "Document",
    "DocumentError",
    "DocumentVersion",
    "EmbeddingConfig",
    "EmbeddingMismatch",
    "FileFailure",
    "HashingEmbeddings",
    "IngestReport",
    "KnowledgeBase",
    "KnowledgeConfig",
    "KnowledgeStats",
    "KnowledgeStoreError",
    "Retriever",
    "build_retriever",
    "check_citations",
    "citation_key",
    "make_embeddings",
]
