"""Prompt-injection and jailbreak detection for customer text and indirect channels.

Two layers, both offline:

1. Rules (:mod:`govcx.guardrails._injection_rules`): named regular expressions for the
   known shapes of an attack (instruction override, role play and "modes", fake
   authority, secret extraction, requests for other people's data, obfuscation and
   payload splitting, phishing), plus checks for repeated-token, few-shot and many-shot
   padding, and the structure of a jailbreak prompt
   (:mod:`govcx.guardrails._jailbreak`: a persona for the AI, orders on how to answer,
   talk of its filters and morals, prompts and modes, fictional framing). Encoded
   payloads (base64, hex, binary, Morse) are decoded and scanned again, and a document
   pasted into a customer's message (a web page, code, a quoted email) is scanned as
   indirect content. On indirect channels (retrieved knowledge, tool output)
   text that addresses the AI, or that asks for data to be sent somewhere, is an
   injection too: data does not give orders. On a tool's output every imperative request
   for an action counts; customers may ask for actions, tool results may not.
2. A small classifier (TF-IDF over words and character n-grams, logistic regression),
   trained when the detector is built on :mod:`govcx.guardrails._injection_corpus`,
   text written for govcx. It catches paraphrases the rules miss, on customer input.

A detection's ``detail`` names the rules that fired and quotes the evidence.

Example:
    >>> detector = InjectionDetector()
    >>> [f.type for f in detector.detect("Ignore all previous instructions.")]
    ['PROMPT_INJECTION']
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

from govcx.governance.finding import INJECTION, Finding, Source
from govcx.guardrails import _jailbreak
from govcx.guardrails._injection_rules import RULES
from govcx.guardrails.ngrams import analyzer, analyzer_settings

_ENCODED_B64 = re.compile(r"(?<![\w/+=])[A-Za-z0-9+/]{20,}={0,2}(?![\w/+=])")
_ENCODED_HEX = re.compile(r"(?<![0-9a-fA-F])(?:[0-9a-fA-F]{2}[ ]?){10,}(?![0-9a-fA-F])")
_ENCODED_BIN = re.compile(r"(?<![01])(?:[01]{8}[ ]?){5,}(?![01])")
_MORSE = re.compile(r"(?:[.\-]{1,6}[ /]+){6,}[.\-]{1,6}")
_Q_MARK = re.compile(r"\bQ\s*:\s*\S")
_A_MARK = re.compile(r"\bA\s*:\s*\S")
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_MORSE_TABLE = {
    ".-": "a",
    "-...": "b",
    "-.-.": "c",
    "-..": "d",
    ".": "e",
    "..-.": "f",
    "--.": "g",
    "....": "h",
    "..": "i",
    ".---": "j",
    "-.-": "k",
    ".-..": "l",
    "--": "m",
    "-.": "n",
    "---": "o",
    ".--.": "p",
    "--.-": "q",
    ".-.": "r",
    "...": "s",
    "-": "t",
    "..-": "u",
    "...-": "v",
    ".--": "w",
    "-..-": "x",
    "-.--": "y",
    "--..": "z",
}

FLAG_THRESHOLD = 0.7
"""A text is an injection when its strongest evidence reaches this score."""
CLASSIFIER_THRESHOLD = 0.9
"""Classifier probability that counts as evidence on its own (customer input only)."""


@dataclass(frozen=True)
class Evidence:
    """One rule (or the classifier) that fired, with where and what it matched."""

    rule: str
    weight: float
    start: int
    end: int
    quote: str


def normalize(text: str) -> str:
    """NFKC, no zero-width characters, so look-alike tricks meet the same patterns."""
    return unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)


def _printable_text(raw: bytes) -> str | None:
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(decoded) < 8:
        return None
    ok = sum(ch.isprintable() or ch in "\n\t" for ch in decoded)
    letters = sum(ch.isalpha() for ch in decoded)
    if ok / len(decoded) < 0.95 or letters / len(decoded) < 0.5 or " " not in decoded:
        return None
    return decoded


def _decode_payloads(text: str) -> list[tuple[int, int, str, str]]:
    """Encoded text hidden in ``text``: (start, end, encoding, decoded)."""
    found: list[tuple[int, int, str, str]] = []
    for m in _ENCODED_B64.finditer(text):
        blob = m.group(0)
        if blob.isdigit() or (blob.isalpha() and blob.islower()):
            continue
        try:
            raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        decoded = _printable_text(raw)
        if decoded:
            found.append((m.start(), m.end(), "base64", decoded))
    for m in _ENCODED_HEX.finditer(text):
        try:
            decoded = _printable_text(bytes.fromhex(m.group(0).replace(" ", "")))
        except ValueError:
            continue
        if decoded:
            found.append((m.start(), m.end(), "hex", decoded))
    for m in _ENCODED_BIN.finditer(text):
        bits = m.group(0).replace(" ", "")
        raw = bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits) - 7, 8))
        decoded = _printable_text(raw)
        if decoded:
            found.append((m.start(), m.end(), "binary", decoded))
    for m in _MORSE.finditer(text):
        words = [
            "".join(_MORSE_TABLE.get(c, "?") for c in w.split())
            for w in re.split(r"\s*/\s*", m.group(0).strip())
        ]
        decoded = " ".join(words)
        if decoded.count("?") <= len(decoded) // 5:
            found.append((m.start(), m.end(), "morse", decoded))
    return found


_DOCUMENT = re.compile(
    r"<(?:!doctype|html|head|body|code|table|caption|p|div|img|span|!--)\b.*"
    r"|(?:based\s+on|given|summari[sz]e|from)\s+(?:this|the\s+following)\s+(?:\w+\s+)?"
    r"(?:email|e-mail|document|resume|article|text|page|webpage|paper|note|message|review|"
    r"transaction|code|table)\s*:?\s*(.+)"
    r"|'[^'\n]{100,}'|\"[^\"\n]{100,}\"",
    re.I | re.S,
)


def _embedded_documents(text: str) -> list[tuple[int, str]]:
    docs = []
    for m in _DOCUMENT.finditer(text):
        if m.group(1) is not None:
            docs.append((m.start(1), m.group(1)))
        else:
            docs.append((m.start(), m.group(0)))
    return docs


_REPEATED_WORD = re.compile(r"(?<!\S)(\S{2,})(?:\s+\1(?!\S)){9,}", re.I)
_REPEATED_PHRASE = re.compile(r"(?<!\S)(\S+(?:\s+\S+){1,2}?)(?:\s+\1(?!\S)){5,}", re.I)


def _qa_pairs(text: str) -> tuple[int, int, bool]:
    """Scripted Q:/A: exchanges: (complete pairs, end of the last A, a Q follows it)."""
    marks = sorted(
        [(m.start(), "Q") for m in _Q_MARK.finditer(text)]
        + [(m.start(), "A") for m in _A_MARK.finditer(text)]
    )
    pairs = 0
    end = 0
    after = False
    for (pos_a, kind_a), (pos_b, kind_b) in pairwise(marks):
        if kind_a == "Q" and kind_b == "A" and 3 <= pos_b - pos_a <= 600:
            pairs += 1
            end = pos_b
            after = False
        elif kind_a == "A" and kind_b == "Q" and pairs:
            after = True
    return pairs, end, after


def _repetition(text: str) -> tuple[int, int, str] | None:
    """A token (10+ times) or a short phrase (6+ times) repeated in a row: padding."""
    m = _REPEATED_WORD.search(text) or _REPEATED_PHRASE.search(text)
    if m is None:
        return None
    return m.start(), m.end(), m.group(1)


class _LinearScorer:
    """A fitted TF-IDF + logistic regression, evaluated without sklearn's per-call overhead.

    ``predict_proba`` of a sklearn pipeline costs about a millisecond per text (input
    validation, a joblib call for the feature union); the arithmetic is a few dictionary
    look-ups. This computes the same thing from the fitted vectorizers and coefficients:
    sublinear TF times IDF, L2-normalised per vectorizer, dotted with the weights.
    """

    def __init__(
        self,
        parts: Sequence[tuple[Callable[[str], list[str]], dict[str, tuple[float, float]]]],
        intercept: float,
    ) -> None:
        self._parts = list(parts)
        self._intercept = intercept

    @staticmethod
    def weights(vectorizers: Sequence[Any], coef: Any) -> list[dict[str, tuple[float, float]]]:
        """Per fitted vectorizer: each term's (idf, coefficient)."""
        out = []
        offset = 0
        for vec in vectorizers:
            vocab = vec.vocabulary_
            out.append(
                {term: (float(vec.idf_[i]), float(coef[offset + i])) for term, i in vocab.items()}
            )
            offset += len(vocab)
        return out

    @classmethod
    def fitted(cls, vectorizers: Sequence[Any], coef: Any, intercept: float) -> _LinearScorer:
        weights = cls.weights(vectorizers, coef)
        return cls(
            [(vec.build_analyzer(), w) for vec, w in zip(vectorizers, weights, strict=True)],
            intercept,
        )

    def probability(self, text: str) -> float:
        import math

        z = self._intercept
        for analyze, weights in self._parts:
            counts: dict[str, int] = {}
            for term in analyze(text):
                if term in weights:
                    counts[term] = counts.get(term, 0) + 1
            if not counts:
                continue
            values = {t: (1.0 + math.log(c)) * weights[t][0] for t, c in counts.items()}
            norm = math.sqrt(sum(v * v for v in values.values()))
            z += sum(v * weights[t][1] for t, v in values.items()) / norm
        return 1.0 / (1.0 + math.exp(-z))


