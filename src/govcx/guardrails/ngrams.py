"""scikit-learn's TF-IDF analyzers (``analyzer="word"`` and ``"char_wb"``) for fitted
vectorizers kept in the state dir's cache, without importing scikit-learn.

Importing scikit-learn costs 0.6-1 s (it imports much of SciPy), more than the rest of a
classifier's start-up once its fit is cached. The classifiers here only need a fitted
vectorizer's analyzer, vocabulary and idf to score one text, so the cache keeps those and
this module rebuilds the analyzer: the same steps as ``TfidfVectorizer.build_analyzer``
(lower-casing, ``token_pattern.findall`` and word n-grams; or whitespace-normalised,
space-padded character n-grams within words), for exactly the settings it supports
(:func:`analyzer_settings` returns None for any other). Tests compare it with
scikit-learn's own on every text of the corpora and packs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Analyzer = Callable[[str], list[str]]

_DEFAULTS = {
    "input": "content",
    "strip_accents": None,
    "preprocessor": None,
    "tokenizer": None,
    "stop_words": None,
}
_WHITE_SPACES = re.compile(r"\s\s+")


def analyzer_settings(vectorizer: Any) -> dict[str, Any] | None:
    """What :func:`analyzer` needs from a fitted ``TfidfVectorizer``; None when it uses a
    setting this module does not reproduce (its own analyzer is then needed)."""
    params = vectorizer.get_params()
    if any(params.get(k) != v for k, v in _DEFAULTS.items()):
        return None
    kind = params.get("analyzer")
    low, high = params["ngram_range"]
    out: dict[str, Any] = {
        "analyzer": kind,
        "lowercase": bool(params["lowercase"]),
        "ngram_range": [int(low), int(high)],
    }
    if kind == "word":
        if re.compile(params["token_pattern"]).groups > 1:
            return None
        out["token_pattern"] = params["token_pattern"]
    elif kind != "char_wb":
        return None
    return out


def analyzer(settings: dict[str, Any]) -> Analyzer:
    """The analyzer of a vectorizer with these :func:`analyzer_settings`."""
    lower = bool(settings["lowercase"])
    low, high = (int(n) for n in settings["ngram_range"])
    if settings["analyzer"] == "word":
        findall = re.compile(settings["token_pattern"]).findall

        def words(text: str) -> list[str]:
            return _word_ngrams(findall(text.lower() if lower else text), low, high)

        return words
    if settings["analyzer"] == "char_wb":

        def chars(text: str) -> list[str]:
            return _char_wb_ngrams(text.lower() if lower else text, low, high)

        return chars
    raise ValueError(f"unsupported analyzer {settings['analyzer']!r}; supported: word, char_wb")


def _word_ngrams(tokens: list[str], low: int, high: int) -> list[str]:
    if high == 1:
        return tokens
    original = tokens
    if low == 1:
        tokens = list(original)
        low += 1
    else:
        tokens = []
    count = len(original)
    for n in range(low, min(high + 1, count + 1)):
        for i in range(count - n + 1):
            tokens.append(" ".join(original[i : i + n]))
    return tokens


def _char_wb_ngrams(text: str, low: int, high: int) -> list[str]:
    text = _WHITE_SPACES.sub(" ", text)
    grams: list[str] = []
    for word in text.split():
        w = " " + word + " "
        size = len(w)
        for n in range(low, high + 1):
            offset = 0
            grams.append(w[offset : offset + n])
            while offset + n < size:
                offset += 1
                grams.append(w[offset : offset + n])
            if offset == 0:  # a word shorter than n counts once
                break
    return grams
