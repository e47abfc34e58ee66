"""``govcx kb`` through typer's CliRunner: exit codes, JSON output, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from govcx.cli.kb import kb_app, resolve_pack

runner = CliRunner()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("GOVCX_HOME", str(path))
    monkeypatch.delenv("GOVCX_PACK", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(kb_app, list(args))
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def test_ingest_search_stats_show(kb_dir: Path, home: Path) -> None:
    code, out, _ = run("ingest", str(kb_dir), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["added"] == 12 and report["failed"] == 0
    assert (home / "chroma").is_dir()

    code, out, _ = run("ingest", str(kb_dir), "--json")
    assert code == 0 and json.loads(out)["unchanged"] == 12

    code, out, _ = run("search", "when do the stores open", "-k", "2", "--json")
    hits = json.loads(out)["hits"]
    assert code == 0 and len(hits) == 2
    assert {"doc_id", "version", "title", "score"} <= set(hits[0])
    assert hits[0]["doc_id"] == "store-hours" and 0 < hits[0]["score"] <= 1

    code, out, _ = run("search", "when do the stores open")
    assert code == 0 and "store-hours" in out and "Store opening hours" in out

    code, out, _ = run("stats", "--json")
    assert code == 0 and json.loads(out)["searchable"] == 10

    code, out, _ = run("show", "refunds", "--version", "1", "--json")
    assert code == 0 and json.loads(out)["versions"] == ["1"]


def test_search_before_any_ingest_says_how_to_fill_the_knowledge_base(kb_dir: Path) -> None:
    code, out, _ = run("search", "when do the stores open")
    assert code == 0 and "no approved documents yet" in out and "govcx kb ingest" in out

    run("ingest", str(kb_dir))
    code, out, _ = run("search", "zzqx flibbertigibbet")
    assert code == 0 and out.strip() == "no approved knowledge matches"


def test_ingest_summary_and_failures(kb_dir: Path) -> None:
    (kb_dir / "broken.md").write_text("---\nid: [x\n---\nbody")
    code, out, err = run("ingest", str(kb_dir))
    assert code == 1
    assert "added" in out and "retired" in out
    assert "broken.md" in err and "front matter" in err

    code, out, _ = run("ingest", str(kb_dir), "--json")
    report = json.loads(out)
    assert code == 1 and report["failures"][0]["file"] == "broken.md"


@pytest.mark.parametrize(
    "args",
    [
        ("ingest", "/no/such/folder"),
        ("search", "refund", "--mode", "magic"),
        ("search", "   "),
        ("show", "no-such-doc"),
        ("stats", "--pack", "/no/such/pack"),
    ],
)
def test_bad_input_exits_2(args: tuple[str, ...]) -> None:
    code, _, err = run(*args)
    assert code == 2 and "error:" in err


def test_pack_knowledge_folder_and_config(tmp_path: Path, kb_dir: Path) -> None:
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "govcx.yaml").write_text(
        f"name: p\nknowledge: {kb_dir}\nknowledge_config:\n  collection: mypack\n"
        "  retrieval: hybrid\n"
    )
    knowledge_dir, config = resolve_pack(pack)
    assert knowledge_dir == kb_dir and config.collection == "mypack"
    code, out, _ = run("ingest", "--pack", str(pack), "--json")
    assert code == 0 and json.loads(out)["added"] == 12
    code, out, _ = run("stats", "--pack", str(pack), "--json")
    assert json.loads(out)["collection"] == "mypack"

    (pack / "govcx.yaml").write_text("name: p\nknowledge_config:\n  embeding: {}\n")
    code, _, err = run("stats", "--pack", str(pack))
    assert code == 2 and "knowledge_config.embeding" in err


def test_embedding_change_needs_rebuild(tmp_path: Path, kb_dir: Path) -> None:
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "govcx.yaml").write_text(f"name: p\nknowledge: {kb_dir}\n")
    assert run("ingest", "--pack", str(pack), "--json")[0] == 0
    (pack / "govcx.yaml").write_text(
        f"name: p\nknowledge: {kb_dir}\nknowledge_config:\n  embedding: {{dimensions: 128}}\n"
    )
    code, _, err = run("search", "refund", "--pack", str(pack))
    assert code == 2 and "--rebuild" in err
    code, out, _ = run("ingest", "--pack", str(pack), "--rebuild", "--json")
    assert code == 0 and json.loads(out)["added"] == 12


def test_default_pack_is_acme() -> None:
    knowledge_dir, _ = resolve_pack(None)
    assert knowledge_dir is not None and knowledge_dir.parts[-3:] == ("packs", "acme", "knowledge")
