"""WordLlama embeddings: bundled, offline, normalised, and defined for empty text."""

from __future__ import annotations

import numpy as np
import pytest

from govcx.errors import ConfigError
from govcx.knowledge.config import EmbeddingConfig
from govcx.knowledge.embeddings import embedding_signature, make_embeddings
from govcx.knowledge.wordllama import embed


def test_vectors_are_unit_length_and_semantic() -> None:
    vectors = embed(["where is my parcel", "track my package delivery", "bake a chocolate cake"])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_text_without_tokens_gives_a_zero_vector_not_nan() -> None:
    vectors = embed(["", "where is my order"])
    assert not np.isnan(vectors).any()
    assert np.all(vectors[0] == 0.0)


def test_config_sizes_and_signature() -> None:
    emb = make_embeddings(EmbeddingConfig(kind="wordllama", dimensions=64))
    assert len(emb.embed_query("refund")) == 64
    assert (
        embedding_signature(EmbeddingConfig(kind="wordllama"), emb)
        == "wordllama(l2_supercat,dim=64)"
    )
    with pytest.raises(ConfigError, match="64, 128, 256"):
        make_embeddings(EmbeddingConfig(kind="wordllama", dimensions=100))
