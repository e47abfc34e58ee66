"""The embedded intent classifier: its single-text fast path and its confidence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from govcx.agent.classifier import ClassifierConfig, IntentClassifier

EXAMPLES = {
    "order_status": ["where is my order", "has my parcel shipped yet", "track order A-1234"],
    "refund": ["I want my money back", "refund $20 please", "please refund my order"],
    "password_reset": ["I forgot my password", "reset my login", "can't sign in"],
}
OUT_OF_SCOPE = ["what's the weather tomorrow", "tell me a joke", "who won the match"]


def _fit(model: str) -> IntentClassifier:
    texts = [t for examples in EXAMPLES.values() for t in examples]
    labels = [intent for intent, examples in EXAMPLES.items() for _ in examples]
    return IntentClassifier.fit(texts, labels, OUT_OF_SCOPE,
                                config=ClassifierConfig(model=model))  # type: ignore[arg-type]


CLASSIFIERS = {"logreg": _fit("logreg"), "svm": _fit("svm")}


@pytest.mark.parametrize("model", ["logreg", "svm"])
@settings(max_examples=150, deadline=None)
@given(text=st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from("where is my order refund $20 A-1002 password <EMAIL_ADDRESS> "
                             "weather joke please money back".split()),
             max_size=12).map(" ".join)))
def test_single_text_scores_equal_scikit_learn_batch_scores(model: str, text: str) -> None:
    clf = CLASSIFIERS[model]
    batch = clf._scores([text, "where is my order"])[0]  # two texts: scikit-learn's path
    single = clf._scores([text])[0]
    np.testing.assert_allclose(single, batch, rtol=1e-9, atol=1e-12)


def test_intents_and_out_of_scope() -> None:
    clf = CLASSIFIERS["logreg"]
    assert clf.predict("where's my order A-1002?").intent == "order_status"
    assert clf.predict("please give me a refund of $35").intent == "refund"
    weather = clf.predict("what is the weather like today")
    assert weather.intent is None and weather.confidence == 0.0


def test_gibberish_has_low_confidence() -> None:
    clf = CLASSIFIERS["logreg"]
    known = clf.predict("refund my order please")
    gibberish = clf.predict("blorf zanquil vretch")
    assert gibberish.coverage == 0.0
    assert gibberish.confidence < 0.5 * known.confidence
