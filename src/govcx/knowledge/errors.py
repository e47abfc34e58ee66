"""Errors of the knowledge area, under the govcx tree (see ``govcx.errors``).

```
GovcxError
├── ConfigError
│   ├── DocumentError         one knowledge file is unusable: file and reason
│   └── EmbeddingMismatch     the store was built with other embeddings than configured
└── KnowledgeStoreError       the Chroma store cannot be opened or answered wrongly
```
"""

from __future__ import annotations

from govcx.errors import ConfigError, GovcxError


class DocumentError(ConfigError):
    """A knowledge file cannot be ingested; the rest of the ingest goes on without it."""

    code = "invalid_document"


class EmbeddingMismatch(ConfigError):
    """The collection's recorded embedding configuration differs from the configured one.

    Vectors from two different embedding models are not comparable, so searching would be
    silently wrong: govcx refuses instead.
    """

    code = "embedding_mismatch"

    def __init__(self, store: str, recorded: str, configured: str) -> None:
        super().__init__(
            store,
            f"the knowledge store was built with embeddings {recorded} but the configuration "
            f"asks for {configured}; restore the original `knowledge_config.embedding` or "
            "rebuild the store with `govcx kb ingest DIR --rebuild`",
            field="knowledge_config.embedding")
        self.recorded = recorded
        self.configured = configured


class KnowledgeStoreError(GovcxError):
    """The vector store could not be opened or failed an operation."""

    code = "knowledge_store"
    exit_code = 1
