"""The Chroma adapter: the only module that talks to chromadb.

Two collections per knowledge base:

- ``<name>-docs``: one record per (doc_id, version), with the full text, the file it came
  from, hashes, status, dates and the flags ``current`` (the live version of a document)
  and ``retired`` (the document left the knowledge folder). Prior versions stay, so
  every citation ever given can be audited.
- ``<name>-chunks``: the passages of every version, with their vectors and the same
  governance metadata, so Chroma can filter (approved, current, in effect, tags, language).

Vectors are always computed by govcx and passed in; the collections carry a registered
embedding function that refuses to run, so Chroma's default model (which downloads
weights) can never be used by accident. The embedding model's signature is recorded in
the collection metadata and checked on every open.

Where the store lives:

- default: ``chromadb.PersistentClient`` under ``<state_dir>/chroma``;
- ``knowledge_config.chroma_url: http://host:8000``: a Chroma server
  (``chroma run --host 0.0.0.0 --port 8000 --path /data/chroma``) shared by several API
  workers; ``https://`` URLs use TLS.

Telemetry is off in both cases (``anonymized_telemetry=False``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlparse

from govcx.errors import EmbeddingMismatch, KnowledgeStoreError

SCHEMA = 1
"""Layout version of the records; recorded with the collections."""
_SIGNATURE_KEY = "govcx:embedding"
_SCHEMA_KEY = "govcx:schema"

Metadata = dict[str, str | int | float | bool | list[str]]


def _chromadb() -> Any:
    if "chromadb" in sys.modules:
        return sys.modules["chromadb"]
    # chromadb imports jsonschema, whose optional IRI format check (rfc3987_syntax)
    # compiles an Earley grammar at import: about 5 s on every process start, for a
    # check nothing here uses. Skip that one optional import when nobody made it yet.
    block = "jsonschema" not in sys.modules and "rfc3987_syntax" not in sys.modules
    if block:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]
    try:
        import chromadb
    finally:
        if block:
            del sys.modules["rfc3987_syntax"]
    return chromadb


def _settings() -> Any:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False)


def open_client(state_dir: Path, url: str | None = None) -> Any:
    """A Chroma client: persistent under ``state_dir/chroma``, or a server by URL.

    Example:
        >>> client = open_client(Path(".govcx"))                       # embedded
        >>> client = open_client(Path(".govcx"), "http://localhost:8000")  # a server
    """
    chromadb = _chromadb()
    if url:
        parts = urlparse(url)
        ssl = parts.scheme == "https"
        try:
            client = chromadb.HttpClient(
                host=parts.hostname or "localhost",
                port=parts.port or (443 if ssl else 8000),
                ssl=ssl,
                settings=_settings(),
            )
            client.heartbeat()
        except Exception as exc:
            raise KnowledgeStoreError(
                f"cannot reach the Chroma server at {url}: {_reason(exc)}"
            ) from None
        return client
    path = state_dir / "chroma"
    try:
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=_settings())
    except Exception as exc:
        raise KnowledgeStoreError(
            f"cannot open the knowledge store at {path}: {_reason(exc)}"
        ) from None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def drop_collections(client: Any, name: str, location: str) -> None:
    """Delete a knowledge base's collections (a rebuild starts empty)."""
    for full in (f"{name}-docs", f"{name}-chunks"):
        try:
            client.delete_collection(full)
        except Exception as exc:
            if "does not exist" not in str(exc):
                raise KnowledgeStoreError(
                    f"cannot delete {full} in {location}: {_reason(exc)}"
                ) from None


def _refusing_function() -> Any:
    """A registered Chroma embedding function that refuses to embed (see module doc)."""
    global _REFUSING
    if _REFUSING is not None:
        return _REFUSING
    from chromadb.api.types import EmbeddingFunction
    from chromadb.utils.embedding_functions import known_embedding_functions

    class PrecomputedOnly(EmbeddingFunction[Any]):
        """govcx always passes vectors; anything else is a bug, never a download."""

        def __init__(self) -> None:
            pass

        def __call__(self, input: Any) -> Any:
            raise KnowledgeStoreError(
                "govcx passes precomputed vectors to Chroma; an "
                "embedding request without vectors was refused"
            )

        @staticmethod
        def name() -> str:
            return "govcx-precomputed"

        def get_config(self) -> dict[str, Any]:
            return {}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> PrecomputedOnly:
            return PrecomputedOnly()

        def default_space(self) -> Any:
            return "cosine"

    if PrecomputedOnly.name() not in known_embedding_functions:
        known_embedding_functions[PrecomputedOnly.name()] = PrecomputedOnly
    _REFUSING = PrecomputedOnly()
    return _REFUSING


