"""Document ranking: N distinct documents with their best passages; named documents."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from govcx.cli.kb import kb_app
from govcx.errors import PolicyError
from govcx.governance.policy import parse_policy
from govcx.knowledge import KnowledgeBase, KnowledgeConfig
from govcx.knowledge.retriever import (
    DocumentHit,
    check_workflow_knowledge,
    disagreement,
    group_documents,
    rank_documents,
)
from govcx.testing import InMemoryRetriever


def _long_articles(root: Path) -> Path:
    """Two long articles (several passages each) and six short ones, all on refunds."""
    root.mkdir(parents=True)
    for name in ("alpha", "beta"):
        sections = "\n\n".join(
            f"## Part {i}\n" + f"Refund rule {i} of {name}: refunds for order type {i}. " * 12
            for i in range(6)
        )
        (root / f"{name}.md").write_text(
            f"---\nid: {name}\ntitle: {name} refunds\nstatus: approved\n---\n{sections}\n"
        )
    for i in range(6):
        (root / f"short-{i}.md").write_text(
            f"---\nid: short-{i}\ntitle: Note {i}\nstatus: approved\ntags: [notes]\n---\n"
            f"A refund note number {i} about something else entirely.\n"
        )
    return root


@pytest.fixture
def kb_long(tmp_path: Path) -> KnowledgeBase:
    kb = KnowledgeBase.open(tmp_path / "state", KnowledgeConfig(chunk_size=400))
    kb.ingest(_long_articles(tmp_path / "kb"))
    return kb


def test_search_documents_returns_k_distinct_documents_best_first(kb_long: KnowledgeBase) -> None:
    passages = kb_long.search("refund rule order type", k=6)
    assert len({p.doc_id for p in passages}) < 6  # passages crowd out documents

    docs = kb_long.search_documents("refund rule order type", k=6, passages=3)
    assert len(docs) == 6 and len({d.doc_id for d in docs}) == 6
    assert [d.doc_id for d in docs[:2]] == ["alpha", "beta"] or [d.doc_id for d in docs[:2]] == [
        "beta",
        "alpha",
    ]
    assert [d.score for d in docs] == sorted((d.score for d in docs), reverse=True)
    for doc in docs:
        assert all(p.doc_id == doc.doc_id for p in doc.passages)
        assert doc.score == doc.passages[0].score
        assert [p.score for p in doc.passages] == sorted(
            (p.score for p in doc.passages), reverse=True
        )
    assert len(docs[0].passages) == 3


def test_pinned_names_bring_documents_without_a_matching_word(kb_long: KnowledgeBase) -> None:
    assert kb_long.search_documents("zeppelin weather", k=3) == []
    pinned = kb_long.search_documents("zeppelin weather", k=3, pinned=["alpha", "notes"])
    assert {d.doc_id for d in pinned} <= {"alpha", *(f"short-{i}" for i in range(6))}
    assert len(pinned) == 3 and all(d.pinned for d in pinned)
    assert kb_long.resolve(["alpha", "NOTES", "nope"]) == (
        {"alpha", *(f"short-{i}" for i in range(6))},
        ["nope"],
    )


def test_policy_knowledge_names_are_checked_against_the_knowledge_base(
    kb_long: KnowledgeBase,
) -> None:
    base: dict[str, Any] = {
        "version": "1",
        "tiers": {"read": {"approval": "never"}},
        "workflows": {"w": {"examples": ["x"], "knowledge": ["alpha"]}},
    }
    check_workflow_knowledge(parse_policy(base), kb_long, "policy.yaml")  # known: no error
    base["workflows"]["w"]["knowledge"] = ["alpha", "notes", "gone", "also-gone"]
    with pytest.raises(PolicyError) as caught:
        check_workflow_knowledge(parse_policy(base), kb_long, "policy.yaml")
    message = str(caught.value)
    assert "workflows.w.knowledge" in message and "'gone', 'also-gone'" in message
    assert "alpha" in message.split("approved document ids:")[1]


def test_a_retriever_without_documents_is_grouped_by_document() -> None:
    from govcx.knowledge.retriever import Chunk

    chunks = [
        Chunk(doc_id=d, version="1", title=d, text=f"refund text {d} {i}", chunk_id=f"{d}#{i}")
        for d in ("a", "b", "c")
        for i in range(3)
    ]
    ranked = rank_documents(InMemoryRetriever(chunks), "refund text", k=2)
    assert len(ranked) == 2 and len({d.doc_id for d in ranked}) == 2
    grouped = group_documents(chunks, k=2, passages=2)
    assert [(d.doc_id, len(d.passages)) for d in grouped] == [("a", 2), ("b", 2)]


def _hit(doc_id: str, score: float, tags: tuple[str, ...], text: str) -> DocumentHit:
    from govcx.knowledge.retriever import Chunk

    chunk = Chunk(doc_id=doc_id, version="1", title=doc_id, text=text, chunk_id=doc_id)
    return DocumentHit(
        doc_id=doc_id, version="1", title=doc_id, score=score, passages=(chunk,), tags=tags
    )


def test_disagreement_needs_close_scores_and_different_topics() -> None:
    a = _hit("a", 1.0, ("travel",), "roaming in the eu is free")
    b = _hit("b", 0.9, ("billing",), "roaming outside the eu costs money")
    assert disagreement([a, b]) == ("a", "b")
    assert disagreement([a, _hit("b", 0.5, ("billing",), "x")]) is None  # not close
    assert disagreement([a, _hit("b", 0.95, ("travel",), "y")]) is None  # same tag
    same_words = "our 5g network covers cities and rural roads"
    assert disagreement([_hit("a", 1.0, (), same_words), _hit("b", 1.0, (), same_words)]) is None
    assert disagreement(
        [_hit("a", 1.0, (), same_words), _hit("b", 1.0, (), "outage credits on the bill")]
    ) == ("a", "b")
    # A document lifted by the first one's `related` link is needed with it, not against it.
    linked = replace(b, via=("a",))
    assert disagreement([a, linked]) is None
    assert disagreement([replace(a, via=("b",)), b]) is None


def test_cli_search_k_gives_k_distinct_documents_with_passages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVCX_HOME", str(tmp_path / "home"))
    pack = tmp_path / "pack"
    _long_articles(pack / "knowledge")
    (pack / "govcx.yaml").write_text("name: p\nknowledge_config: {chunk_size: 400}\n")
    runner = CliRunner()
    assert runner.invoke(kb_app, ["ingest", "--pack", str(pack), "--json"]).exit_code == 0
    result = runner.invoke(
        kb_app, ["search", "refund rule order type", "-k", "5", "--pack", str(pack), "--json"]
    )
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    assert len(hits) == 5 and len({h["doc_id"] for h in hits}) == 5
    first = hits[0]
    assert {"doc_id", "version", "title", "score", "heading", "chunk_id", "text"} <= set(first)
    assert first["passages"][0]["chunk_id"] == first["chunk_id"]
    assert 1 <= len(first["passages"]) <= 2


def test_a_documents_passages_weigh_the_headings_the_customer_names(tmp_path: Path) -> None:
    """The bundled acme care article says "clean" twice under "Down jackets" and once
    under "Rain jackets": asked how to clean a rain jacket, its first passage is the one
    whose heading names it (the reply used to come from the sizing guide). Which document
    comes first, and its score, are still its best passage's."""
    import govcx

    knowledge = Path(govcx.__file__).parent / "packs" / "acme" / "knowledge"
    kb = KnowledgeBase.open(tmp_path / "state", KnowledgeConfig())
    kb.ingest(knowledge)
    question = "How do I clean my rain jacket?"
    care = [p for p in kb.search(question, k=20) if p.doc_id == "care-jackets"]
    assert care[0].heading != "Rain jackets"  # by its words alone
    docs = kb.search_documents(question, k=2, passages=2)
    assert [d.doc_id for d in docs] == ["care-jackets", "sizing-guide"]
    assert docs[0].passages[0].heading == "Rain jackets"
    assert docs[0].score == max(p.score for p in care)
    # A heading sharing a word does not lift a passage far below the document's best.
    assert docs[1].passages[0].heading == "Choosing between sizes"