@cache
def _classifier() -> _LinearScorer:
    """TF-IDF + logistic regression over the bundled corpus, trained once per process or
    loaded from the state dir's cache (:func:`govcx.governance.expr.private_cache_dir`)
    where an earlier process kept it for the same corpus, code and library versions. The
    cache holds each vectorizer's analyzer settings and term weights, no scikit-learn
    object: loading it does not import scikit-learn (see :mod:`govcx.guardrails.ngrams`)."""
    import pickle

    from govcx.governance.expr import private_cache_dir, trusted_file, write_private

    cache_dir = private_cache_dir()
    path = cache_dir / f"injection-{_classifier_key()}.pickle" if cache_dir else None
    if path is not None and trusted_file(path):
        try:
            with open(path, "rb") as f:
                settings, weights, intercept = pickle.load(f)  # trusted_file(path), above
            return _LinearScorer(
                [(analyzer(s), w) for s, w in zip(settings, weights, strict=True)], float(intercept)
            )
        except Exception:  # unreadable or of another shape: train again, replace it
            pass
    fitted, coef, intercept = _fit_classifier()
    scorer = _LinearScorer.fitted(fitted, coef, intercept)
    settings = [analyzer_settings(vec) for vec in fitted]
    if path is not None and all(s is not None for s in settings):
        state = (settings, _LinearScorer.weights(fitted, coef), intercept)

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)

        write_private(path, write, keep=("injection-*.pickle", 2))
    return scorer


