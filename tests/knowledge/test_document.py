"""Reading the knowledge file formats, and refusing bad files with a clear reason."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from govcx.errors import DocumentError
from govcx.knowledge.chunking import split_passages
from govcx.knowledge.document import discover, read_file


def test_markdown_front_matter(kb_dir: Path) -> None:
    [doc] = read_file(kb_dir / "refunds.md", kb_dir)
    assert (doc.doc_id, doc.title, doc.version, doc.status) == (
        "refunds",
        "Refunds",
        "1",
        "approved",
    )
    assert doc.tags == ("refund", "billing")
    assert doc.locale == "en-US"
    assert doc.effective_from == datetime(2020, 1, 1, tzinfo=UTC)
    assert doc.version_declared
    assert doc.source == "refunds.md"


def test_date_only_until_includes_the_whole_day(kb_dir: Path) -> None:
    [doc] = read_file(kb_dir / "summer-sale.md", kb_dir)
    assert doc.in_effect(datetime(2000, 8, 31, 23, 59, tzinfo=UTC))
    assert not doc.in_effect(datetime(2000, 9, 1, tzinfo=UTC))
    assert not doc.in_effect(datetime(2000, 5, 31, tzinfo=UTC))


def test_plain_text_html_json_and_jsonl(kb_dir: Path) -> None:
    [txt] = read_file(kb_dir / "shipping.txt", kb_dir)
    assert (txt.doc_id, txt.title, txt.status) == ("shipping", "Shipping times", "approved")
    assert txt.version.startswith("sha-") and not txt.version_declared

    [html] = read_file(kb_dir / "warranty.html", kb_dir)
    assert (html.doc_id, html.title, html.version) == ("warranty", "Tent warranty", "7")
    assert html.tags == ("warranty", "tents")
    assert "## What is covered" in html.body and "secret" not in html.body

    docs = read_file(kb_dir / "faq.json", kb_dir)
    assert [d.doc_id for d in docs] == ["faq-gift-cards", "faq-password"]
    assert docs[0].metadata["category"] == "payments"
    assert docs[1].tags == ("account",)

    lines = read_file(kb_dir / "stores.jsonl", kb_dir)
    assert [d.title for d in lines] == ["Store opening hours", "Parking at our stores"]


def test_discover_skips_hidden_and_unknown_files(kb_dir: Path) -> None:
    names = [p.relative_to(kb_dir).as_posix() for p in discover(kb_dir)]
    assert "drafts/refunds-draft.md" in names
    assert ".hidden.md" not in names and "notes.csv" not in names


def test_content_changes_make_a_new_automatic_version(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("Opening hours\nWe open at 9.")
    first = read_file(path, tmp_path)[0].version
    path.write_text("Opening hours\nWe open at 10.")
    assert read_file(path, tmp_path)[0].version != first


@pytest.mark.parametrize(
    ("name", "data", "needle"),
    [
        ("bad.md", b"---\nid: x\ntitle: [unclosed\n---\ntext", "front matter: line"),
        ("open.md", b"---\nid: x\ntext without a closing line", "no closing ---"),
        ("typo.md", b"---\nid: x\nstauts: draft\n---\ntext", "unknown key 'stauts'"),
        ("status.md", b"---\nid: x\nstatus: published\n---\ntext", "status"),
        ("version.md", b"---\nid: x\nversion: 'a b'\n---\ntext", "is not a version"),
        (
            "dates.md",
            b"---\neffective_from: 2026-02-01\neffective_until: 2026-01-01\n---\nx",
            "effective_until is not after effective_from",
        ),
        ("latin1.txt", "Caf\u00e9 prices".encode("latin-1"), "not UTF-8 text (byte 0xe9"),
        ("empty.md", b"  \n\n", "file is empty"),
        ("nobody.md", b"---\nid: x\n---\n   \n", "has no text"),
        ("broken.json", b'{"id": "x", "title": "t"', "not valid JSON"),
        ("missing.json", b'{"id": "x", "title": "t"}', "missing 'content'"),
        ("lines.jsonl", b'{"id": "a", "title": "A", "content": "x"}\nnot json\n', "line 2"),
        (
            "twice.jsonl",
            b'{"id": "a", "title": "A", "content": "x"}\n'
            b'{"id": "a", "title": "A", "content": "y"}\n',
            "appears twice",
        ),
    ],
)
def test_bad_files_are_refused_with_the_file_and_reason(
    tmp_path: Path, name: str, data: bytes, needle: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(DocumentError) as info:
        read_file(path, tmp_path)
    assert str(path) in info.value.message
    assert needle in info.value.message


def test_huge_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    path.write_bytes(b"a" * (5 * 1024 * 1024 + 1))
    with pytest.raises(DocumentError, match=r"the limit is 5\.0 MB"):
        read_file(path, tmp_path)


def test_passages_follow_headings() -> None:
    body = (
        "# Refunds\n\nIntro line that is long enough to stand alone. "
        * 3
        + "\n\n## Timing\n\n### Cards\nCards take 5 days.\n\n```\n# not a heading\n```\n"
        "## Exceptions\nGift cards are final."
    )
    passages = split_passages(body, title="Refunds", chunk_size=1000, min_chunk_size=0)
    assert [p.heading for p in passages] == ["", "Timing > Cards", "Exceptions"]
    assert "# not a heading" in passages[1].text


def test_small_sections_merge_and_long_ones_split() -> None:
    body = "## A\nshort\n## B\nalso short\n## C\n" + ("A long sentence about tents. " * 80)
    passages = split_passages(body, title="T", chunk_size=400, min_chunk_size=50)
    assert passages[0].heading == "A" and "B\nalso short" in passages[0].text
    assert all(len(p.text) <= 400 for p in passages)
    assert [p.index for p in passages] == list(range(len(passages)))
    assert sum(p.heading == "C" for p in passages) > 3
