"""PII detection and redaction, offline.

Pattern entities (email, card, IBAN, SSN, IP, phone) come from Presidio's recognizers,
run directly without an NLP engine (Presidio's ``AnalyzerEngine`` wants a spaCy model,
which cannot be downloaded here). A few of them are widened where Presidio's patterns
miss real formats: card numbers of every issuer prefix (still Luhn-checked) and phone
numbers written in national formats that ``phonenumbers`` does not validate without a
region. :mod:`govcx.guardrails.payment` adds what Presidio misses and redaction cannot
miss: dot-separated and labelled card numbers, SSNs in every layout (also the sample
numbers Presidio rejects) and labelled card security codes (``CARD_CVV``). Person names
and street addresses, which Presidio finds with a spaCy NER model,
come from :mod:`govcx.guardrails.names` and :mod:`govcx.guardrails.address`.

Example:
    >>> detector = PiiDetector()
    >>> detector.redact("Mail me at jo@example.com")
    'Mail me at <EMAIL_ADDRESS>'
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from govcx.governance.finding import Finding
from govcx.guardrails._hit import Hit as _Hit
from govcx.guardrails._offline import offline_tld_extractor
from govcx.guardrails.address import StreetAddressRecognizer
from govcx.guardrails.names import PersonRecognizer
from govcx.guardrails.payment import CARD_CVV, CardRecognizer, CvvRecognizer, SsnRecognizer
from govcx.guardrails.payment import luhn_valid as luhn_valid
from govcx.guardrails.phone import PhoneRecognizer

PATTERN_ENTITIES = (
    "EMAIL_ADDRESS",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    CARD_CVV,
    "IP_ADDRESS",
    "PHONE_NUMBER",
)
DEFAULT_ENTITIES = (*PATTERN_ENTITIES, "STREET_ADDRESS", "PERSON")

# When two detections overlap, the more specific (validated) entity wins.
_PRIORITY = {
    "EMAIL_ADDRESS": 0,
    "IBAN_CODE": 1,
    "CREDIT_CARD": 2,
    "US_SSN": 3,
    CARD_CVV: 3,
    "IP_ADDRESS": 4,
    "PHONE_NUMBER": 5,
    "STREET_ADDRESS": 6,
    "PERSON": 7,
}


class _PresidioPatterns:
    """Runs one Presidio pattern recognizer and boosts its score on context words.

    Presidio's context enhancement needs an NLP engine's lemmas; a plain window search
    over the preceding words does the same job for these short context lists.
    """

    def __init__(
        self,
        recognizer: Any,
        entity: str,
        *,
        min_score: float,
        context: Sequence[str] = (),
        boost: float = 0.35,
        window: int = 40,
    ) -> None:
        self._recognizer = recognizer
        self._entity = entity
        self._min_score = min_score
        self._boost = boost
        self._window = window
        words = [re.escape(w.strip()) for w in (*recognizer.context, *context) if w.strip()]
        self._context = re.compile(r"\b(?:" + "|".join(words) + r")", re.I) if words else None

    def analyze(self, text: str) -> list[_Hit]:
        hits = []
        for result in self._recognizer.analyze(text, [self._entity]):
            score = float(result.score)
            if self._context is not None and score < 1.0:
                before = text[max(0, result.start - self._window) : result.start]
                if self._context.search(before):
                    score = min(1.0, score + self._boost)
            if score >= self._min_score:
                name = getattr(self._recognizer, "name", type(self._recognizer).__name__)
                hits.append(
                    _Hit(
                        type=self._entity,
                        start=result.start,
                        end=result.end,
                        score=round(score, 3),
                        detail=f"presidio:{name}",
                    )
                )
        return hits


def _card_ok(value: str) -> bool:
    """12-19 digits, an issuer's first digit, not a filler like 0000..., Luhn-valid."""
    digits = re.sub(r"\D", "", value)
    if not 12 <= len(digits) <= 19 or len(set(digits)) < 2:
        return False
    return digits[0] in "123456" and luhn_valid(digits)


class _CaseInsensitive:
    """Runs a recognizer on an ASCII-upper-cased copy (same offsets): ``gb42nawi...``."""

    _UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._entity = inner._entity

    def analyze(self, text: str) -> list[_Hit]:
        hits: list[_Hit] = self._inner.analyze(text.translate(self._UPPER))
        return hits


class _OfflineEmail:
    """Presidio's email recognizer, validated against tldextract's bundled snapshot."""

    def __init__(self) -> None:
        from presidio_analyzer.predefined_recognizers import EmailRecognizer

        extractor = offline_tld_extractor()

        class OfflineEmailRecognizer(EmailRecognizer):
            def validate_result(self, pattern_text: str) -> bool:
                return bool(extractor(pattern_text).fqdn)

        self.recognizer = OfflineEmailRecognizer()


def _build_recognizers() -> list[Any]:
    from presidio_analyzer.pattern import Pattern
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        IbanRecognizer,
        IpRecognizer,
        UsSsnRecognizer,
    )

    class AnyIssuerCardRecognizer(CreditCardRecognizer):
        # Presidio's pattern skips the 2-series Mastercard and JCB 2131/1800 prefixes.
        PATTERNS = [  # noqa: RUF012 - Presidio reads it as a class attribute
            Pattern("Card (any issuer)", r"(?<![+\w])(?:\d[ -]?){11,18}\d\b", 0.6),
        ]

        def validate_result(self, pattern_text: str) -> bool:
            return _card_ok(pattern_text)

    return [
        _PresidioPatterns(_OfflineEmail().recognizer, "EMAIL_ADDRESS", min_score=0.4),
        _CaseInsensitive(_PresidioPatterns(IbanRecognizer(), "IBAN_CODE", min_score=0.3)),
        _PresidioPatterns(
            AnyIssuerCardRecognizer(), "CREDIT_CARD", min_score=0.5, context=("card",)
        ),
        CardRecognizer(),
        _PresidioPatterns(UsSsnRecognizer(), "US_SSN", min_score=0.4),
        SsnRecognizer(),
        CvvRecognizer(),
        _PresidioPatterns(IpRecognizer(), "IP_ADDRESS", min_score=0.5),
        PhoneRecognizer(),
    ]