def _classifier_key() -> str:
    """What the fit depends on: this code, the corpus and the library versions."""
    import hashlib
    import sys
    from importlib.metadata import PackageNotFoundError, version

    from govcx.guardrails import _injection_corpus

    digest = hashlib.sha256()
    for source in (__file__, _injection_corpus.__file__):
        digest.update(Path(source).read_bytes())
    for name in ("scikit-learn", "numpy", "scipy"):
        try:
            digest.update(f"{name}={version(name)};".encode())
        except PackageNotFoundError:
            digest.update(f"{name}=;".encode())
    digest.update(repr(sys.version_info[:3]).encode())
    return digest.hexdigest()[:32]


def _fit_classifier() -> tuple[list[Any], Any, float]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, make_pipeline

    from govcx.guardrails._injection_corpus import ATTACKS, BENIGN

    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=2)
    model = make_pipeline(
        FeatureUnion([("words", words), ("chars", chars)]),
        LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000),
    )
    texts = [*ATTACKS, *BENIGN]
    labels = [1] * len(ATTACKS) + [0] * len(BENIGN)
    model.fit(texts, labels)
    lr = model.steps[-1][1]
    union = model.steps[0][1]
    fitted = [est for _, est in union.transformer_list]
    return fitted, lr.coef_[0], float(lr.intercept_[0])


