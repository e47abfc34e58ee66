"""The model's confidence is never trusted alone: the embedded classifier must agree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from govcx.engines.agreement import Agreement, combined_confidence
from govcx.engines.engine import TurnContext
from govcx.engines.llm import LLMEngine
from govcx.testing import StubOpenAIServer, classified
from tests.conftest import load_benchmark

CTX = TurnContext(conversation_id="c1", customer_id=None, turn_id="t1")
intents = st.sampled_from([None, "refund", "order_status", "returns_info"])
unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@given(model=unit, probability=unit, intent=intents, top=intents)
def test_combined_confidence_never_exceeds_the_model_nor_a_disagreeing_classifier(
    model: float, probability: float, intent: str | None, top: str | None
) -> None:
    check = Agreement(top=top, probability=probability)
    value = combined_confidence(model, intent, check)
    assert 0.0 <= value <= model
    if top == intent:
        assert value == model
    else:
        assert value <= probability


def test_an_overconfident_model_is_believed_only_where_the_classifier_agrees(
    stub: StubOpenAIServer, stub_engine: Callable[..., LLMEngine]
) -> None:
    """Qwen2.5-Coder-0.5B called "What is the capital of France?" order_status at 0.9."""
    stub.script = [classified("order_status", 0.9), classified("refund", 0.9)]
    engine = stub_engine()
    odd = engine.classify("What is the capital of France?", CTX)
    assert (odd.intent, odd.model_confidence) == ("order_status", 0.9)
    assert odd.confidence < 0.3  # below the shop policy's min_confidence: it escalates
    plain = engine.classify("please refund $20 for order A-1001", CTX)
    assert (plain.intent, plain.confidence, plain.model_confidence) == ("refund", 0.9, 0.9)


def _calibration() -> Any:
    return load_benchmark("llm_calibration")


def test_expected_calibration_error_of_the_benchmark() -> None:
    ece = _calibration().ece
    # Always 0.9 while right half the time: a gap of 0.4 in the one bin used.
    assert ece([0.9] * 4, [True, False, True, False]) == pytest.approx(0.4)
    # Perfectly calibrated bins: 0.25 right a quarter of the time, 0.95 nineteen of twenty.
    confidences = [0.25] * 4 + [0.95] * 20
    correct = [True, False, False, False] + [True] * 19 + [False]
    assert ece(confidences, correct) == pytest.approx(0.0)
    # Two bins weighted by their share of answers.
    assert ece([0.15, 0.15, 0.85, 0.85], [False, False, True, True]) == pytest.approx(0.15)
