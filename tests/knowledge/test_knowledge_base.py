"""Ingest, incremental re-ingest, versions, governance filters and search."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from govcx.errors import EmbeddingMismatch, KnowledgeStoreError, NotFound
from govcx.knowledge import (
    EmbeddingConfig,
    KnowledgeBase,
    KnowledgeConfig,
    Retriever,
    build_retriever,
)

from .conftest import REFUNDS, write_folder

LIVE = {
    "refunds",
    "shipping",
    "warranty",
    "faq-gift-cards",
    "faq-password",
    "store-hours",
    "store-parking",
    "rueckgabe",
}
NEVER = {"refunds-draft", "old-shipping", "holiday-returns", "summer-sale"}


def ids(kb: KnowledgeBase, query: str, **kwargs: object) -> list[str]:
    return [c.doc_id for c in kb.search(query, k=20, **kwargs)]  # type: ignore[arg-type]


def test_first_ingest_adds_every_format(kb: KnowledgeBase, kb_dir: Path) -> None:
    report = kb.ingest(kb_dir)
    assert report.ok
    assert sorted(report.added) == sorted(LIVE | NEVER)
    assert report.counts() == {"added": 12, "updated": 0, "unchanged": 0, "retired": 0, "failed": 0}
    stats = kb.stats()
    assert stats.documents == 12 and stats.searchable == 10 and stats.versions == 12
    assert stats.by_status == {"approved": 10, "draft": 1, "retired": 1}


def test_chunks_carry_document_id_version_and_heading(loaded: KnowledgeBase) -> None:
    doc = loaded.get("refunds")
    assert doc.version == "1" and doc.current and doc.status == "approved"
    assert [c.chunk_id for c in doc.chunks] == ["refunds@1#0", "refunds@1#1"]
    assert [c.heading for c in doc.chunks] == ["How long refunds take", "What cannot be refunded"]
    assert all(c.doc_id == "refunds" and c.version == "1" for c in doc.chunks)
    html = loaded.get("warranty")
    assert [c.heading for c in html.chunks][:1] == ["What is covered"]


def test_search_finds_the_answer_with_citation(loaded: KnowledgeBase) -> None:
    hits = loaded.search("how long does a refund take to reach my card?", k=3)
    assert hits[0].doc_id == "refunds" and hits[0].heading == "How long refunds take"
    assert hits[0].citation() == {"doc_id": "refunds", "version": "1", "title": "Refunds"}
    assert all(0.0 <= h.score <= 1.0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert isinstance(loaded, Retriever)


def test_unrelated_questions_score_low(loaded: KnowledgeBase) -> None:
    good = loaded.search("when do the stores open", k=1)[0]
    bad = loaded.search("quantum chromodynamics lecture notes", k=1)
    assert good.doc_id == "store-hours" and good.score > 0.5
    assert not bad or bad[0].score < 0.2


@pytest.mark.parametrize(
    "query",
    [
        "Instant refunds pilot platinum members one hour",  # draft
        "Zeppelin shipping airship parcels",  # status retired
        "Holiday returns window end of January",  # not yet in effect
        "summer sale match competitor prices kayaks paddles",  # expired
    ],
)
@pytest.mark.parametrize("mode", ["lexical", "vector", "hybrid"])
def test_unapproved_or_out_of_effect_never_returned(
    loaded: KnowledgeBase, query: str, mode: str
) -> None:
    assert not set(ids(loaded, query, mode=mode)) & NEVER


def test_effective_dates_follow_the_clock(loaded: KnowledgeBase) -> None:
    query = "Holiday returns window"
    assert "holiday-returns" in ids(loaded, query, now=datetime(2999, 12, 1, tzinfo=UTC))
    assert "summer-sale" in ids(loaded, "summer sale kayaks", now=datetime(2000, 7, 1))
    assert "refunds" not in ids(loaded, "refunds", now=datetime(2019, 1, 1, tzinfo=UTC))


def test_tag_and_locale_filters(loaded: KnowledgeBase) -> None:
    assert set(ids(loaded, "refund returns Kajaks", tags=["refund"])) == {"refunds", "rueckgabe"}
    assert set(ids(loaded, "gift card password", tags=["ACCOUNT"])) == {"faq-password"}
    assert ids(loaded, "refund", tags=["no-such-tag"]) == []
    assert "rueckgabe" not in ids(loaded, "Rücksendungen Kajaks", locale="en")
    assert "rueckgabe" in ids(loaded, "Rücksendungen Kajaks", locale="de-AT")
    # documents without a locale match every locale
    assert "shipping" in ids(loaded, "express shipping", locale="en")


def test_max_chunks_per_document(loaded: KnowledgeBase) -> None:
    hits = loaded.search("refunds refunded gift cards", k=5, max_per_doc=1)
    assert [h.doc_id for h in hits].count("refunds") == 1


def test_reingest_unchanged_is_cheap(loaded: KnowledgeBase, kb_dir: Path) -> None:
    started = time.perf_counter()
    report = loaded.ingest(kb_dir)
    assert time.perf_counter() - started < 2.0
    assert report.counts() == {"added": 0, "updated": 0, "unchanged": 12, "retired": 0, "failed": 0}


def test_reingest_updates_retires_and_keeps_prior_versions(
    loaded: KnowledgeBase, kb_dir: Path
) -> None:
    (kb_dir / "refunds.md").write_text(
        REFUNDS.replace('version: "1"', 'version: "2"').replace(
            "5 business days", "10 business days"
        )
    )
    (kb_dir / "stores.jsonl").unlink()
    (kb_dir / "shipping.txt").write_text("Shipping times\nStandard shipping takes a week.")
    report = loaded.ingest(kb_dir)
    assert sorted(report.updated) == ["refunds", "shipping"]
    assert sorted(report.retired) == ["store-hours", "store-parking"]
    assert len(report.unchanged) == 8 and report.ok

    hits = loaded.search("how long do refunds take", k=3)
    assert hits[0].version == "2" and "10 business days" in hits[0].text
    assert "store-hours" not in ids(loaded, "when do the stores open")

    old = loaded.get("refunds", "1")
    assert not old.current and "5 business days" in old.text
    assert [c.chunk_id for c in old.chunks] == ["refunds@1#0", "refunds@1#1"]
    gone = loaded.get("store-hours")
    assert gone.retired and not gone.current and gone.retired_at is not None
    assert [v.version for v in loaded.versions("refunds")] == ["1", "2"]
    with pytest.raises(NotFound, match="stored versions: 1, 2"):
        loaded.get("refunds", "9")


def test_status_change_within_a_version_updates_in_place(
    loaded: KnowledgeBase, kb_dir: Path
) -> None:
    (kb_dir / "refunds.md").write_text(REFUNDS.replace("status: approved", "status: draft"))
    report = loaded.ingest(kb_dir)
    assert report.updated == ["refunds"]
    assert "refunds" not in ids(loaded, "how long do refunds take")
    assert loaded.get("refunds", "1").status == "draft"


def test_retired_document_comes_back(loaded: KnowledgeBase, kb_dir: Path) -> None:
    text = (kb_dir / "shipping.txt").read_text()
    (kb_dir / "shipping.txt").unlink()
    assert loaded.ingest(kb_dir).retired == ["shipping"]
    (kb_dir / "shipping.txt").write_text(text)
    assert loaded.ingest(kb_dir).added == ["shipping"]
    assert "shipping" in ids(loaded, "express shipping")


def test_changed_text_under_the_same_version_is_refused(
    loaded: KnowledgeBase, kb_dir: Path
) -> None:
    (kb_dir / "refunds.md").write_text(REFUNDS.replace("5 business days", "1 day"))
    report = loaded.ingest(kb_dir)
    [failure] = report.failed
    assert failure.file == "refunds.md" and "new version" in failure.reason
    hit = loaded.search("how long do refunds take", k=1)[0]
    assert hit.version == "1" and "5 business days" in hit.text


def test_bad_files_fail_alone_and_nothing_is_lost(loaded: KnowledgeBase, kb_dir: Path) -> None:
    (kb_dir / "refunds.md").write_text("---\nid: refunds\ntitle: [broken\n---\nx")
    (kb_dir / "shipping.txt").write_bytes(b"Shipping \xff\xfe times")
    (kb_dir / "empty.md").write_text("")
    (kb_dir / "huge.txt").write_bytes(b"x" * (5 * 1024 * 1024 + 10))
    (kb_dir / "copy.md").write_text("---\nid: store-hours\ntitle: Hours\n---\nOpen 24/7.")
    (kb_dir / "new.md").write_text(
        "---\nid: kayak-care\ntitle: Kayak care\nstatus: approved\n---\n"
        "Rinse your kayak with fresh water after each trip."
    )
    report = loaded.ingest(kb_dir)
    reasons = {f.file: f.reason for f in report.failed}
    assert set(reasons) == {"refunds.md", "shipping.txt", "empty.md", "huge.txt", "copy.md"}
    assert "front matter" in reasons["refunds.md"]
    assert "not UTF-8" in reasons["shipping.txt"]
    assert "empty" in reasons["empty.md"]
    assert "limit is 5.0 MB" in reasons["huge.txt"]
    assert (
        "duplicate id 'store-hours'" in reasons["copy.md"] and "stores.jsonl" in reasons["copy.md"]
    )
    assert report.added == ["kayak-care"] and report.retired == []
    # what was ingested before is still searchable, in its last good version
    assert ids(loaded, "how long do refunds take")[0] == "refunds"
    assert "shipping" in ids(loaded, "express shipping")
    assert ids(loaded, "when do the stores open")[0] == "store-hours"
    assert "kayak-care" in ids(loaded, "rinse kayak fresh water")


def test_duplicate_ids_in_two_new_files_fail_both(kb: KnowledgeBase, tmp_path: Path) -> None:
    root = tmp_path / "dups"
    root.mkdir()
    (root / "a.md").write_text("---\nid: same\ntitle: A\n---\nfirst text")
    (root / "b.md").write_text("---\nid: same\ntitle: B\n---\nsecond text")
    (root / "c.md").write_text("---\nid: fine\ntitle: C\n---\nthird text")
    report = kb.ingest(root)
    assert sorted(f.file for f in report.failed) == ["a.md", "b.md"]
    assert report.added == ["fine"]


def test_embedding_mismatch_is_a_clear_error(loaded: KnowledgeBase, state: Path) -> None:
    other = KnowledgeConfig(embedding=EmbeddingConfig(dimensions=256))
    with pytest.raises(EmbeddingMismatch) as info:
        KnowledgeBase.open(state, other)
    assert "hashing-v1(dim=1024" in info.value.message
    assert "hashing-v1(dim=256" in info.value.message and "--rebuild" in info.value.message
    rebuilt = KnowledgeBase.open(state, other, rebuild=True)
    assert rebuilt.stats().versions == 0


def test_chroma_never_embeds_on_its_own(loaded: KnowledgeBase) -> None:
    with pytest.raises(KnowledgeStoreError, match="precomputed vectors"):
        loaded.store.chunks.query(query_texts=["refunds"], n_results=1)


def test_build_retriever_is_incremental(kb_dir: Path, state: Path) -> None:
    first = build_retriever(kb_dir, state)
    assert first.last_report is not None and len(first.last_report.added) == 12
    started = time.perf_counter()
    again = build_retriever(kb_dir, state)
    elapsed = time.perf_counter() - started
    assert again.last_report is not None and len(again.last_report.unchanged) == 12
    assert elapsed < 2.0
    assert isinstance(again, Retriever)
    assert again.search("express shipping", k=1)[0].doc_id == "shipping"
    assert build_retriever(None, state).search("express shipping", k=1)


def test_separate_collections_do_not_mix(tmp_path: Path, state: Path) -> None:
    a = write_folder(tmp_path / "a")
    kb_a = KnowledgeBase.open(state, KnowledgeConfig(collection="pack-a"))
    kb_b = KnowledgeBase.open(state, KnowledgeConfig(collection="pack-b"))
    kb_a.ingest(a)
    assert kb_a.stats().documents == 12 and kb_b.stats().documents == 0


@pytest.mark.parametrize("default", ["draft", "approved"])
def test_a_file_without_status_is_a_draft_unless_the_pack_says_otherwise(
    tmp_path: Path, default: str
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "holiday.txt").write_text("Holiday returns\nReturn any kayak free until January.\n")
    (docs / "tents.md").write_text("---\nid: tents\n---\n# Tents\nEvery kayak tent is free.\n")
    (docs / "ok.md").write_text(
        "---\nid: ok\nstatus: approved\n---\n# Kayaks\nKayak paddles are sold separately.\n"
    )
    kb = KnowledgeBase.open(
        tmp_path / "state",
        KnowledgeConfig(default_status=default),
    )
    report = kb.ingest(docs)
    assert sorted(report.undeclared) == ["holiday.txt", "tents.md"]
    assert report.to_dict()["undeclared_status"] == {
        "files": report.undeclared,
        "took": default,
    }
    found = set(ids(kb, "kayak free tent"))
    if default == "draft":
        assert found == {"ok"}  # drafts never reach a reply
    else:
        assert {"holiday", "tents"} <= found
