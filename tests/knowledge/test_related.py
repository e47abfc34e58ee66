"""``related`` links: a document names the documents an agent needs with it.

A search that ranks a document high lifts the documents it names, so a procedure that
shares no word with the customer's message is found through the article that does. A
link never brings in what the search may not return (a draft, a retired or future
document, one outside the tag filter).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from govcx.cli.kb import kb_app
from govcx.errors import DocumentError
from govcx.knowledge import KnowledgeBase, KnowledgeConfig
from govcx.knowledge.document import read_file


def _article(root: Path, doc_id: str, text: str, **front: object) -> None:
    lines = [f"id: {doc_id}", f"title: {doc_id}", "status: approved"]
    lines += [f"{k}: {json.dumps(v)}" for k, v in front.items()]
    (root / f"{doc_id}.md").write_text("---\n" + "\n".join(lines) + f"\n---\n{text}\n")


def _kb(root: Path, state: Path, **config: object) -> KnowledgeBase:
    kb = KnowledgeBase.open(state, KnowledgeConfig(**config))
    kb.ingest(root)
    return kb


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    root.mkdir()
    _article(
        root,
        "card-lost",
        "If your card was lost or stolen we block it and send a new card.",
        related=["tool-freeze"],
    )
    _article(root, "tool-freeze", "Internal: call freeze_instrument with the instrument id.")
    _article(root, "savings-rates", "Savings interest is paid monthly at the posted rate.")
    return root


# -- parsing ---------------------------------------------------------------------------
def test_related_is_a_list_a_mapping_or_a_comma_string(tmp_path: Path) -> None:
    for value, expected in (
        (["b", "c"], {"b": 1.0, "c": 1.0}),
        ({"b": 0.25}, {"b": 0.25}),
        ("b, c", {"b": 1.0, "c": 1.0}),
        (["a", "b"], {"b": 1.0}),  # a link to itself is dropped
    ):
        path = tmp_path / "a.md"
        path.write_text(f"---\nid: a\nstatus: approved\nrelated: {json.dumps(value)}\n---\nText.\n")
        assert dict(read_file(path, tmp_path)[0].related) == expected


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ({"b": 2}, "within (0, 1], not 2"),
        ({"b": 0}, "within (0, 1], not 0"),
        (["b@2"], "'b@2' is not a document id"),
        ([{"b": 1}], "a list of document ids, or a mapping of id to weight"),
        (7, "a list of document ids, or a mapping of id to weight"),
    ],
)
def test_a_bad_related_value_is_refused_with_what_would_be_valid(
    tmp_path: Path, value: object, named: str
) -> None:
    path = tmp_path / "a.md"
    path.write_text(f"---\nid: a\nstatus: approved\nrelated: {json.dumps(value)}\n---\nText.\n")
    with pytest.raises(DocumentError) as caught:
        read_file(path, tmp_path)
    assert "related" in str(caught.value) and named in str(caught.value)


def test_json_records_carry_related_too(tmp_path: Path) -> None:
    path = tmp_path / "docs.json"
    path.write_text(
        json.dumps([{"id": "a", "title": "A", "content": "Text.", "related": {"b": 0.5}}])
    )
    assert dict(read_file(path, tmp_path)[0].related) == {"b": 0.5}


# -- search ----------------------------------------------------------------------------
def test_a_linked_procedure_is_found_through_the_article_the_words_match(
    folder: Path, tmp_path: Path
) -> None:
    kb = _kb(folder, tmp_path / "state")
    hits = kb.search_documents("my card was stolen", k=3)
    assert [h.doc_id for h in hits] == ["card-lost", "tool-freeze"]
    assert hits[1].via == ("card-lost",) and hits[0].via == ()
    # It shares no word with the message: without the link it is not found at all.
    plain = _kb(folder, tmp_path / "plain", related_share=0.0)
    assert [h.doc_id for h in plain.search_documents("my card was stolen", k=3)] == ["card-lost"]


def test_a_link_ranks_its_target_above_a_weaker_word_match(tmp_path: Path) -> None:
    root = tmp_path / "kb"
    root.mkdir()
    _article(root, "card-lost", "Card lost or stolen: we block the card.", related=["procedure"])
    _article(root, "procedure", "Internal procedure: freeze_instrument, then reissue.")
    _article(root, "card-fees", "A card replacement may carry a card fee.")
    query = "my card was stolen, block the card"
    linked = [h.doc_id for h in _kb(root, tmp_path / "a").search_documents(query, k=3)]
    weak = [h.doc_id for h in _kb(root, tmp_path / "b", related_share=0.0).search_documents(query)]
    assert linked[:2] == ["card-lost", "procedure"]
    assert "procedure" not in weak


@pytest.mark.parametrize(
    "front",
    [
        {"status": "draft"},
        {"status": "retired"},
        {"effective_from": "2999-01-01"},
    ],
)
def test_a_link_never_brings_in_a_document_the_search_may_not_return(
    folder: Path, tmp_path: Path, front: dict[str, str]
) -> None:
    text = "Internal: call freeze_instrument with the instrument id."
    lines = ["id: tool-freeze", "title: tool-freeze"] + [f"{k}: {v}" for k, v in front.items()]
    if "status" not in front:
        lines.append("status: approved")
    (folder / "tool-freeze.md").write_text("---\n" + "\n".join(lines) + f"\n---\n{text}\n")
    kb = _kb(folder, tmp_path / "state")
    assert [h.doc_id for h in kb.search_documents("my card was stolen", k=3)] == ["card-lost"]


def test_a_tag_filter_holds_for_linked_documents(folder: Path, tmp_path: Path) -> None:
    _article(
        folder,
        "card-lost",
        "If your card was lost or stolen we block it and send a new card.",
        related=["tool-freeze"],
        tags=["cards"],
    )
    kb = _kb(folder, tmp_path / "state")
    hits = kb.search_documents("my card was stolen", k=3, tags=["cards"])
    assert [h.doc_id for h in hits] == ["card-lost"]


def test_editing_related_updates_the_live_document_in_place(folder: Path, tmp_path: Path) -> None:
    kb = _kb(folder, tmp_path / "state")
    assert "tool-freeze" in [h.doc_id for h in kb.search_documents("card stolen", k=3)]
    _article(
        folder, "card-lost", "If your card was lost or stolen we block it and send a new card."
    )
    report = kb.ingest(folder)
    assert report.updated == ["card-lost"]
    assert [h.doc_id for h in kb.search_documents("card stolen", k=3)] == ["card-lost"]


def test_ingest_names_links_that_lead_nowhere(folder: Path, tmp_path: Path) -> None:
    _article(folder, "savings-rates", "Savings interest is paid monthly.", related=["nowhere"])
    (folder / "tool-freeze.md").write_text(
        "---\nid: tool-freeze\nstatus: draft\n---\nInternal: freeze_instrument.\n"
    )
    kb = KnowledgeBase.open(tmp_path / "state", KnowledgeConfig())
    report = kb.ingest(folder)
    assert report.dangling == [("card-lost", "tool-freeze"), ("savings-rates", "nowhere")]
    assert report.to_dict()["dangling_related"][1] == {
        "doc_id": "savings-rates",
        "related": "nowhere",
    }


def test_cli_ingest_and_search_show_links(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVCX_HOME", str(tmp_path / "home"))
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "govcx.yaml").write_text("name: related-demo\n")
    _article(folder, "savings-rates", "Savings rates.", related=["nowhere"])
    runner = CliRunner()
    ingest = runner.invoke(kb_app, ["ingest", str(folder), "--pack", str(pack)])
    assert ingest.exit_code == 0, ingest.output
    assert "savings-rates names 'nowhere'" in " ".join(ingest.output.split())
    found = runner.invoke(
        kb_app, ["search", "my card was stolen", "-k", "3", "--json", "--pack", str(pack)]
    )
    assert found.exit_code == 0, found.output
    hits = json.loads(found.stdout)["hits"]
    assert [(h["doc_id"], h["via"]) for h in hits] == [
        ("card-lost", []),
        ("tool-freeze", ["card-lost"]),
    ]


# -- the invariant, over random link graphs --------------------------------------------
WORDS = ["card", "stolen", "refund", "savings", "rate", "fee", "travel", "loan"]
STATUSES = ["approved", "approved", "draft", "retired"]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    docs=st.lists(
        st.tuples(
            st.lists(st.sampled_from(WORDS), min_size=1, max_size=4),
            st.sampled_from(STATUSES),
            st.dictionaries(st.integers(0, 5), st.floats(0.05, 1.0), max_size=3),
        ),
        min_size=2,
        max_size=6,
    ),
    query=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
)
def test_links_only_add_and_only_among_returnable_documents(
    docs: list[tuple[list[str], str, dict[int, float]]], query: list[str]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "kb"
        root.mkdir()
        for i, (words, status, links) in enumerate(docs):
            related = {f"d{j}": w for j, w in links.items() if j < len(docs) and j != i}
            (root / f"d{i}.md").write_text(
                f"---\nid: d{i}\ntitle: d{i}\nstatus: {status}\n"
                f"related: {json.dumps(related)}\n---\n{' '.join(words)}.\n"
            )
        approved = {f"d{i}" for i, (_, status, _) in enumerate(docs) if status == "approved"}
        text = " ".join(query)
        linked = _kb(root, Path(tmp) / "a").search_documents(text, k=10)
        plain = _kb(root, Path(tmp) / "b", related_share=0.0).search_documents(text, k=10)
        got = {h.doc_id: h for h in linked}
        before = {h.doc_id: h for h in plain}
        assert set(got) <= approved
        # Every document the words found is still there, ranked no lower than it scored.
        assert set(before) <= set(got)
        for doc_id, hit in before.items():
            lifted, plain_relevance = got[doc_id].relevance, hit.relevance
            assert lifted is not None and plain_relevance is not None
            assert lifted >= plain_relevance - 1e-6
        # A document only the links found was named by a returned, word-matched document.
        for doc_id in set(got) - set(before):
            assert got[doc_id].via and set(got[doc_id].via) <= set(before)


def test_removing_a_tag_in_place_stops_the_tag_matching(folder: Path, tmp_path: Path) -> None:
    """The same clearing holds for tags: an update merges keys, so a removed key must be
    deleted, or a tag filter (and a workflow's ``knowledge:`` by tag) goes on matching."""
    text = "Savings interest is paid monthly at the posted rate."
    _article(folder, "savings-rates", text, tags=["savings"])
    kb = _kb(folder, tmp_path / "state")
    assert [h.doc_id for h in kb.search_documents("interest", tags=["savings"])] == [
        "savings-rates"
    ]
    _article(folder, "savings-rates", text)
    assert kb.ingest(folder).updated == ["savings-rates"]
    assert kb.search_documents("interest", tags=["savings"]) == []
    assert kb.resolve(["savings"]) == (set(), ["savings"])
