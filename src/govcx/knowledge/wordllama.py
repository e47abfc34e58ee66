"""WordLlama static embeddings: a semantic model that ships inside its pip wheel.

WordLlama (MIT, https://github.com/dleemiller/WordLlama) pools token embeddings taken from
a large language model's embedding table and trained for sentence similarity. Its default
256-dimension model and tokenizer are inside the ``wordllama`` package, so it works with
no download, no torch and no GPU; one query embeds in well under a millisecond.

The library looks for its bundled tokenizer in the wrong folder and then tries Hugging
Face; :func:`load_model` points it at the package's own files and forbids downloads.

Example:
    >>> vectors = WordLlamaEmbeddings().embed_documents(["where is my order"])
    >>> len(vectors[0])
    256
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

CONFIG = "l2_supercat"
DIMENSIONS = 256
"""The bundled weights' size; 64 and 128 truncate them (Matryoshka-trained)."""
SIZES = (64, 128, 256)
_lock = threading.Lock()


@lru_cache(maxsize=2)
def load_model(dim: int = DIMENSIONS) -> Any:
    """The bundled WordLlama model (loaded once per process, about half a second)."""
    import wordllama
    from wordllama import WordLlama

    if dim not in SIZES:
        raise ValueError(f"wordllama dimensions must be one of {SIZES}, not {dim}")
    with _lock:
        # The library logs every file it resolves at INFO; keep start-up quiet.
        logging.getLogger("wordllama").setLevel(logging.WARNING)
        return WordLlama.load(
            config=CONFIG,
            dim=DIMENSIONS,
            trunc_dim=dim if dim < DIMENSIONS else None,
            cache_dir=Path(wordllama.__file__).parent,
            disable_download=True,
        )


def embed(texts: list[str], dim: int = DIMENSIONS) -> np.ndarray[Any, np.dtype[np.float32]]:
    """L2-normalised sentence vectors, one row per text."""
    with np.errstate(invalid="ignore", divide="ignore"):  # token-less texts, below
        vectors: np.ndarray[Any, np.dtype[np.float32]] = load_model(dim).embed(
            texts, norm=True, return_np=True
        )
    # A text with no tokens (empty, only punctuation) comes back as NaN: make it zero.
    clean: np.ndarray[Any, np.dtype[np.float32]] = np.nan_to_num(vectors, nan=0.0)
    return clean


class WordLlamaEmbeddings(Embeddings):
    """langchain-core ``Embeddings`` over the bundled WordLlama model."""

    def __init__(self, dimensions: int = DIMENSIONS) -> None:
        self.dimensions = dimensions

    @property
    def signature(self) -> str:
        return f"wordllama({CONFIG},dim={self.dimensions})"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return [[float(x) for x in row] for row in embed(texts, self.dimensions)]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]