class InjectionDetector:
    """Finds prompt injection and jailbreak attempts.

    Args:
        threshold: Evidence score at which text is reported (0..1).
        use_classifier: Add the trained classifier's vote on customer input.
    """

    def __init__(self, *, threshold: float = FLAG_THRESHOLD, use_classifier: bool = True) -> None:
        self.threshold = threshold
        self._model = _classifier() if use_classifier else None

    def evidence(self, text: str, source: Source = "input") -> list[Evidence]:
        """Every piece of evidence in ``text`` for the given channel, strongest first."""
        norm = normalize(text)
        ev = self._rules(norm, source)
        for start, end, encoding, decoded in _decode_payloads(norm):
            inner = self._rules(decoded, source)
            if inner:
                best = max(inner, key=lambda e: e.weight)
                ev.append(
                    Evidence(f"encoded-{encoding}:{best.rule}", 0.95, start, end, decoded[:80])
                )
            elif decoded.count(" ") >= 3:
                # Natural-language text hidden in an encoding: nobody needs that to ask
                # a support question.
                ev.append(Evidence(f"encoded-{encoding}", 0.7, start, end, decoded[:80]))
        if source == "input":
            # A document pasted into a message (a web page, code, an email, a quoted
            # passage) is indirect content: scan it as such.
            for doc_start, doc in _embedded_documents(norm):
                for e in self._rules(doc, "knowledge"):
                    ev.append(
                        Evidence(
                            f"embedded:{e.rule}",
                            e.weight,
                            doc_start + e.start,
                            doc_start + e.end,
                            e.quote,
                        )
                    )
        rep = _repetition(norm)
        if rep is not None:
            ev.append(Evidence("repeated-token", 0.75, rep[0], rep[1], rep[2][:40]))
        # A scripted exchange ("Q: ... A: ... Q: ...") in a message primes the model's next
        # answer; customers do not write to support that way. (FAQ articles do, so only
        # customer input is checked.)
        pairs, end_of_last, next_q = _qa_pairs(norm) if source == "input" else (0, 0, False)
        if source == "input":
            # The shape of a jailbreak prompt (see :mod:`govcx.guardrails._jailbreak`):
            # customers write to support about orders and accounts, not to recast the AI.
            found = _jailbreak.structure(norm)
            weight = _jailbreak.weight(found)
            if weight:
                spans = found.families.values()
                ev.append(
                    Evidence(
                        "jailbreak-structure",
                        weight,
                        min(s for s, _, _ in spans),
                        max(e for _, e, _ in spans),
                        "; ".join(f"{n}: {q[:30]}" for n, (_, _, q) in found.families.items()),
                    )
                )
        if pairs >= 2:
            ev.append(Evidence("many-shot", 0.75, 0, end_of_last, f"{pairs} Q/A pairs"))
        elif pairs == 1 and next_q:
            ev.append(Evidence("few-shot", 0.7, 0, end_of_last, "Q/A pair, then a question"))
        if self._model is not None and source == "input" and norm.strip():
            p = self._model.probability(norm[:2000])
            if p >= 0.5:
                # Below its threshold the classifier only corroborates other evidence.
                ev.append(
                    Evidence(
                        "classifier",
                        round(p, 3) if p >= CLASSIFIER_THRESHOLD else round(p * 0.6, 3),
                        0,
                        len(norm),
                        f"p={p:.2f}",
                    )
                )
        return sorted(ev, key=lambda e: -e.weight)

    @staticmethod
    def _rules(text: str, source: str) -> list[Evidence]:
        out = []
        lowered = text.lower()
        for rule in RULES:
            if source not in rule.channels:
                continue
            if rule.needles and not any(n in lowered for n in rule.needles):
                continue
            m = rule.pattern.search(text)
            if m:
                out.append(
                    Evidence(rule.name, rule.weight, m.start(), m.end(), m.group(0).strip()[:80])
                )
        return out

    def score(self, evidence: Sequence[Evidence]) -> float:
        """Strongest evidence, raised a little by independent corroboration."""
        if not evidence:
            return 0.0
        best: dict[str, float] = {}
        for e in evidence:
            family = e.rule.split(":")[0]
            best[family] = max(best.get(family, 0.0), e.weight)
        weights = sorted(best.values(), reverse=True)
        extra = sum(w for w in weights[1:3]) * 0.25
        return min(1.0, weights[0] + extra)

    def detect(self, text: str, source: Source = "input") -> list[Finding]:
        """One PROMPT_INJECTION finding covering the evidence, or nothing."""
        if not text or not text.strip():
            return []
        ev = self.evidence(text, source)
        score = self.score(ev)
        if score < self.threshold:
            return []
        located = [e for e in ev if e.rule != "classifier"] or ev
        start = min(e.start for e in located)
        end = max(e.end for e in located)
        detail = "; ".join(f"{e.rule} ({e.weight:.2f}): {e.quote!r}" for e in ev[:4])
        return [
            Finding(
                type=INJECTION,
                start=start,
                end=min(end, len(text)),
                score=round(score, 3),
                source=source,
                detail=detail,
            )
        ]
