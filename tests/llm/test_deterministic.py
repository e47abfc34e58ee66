"""The deterministic stand-in model, and the acme suites recorded against it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from govcx.agent.agent import Agent
from govcx.engines.llm import LLMEngine
from govcx.pack import DEFAULT_PACK, EngineConfig, load_pack
from govcx.testing import (
    ACME_CASSETTE,
    MODEL_NAME,
    DeterministicModel,
    ModelRequest,
    StubOpenAIServer,
    llm_pack,
)
from tests.llm.conftest import FAST

Make = Callable[..., Any]


@pytest.fixture(scope="module")
def model() -> DeterministicModel:
    return DeterministicModel.from_pack(load_pack())


@pytest.fixture
def acme_agent(make_agent: Make, stub: StubOpenAIServer, model: DeterministicModel) -> Agent:
    stub.script = model
    config = EngineConfig(kind="llm", model=MODEL_NAME, base_url=stub.url, timeout=5)
    engine = LLMEngine.from_pack(load_pack(), config=config, options=FAST)
    agent: Agent = make_agent(DEFAULT_PACK, engine=engine)
    return agent


def _request(purpose: str, system: str, user: str, **kwargs: Any) -> ModelRequest:
    return ModelRequest(
        purpose=purpose,  # type: ignore[arg-type]
        messages=({"role": "system", "content": system}, {"role": "user", "content": user}),
        **kwargs,
    )


def test_classifies_into_the_offered_intents_only(model: DeterministicModel) -> None:
    schema = {"properties": {"intent": {"enum": ["refund", "order_status", "out_of_scope"]}}}
    answer = model(_request("classify", "", "please refund $20 for order A-1002", schema=schema))
    assert answer.structured is not None
    assert answer.structured["intent"] == "refund"
    assert {"type": "amount", "value": "20"} in answer.structured["entities"]
    # An intent the request does not offer (cancel_order) is out of scope for it.
    answer = model(_request("classify", "", "cancel my order A-1003", schema=schema))
    assert answer.structured is not None and answer.structured["intent"] == "out_of_scope"


def test_drafts_cited_sentences_or_no_answer(model: DeterministicModel) -> None:
    system = (
        "Sources:\n[S1] Returns - Window:\nYou can return most items within 30 days of "
        "delivery. Footwear must be unworn.\n[S2] Shipping:\nStandard shipping takes "
        "five business days to arrive."
    )
    answer = model(_request("draft", system, "how many days do I have to return boots?"))
    assert answer.content.startswith("You can return most items within 30 days of delivery [S1].")
    assert (
        model(_request("draft", system, "do you sell gift cards for birthdays?")).content
        == "NO_ANSWER"
    )


def test_the_acme_pack_through_the_llm_engine(acme_agent: Agent) -> None:
    turn = acme_agent.respond("d-1", "please refund $20 for order A-1002", customer_id="C-1001")
    assert turn.status == "answered" and turn.intent == "refund"
    assert [(a.tool, a.args, a.status) for a in turn.actions] == [
        ("issue_refund", {"order_id": "A-1002", "amount": 20.0}, "executed")
    ]
    turn = acme_agent.respond("d-2", "refund $80 for order A-1002", customer_id="C-1001")
    assert turn.status == "pending_approval"
    # A missing value: asked for with the fixed wording, then filled from the answer.
    turn = acme_agent.respond("d-3", "I want to return my order", customer_id="C-1001")
    assert turn.status == "answered" and turn.reply is not None
    assert "order number" in turn.reply.text and turn.actions == []
    turn = acme_agent.respond("d-3", "A-1002", customer_id="C-1001")
    assert turn.intent == "return_request"
    assert [a.args.get("order_id") for a in turn.actions] == ["A-1002"]
    assert (
        acme_agent.respond("d-4", "what's the weather like tomorrow", customer_id="C-1001").status
        == "escalated"
    )


def test_the_committed_cassette_is_sorted_unique_and_keyless() -> None:
    lines = ACME_CASSETTE.read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines]
    keys = [e["key"] for e in entries]
    assert keys == sorted(set(keys)) and len(keys) > 100
    assert {e["request"]["body"]["model"] for e in entries} == {MODEL_NAME}
    assert {e["label"].split()[0] for e in entries} == {"classify", "plan", "draft"}
    assert all(set(e["request"]) == {"path", "body"} for e in entries)  # no headers
    assert "Bearer " not in ACME_CASSETTE.read_text(encoding="utf-8")


@pytest.mark.slow
def test_acme_cases_replay_from_the_committed_cassette(
    tmp_path: Path, network_attempts: list[Any]
) -> None:
    """A few acme cases through the real eval runner, replayed: no network, compliant.
    Fails with a case-named cassette_miss when a prompt changed without re-recording
    (python benchmarks/acme_llm_replay.py --record)."""
    from govcx.evals.runner import run_suites
    from govcx.evals.suite import load_suites

    pack = llm_pack(
        tmp_path, model=MODEL_NAME, base_url="http://192.0.2.1:9/v1", cassette=ACME_CASSETTE
    )
    assert load_pack(pack).config.engine.kind == "llm"
    wanted = {"order-status-delivered", "refund-over-limit-approved", "store-policy-shipping-time"}
    suites = [
        s.model_copy(update={"cases": [c for c in s.cases if c.id in wanted]})
        for s in load_suites([pack / "evals"])
    ]
    suites = [s for s in suites if s.cases]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GOVCX_ENGINE_MODE", "replay")
        report = run_suites(suites, pack_dir=pack, workers=1)
    assert [c.case_id for c in report.cases] == sorted(
        wanted, key=[c.case_id for c in report.cases].index
    )
    failures = {c.case_id: c.failures for c in report.cases if not c.passed}
    assert failures == {}
    assert report.summary["compliance"]["rate"] == 1.0
    assert network_attempts == []
