"""Shared fixtures: one real guard per test session (building it takes a few seconds)."""

from __future__ import annotations

import pytest

from govcx.governance.policy import GuardPolicy
from govcx.guardrails import OutputGuardConfig, build_guard
from govcx.guardrails.engine import DefaultGuard


@pytest.fixture(scope="session")
def policy() -> GuardPolicy:
    return GuardPolicy(banned_phrases=["guaranteed approval", "no questions asked"])


@pytest.fixture(scope="session")
def guard(policy: GuardPolicy) -> DefaultGuard:
    built = build_guard(policy)
    assert isinstance(built, DefaultGuard)
    return built


@pytest.fixture(scope="session")
def direct_guard(policy: GuardPolicy, guard: DefaultGuard) -> DefaultGuard:
    built = build_guard(policy, config=OutputGuardConfig(engine="direct"))
    assert isinstance(built, DefaultGuard)
    return built
