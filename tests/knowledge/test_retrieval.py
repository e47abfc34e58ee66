"""Ranking modes: hybrid fusion order, WordLlama vectors, config errors, fusion in the
retrieval benchmark."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from pydantic import ValidationError

from govcx.errors import ConfigError, EmbeddingMismatch
from govcx.knowledge import EmbeddingConfig, KnowledgeBase, KnowledgeConfig, make_embeddings
from govcx.knowledge.embeddings import embedding_signature

REPO = Path(__file__).resolve().parents[2]
QUERY = "orchard ledger pomme"


class KeywordEmbeddings(Embeddings):
    """Vectors set by hand: one axis per concept, so vector scores are known exactly.

    "pomme" and "apple" share an axis: a synonym that BM25 cannot see."""

    AXES = (("apple", "pomme"), ("banana",), ("cherry",))
    signature = "keyword-test(dim=3)"

    def _embed(self, text: str) -> list[float]:
        words = text.lower().split()
        vec = [float(sum(w.startswith(axis) for w in words)) for axis in self.AXES]
        return vec if any(vec) else [0.0, 0.0, 1e-3]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)


def _write(root: Path, docs: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for doc_id, text in docs.items():
        (root / f"{doc_id}.md").write_text(
            f"---\nid: {doc_id}\ntitle: {doc_id}\nstatus: approved\n---\n{text}\n"
        )
    return root


@pytest.fixture
def fused(tmp_path: Path) -> KnowledgeBase:
    # The query is "orchard ledger pomme": BM25 matches its words, the vectors see only
    # the apple concept.
    root = _write(
        tmp_path / "kb",
        {
            # two query words, repeatedly, and a vector orthogonal to the query's
            "words-only": "orchard ledger orchard ledger cherry cherry cherry",
            # no query word, the query's exact direction
            "vector-only": "apple apple apple harvest notes",
            # one query word and mostly the query's direction: second in both rankings
            "both": "orchard apple apple cherry",
            "neither": "banana banana weather report",
        },
    )
    kb = KnowledgeBase.open(
        tmp_path / "state", KnowledgeConfig(lexical_weight=0.5), embeddings=KeywordEmbeddings()
    )
    assert kb.ingest(root).counts()["added"] == 4
    return kb


def _order(kb: KnowledgeBase, mode: str) -> list[str]:
    return [c.doc_id for c in kb.search(QUERY, k=4, mode=mode)]  # type: ignore[arg-type]


def test_hybrid_prefers_a_passage_good_on_both_parts(fused: KnowledgeBase) -> None:
    lexical, vector, hybrid = (_order(fused, m) for m in ("lexical", "vector", "hybrid"))
    assert lexical == ["words-only", "both"]
    assert vector == ["vector-only", "both"]
    # Each part is divided by its best value for the query, then weighted 0.5 / 0.5:
    # "both" is near the top of each list and wins; a passage that only one part likes
    # cannot beat it.
    assert hybrid[0] == "both"
    assert set(hybrid[1:3]) == {"words-only", "vector-only"}
    assert "neither" not in hybrid[:3]


def test_hybrid_reports_both_parts_and_a_blended_score(fused: KnowledgeBase) -> None:
    hit = fused.search(QUERY, k=1, mode="hybrid")[0]
    lexical, vector = hit.metadata["lexical"], hit.metadata["vector"]
    assert 0 < lexical <= 1 and 0 < vector <= 1
    assert hit.score == pytest.approx(0.5 * lexical + 0.5 * vector, abs=1e-3)


def test_lexical_weight_moves_the_hybrid_order(tmp_path: Path, fused: KnowledgeBase) -> None:
    lexical_heavy = KnowledgeBase(
        fused.store, fused.embeddings, KnowledgeConfig(lexical_weight=0.95)
    )
    vector_heavy = KnowledgeBase(
        fused.store, fused.embeddings, KnowledgeConfig(lexical_weight=0.05)
    )
    assert _order(lexical_heavy, "hybrid")[0] == "words-only"
    assert _order(vector_heavy, "hybrid")[0] == "vector-only"


def test_filters_apply_in_every_mode(fused: KnowledgeBase, tmp_path: Path) -> None:
    root = tmp_path / "kb"
    (root / "both.md").write_text(
        "---\nid: both\ntitle: both\nstatus: draft\n---\norchard apple apple cherry\n"
    )
    fused.ingest(root)
    for mode in ("lexical", "vector", "hybrid"):
        assert "both" not in _order(fused, mode)
        assert _order(fused, mode)  # the rest is still found


# -- WordLlama --------------------------------------------------------------------------
def test_wordllama_vectors_are_normalised_and_semantic() -> None:
    emb = make_embeddings(EmbeddingConfig(kind="wordllama"))
    docs = np.asarray(
        emb.embed_documents(
            [
                "Refunds go back to the original payment method within 5 business days.",
                "Standard shipping takes 3 to 5 business days.",
                "Our stores open at 9am and close at 8pm.",
            ]
        )
    )
    query = np.asarray(emb.embed_query("I want my cash returned"))
    assert docs.shape == (3, 256)
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-4)
    assert int(np.argmax(docs @ query)) == 0  # no word in common with the refunds text
    assert (
        embedding_signature(EmbeddingConfig(kind="wordllama"), emb)
        == "wordllama(l2_supercat,dim=256)"
    )


@pytest.mark.parametrize("dims", [64, 128])
def test_wordllama_truncations(dims: int) -> None:
    emb = make_embeddings(EmbeddingConfig(kind="wordllama", dimensions=dims))
    assert len(emb.embed_query("where is my order")) == dims
    assert (
        embedding_signature(EmbeddingConfig(kind="wordllama"), emb)
        == f"wordllama(l2_supercat,dim={dims})"
    )


def test_wordllama_bad_dimensions_name_the_field_and_valid_values() -> None:
    with pytest.raises(ConfigError) as info:
        make_embeddings(EmbeddingConfig(kind="wordllama", dimensions=100))
    assert info.value.field == "dimensions"
    assert "64, 128, 256" in info.value.message and "100" in info.value.message


def test_wordllama_knowledge_base_finds_a_paraphrase(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "kb",
        {
            "refunds": "Refunds go back to the original payment method within 5 business days.",
            "shipping": "Standard shipping takes 3 to 5 business days.",
            "hours": "Our stores open at 9am and close at 8pm.",
        },
    )
    config = KnowledgeConfig(embedding=EmbeddingConfig(kind="wordllama"), retrieval="hybrid")
    kb = KnowledgeBase.open(tmp_path / "state", config)
    kb.ingest(root)
    # no word in common with any article: only the vectors can find it
    assert kb.search("I want my cash returned", k=1, mode="lexical") == []
    assert kb.search("I want my cash returned", k=1)[0].doc_id == "refunds"
    assert kb.stats().embedding == "wordllama(l2_supercat,dim=256)"


def test_switching_an_existing_store_to_wordllama_needs_a_rebuild(tmp_path: Path) -> None:
    root = _write(tmp_path / "kb", {"refunds": "Refunds take 5 business days."})
    state = tmp_path / "state"
    KnowledgeBase.open(state).ingest(root)  # built with the default hashing vectors
    wordllama = KnowledgeConfig(embedding=EmbeddingConfig(kind="wordllama"))
    with pytest.raises(EmbeddingMismatch) as info:
        KnowledgeBase.open(state, wordllama)
    message = info.value.message
    assert "hashing-v1" in message and "wordllama(l2_supercat,dim=256)" in message
    assert "--rebuild" in message
    rebuilt = KnowledgeBase.open(state, wordllama, rebuild=True)
    assert rebuilt.ingest(root).added == ["refunds"]
    assert rebuilt.search("refund", k=1, mode="vector")[0].doc_id == "refunds"
    assert KnowledgeBase.open(state, wordllama).stats().documents == 1


# -- configuration errors ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "field", "valid"),
    [
        ({"retrieval": "semantic"}, "retrieval", "'hybrid', 'lexical' or 'vector'"),
        ({"embedding": {"kind": "bert"}}, "embedding.kind", "'wordllama'"),
        ({"lexical_weight": 1.5}, "lexical_weight", "less than or equal to 1"),
    ],
)
def test_bad_retrieval_config_names_the_field(
    data: dict[str, object], field: str, valid: str
) -> None:
    with pytest.raises(ValidationError) as info:
        KnowledgeConfig.model_validate(data)
    error = info.value.errors()[0]
    assert ".".join(str(p) for p in error["loc"]) == field
    assert valid in error["msg"]


# -- the retrieval benchmark's fusion ----------------------------------------------------
@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "kb_retrieval", REPO / "benchmarks" / "kb_retrieval.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("kb_retrieval", module)
    spec.loader.exec_module(module)
    return module


def test_rrf_rewards_agreement_and_breaks_ties_by_id(bench: ModuleType) -> None:
    # b is second in both lists and beats the two lists' winners; a and d (first in one
    # list each) tie exactly, as do c and e: ties go by id.
    assert bench.rrf(["a", "b", "c"], ["d", "b", "e"]) == ["b", "a", "d", "c", "e"]
    assert bench.rrf(["x"], []) == ["x"]
    assert bench.rrf(["p", "q"], ["q", "p"], ["q"]) == ["q", "p"]


def test_benchmark_metrics(bench: ModuleType) -> None:
    got = bench.metrics([["a", "x", "b"]], [{"a", "b"}])
    assert got["recall@5"] == 1.0 and got["recall@10"] == 1.0
    assert got["ndcg@10"] == pytest.approx((1 + 1 / np.log2(4)) / (1 + 1 / np.log2(3)), abs=1e-4)


@pytest.fixture
def ablations(bench: ModuleType, tmp_path: Path) -> object:
    docs = tmp_path / "docs"
    docs.mkdir()
    texts = {
        "doc_cards_gold_001": ("Gold card overview", "The gold card earns cash back on groceries."),
        "doc_cards_gold_002": ("Gold card fees", "Annual membership charge and late charges."),
        "doc_auto_loans_001": ("Auto loan overview", "Auto loans finance a new vehicle."),
        "doc_auto_loans_002": ("Auto loan payments", "Monthly instalments and early payoff."),
    }
    for doc_id, (title, content) in texts.items():
        (docs / f"{doc_id}.json").write_text(
            json.dumps({"id": doc_id, "title": title, "content": content}), encoding="utf-8"
        )
    kb = KnowledgeBase.open(
        tmp_path / "state",
        KnowledgeConfig(default_status="approved"),
        embeddings=KeywordEmbeddings(),
    )
    kb.ingest(docs)
    return bench.Ablations(kb)


def test_category_prior_lifts_the_best_hits_siblings(ablations: Any) -> None:
    # "cash back groceries" matches gold_001 only; gold_002 shares none of its words, so
    # BM25 leaves it after the auto loan documents (ties go by id): its category lifts it.
    plain = ablations.ranked(ablations.bm25("cash back groceries"))
    lifted = ablations.category_prior("cash back groceries", share=0.2)
    assert plain[0] == lifted[0] == "doc_cards_gold_001"
    assert plain[1] == "doc_auto_loans_001"
    assert lifted[1] == "doc_cards_gold_002"
    assert ablations.category_prior("cash back groceries", share=0.0) == plain


def test_long_query_paragraphs_skip_fragments(ablations: Any) -> None:
    assert ablations.paragraphs("one two three\n\nfour five six\n\nx") == [
        "one two three",
        "four five six",
    ]
    assert ablations.paragraphs("x") == ["x"]
