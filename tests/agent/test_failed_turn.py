"""A run that raises never leaves its conversation ``running``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from govcx.agent.agent import Agent
from govcx.engines.engine import Classification, TurnContext


class _Flaky:
    """Wraps an engine; classify raises while ``broken`` is set."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.broken = True

    def classify(self, text: str, ctx: TurnContext) -> Classification:
        if self.broken:
            raise RuntimeError("disk on fire")
        result: Classification = self.inner.classify(text, ctx)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_an_exception_fails_the_turn_and_the_next_message_works(
    make_agent: Callable[..., Agent],
) -> None:
    agent = make_agent()
    flaky = _Flaky(agent.engine)
    agent.engine = flaky
    agent.services.engine = flaky
    with pytest.raises(RuntimeError, match="disk on fire"):
        agent.respond("c1", "where is my order A-1002?", customer_id="C-1")
    conv = agent.conversations.get("c1")
    assert conv["status"] == "idle" and conv["last_turn_status"] == "failed"
    failed = [e for e in agent.audit.events(conversation_id="c1") if e.kind == "turn.failed"]
    assert [e.data["error"] for e in failed] == ["RuntimeError"]
    assert agent.recover() == []  # nothing left mid-run
    flaky.broken = False
    turn = agent.respond("c1", "where is my order A-1002?", customer_id="C-1")
    assert turn.status in ("answered", "escalated", "pending_approval")
    assert agent.conversations.get("c1")["status"] != "running"
    assert agent.audit.verify().ok
