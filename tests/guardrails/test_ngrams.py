"""govcx.guardrails.ngrams gives exactly scikit-learn's analyzers, for the settings it
supports, and refuses the others."""

from __future__ import annotations

import glob
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from govcx.guardrails._injection_corpus import ATTACKS, BENIGN
from govcx.guardrails.ngrams import analyzer, analyzer_settings

VECTORIZERS = {
    "intent-words": TfidfVectorizer(
        analyzer="word", ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"[a-z][a-z']+|\d+"
    ),
    "intent-chars": TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
    "injection-words": TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
    "injection-chars": TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2),
    "trigrams-only": TfidfVectorizer(ngram_range=(3, 3), lowercase=False),
    "unigrams": TfidfVectorizer(ngram_range=(1, 1)),
    "one-group": TfidfVectorizer(token_pattern=r"(\w+)", ngram_range=(1, 3)),
}


def _pack_texts() -> list[str]:
    texts: list[str] = []
    packs = Path(__file__).resolve().parents[2] / "src" / "govcx" / "packs"
    for name in glob.glob(f"{packs}/*/**/*.yaml", recursive=True):
        with open(name, encoding="utf-8") as f:
            texts.extend(line.strip() for line in f if line.strip())
    return texts


TEXTS = [
    *ATTACKS,
    *BENIGN,
    *_pack_texts(),
    "",
    "  a  b\t\tc\n\nd ",
    "É È ÇA Straße İ ǅ",
    "x",
    "don't won't O'Brien",
    "A-1002 $80.50 80,5 €12",
]


@pytest.mark.parametrize("name", VECTORIZERS)
def test_same_terms_as_sklearn(name: str) -> None:
    vectorizer = VECTORIZERS[name]
    ours = analyzer(analyzer_settings(vectorizer) or {})
    theirs = vectorizer.build_analyzer()
    for text in TEXTS:
        assert ours(text) == theirs(text), text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60), st.sampled_from(sorted(VECTORIZERS)))
def test_same_terms_on_any_text(text: str, name: str) -> None:
    vectorizer = VECTORIZERS[name]
    assert analyzer(analyzer_settings(vectorizer) or {})(text) == vectorizer.build_analyzer()(text)


@pytest.mark.parametrize(
    "vectorizer",
    [
        TfidfVectorizer(analyzer="char"),
        TfidfVectorizer(stop_words="english"),
        TfidfVectorizer(strip_accents="unicode"),
        TfidfVectorizer(preprocessor=str.strip),
        TfidfVectorizer(tokenizer=str.split),
        TfidfVectorizer(token_pattern=r"(a)(b)"),
    ],
    ids=["char", "stop-words", "accents", "preprocessor", "tokenizer", "two-groups"],
)
def test_other_settings_are_not_reproduced(vectorizer: TfidfVectorizer) -> None:
    assert analyzer_settings(vectorizer) is None
