"""The embedded intent classifier: TF-IDF features and logistic regression, CPU only.

Trained at start-up from each workflow's examples (plus an out-of-scope class), in
milliseconds. Its confidence is the class probability scaled by vocabulary coverage,
so gibberish and off-topic requests get low confidence and escalate.

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

import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

OUT_OF_SCOPE = "__out_of_scope__"
_TOKEN = re.compile(r"[a-z][a-z']+|\d+")
_STOP = frozenset("""a an the i me my we our you your it its is are was were be been am do does did
to of in on at for with and or but so if this that these those there here what when where who why
how can could would should will shall may might please hi hello hey thanks thank just""".split())


def normalise(text: str) -> str:
    text = text.lower()
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


class IntentClassifier:
    """Word and character n-gram TF-IDF with a multinomial logistic regression."""

    def __init__(self, word: TfidfVectorizer, char: TfidfVectorizer, model: LogisticRegression,
                 vocabulary: frozenset[str]) -> None:
        self.word = word
        self.char = char
        self.model = model
        self.vocabulary = vocabulary
        self.classes: list[str] = [str(c) for c in model.classes_]

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[str],
            out_of_scope: Sequence[str] = (), *, c: float = 20.0) -> IntentClassifier:
        if len(set(labels)) < 1:
            raise ValueError("the classifier needs examples for at least one workflow")
        all_texts = [normalise(t) for t in [*texts, *out_of_scope]]
        all_labels = [*labels, *([OUT_OF_SCOPE] * len(out_of_scope))]
        word = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True,
                               token_pattern=r"[a-z][a-z']+|\d+", min_df=1)
        char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                               min_df=1)
        features = hstack([word.fit_transform(all_texts), char.fit_transform(all_texts)]).tocsr()
        if len(set(all_labels)) == 1:
            # One workflow and no out-of-scope data: add it so there is a decision to make.
            oos = [normalise(t) for t in builtin_out_of_scope()]
            all_texts += oos
            all_labels += [OUT_OF_SCOPE] * len(oos)
            features = hstack([word.fit_transform(all_texts),
                               char.fit_transform(all_texts)]).tocsr()
        model = LogisticRegression(C=c, max_iter=1000)
        # One BLAS thread: on a busy machine, thread oversubscription makes this small fit
        # ten times slower, not faster.
        with threadpool_limits(limits=1):
            model.fit(features, all_labels)
        vocab = frozenset(t for text in all_texts for t in _TOKEN.findall(text))
        return cls(word, char, model, vocab)

    def _features(self, texts: Sequence[str]) -> object:
        norm = [normalise(t) for t in texts]
        return hstack([self.word.transform(norm), self.char.transform(norm)]).tocsr()

    def coverage(self, text: str) -> float:
        tokens = [t for t in _TOKEN.findall(normalise(text)) if t not in _STOP]
        if not tokens:
            return 0.0
        known = sum(1 for t in tokens if t in self.vocabulary)
        return known / len(tokens)

    def predict(self, text: str) -> Prediction:
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[Prediction]:
        probs = self.model.predict_proba(self._features(texts))
        out: list[Prediction] = []
        for text, row in zip(texts, probs, strict=True):
            order = np.argsort(row)[::-1]
            best = self.classes[int(order[0])]
            p = float(row[order[0]])
            cov = self.coverage(text)
            # Coverage scales confidence: text made of words never seen in any example
            # (gibberish, another domain) cannot be confidently anything.
            conf = p * min(1.0, 0.25 + cov)
            alts = {self.classes[int(i)]: round(float(row[i]), 4) for i in order[:3]}
            intent = None if best == OUT_OF_SCOPE else best
            if intent is None:
                conf = 0.0
            out.append(Prediction(intent=intent, confidence=round(conf, 4), probability=p,
                                  coverage=cov, alternatives=alts))
        return out
