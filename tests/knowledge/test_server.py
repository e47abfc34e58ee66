"""A team deployment: the knowledge base in a Chroma server reached by URL."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from govcx.errors import KnowledgeStoreError
from govcx.knowledge import KnowledgeBase, KnowledgeConfig

CHROMA = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def chroma_url(tmp_path: Path) -> Iterator[str]:
    if not Path(CHROMA).exists():
        pytest.skip("the installed chromadb provides no `chroma` command")
    port = _free_port()
    args = [
        "chroma",
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--path",
        str(tmp_path / "server"),
    ]
    # Exactly what the `chroma` script does (chromadb.cli.cli.app), without first
    # importing all of chromadb in the child, which takes ~25 s here.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import sys, chromadb_rust_bindings; chromadb_rust_bindings.cli({args!r})",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.skip("`chroma run` did not start")
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_knowledge_base_on_a_chroma_server(chroma_url: str, tmp_path: Path, kb_dir: Path) -> None:
    config = KnowledgeConfig(chroma_url=chroma_url)
    writer = KnowledgeBase.open(tmp_path / "a", config)
    assert writer.ingest(kb_dir).ok
    # a second worker with its own state dir sees the same knowledge
    reader = KnowledgeBase.open(tmp_path / "b", config)
    assert reader.search("when do the stores open", k=1)[0].doc_id == "store-hours"
    assert reader.stats().location == chroma_url
    assert not (tmp_path / "b" / "chroma").exists()


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    config = KnowledgeConfig(chroma_url=f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(KnowledgeStoreError, match="cannot reach the Chroma server"):
        KnowledgeBase.open(tmp_path, config)
