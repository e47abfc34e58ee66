"""BM25 over passages, in memory, on a scipy sparse matrix.

Terms are lower-cased words with English stop words removed and a light suffix stemmer
(``refunds``, ``refunded`` and ``refunding`` all become ``refund``), plus adjacent word
pairs so that names such as "Gold Rewards Card" count as phrases.

The score of a passage is BM25 divided by the query's *reference score*: the score of an
average-length passage that contains every query term once. It is clipped to [0, 1]:
1.0 means every query term, weighted by its rarity, occurs in the passage; 0.4 means
terms carrying 40 % of the query's weight do. A query term that occurs nowhere in the
knowledge base still counts in the reference, so "what's the weather in Paris" against a
banking knowledge base scores low however long the passages are.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from scipy import sparse

_TOKEN = re.compile(r"([^\W_]+(?:['’][^\W_]+)*)|[.,;:!?()\[\]{}\"|\n]")
STOP_WORDS: frozenset[str] = frozenset(
    """
a about above after again against all am an and any are aren't as at be because been before
being below between both but by can can't cannot could couldn't did didn't do does doesn't
doing don't down during each few for from further had hadn't has hasn't have haven't having
he he'd he'll he's her here here's hers herself him himself his how how's i i'd i'll i'm
i've if in into is isn't it it's its itself let's me more most mustn't my myself no nor not
of off on once only or other ought our ours ourselves out over own same shan't she she'd
she'll she's should shouldn't so some such than that that's the their theirs them
themselves then there there's these they they'd they'll they're they've this those through
to too under until up very was wasn't we we'd we'll we're we've were weren't what what's
when when's where where's which while who who's whom why why's with won't would wouldn't
you you'd you'll you're you've your yours yourself yourselves also may might must shall will
just like get got us please hi hello thanks thank yes ok okay
""".split()
)


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    """A light English stemmer: plural and -ed/-ing endings, then a final e."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith(("ches", "shes", "xes", "zes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("ied") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("ed") and len(word) > 4 and _has_vowel(word[:-2]):
        word = _undouble(word[:-2])
    elif word.endswith("ing") and len(word) > 5 and _has_vowel(word[:-3]):
        word = _undouble(word[:-3])
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def _has_vowel(stem: str) -> bool:
    return any(c in "aeiouy" for c in stem)


def _undouble(stem: str) -> str:
    if len(stem) > 3 and stem[-1] == stem[-2] and stem[-1] not in "lsz":
        return stem[:-1]
    return stem


def terms(text: str, *, pairs: bool = True) -> list[str]:
    """Index terms of a text: stemmed content words, and adjacent pairs of them."""
    out: list[str] = []
    prev: str | None = None
    for match in _TOKEN.finditer(text.lower()):
        raw = match.group(1)
        if raw is None:  # punctuation ends a phrase
            prev = None
            continue
        word = raw.replace("’", "'")
        if word in STOP_WORDS:
            prev = None
            continue
        if word.endswith("'s"):
            word = word[:-2]
        stem = _stem(word)
        out.append(stem)
        if pairs and prev is not None:
            out.append(prev + " " + stem)
        prev = stem
    return out


class LexicalIndex:
    """BM25 over a fixed list of passages; rebuild it when the passages change.

    Args:
        texts: the passages' indexable text (title, heading and body).
        k1: term-frequency saturation.
        b: length normalisation.
    """

    def __init__(
        self,
        texts: Iterable[str] | None = None,
        *,
        k1: float = 1.2,
        b: float = 0.75,
        counts: Sequence[Counter[str]] | None = None,
    ) -> None:
        self.k1 = k1
        self.b = b
        if counts is None:
            counts = [Counter(terms(t)) for t in texts or ()]
        self.size = len(counts)
        vocab: dict[str, int] = {}
        indptr = [0]
        indices: list[int] = []
        data: list[float] = []
        for counter in counts:
            for term, n in counter.items():
                indices.append(vocab.setdefault(term, len(vocab)))
                data.append(n)
            indptr.append(len(indices))
        self.vocab = vocab
        n_docs = max(1, self.size)
        tf = sparse.csr_matrix(
            (np.asarray(data, dtype=np.float32), indices, indptr),
            shape=(self.size, max(1, len(vocab))),
        )
        lengths = np.asarray(tf.sum(axis=1)).ravel()
        avg = float(lengths.mean()) if self.size else 1.0
        df = np.bincount(tf.indices, minlength=tf.shape[1]).astype(np.float64)
        self.idf = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        self._oov_idf = float(np.log1p((n_docs + 0.5) / 0.5))
        row_norm = k1 * (1 - b + b * lengths / max(avg, 1e-9))
        rows = np.repeat(np.arange(self.size), np.diff(tf.indptr))
        weights = tf.data * (k1 + 1) / (tf.data + row_norm[rows]) * self.idf[tf.indices]
        self._matrix = sparse.csr_matrix(
            (weights.astype(np.float32), tf.indices, tf.indptr), shape=tf.shape
        ).tocsc()

    def scores(self, query: str) -> npt.NDArray[np.float32]:
        """Normalised scores in [0, 1] of every passage, in index order."""
        raw, reference = self.raw_scores(query)
        if reference <= 0:
            return raw
        clipped: npt.NDArray[np.float32] = np.minimum(raw / np.float32(reference), np.float32(1.0))
        return clipped

    def raw_scores(self, query: str) -> tuple[npt.NDArray[np.float32], float]:
        """BM25 of every passage (for ranking: not clipped) and the query's reference."""
        if not self.size:
            return np.zeros(0, dtype=np.float32), 0.0
        weights = Counter(terms(query))
        if not weights:
            return np.zeros(self.size, dtype=np.float32), 0.0
        cols: list[int] = []
        qw: list[float] = []
        reference = 0.0
        for term, n in weights.items():
            j = self.vocab.get(term)
            if " " in term and j is None:
                continue  # an unknown pair adds nothing its words did not already say
            idf = float(self.idf[j]) if j is not None else self._oov_idf
            reference += n * idf
            if j is not None:
                cols.append(j)
                qw.append(n)
        if not cols or reference <= 0:
            return np.zeros(self.size, dtype=np.float32), 0.0
        raw = self._matrix[:, cols] @ np.asarray(qw, dtype=np.float32)
        return np.asarray(raw, dtype=np.float32).ravel(), reference
