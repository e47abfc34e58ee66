"""The embedded intent classifier: TF-IDF features and a linear model, CPU only.

Trained at start-up from each workflow's examples (plus an out-of-scope class), in well
under a second for a pack's few hundred examples. Its confidence is the class probability
scaled by vocabulary coverage, so gibberish and off-topic requests get low confidence and
escalate.

Two linear models are available (:class:`ClassifierConfig`): multinomial logistic
regression (default, calibrated probabilities) and a linear SVM whose one-vs-rest margins
are turned into probabilities by a softmax with a fixed temperature (better on large,
many-class training sets such as BANKING77). Prediction does not go through scikit-learn's
estimators: the fitted weights are kept as one sparse-friendly matrix per feature view, so
a single query costs two vectoriser transforms and two sparse products.

Example:
    >>> clf = IntentClassifier.fit(["where is my order", "refund please"],
    ...                            ["order_status", "refund"])
    >>> clf.predict("where's my order?").intent
    'order_status'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

OUT_OF_SCOPE = "__out_of_scope__"
_TOKEN = re.compile(r"[a-z][a-z']+|\d+")
_STOP = frozenset("""a an the i me my we our you your it its is are was were be been am do does did
to of in on at for with and or but so if this that these those there here what when where who why
how can could would should will shall may might please hi hello hey thanks thank just""".split())
_PLACEHOLDERS = frozenset({"ordnum", "money", "pii"})


def normalise(text: str) -> str:
    text = text.lower()
    text = re.sub(r"<[a-z_]+>", " pii ", text)  # redaction placeholders such as <EMAIL_ADDRESS>
    text = re.sub(r"[a-z]-\d{3,}", " ordnum ", text)
    text = re.sub(r"[$€£]\s?\d+(?:[.,]\d+)?|\d+(?:[.,]\d+)?\s?(?:dollars|usd|eur|euros|bucks)",
                  " money ", text)
    return text


def builtin_out_of_scope() -> list[str]:
    data = resources.files("govcx.agent").joinpath("data/out_of_scope.txt").read_text("utf-8")
    return [line.strip() for line in data.splitlines() if line.strip()]


@dataclass(frozen=True, kw_only=True)
class Prediction:
    intent: str | None
    confidence: float
    probability: float
    coverage: float
    alternatives: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ClassifierConfig:
    """How the classifier is built. The defaults suit a pack's few hundred examples."""

    model: Literal["logreg", "svm"] = "logreg"
    c: float = 20.0
    """Inverse regularisation strength."""
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    out_of_scope_weight: float = 1.0
    """Class weight of the out-of-scope class (below 1 makes refusing harder)."""
    temperature: float = 4.0
    """svm only: softmax temperature applied to the one-vs-rest margins."""
    coverage_floor: float = 0.25
    """Confidence is multiplied by ``min(1, coverage_floor + coverage)``."""


