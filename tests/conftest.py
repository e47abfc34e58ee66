"""Shared fixtures: a small pack (tests/fixtures/shop) on a fresh state dir per test."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from govcx.agent.agent import Agent
from govcx.knowledge.retriever import Chunk
from govcx.pack import load_pack
from govcx.settings import Settings
from govcx.testing import InMemoryRetriever, PassThroughGuard


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` imported as a module (benchmarks are scripts, not a package)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"govcx_bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


SHOP = Path(__file__).parent / "fixtures" / "shop"
SHOP_CONTEXT = Path(__file__).parent / "fixtures" / "shop_context"
"""The shop pack whose issue_refund has a context lookup and whose refunds add up."""

RETURNS = Chunk(
    doc_id="returns",
    version="2",
    title="Returns policy",
    chunk_id="returns#1",
    text="You can return any unused item within 30 days of delivery for a full "
    "refund. Refunds go back to the original payment method within 5 business "
    "days of us receiving the return.",
    tags=("returns",),
)


class NameGuard(PassThroughGuard):
    """Redacts the shop customers' names, as the real guard's PII redaction does."""

    def redact(self, text: str) -> str:
        for name in ("Riley Chen", "Sam Park"):
            text = text.replace(name, "<PERSON>")
        return text


class Clock:
    """A controllable clock for expiry tests."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


TEST_DATA_KEY = "7e" * 32


@pytest.fixture(autouse=True)
def _data_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fixed at-rest data key (PostgreSQL outside dev mode refuses to start without
    one); tests of the key's own resolution delete it."""
    monkeypatch.setenv("GOVCX_DATA_KEY", TEST_DATA_KEY)


@pytest.fixture
def shop_pack_dir() -> Path:
    return SHOP


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """Admin URL of a PostgreSQL server (a throwaway cluster unless one is given)."""
    import os

    from tests import pg

    given = os.environ.get("GOVCX_TEST_DATABASE_URL")
    if given:
        yield given
        return
    if not pg.available():
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    cluster = pg.Cluster()
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """Override per module with parametrize("backend", [...], indirect=True)."""
    return str(request.param)


TEST_AUDIT_KEY = "7e5a" * 16
"""The audit key of PostgreSQL tests: outside dev mode PostgreSQL refuses to start without
one (several workers must share it); SQLite tests use the state dir's audit.key."""


@pytest.fixture(autouse=True)
def _audit_key_for_postgresql(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if "backend" in request.fixturenames and request.getfixturevalue("backend") == "postgresql":
        monkeypatch.setenv("GOVCX_AUDIT_KEY", TEST_AUDIT_KEY)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for SQLite (the state dir default); a fresh database for PostgreSQL."""
    if backend == "sqlite":
        yield None
        return
    import uuid

    from sqlalchemy import create_engine, text

    admin = request.getfixturevalue("pg_server")
    name = f"t_{uuid.uuid4().hex[:16]}"
    engine = create_engine(
        admin.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield admin.rsplit("/", 1)[0] + f"/{name}"
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    engine.dispose()


@pytest.fixture
def make_agent(
    tmp_path: Path, clock: Clock, database_url: str | None
) -> Iterator[Callable[..., Agent]]:
    made: list[Agent] = []

    def factory(pack: Path = SHOP, **kwargs: Any) -> Agent:
        kwargs.setdefault("retriever", InMemoryRetriever([RETURNS]))
        kwargs.setdefault("guard", PassThroughGuard())
        kwargs.setdefault("clock", clock)
        settings = Settings(home=tmp_path / "home", database_url=database_url)
        agent = Agent(load_pack(pack), settings, **kwargs)
        made.append(agent)
        return agent

    yield factory
    for agent in made:
        agent.close()


@pytest.fixture
def agent(make_agent: Callable[..., Agent]) -> Agent:
    return make_agent()


def shop_effects(agent: Agent) -> list[dict[str, Any]]:
    """What the shop pack's tools did downstream."""
    import json

    path = agent.state_dir / "packs" / "shop" / "effects.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def context_effects(agent: Agent) -> list[dict[str, Any]]:
    """What the shop_context pack's tools did downstream."""
    import json

    path = agent.state_dir / "packs" / "shopctx" / "effects.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]
