"""The idempotency-key store behind messages and decisions."""

from __future__ import annotations

import pytest

from govcx.agent.agent import Agent
from govcx.api.errors import ApiError
from govcx.api.idempotency import IdempotencyStore, check_key, request_hash


def test_claim_complete_replay_and_mismatch(api_agent: Agent) -> None:
    store = IdempotencyStore(api_agent.db)
    body = request_hash({"decision": "approve"})
    assert store.claim("s", "k", body).new
    again = store.claim("s", "k", body)
    assert not again.new and again.response is None  # still in progress
    store.complete("s", "k", {"turn_id": "t1"})
    assert store.claim("s", "k", body).response == {"turn_id": "t1"}
    with pytest.raises(ApiError) as info:
        store.claim("s", "k", request_hash({"decision": "reject"}))
    assert info.value.status_code == 422
    assert store.claim("other-scope", "k", body).new  # keys are scoped


def test_released_and_abandoned_claims_can_be_taken_again(api_agent: Agent) -> None:
    store = IdempotencyStore(api_agent.db, abandon_after=0.0)
    body = request_hash({"x": 1})
    assert store.claim("s", "k", body).new
    assert store.claim("s", "k", body).new  # left without a response: taken over
    store.release("s", "k")
    assert store.claim("s", "k", body).new


def test_key_format() -> None:
    assert check_key(None) is None
    assert check_key("2f6c1a52-5d0b-4b4e-9f9e-1d2a3b4c5d6e")
    for bad in ("", "x" * 201, "schlüssel", "a\tb"):
        with pytest.raises(ApiError):
            check_key(bad)
