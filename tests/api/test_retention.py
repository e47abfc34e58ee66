"""The server's periodic retention run (GOVCX_PRUNE_INTERVAL)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from langchain_core.runnables import RunnableConfig
from pydantic import ValidationError

from govcx.agent.agent import Agent
from govcx.api.settings import ServerSettings
from tests.conftest import Clock


def test_server_prunes_idle_conversations(
    make_app: Callable[..., FastAPI], api_agent: Agent, clock: Clock
) -> None:
    api_agent.respond("old-1", "where is my order A-1001", customer_id="C-1")
    clock.now += 40 * 86400
    app = make_app(settings={"prune_interval": 0.05, "prune_older_than": "30d"})
    with TestClient(app):
        deadline = time.monotonic() + 10
        config: RunnableConfig = {"configurable": {"thread_id": "old-1"}}
        while api_agent.graph.get_state(config).values and time.monotonic() < deadline:
            time.sleep(0.05)
    assert api_agent.graph.get_state(config).values == {}
    assert api_agent.conversation("old-1")["transcript"]  # the transcript stays
    assert api_agent.audit.verify().ok


def test_bad_retention_age_is_refused() -> None:
    with pytest.raises(ValidationError, match="30m, 24h, 7d"):
        ServerSettings(prune_older_than="a month")
