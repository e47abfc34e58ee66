"""Phone numbers as people write them, in national and international layouts.

Presidio's phone recognizer (``phonenumbers`` with a fixed list of regions) misses
numbers written the way many countries do without a country code ("0490 75 40 81",
"(37) 788-063", "467 3395"). This recognizer finds every digit group layout that looks
like a phone, validates it with ``phonenumbers`` where it can, and leaves the digits to a
more specific entity (a card, an SSN, an address's house number) when they overlap.
"""

from __future__ import annotations

import re

from govcx.guardrails._hit import Hit

# Phone numbers as people write them: optional +country code, optional (area) code,
# two to five groups of digits separated by space, dot or dash, optional extension.
_PHONE = (
    r"(?<![\w+/.:-])"
    r"(?:(?:\+|00)\d{1,3}[ .-]?)?"
    r"(?:\(0?\d{1,4}\)[ ]?(?:0[ ])?)?"
    r"(?:\d{2,5}(?:[ .-]\d{2,8}){1,4}|\d{7,15})"
    r"(?:[ ]?(?:x|ext\.?)[ ]?\d{1,5})?"
    r"(?![\w/:]|[-.]\d)"
)
# Numbers that are identifiers, not phones, when these words stand just before them.
_NOT_PHONE_CONTEXT = re.compile(
    r"(?:licen[cs]e|passport|account|acct|order|invoice|ticket|tracking|reference|ref|"
    r"iban|routing|sort\s+code|ssn|social\s+security|card|id|zip|postcode|postal)"
    r"[\w\s#:.'’]{0,20}$",
    re.I,
)
_PHONE_CONTEXT = re.compile(
    r"(?:phone|tel|mobile|cell|fax|call|text|whatsapp|sms|desk|office)", re.I
)
_PHONE_REGIONS = ("US", "GB", "DE", "FR", "IT", "ES", "NL", "SE", "AU", "IN", "BR", "CA")
_DATE_LIKE = re.compile(r"^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})$")


def _phone_ok(value: str) -> bool:
    digits = re.sub(r"\D", "", value.split("x")[0].split("ext")[0])
    if not 7 <= len(digits) <= 15 or len(set(digits)) < 3:
        return False
    if _DATE_LIKE.match(value.strip()):
        return False
    groups = re.split(r"[\s.()-]+", value.strip("+() "))
    groups = [g for g in groups if g]
    if len(groups) == 1:
        # A bare run of digits is a phone only in its usual lengths (10-11, or +E.164).
        return value.startswith("+") or len(digits) in (10, 11)
    # Amounts and versions ("1.234.567", "3.14") are not phones: dots need 2+ groups of 2+.
    return not ("." in value and all(len(g) == 3 for g in groups[1:]) and len(groups[0]) <= 3)


class PhoneRecognizer:
    """Phone numbers in any common national or international layout.

    ``phonenumbers`` validates a candidate (by its +country code, or against a few
    regions); a valid number outranks other entities, an unvalidated one only stands
    where nothing more specific (an address's house number, a card) claims the digits.
    """

    _entity = "PHONE_NUMBER"
    UNVALIDATED = "phone:pattern"
    """The ``detail`` of a number only the pattern vouches for (ranks below addresses)."""

    def __init__(self) -> None:
        import phonenumbers

        self._pn = phonenumbers
        self._regex = re.compile(_PHONE)

    def _valid(self, value: str) -> bool:
        pn = self._pn
        regions = (None,) if value.startswith("+") else _PHONE_REGIONS
        for region in regions:
            try:
                if pn.is_valid_number(pn.parse(value, region)):
                    return True
            except pn.NumberParseException:
                continue
        return False

    def analyze(self, text: str) -> list[Hit]:
        hits = []
        for m in self._regex.finditer(text):
            value = m.group(0)
            if not _phone_ok(value):
                continue
            before = text[max(0, m.start() - 30) : m.start()]
            if _NOT_PHONE_CONTEXT.search(before) and not _PHONE_CONTEXT.search(before):
                continue
            # "12 34 Crown Street": digits before a capitalised word are a house number.
            house_number = bool(re.match(r"[ \t]+[^\W\d_]", text[m.end() : m.end() + 3])) and (
                text[m.end() : m.end() + 3].strip()[:1].isupper()
            )
            context = not house_number and bool(_PHONE_CONTEXT.search(before))
            valid = not house_number and self._valid(value)
            hits.append(
                Hit(
                    type=self._entity,
                    start=m.start(),
                    end=m.end(),
                    score=0.75 if valid or context else 0.5,
                    detail="phone:validated"
                    if valid
                    else ("phone:context" if context else self.UNVALIDATED),
                )
            )
        return hits
