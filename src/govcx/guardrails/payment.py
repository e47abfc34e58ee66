"""Card numbers, SSNs and card security codes as customers actually type them.

Presidio's recognizers validate strictly: its SSN recognizer rejects the published
sample numbers (``123-45-6789``) and any 9-digit run without separators, its card
pattern does not accept dots between the groups, and it has no recognizer for a card's
security code at all. For redaction a false negative is a leak, so these recognizers
widen the net where a label or a format makes the intent plain:

- a card number whose digit groups are separated by spaces, dashes or dots (Luhn-valid,
  or next to a card label such as "card", "visa", "credit card");
- an SSN written ``123-45-6789`` / ``123 45 6789`` / ``123.45.6789`` (one separator), or
  nine digits in any of those layouts right after a label ("SSN", "social security");
- a labelled security code: "cvv 123", "CVV: 1234", "security code 123", "cvc 123".

Order ids (``A-1002``), amounts (``$45.00``) and dates never match: every pattern needs
a label or at least nine digits in an SSN or card layout.
"""

from __future__ import annotations

import re

from govcx.guardrails._hit import Hit

CARD_CVV = "CARD_CVV"
"""The entity type of a labelled card security code."""

# Digit groups separated by one space, dash or dot; 12-19 digits in all.
_CARD = re.compile(r"(?<![\w+.,-])(?:\d[ .-]?){11,18}\d(?![\w]|[.,-]\d)")
_CARD_LABEL = re.compile(
    r"(?:\b(?:card|cc|credit|debit|visa|mastercard|master\s+card|amex|american\s+express|"
    r"discover|maestro|pan)\b)[^\n\d]{0,25}$",
    re.I,
)

_SSN_FORMATTED = re.compile(r"(?<![\w.-])(\d{3})([- .])(\d{2})\2(\d{4})(?![\w]|[.-]\d)")
_SSN_LABELLED = re.compile(
    r"\b(?:ssn|ss#|ss\s+no|social\s+security(?:\s+(?:number|num|no|#))?|social|ssn#|"
    r"tax\s+id|tin|itin)\b[^\n\d]{0,20}?(\d{3}[- .]?\d{2}[- .]?\d{4})(?![\w]|[.-]\d)",
    re.I,
)

_CVV = re.compile(
    r"\b(?:cvv2?|cvc2?|cvn|cid|csc|cv2|security\s+code|card\s+security\s+code|"
    r"card\s+verification(?:\s+(?:value|code|number))?|(?:3|4|three|four)[- ]digit\s+code)"
    r"(?:\s*(?:number|no\.?|code|is|was|of|#|:|=|-|\(|\))\s*){0,3}\s*(\d{3,4})(?![\w]|[.,-]\d)",
    re.I,
)


def luhn_valid(number: str) -> bool:
    """Luhn checksum over the digits of ``number`` (separators ignored)."""
    digits = [int(c) for c in number if c.isdigit()]
    if len(digits) < 2:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _one_separator(value: str) -> bool:
    return len({c for c in value if not c.isdigit()}) <= 1


class CardRecognizer:
    """Card numbers with space, dash, dot or no separators.

    Luhn-valid numbers of an issuer's first digit anywhere; any 13-19 digit number in a
    card layout right after a card label (a mistyped card number is still one).
    """

    _entity = "CREDIT_CARD"

    def analyze(self, text: str) -> list[Hit]:
        hits: list[Hit] = []
        for m in _CARD.finditer(text):
            value = m.group(0)
            digits = re.sub(r"\D", "", value)
            if len(set(digits)) < 2 or not _one_separator(value):
                continue
            if "." in value and len(digits) < 13:
                continue  # an IP address or a version, not a card
            valid = 12 <= len(digits) <= 19 and digits[0] in "123456" and luhn_valid(digits)
            labelled = 13 <= len(digits) <= 19 and bool(
                _CARD_LABEL.search(text[max(0, m.start() - 40) : m.start()])
            )
            if valid or labelled:
                hits.append(
                    Hit(
                        type=self._entity,
                        start=m.start(),
                        end=m.end(),
                        score=0.9 if valid else 0.6,
                        detail="card:luhn" if valid else "card:label",
                    )
                )
        return hits


class SsnRecognizer:
    """US SSNs: the 3-2-4 layout anywhere, nine digits in any layout after a label."""

    _entity = "US_SSN"

    def analyze(self, text: str) -> list[Hit]:
        hits: list[Hit] = []
        for m in _SSN_LABELLED.finditer(text):
            hits.append(
                Hit(
                    type=self._entity,
                    start=m.start(1),
                    end=m.end(1),
                    score=0.85,
                    detail="ssn:label",
                )
            )
        for m in _SSN_FORMATTED.finditer(text):
            digits = m.group(1) + m.group(3) + m.group(4)
            if len(set(digits)) < 2:
                continue
            hits.append(
                Hit(type=self._entity, start=m.start(), end=m.end(), score=0.6, detail="ssn:format")
            )
        return hits


class CvvRecognizer:
    """A card security code after its label ("cvv 123", "security code: 1234")."""

    _entity = CARD_CVV

    def analyze(self, text: str) -> list[Hit]:
        return [
            Hit(type=self._entity, start=m.start(1), end=m.end(1), score=0.85, detail="cvv:label")
            for m in _CVV.finditer(text)
        ]