class IntentClassifier:
    """Word and character n-gram TF-IDF with a linear model."""

    def __init__(self, word: TfidfVectorizer, char: TfidfVectorizer, model: Any,
                 vocabulary: frozenset[str], config: ClassifierConfig | None = None) -> None:
        self.word = word
        self.char = char
        self.model = model
        self.vocabulary = vocabulary
        self.config = config or ClassifierConfig()
        self.classes: list[str] = [str(c) for c in model.classes_]
        coef = np.asarray(model.coef_, dtype=np.float64)
        intercept = np.asarray(model.intercept_, dtype=np.float64)
        if coef.shape[0] == 1 and len(self.classes) == 2:  # binary: one row for class 1
            coef = np.vstack([-coef, coef]) / 2.0
            intercept = np.array([-intercept[0], intercept[0]]) / 2.0
        n_word = len(word.vocabulary_)
        self._w_word = np.ascontiguousarray(coef[:, :n_word].T)
        self._w_char = np.ascontiguousarray(coef[:, n_word:].T)
        self._bias = intercept
        self._oos = self.classes.index(OUT_OF_SCOPE) if OUT_OF_SCOPE in self.classes else -1
        self._views = [_View(word, self._w_word), _View(char, self._w_char)]

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[str],
            out_of_scope: Sequence[str] = (), *, c: float | None = None,
            config: ClassifierConfig | None = None) -> IntentClassifier:
        """Train on examples and labels, plus examples of what is out of scope.

        Args:
            texts: Example requests.
            labels: The workflow (intent) of each example.
            out_of_scope: Requests no workflow handles (trained as their own class).
            c: Inverse regularisation strength (overrides ``config.c``).
            config: Model and feature settings (see :class:`ClassifierConfig`).
        """
        config = config or ClassifierConfig()
        if c is not None:
            config = ClassifierConfig(**{**config.__dict__, "c": c})
        if len(set(labels)) < 1:
            raise ValueError("the classifier needs examples for at least one workflow")
        all_texts = [normalise(t) for t in [*texts, *out_of_scope]]
        all_labels = [*labels, *([OUT_OF_SCOPE] * len(out_of_scope))]
        if len(set(all_labels)) == 1:
            # One workflow and no out-of-scope data: add it so there is a decision to make.
            oos = [normalise(t) for t in builtin_out_of_scope()]
            all_texts += oos
            all_labels += [OUT_OF_SCOPE] * len(oos)
        word = TfidfVectorizer(analyzer="word", ngram_range=config.word_ngrams,
                               sublinear_tf=True, token_pattern=r"[a-z][a-z']+|\d+",
                               min_df=1, dtype=np.float64)
        char = TfidfVectorizer(analyzer="char_wb", ngram_range=config.char_ngrams,
                               sublinear_tf=True, min_df=1, dtype=np.float64)
        features = hstack([word.fit_transform(all_texts),
                           char.fit_transform(all_texts)]).tocsr()
        weights = {OUT_OF_SCOPE: config.out_of_scope_weight} \
            if OUT_OF_SCOPE in all_labels and config.out_of_scope_weight != 1.0 else None
        model: Any
        if config.model == "svm":
            model = LinearSVC(C=config.c, class_weight=weights)
        else:
            model = LogisticRegression(C=config.c, max_iter=1000, class_weight=weights)
        # One BLAS thread: on a busy machine, thread oversubscription makes this small fit
        # ten times slower, not faster.
        with threadpool_limits(limits=1):
            model.fit(features, all_labels)
        vocab = frozenset(t for text in all_texts for t in _TOKEN.findall(text))
        return cls(word, char, model, vocab, config)

    # -- features and scores -----------------------------------------------------------------
    def _scores(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
        norm = [normalise(t) for t in texts]
        if len(norm) == 1:
            # One live query: scikit-learn's transform validates and builds sparse
            # matrices, which costs ten times the arithmetic itself.
            return (sum(view.scores(norm[0]) for view in self._views) + self._bias)[None, :]
        words: csr_matrix = self.word.transform(norm)
        chars: csr_matrix = self.char.transform(norm)
        scores = np.asarray(words @ self._w_word + chars @ self._w_char) + self._bias
        return scores

    def probabilities(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Class probabilities (rows sum to 1), columns in ``self.classes`` order."""
        scores = self._scores(texts)
        if self.config.model == "svm":
            scores = scores * self.config.temperature
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        out: np.ndarray[Any, np.dtype[np.float64]] = exp / exp.sum(axis=1, keepdims=True)
        return out

    def coverage(self, text: str) -> float:
        """Share of the content words of ``text`` that some training example contains.

        Numbers, order numbers, amounts and redaction placeholders are not words: a message
        full of them is not "off-topic" for that reason.
        """
        tokens = [t for t in _TOKEN.findall(normalise(text))
                  if t not in _STOP and not t.isdigit()]
        if not tokens:
            return 0.0
        known = sum(1 for t in tokens if t in self.vocabulary or t in _PLACEHOLDERS)
        return known / len(tokens)

    def predict(self, text: str) -> Prediction:
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[Prediction]:
        probs = self.probabilities(texts)
        out: list[Prediction] = []
        floor = self.config.coverage_floor
        for text, row in zip(texts, probs, strict=True):
            order = np.argsort(row)[::-1]
            best = self.classes[int(order[0])]
            p = float(row[order[0]])
            cov = self.coverage(text)
            # Coverage scales confidence: text made of words never seen in any example
            # (gibberish, another domain) cannot be confidently anything.
            conf = p * min(1.0, floor + cov)
            alts = {self.classes[int(i)]: round(float(row[i]), 4) for i in order[:3]}
            intent = None if best == OUT_OF_SCOPE else best
            if intent is None:
                conf = 0.0
            out.append(Prediction(intent=intent, confidence=round(conf, 4), probability=p,
                                  coverage=cov, alternatives=alts))
        return out

    def in_scope(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """The best workflow of each text ignoring the out-of-scope class, and a score:
        its probability scaled by coverage (what escalation thresholds are set on)."""
        probs = self.probabilities(texts)
        if self._oos >= 0:
            probs = probs.copy()
            probs[:, self._oos] = -1.0
        best = probs.argmax(axis=1)
        floor = self.config.coverage_floor
        return [(self.classes[int(i)], float(row[i]) * min(1.0, floor + self.coverage(t)))
                for t, row, i in zip(texts, probs, best, strict=True)]


class _View:
    """One fitted TF-IDF view (sublinear tf, l2 norm) and its slice of the weights,
    scoring a single text with the vectoriser's own analyzer, vocabulary and idf."""

    def __init__(self, vectorizer: TfidfVectorizer,
                 weights: np.ndarray[Any, np.dtype[np.float64]]) -> None:
        if not vectorizer.sublinear_tf or vectorizer.norm != "l2":
            raise ValueError("the single-text path assumes sublinear_tf and the l2 norm")
        self.analyze = vectorizer.build_analyzer()
        self.vocabulary: dict[str, int] = vectorizer.vocabulary_
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        self.weights = weights

    def scores(self, text: str) -> np.ndarray[Any, np.dtype[np.float64]]:
        counts: dict[int, int] = {}
        for term in self.analyze(text):
            column = self.vocabulary.get(term)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        if not counts:
            return np.zeros(self.weights.shape[1])
        index = np.fromiter(counts, dtype=np.intp, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        values = (np.log(tf) + 1.0) * self.idf[index]
        values /= np.sqrt(values @ values)
        out: np.ndarray[Any, np.dtype[np.float64]] = values @ self.weights[index]
        return out
