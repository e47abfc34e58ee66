"""The state dir's cache: only owner-only files of this user are loaded, and CEL's cached
parser parses exactly as celpy's own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import celpy
import pytest
from celpy.celparser import CELParser

from govcx.governance import expr
from govcx.governance.expr import private_cache_dir, trusted_file

SOURCES = [
    "amount > 50.0",
    'tool == "refund" && amount >= 100.0 || customer_id in ["C-1", "C-2"]',
    "!(amount < 10.0) ? true : false",
    'has(reason) && reason.startsWith("damaged") && size(reason) > 3',
    "amount * 2.0 - 1.0 == 159.0 && 3 % 2 == 1",
]


@pytest.fixture
def fresh_parser() -> Iterator[None]:
    """celpy keeps one parser per process: give each test its own, then put it back."""
    saved = CELParser.CEL_PARSER
    CELParser.CEL_PARSER = None
    yield
    CELParser.CEL_PARSER = saved


def _home(tmp_path: Path, mode: int) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(mode)
    return home


def test_no_cache_without_an_existing_owner_only_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVCX_HOME", str(tmp_path / "missing"))
    assert private_cache_dir() is None
    assert not (tmp_path / "missing").exists()  # looking does not create the state dir
    monkeypatch.setenv("GOVCX_HOME", str(_home(tmp_path, 0o755)))
    assert private_cache_dir() is None


def test_cache_dir_is_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCX_HOME", str(_home(tmp_path, 0o700)))
    cache = private_cache_dir()
    assert cache == (tmp_path / "home" / "cache").resolve()
    assert cache.stat().st_mode & 0o777 == 0o700


def test_trusted_file(tmp_path: Path) -> None:
    folder = _home(tmp_path, 0o700)
    good = folder / "good"
    good.write_bytes(b"x")
    good.chmod(0o600)
    assert trusted_file(good)
    good.chmod(0o620)
    assert not trusted_file(good)  # group-writable
    link = folder / "link"
    other = folder / "other"
    other.write_bytes(b"x")
    other.chmod(0o600)
    link.symlink_to(other)
    assert not trusted_file(link)
    assert not trusted_file(folder / "missing")
    folder.chmod(0o770)
    other.chmod(0o600)
    assert not trusted_file(other)  # others may replace files in a group-writable folder
    folder.chmod(0o700)


def _trees(parser: object) -> list[str]:
    return [str(parser.parse(s)) for s in SOURCES]  # type: ignore[attr-defined]


def test_cached_parser_parses_as_celpys_own(tmp_path: Path, fresh_parser: None) -> None:
    celpy.Environment()  # celpy's own parser, uncached
    own = _trees(CELParser.CEL_PARSER)
    cache = _home(tmp_path, 0o700)
    for _ in range(2):  # the first builds and writes the cache, the second loads it
        CELParser.CEL_PARSER = None
        expr._load_cached_parser(cache)
        assert CELParser.CEL_PARSER is not None
        assert _trees(CELParser.CEL_PARSER) == own
        (written,) = cache.glob("cel-*.lark")
        assert written.stat().st_mode & 0o777 == 0o600
    env = celpy.Environment()
    program = env.program(env.compile(SOURCES[1]))
    assert program.evaluate(
        {
            "tool": celpy.celtypes.StringType("refund"),
            "amount": celpy.celtypes.DoubleType(150.0),
            "customer_id": celpy.celtypes.StringType("C-9"),
        }
    )


def test_a_cache_file_others_could_write_is_not_loaded(tmp_path: Path, fresh_parser: None) -> None:
    cache = _home(tmp_path, 0o700)
    expr._load_cached_parser(cache)
    (written,) = cache.glob("cel-*.lark")
    marker = tmp_path / "ran"
    # A pickle that runs code when loaded: lark unpickles before it checks its hash.
    payload = b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    written.write_bytes(b"0" * 64 + b"\n" + payload)
    written.chmod(0o644)
    CELParser.CEL_PARSER = None
    expr._load_cached_parser(cache)
    assert CELParser.CEL_PARSER is None  # left to celpy, which builds its own
    assert not marker.exists()
    env = celpy.Environment()
    assert env.program(env.compile("amount > 1.0")).evaluate(
        {"amount": celpy.celtypes.DoubleType(2.0)}
    )


def test_a_corrupt_owner_only_cache_is_rebuilt(tmp_path: Path, fresh_parser: None) -> None:
    cache = _home(tmp_path, 0o700)
    expr._load_cached_parser(cache)
    (written,) = cache.glob("cel-*.lark")
    written.write_bytes(b"not a cache")
    CELParser.CEL_PARSER = None
    expr._load_cached_parser(cache)
    assert CELParser.CEL_PARSER is not None
    assert str(CELParser.CEL_PARSER.parse("a > 1")) == str(CELParser.CEL_PARSER.parse("a > 1"))
    assert os.stat(written).st_mode & 0o777 == 0o600


def test_older_entries_are_pruned(tmp_path: Path) -> None:
    cache = _home(tmp_path, 0o700)
    for i in range(5):
        entry = cache / f"entry-{i}.bin"
        expr.write_private(
            entry, lambda tmp, i=i: tmp.write_bytes(bytes([i])), keep=("entry-*.bin", 3)
        )
        os.utime(entry, (1000 + i, 1000 + i))
    assert sorted(p.name for p in cache.iterdir()) == ["entry-2.bin", "entry-3.bin", "entry-4.bin"]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in cache.iterdir())
