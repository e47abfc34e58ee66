"""Fixtures for the LLM engine tests: no network beyond loopback, a stub server, packs."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from govcx.engines.llm import LLMEngine, LLMOptions, RetryPolicy
from govcx.pack import EngineConfig, Pack, load_pack
from govcx.testing import StubOpenAIServer
from tests.conftest import SHOP

INJECT = Path(__file__).parent / "fixtures" / "inject"
FAST = LLMOptions(retry=RetryPolicy(max_retries=2, backoff=0.0, backoff_max=0.0, jitter=0.0))
"""No waiting between retries in tests."""


def _loopback(host: Any) -> bool:
    if host in (None, "localhost", "", b"localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def network_attempts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every test here fails any connection or DNS lookup beyond 127.0.0.1, and records it."""
    attempts: list[Any] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            attempts.append(address)
            raise ConnectionRefusedError(f"tests may not connect to {address}")

    def connect(self: socket.socket, address: Any) -> None:
        check(self, address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(self, address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _loopback(host):
            attempts.append(host)
            raise socket.gaierror(f"tests may not resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts


@pytest.fixture
def shop() -> Pack:
    return load_pack(SHOP)


@pytest.fixture
def stub() -> Iterator[StubOpenAIServer]:
    with StubOpenAIServer() as server:
        yield server


@pytest.fixture
def stub_engine(stub: StubOpenAIServer, shop: Pack) -> Callable[..., LLMEngine]:
    """An LLMEngine on ChatOpenAI against the stub server."""

    def make(pack: Pack | None = None, options: LLMOptions = FAST, **config: Any) -> LLMEngine:
        settings = {
            "kind": "llm",
            "model": "gpt-4o-mini",
            "base_url": stub.url,
            "timeout": 2.0,
            **config,
        }
        return LLMEngine.from_pack(pack or shop, config=EngineConfig(**settings), options=options)

    return make
