"""The output side's check that every citation was retrieved for the turn."""

from __future__ import annotations

from govcx.knowledge import Chunk, check_citations


def chunk(doc_id: str, version: str) -> Chunk:
    return Chunk(
        doc_id=doc_id, version=version, title=doc_id, text="...", chunk_id=f"{doc_id}@{version}#0"
    )


def test_citations_must_name_a_retrieved_id_and_version() -> None:
    retrieved = [chunk("refunds", "2"), chunk("shipping", "sha-1")]
    check = check_citations(
        [{"doc_id": "refunds", "version": "2", "title": "Refunds"}, ("shipping", "sha-1")],
        retrieved,
    )
    assert check.ok and check.supported == (("refunds", "2"), ("shipping", "sha-1"))

    check = check_citations(
        [
            {"doc_id": "refunds", "version": "1"},  # old version
            {"doc_id": "made-up", "version": "1"},  # never retrieved
            {"doc_id": "refunds"},  # no version
            chunk("refunds", "2"),
        ],
        retrieved,
    )
    assert not check.ok
    assert check.unsupported == (("refunds", "1"), ("made-up", "1"), ("refunds", ""))
    assert check.supported == (("refunds", "2"),)


def test_no_citations_is_fine() -> None:
    assert check_citations([], []).ok


def test_public_surface() -> None:
    import govcx.knowledge as knowledge

    assert knowledge.__all__ == sorted(knowledge.__all__)
    assert {
        "KnowledgeBase",
        "KnowledgeConfig",
        "build_retriever",
        "check_citations",
        "Chunk",
        "Retriever",
    } <= set(knowledge.__all__)
    assert all(hasattr(knowledge, name) for name in knowledge.__all__)
