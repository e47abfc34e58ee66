"""The fitted intent classifier kept in the state dir's cache: loaded only from an
owner-only file of this user, for the same data, settings and versions, and predicting
exactly as a fresh fit."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from govcx.engines.classifier import ClassifierConfig, IntentClassifier

EXAMPLES = {
    "order_status": ["where is my order", "has my parcel shipped yet", "track order A-1234"],
    "refund": ["I want my money back", "refund $20 please", "please refund my order"],
}
OUT_OF_SCOPE = ["what's the weather tomorrow", "tell me a joke"]
QUERIES = [
    "where's my parcel",
    "money back for A-1002 please",
    "weather?",
    "",
    "zzzz qqq",
    "refund <EMAIL_ADDRESS> $40",
]
CONFIGS = [
    ClassifierConfig(),
    ClassifierConfig(model="svm", wordllama_dim=64, similarity_power=2.0),
]


def _fit(
    cache: Path | None, config: ClassifierConfig, examples: dict[str, list[str]] = EXAMPLES
) -> IntentClassifier:
    texts = [t for ex in examples.values() for t in ex]
    labels = [intent for intent, ex in examples.items() for _ in ex]
    return IntentClassifier.fit(texts, labels, OUT_OF_SCOPE, config=config, cache_dir=cache)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    return folder


@pytest.mark.parametrize("config", CONFIGS, ids=["logreg", "svm-wordllama-similarity"])
def test_loaded_classifier_predicts_as_a_fresh_fit(cache: Path, config: ClassifierConfig) -> None:
    first = _fit(cache, config)  # fits, writes
    (written,) = cache.glob("intent-*.pickle")
    assert written.stat().st_mode & 0o777 == 0o600
    loaded = _fit(cache, config)  # loads
    # liblinear (svm) shuffles with a random seed, so two fits of it differ slightly: the
    # loaded classifier is compared with the fit it was written from.
    fresh = _fit(None, config) if config.model == "logreg" else first
    for clf in (first, loaded):
        assert clf.predict_many(QUERIES) == fresh.predict_many(QUERIES)
        assert [clf.predict(q) for q in QUERIES] == [fresh.predict(q) for q in QUERIES]
        assert clf.in_scope(QUERIES) == fresh.in_scope(QUERIES)


def test_other_data_or_settings_fit_again(cache: Path) -> None:
    _fit(cache, ClassifierConfig())
    _fit(cache, ClassifierConfig(c=5.0))
    more = {**EXAMPLES, "refund": [*EXAMPLES["refund"], "reimburse me"]}
    clf = _fit(cache, ClassifierConfig(), more)
    assert len(list(cache.glob("intent-*.pickle"))) == 3
    assert clf.predict("reimburse me").intent == "refund"


def test_a_file_others_could_write_is_never_unpickled(cache: Path, tmp_path: Path) -> None:
    _fit(cache, ClassifierConfig())
    (written,) = cache.glob("intent-*.pickle")
    marker = tmp_path / "ran"
    written.write_bytes(b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    written.chmod(0o666)
    clf = _fit(cache, ClassifierConfig())
    assert not marker.exists()
    assert clf.predict("where is my order").intent == "order_status"
    # Fitted again and replaced by an owner-only file.
    assert written.stat().st_mode & 0o777 == 0o600
    with open(written, "rb") as f:
        assert set(pickle.load(f)) >= {"classes", "views", "bias"}  # the light part
        assert len(pickle.load(f)) == 5  # the fitted scikit-learn objects


def test_a_corrupt_cache_fits_again(cache: Path) -> None:
    _fit(cache, ClassifierConfig())
    (written,) = cache.glob("intent-*.pickle")
    written.write_bytes(b"truncated")
    assert _fit(cache, ClassifierConfig()).predict("refund $20 please").intent == "refund"


def test_loading_from_the_cache_does_not_import_sklearn(cache: Path, tmp_path: Path) -> None:
    """The point of the light part: a warm start scores a text without scikit-learn (and
    the SciPy it imports); a batch loads the fitted objects from the same file."""
    import os
    import subprocess
    import sys
    import textwrap

    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    code = textwrap.dedent("""
        import sys
        from govcx.engines.embedded import EmbeddedEngine
        from govcx.pack import load_pack
        pack = load_pack()
        engine = EmbeddedEngine.from_policy(pack.policy)
        one = engine.classifier.predict("where is my order A-1004?")
        print("sklearn" in sys.modules, one.intent, repr(one.probability))
        batch = engine.classifier.predict_many(["where is my order A-1004?", "hi"])
        print(repr(batch[0].probability), repr(batch[1].probability))
    """)
    env = {
        **os.environ,
        "GOVCX_HOME": str(home),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
    }
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout.split()
        for _ in range(2)
    ]
    assert runs[0][:2] == ["True", "order_status"]  # fitted
    assert runs[1][:2] == ["False", "order_status"]  # loaded
    assert runs[0][2:] == runs[1][2:]  # the same probabilities, one text and a batch
