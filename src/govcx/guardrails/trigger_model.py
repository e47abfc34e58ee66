"""A learned second opinion for the escalation triggers: one linear model per trigger.

The hand-written patterns in :mod:`govcx.guardrails.triggers` are fitted to phrasings and
miss new ones (held-out recall 0.44-0.69). This model scores each CLAUSE of a message
(split on sentence ends, ";", " or ", " otherwise ", " and if ", line breaks), so "refund
$40 for order A-1002 today or my attorney files suit on Monday" is judged on "my attorney
files suit on Monday" and a trigger inside a long errand is not diluted. Features that
generalise past the words seen in training:

- the bundled WordLlama sentence embedding (256 dimensions, no download), which places
  "my attorney files suit" near "my lawyer will sue" although they share no word;
- hashed word 1-2 grams and character 3-5 grams (no vocabulary to ship; typos such as
  "sueing" or "attourney" share most character grams with the right spelling).

One logistic regression per trigger (LEGAL_THREAT, SELF_HARM, HUMAN_REQUEST) is trained by
``benchmarks/train_triggers.py`` on the phrasings in ``tests/fixtures/guards/`` against
benign customer utterances (BANKING77, CLINC150, Bitext train splits) and the near-misses,
with a per-trigger threshold chosen so that benign text almost never crosses it. The
weights ship in this package (``trigger_model.npz``); ``trigger_model.json`` beside them
records their SHA-256, the training figures and the data's licences.

A missing or corrupt weights file is a :class:`~govcx.errors.ConfigError` when the
detector is built (start-up), never a silent fall-back to the patterns alone: this is a
governance guard, and running without half of it must be a decision someone takes, not
something a damaged install does quietly.

Example:
    >>> model = TriggerModel.load()
    >>> best = model.score("Refund $40 for order A-1002 today or my attorney files suit")
    >>> best["LEGAL_THREAT"].clause
    'my attorney files suit'
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from govcx.errors import ConfigError

WEIGHTS = Path(__file__).with_name("trigger_model.npz")
SIDECAR = Path(__file__).with_name("trigger_model.json")
MODEL_TRIGGERS = ("LEGAL_THREAT", "SELF_HARM", "HUMAN_REQUEST")
HASH_FEATURES = 2**14
"""Buckets per hashed block (word grams, char grams): 2 x 16,384 weights per trigger."""
NGRAM_WEIGHT = 0.7
"""Scale of each hashed block against the unit-length embedding."""
EMBED_DIM = 256
FEATURE_VERSION = 1
"""Bumped when :func:`features` changes; weights of another version do not load."""

_CLAUSE_SPLIT = re.compile(
    r"(?<=[.!?])\s+|[;\n\r]+|\s+(?:or\s+else|or|otherwise|and\s+if|else|unless|because|but)\s+",
    re.I,
)
_MIN_CLAUSE_CHARS = 3
_MAX_CLAUSES = 12


@dataclass(frozen=True)
class ClauseScore:
    """The best-scoring clause of a text for one trigger."""

    score: float
    """Probability-like score in [0, 1] (the logistic of the model's decision)."""
    threshold: float
    """The trigger's threshold on ``score``; the model fires when ``score > threshold``."""
    clause: str
    start: int
    end: int

    @property
    def fires(self) -> bool:
        return self.score > self.threshold


def split_clauses(text: str) -> list[tuple[int, int, str]]:
    """The clauses of ``text`` as ``(start, end, clause)``; the whole text comes first
    when it has more than one clause (a long message keeps its overall sense too)."""
    spans: list[tuple[int, int, str]] = []
    pos = 0
    for m in _CLAUSE_SPLIT.finditer(text):
        _add_span(spans, text, pos, m.start())
        pos = m.end()
    _add_span(spans, text, pos, len(text))
    if len(spans) > _MAX_CLAUSES:
        spans = spans[:_MAX_CLAUSES]
    stripped = text.strip()
    if len(spans) != 1 and stripped:
        start = text.index(stripped)
        spans.insert(0, (start, start + len(stripped), stripped))
    return spans


def _add_span(spans: list[tuple[int, int, str]], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if len(stripped) >= _MIN_CLAUSE_CHARS:
        s = start + piece.index(stripped)
        spans.append((s, s + len(stripped), stripped))


_vectorizers: tuple[Any, Any] | None = None
_vec_lock = threading.Lock()


def _hashers() -> tuple[Any, Any]:
    """sklearn's hashing vectorizers (stateless: nothing to fit or ship), built once."""
    global _vectorizers
    with _vec_lock:
        if _vectorizers is None:
            from sklearn.feature_extraction.text import HashingVectorizer

            words = HashingVectorizer(
                n_features=HASH_FEATURES,
                ngram_range=(1, 2),
                alternate_sign=False,
                norm="l2",
                token_pattern=r"(?u)\b\w+\b",
            )
            chars = HashingVectorizer(
                n_features=HASH_FEATURES,
                analyzer="char_wb",
                ngram_range=(3, 5),
                alternate_sign=False,
                norm="l2",
            )
            _vectorizers = (words, chars)
        return _vectorizers


_wordllama: Any = None


def _embed(texts: list[str]) -> np.ndarray[Any, Any]:
    """L2-normalised WordLlama sentence vectors (the bundled 256-dimension model).

    The same model and loading quirks as :mod:`govcx.knowledge.wordllama`, which this layer
    may not import (guardrails and knowledge are independent layers): the package's own
    weights and tokenizer, downloads forbidden. Loaded once, on the first message.
    """
    global _wordllama
    with _vec_lock:
        if _wordllama is None:
            import logging

            import wordllama
            from wordllama import WordLlama

            logging.getLogger("wordllama").setLevel(logging.WARNING)
            _wordllama = WordLlama.load(
                config="l2_supercat",
                dim=EMBED_DIM,
                cache_dir=Path(wordllama.__file__).parent,
                disable_download=True,
            )
        model = _wordllama
    with np.errstate(invalid="ignore", divide="ignore"):
        vectors = model.embed(texts, norm=True, return_np=True)
    # A text with no tokens comes back as NaN: make it zero.
    return np.nan_to_num(np.asarray(vectors, dtype=np.float32), nan=0.0)


def features(texts: list[str]) -> Any:
    """The feature matrix (scipy CSR, one row per text) the models are trained and run on:
    WordLlama embedding | hashed word 1-2 grams | hashed char 3-5 grams."""
    from scipy.sparse import csr_matrix, hstack

    words, chars = _hashers()
    emb = _embed(texts)
    return hstack(
        [
            csr_matrix(emb),
            words.transform(texts) * NGRAM_WEIGHT,
            chars.transform(texts) * NGRAM_WEIGHT,
        ]
    ).tocsr()


def n_features() -> int:
    return EMBED_DIM + 2 * HASH_FEATURES


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class TriggerModel:
    """The shipped per-trigger weights, checked against their sidecar when loaded."""

    def __init__(
        self,
        coef: dict[str, np.ndarray[Any, Any]],
        intercept: dict[str, float],
        threshold: dict[str, float],
    ) -> None:
        self.triggers = tuple(coef)
        self._w = np.vstack([coef[t] for t in self.triggers]).astype(np.float32)
        self._b = np.array([intercept[t] for t in self.triggers], dtype=np.float32)
        # The blocks of the feature vector apart: scoring them one by one skips building
        # the stacked sparse matrix, most of the time of a message otherwise.
        e, h = EMBED_DIM, HASH_FEATURES
        self._w_emb = np.ascontiguousarray(self._w[:, :e].T)
        self._w_words = np.ascontiguousarray(self._w[:, e : e + h].T)
        self._w_chars = np.ascontiguousarray(self._w[:, e + h :].T)
        self.threshold = dict(threshold)

    @classmethod
    def load(cls, path: Path = WEIGHTS, sidecar: Path = SIDECAR) -> TriggerModel:
        """The weights at ``path``; :class:`ConfigError` naming the file when it is missing,
        does not match the SHA-256 its sidecar records, or does not have the shape this
        code computes features for."""
        rebuild = "reinstall govcx or rebuild with benchmarks/train_triggers.py --write"
        try:
            recorded = json.loads(sidecar.read_text(encoding="utf-8"))["sha256"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                str(sidecar), f"trigger model sidecar is missing or unreadable ({exc}); {rebuild}"
            ) from exc
        try:
            digest = file_digest(path)
        except OSError as exc:
            raise ConfigError(
                str(path), f"trigger model weights cannot be read ({exc}); {rebuild}"
            ) from exc
        if digest != recorded:
            raise ConfigError(
                str(path),
                f"trigger model weights have SHA-256 {digest[:16]}..., but {sidecar} records "
                f"{str(recorded)[:16]}...: the file is corrupt or was not built by "
                "benchmarks/train_triggers.py --write",
            )
        try:
            with np.load(path, allow_pickle=False) as data:
                version = int(data["feature_version"])
                coef = {t: np.asarray(data[f"{t}.coef"]) for t in MODEL_TRIGGERS}
                intercept = {t: float(data[f"{t}.intercept"]) for t in MODEL_TRIGGERS}
                threshold = {t: float(data[f"{t}.threshold"]) for t in MODEL_TRIGGERS}
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(str(path), f"trigger model weights are unreadable ({exc})") from exc
        if version != FEATURE_VERSION:
            raise ConfigError(
                str(path),
                f"trigger model weights are for feature version {version}, this code computes "
                f"version {FEATURE_VERSION}; {rebuild}",
            )
        for t, w in coef.items():
            if w.shape != (n_features(),):
                raise ConfigError(
                    str(path), f"{t} has {w.shape} weights, expected ({n_features()},)"
                )
        return cls(coef, intercept, threshold)

    def score(self, text: str) -> dict[str, ClauseScore]:
        """The best clause of ``text`` per trigger (empty for a text with no clause)."""
        scored = self.score_clauses(text)
        best: dict[str, ClauseScore] = {}
        for trig in self.triggers if scored else ():
            (start, end, clause), scores = max(scored, key=lambda c: c[1][trig])
            best[trig] = ClauseScore(scores[trig], self.threshold[trig], clause, start, end)
        return best

    def score_clauses(self, text: str) -> list[tuple[tuple[int, int, str], dict[str, float]]]:
        """Every clause with its score per trigger (for exclusions that need the next-best)."""
        spans = split_clauses(text)
        if not spans:
            return []
        texts = [s[2] for s in spans]
        words, chars = _hashers()
        decision = (
            _embed(texts) @ self._w_emb
            + (words.transform(texts) @ self._w_words) * NGRAM_WEIGHT
            + (chars.transform(texts) @ self._w_chars) * NGRAM_WEIGHT
            + self._b
        )
        prob = 1.0 / (1.0 + np.exp(-np.asarray(decision)))
        return [
            (span, {t: float(prob[i, j]) for j, t in enumerate(self.triggers)})
            for i, span in enumerate(spans)
        ]