_CACHE_SIZE = 256


def _rank(hit: _Hit) -> float:
    if hit.detail == PhoneRecognizer.UNVALIDATED:
        return _PRIORITY["STREET_ADDRESS"] + 0.5  # digits of an address are not a phone
    return _PRIORITY.get(hit.type, 99)


def _resolve(hits: Iterable[_Hit]) -> list[_Hit]:
    """Keep the best non-overlapping detections, preferring specific entities."""
    ranked = sorted(hits, key=lambda h: (_rank(h), -h.score, h.start - h.end))
    kept: list[_Hit] = []
    for hit in ranked:
        if any(hit.start < k.end and k.start < hit.end for k in kept):
            continue
        kept.append(hit)
    return sorted(kept, key=lambda h: h.start)


class PiiDetector:
    """Finds PII in text. Build once (recognizers compile their patterns), call often.

    Thread-safe: one detector can serve every conversation of a process.

    Args:
        entities: The entity types to report; the default is every supported type.
    """

    def __init__(self, entities: Sequence[str] = DEFAULT_ENTITIES) -> None:
        unknown = set(entities) - set(DEFAULT_ENTITIES)
        if unknown:
            raise ValueError(
                f"unknown PII entities {sorted(unknown)}; supported: {list(DEFAULT_ENTITIES)}"
            )
        self.entities = tuple(entities)
        # Presidio logs every recognizer it loads at INFO: noise in a server's start-up.
        logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)
        self._recognizers: list[Any] = [
            r for r in _build_recognizers() if getattr(r, "_entity", None) in self.entities
        ]
        if "STREET_ADDRESS" in self.entities:
            self._recognizers.append(StreetAddressRecognizer())
        if "PERSON" in self.entities:
            self._recognizers.append(PersonRecognizer())
        self._cache: dict[str, tuple[_Hit, ...]] = {}
        self._lock = threading.Lock()
        # tldextract builds its suffix trie and phonenumbers loads region metadata on
        # first use; pay that here, not in a customer's turn.
        self._hits("Mail jo@example.com or call +44 20 7946 0958 / (212) 555-0187 / 0490 75 40 81")
        self._cache.clear()

    def detect(self, text: str, *, source: str = "input") -> list[Finding]:
        """All PII findings in ``text``, non-overlapping, in text order."""
        if not text:
            return []
        return [
            Finding(
                type=h.type,
                start=h.start,
                end=h.end,
                score=h.score,
                source=source,  # type: ignore[arg-type]
                detail=h.detail,
            )
            for h in self._hits(text)
        ]

    def _hits(self, text: str) -> tuple[_Hit, ...]:
        # A turn scans the same text more than once (scan_input, then redact for the
        # audit log, then the vault); the detections of recent texts are kept.
        with self._lock:
            cached = self._cache.get(text)
        if cached is not None:
            return cached
        hits: list[_Hit] = []
        for recognizer in self._recognizers:
            hits.extend(recognizer.analyze(text))
        resolved = tuple(_resolve(hits))
        with self._lock:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[text] = resolved
        return resolved

    def redact(self, text: str, findings: Sequence[Finding] | None = None) -> str:
        """``text`` with each PII span replaced by ``<ENTITY_TYPE>``."""
        if findings is None:
            findings = self.detect(text)
        return replace_spans(text, [(f.start, f.end, f"<{f.type}>") for f in findings if f.is_pii])


def replace_spans(text: str, spans: Iterable[tuple[int, int, str]]) -> str:
    """Replace non-overlapping ``(start, end, replacement)`` spans in ``text``."""
    out: list[str] = []
    pos = 0
    for start, end, replacement in sorted(spans):
        if start < pos:
            continue
        out.append(text[pos:start])
        out.append(replacement)
        pos = end
    out.append(text[pos:])
    return "".join(out)


IDENTIFIER_KEYS = frozenset(
    {
        "id",
        "turn_id",
        "conversation_id",
        "approval_id",
        "customer_id",
        "event_id",
        "escalation_id",
        "delivery_id",
        "key_id",
        "idempotency_key",
        "policy_version",
        "policy_digest",
        "tool",
        "status",
        "route",
        "intent",
        "type",
        "kind",
        "doc_id",
        "chunk_id",
        "version",
        "rules",
        "action",
        "source",
        "decision",
        "principal",
        "actor",
    }
)
"""Keys whose string values are identifiers or enumerations, never customer text."""


def redact_values(
    value: Any, redact: Callable[[str], str], keep: frozenset[str] = IDENTIFIER_KEYS
) -> Any:
    """``value`` (JSON-like) with ``redact`` applied to every string, except the values of
    keys in ``keep``: for bodies stored or sent (turns, webhook events)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {
            k: v
            if k in keep and not isinstance(v, Mapping | list)
            else redact_values(v, redact, keep)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_values(v, redact, keep) for v in value]
    return value