_REFUSING: Any = None


class ChromaStore:
    """Docs and chunks collections of one knowledge base, checked against the embeddings.

    Args:
        client: a Chroma client (:func:`open_client`).
        name: base name of the collections.
        signature: the embedding model's signature; must match the recorded one.
        location: where the store lives, for messages.
    """

    def __init__(self, client: Any, name: str, *, signature: str, location: str) -> None:
        self.client = client
        self.name = name
        self.location = location
        self.signature = signature
        try:
            self.docs = self._collection(f"{name}-docs")
            self.chunks = self._collection(f"{name}-chunks")
            self.max_batch = int(client.get_max_batch_size())
        except (EmbeddingMismatch, KnowledgeStoreError):
            raise
        except Exception as exc:
            raise KnowledgeStoreError(
                f"cannot open the knowledge collections in {location}: {_reason(exc)}"
            ) from None

    def _collection(self, name: str) -> Any:
        chromadb = _chromadb()
        function = _refusing_function()
        try:
            collection = self.client.get_collection(name, embedding_function=function)
        except chromadb.errors.NotFoundError:
            return self.client.create_collection(
                name,
                embedding_function=function,
                metadata={
                    "hnsw:space": "cosine",
                    _SIGNATURE_KEY: self.signature,
                    _SCHEMA_KEY: SCHEMA,
                },
            )
        recorded = (collection.metadata or {}).get(_SIGNATURE_KEY)
        if recorded != self.signature:
            raise EmbeddingMismatch(
                f"{self.location} (collection {name})", str(recorded or "unknown"), self.signature
            )
        return collection

    # -- writes ------------------------------------------------------------------------
    def add(
        self,
        collection: Any,
        ids: Sequence[str],
        documents: Sequence[str],
        metadatas: Sequence[Metadata],
        embeddings: Sequence[Sequence[float]],
    ) -> None:
        for start in range(0, len(ids), self.max_batch):
            end = start + self.max_batch
            self._call(
                collection.upsert,
                ids=list(ids[start:end]),
                documents=list(documents[start:end]),
                metadatas=list(metadatas[start:end]),
                embeddings=[list(e) for e in embeddings[start:end]],
            )

    def update_metadata(
        self, collection: Any, ids: Sequence[str], changes: Sequence[Mapping[str, Any]]
    ) -> None:
        """Merge ``changes`` into the records' metadata."""
        for start in range(0, len(ids), self.max_batch):
            end = start + self.max_batch
            self._call(
                collection.update,
                ids=list(ids[start:end]),
                metadatas=[dict(c) for c in changes[start:end]],
            )

    def delete(self, collection: Any, ids: Sequence[str]) -> None:
        if ids:
            self._call(collection.delete, ids=list(ids))

    # -- reads -------------------------------------------------------------------------
    def get(
        self,
        collection: Any,
        *,
        ids: Sequence[str] | None = None,
        where: Mapping[str, Any] | None = None,
        include: Sequence[str] = ("metadatas",),
    ) -> dict[str, Any]:
        """Records by ids or filter, all pages."""
        if ids is not None and not ids:
            return {"ids": [], "metadatas": [], "documents": [], "embeddings": []}
        if ids is not None:
            return cast(
                dict[str, Any], self._call(collection.get, ids=list(ids), include=list(include))
            )
        merged: dict[str, list[Any]] = {"ids": []}
        for page in self._pages(collection, where, include):
            for key, values in page.items():
                if (
                    key in ("ids", "metadatas", "documents", "embeddings")
                    and values is not None
                    and len(values)
                ):
                    merged.setdefault(key, []).extend(list(values))
        return merged

    def _pages(
        self, collection: Any, where: Mapping[str, Any] | None, include: Sequence[str]
    ) -> Iterator[dict[str, Any]]:
        offset = 0
        page_size = max(1000, self.max_batch)
        while True:
            page = self._call(
                collection.get,
                where=dict(where) if where else None,
                include=list(include),
                limit=page_size,
                offset=offset,
            )
            yield page
            if len(page["ids"]) < page_size:
                return
            offset += page_size

    def count(self, collection: Any) -> int:
        return int(self._call(collection.count))

    def _call(self, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except (KnowledgeStoreError, EmbeddingMismatch):
            raise
        except Exception as exc:
            raise KnowledgeStoreError(
                f"knowledge store ({self.location}) failed: {_reason(exc)}"
            ) from None
