"""The embedded intent classifier: its single-text fast path and its confidence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from govcx.engines.classifier import ClassifierConfig, IntentClassifier, normalise

EXAMPLES = {
    "order_status": ["where is my order", "has my parcel shipped yet", "track order A-1234"],
    "refund": ["I want my money back", "refund $20 please", "please refund my order"],
    "password_reset": ["I forgot my password", "reset my login", "can't sign in"],
}
OUT_OF_SCOPE = ["what's the weather tomorrow", "tell me a joke", "who won the match"]


def _fit(config: ClassifierConfig) -> IntentClassifier:
    texts = [t for examples in EXAMPLES.values() for t in examples]
    labels = [intent for intent, examples in EXAMPLES.items() for _ in examples]
    return IntentClassifier.fit(texts, labels, OUT_OF_SCOPE, config=config)


CLASSIFIERS = {
    "logreg": _fit(ClassifierConfig(model="logreg")),
    "svm": _fit(ClassifierConfig(model="svm")),
    "logreg-tfidf": _fit(ClassifierConfig(model="logreg", wordllama_dim=0)),
    "svm-tfidf": _fit(ClassifierConfig(model="svm", wordllama_dim=0)),
    "svm-wordllama64-similarity": _fit(
        ClassifierConfig(model="svm", wordllama_dim=64, wordllama_weight=1.7, similarity_power=3.0)
    ),
}
TEXTS = st.one_of(
    st.text(max_size=80),
    st.lists(
        st.sampled_from(
            "where is my order refund $20 A-1002 password <EMAIL_ADDRESS> "
            "weather joke please money back".split()
        ),
        max_size=12,
    ).map(" ".join),
)


@pytest.mark.parametrize("model", list(CLASSIFIERS))
@settings(max_examples=150, deadline=None)
@given(text=TEXTS)
def test_single_text_scores_equal_scikit_learn_batch_scores(model: str, text: str) -> None:
    clf = CLASSIFIERS[model]
    # Two texts: scikit-learn's path, and a padded WordLlama batch (the other text is
    # sometimes longer, sometimes shorter).
    for other in (
        "where is my order",
        "hi",
        "where is my order and when will the refund of my money arrive, I asked a week ago",
    ):
        batch = clf._scores([text, other])[0]
        single = clf._scores([text])[0]
        np.testing.assert_allclose(single, batch, rtol=1e-9, atol=1e-12)
        assert clf.similarity([text])[0] == pytest.approx(
            clf.similarity([other, text])[1], rel=1e-9, abs=1e-12
        )


def test_the_model_sees_the_same_wordllama_features_as_prediction() -> None:
    # The weights of the WordLlama view must line up with the vectors prediction uses:
    # recompute the scores with scikit-learn's own decision function.
    from scipy.sparse import csr_matrix, hstack

    clf = CLASSIFIERS["svm"]
    assert clf.dense is not None
    texts = ["where's my parcel", "give me my money back", "blorf", ""]
    norm = [normalise(t) for t in texts]
    features = hstack(
        [clf.word.transform(norm), clf.char.transform(norm), csr_matrix(clf.dense.vectors(norm))]
    ).tocsr()
    np.testing.assert_allclose(
        clf._scores(texts), clf.model.decision_function(features), rtol=1e-9, atol=1e-12
    )


def test_wordllama_vectors() -> None:
    clf = CLASSIFIERS["svm-wordllama64-similarity"]
    assert clf.dense is not None
    vectors = clf.dense.vectors(["where is my order", "", "refund"])
    assert vectors.shape == (3, 64)
    assert np.linalg.norm(vectors[0]) == pytest.approx(1.7)
    assert not vectors[1].any()  # no tokens: zero vector, not NaN
    # Paraphrases are closer than unrelated requests.
    parcel, weather = clf.dense.vectors(["where is my parcel", "is it going to rain"])
    assert vectors[0] @ parcel > vectors[0] @ weather


def test_similarity_scales_confidence_down_for_unfamiliar_requests() -> None:
    clf = CLASSIFIERS["svm-wordllama64-similarity"]
    known, unlike, empty = clf.similarity(
        ["where is my order", "quantum chromodynamics lecture notes", ""]
    )
    assert known == pytest.approx(1.0)  # a training example itself
    assert unlike < 0.5 * known
    assert empty == 0.0
    assert clf.predict("").confidence == 0.0
    assert CLASSIFIERS["svm"].similarity(["quantum chromodynamics"]) == [1.0]  # not enabled


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="wordllama_dim"):
        ClassifierConfig(wordllama_dim=100)
    with pytest.raises(ValueError, match="similarity_power needs"):
        ClassifierConfig(wordllama_dim=0, similarity_power=2.0)


@pytest.mark.parametrize("model", ["logreg", "logreg-tfidf", "svm-wordllama64-similarity"])
def test_intents_and_out_of_scope(model: str) -> None:
    clf = CLASSIFIERS[model]
    assert clf.predict("where's my order A-1002?").intent == "order_status"
    assert clf.predict("please give me a refund of $35").intent == "refund"
    weather = clf.predict("what is the weather like today")
    assert weather.intent is None and weather.confidence == 0.0


@pytest.mark.parametrize("model", ["logreg", "logreg-tfidf", "svm-wordllama64-similarity"])
def test_gibberish_has_low_confidence(model: str) -> None:
    clf = CLASSIFIERS[model]
    known = clf.predict("refund my order please")
    gibberish = clf.predict("blorf zanquil vretch")
    assert gibberish.coverage == 0.0
    assert gibberish.confidence < 0.5 * known.confidence
