"""Money in customer text and in proposed arguments: normalised, parsed, range-checked.

A customer's message is normalised before anything is extracted from it (Unicode NFKC,
and format characters such as zero-width spaces removed), so "$4\u200b5" reads as $45,
never as $4 or $1. Every amount mentioned is parsed whole: "$1e308", "$-5", "$0",
"$12.345", "£49" under a USD policy are *problems*, not numbers, and a write never runs
on them (the gate asks the customer again, rule ``slot.invalid``).

Example:
    >>> [m.amount for m in mentions("refund $4\u200b5 please")]
    [45.0]
    >>> problems("please refund £49", currency="USD")
    ('£49 is in GBP; amounts must be in USD',)
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_AMOUNT = 1_000_000_000.0
"""No money argument above this runs, whatever the tool's own schema allows."""
MAX_DECIMALS = 2

_SYMBOLS: dict[str, str] = {
    "US$": "USD",
    "C$": "CAD",
    "CA$": "CAD",
    "A$": "AUD",
    "AU$": "AUD",
    "NZ$": "NZD",
    "HK$": "HKD",
    "$": "USD",
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "₹": "INR",
    "₩": "KRW",
    "₽": "RUB",
    "₺": "TRY",
    "₪": "ILS",
    "₦": "NGN",
    "₱": "PHP",
    "₫": "VND",
    "฿": "THB",
    "R$": "BRL",
    "Fr.": "CHF",
}
_WORDS: dict[str, str] = {
    "usd": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "buck": "USD",
    "bucks": "USD",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "gbp": "GBP",
    "pound": "GBP",
    "pounds": "GBP",
    "quid": "GBP",
    "sterling": "GBP",
    "cad": "CAD",
    "aud": "AUD",
    "nzd": "NZD",
    "jpy": "JPY",
    "yen": "JPY",
    "chf": "CHF",
    "francs": "CHF",
    "inr": "INR",
    "rupees": "INR",
    "cny": "CNY",
    "rmb": "CNY",
    "yuan": "CNY",
    "mxn": "MXN",
    "pesos": "MXN",
    "sek": "SEK",
    "nok": "NOK",
    "dkk": "DKK",
    "krona": "SEK",
    "kronor": "SEK",
    "brl": "BRL",
    "reais": "BRL",
    "zar": "ZAR",
    "hkd": "HKD",
    "sgd": "SGD",
    "krw": "KRW",
    "pln": "PLN",
    "zloty": "PLN",
    "lira": "TRY",
}
_CODES = "|".join(
    sorted((w for w in _WORDS if len(w) == 3 and w.upper() == _WORDS[w]), key=len, reverse=True)
)
_SYMBOL = "|".join(re.escape(s) for s in sorted(_SYMBOLS, key=len, reverse=True))
_WORD = "|".join(sorted(_WORDS, key=len, reverse=True))
# A number as a customer might type it, whole: signs, exponents, stray decimals and words
# for non-numbers are captured so that they can be refused rather than half-read.
_NUM = (
    r"(?:[-+−]\s?)?(?:\d+(?:,\d+)*(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?"
    r"|(?:[-+−]\s?)?(?:nan|infinity|inf)\b"
)
_MENTION = re.compile(
    rf"(?P<sign>(?<![\w.])[-−]\s?)?(?P<sym>{_SYMBOL})\s?(?P<num1>{_NUM})"
    rf"|(?<![\w.$€£¥₹])(?P<code>{_CODES})\s?(?P<num2>{_NUM})"
    rf"|(?<![\w.-])(?P<num3>{_NUM})\s?(?:(?P<sym3>{_SYMBOL})(?!\s?\d)|(?P<word3>{_WORD})\b)",
    re.IGNORECASE,
)
_PLAIN = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")


def normalise_text(text: str) -> str:
    """NFKC, with format characters (Unicode category Cf: zero-width spaces and joiners,
    bidi controls, soft hyphens) removed. Idempotent."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


@dataclass(frozen=True, kw_only=True)
class Mention:
    """One money amount in a text: the raw span, its currency, the amount if valid."""

    raw: str
    currency: str | None
    amount: float | None
    problem: str | None = None


def mentions(text: str) -> list[Mention]:
    """Every money amount in ``text`` (after normalisation), in order."""
    out: list[Mention] = []
    for match in _MENTION.finditer(normalise_text(text)):
        raw = match.group(0).strip()
        if match.group("num1") is not None:
            number, unit = match.group("num1"), match.group("sym")
            currency = _SYMBOLS.get(unit) or _SYMBOLS.get(unit.upper())
            if match.group("sign"):
                number = "-" + number
        elif match.group("num2") is not None:
            number, currency = match.group("num2"), _WORDS[match.group("code").lower()]
        else:
            number = match.group("num3")
            sym = match.group("sym3")
            currency = (
                (_SYMBOLS.get(sym) or _SYMBOLS.get(sym.upper()))
                if sym
                else _WORDS[match.group("word3").lower()]
            )
        amount, problem = parse_amount(number)
        out.append(
            Mention(
                raw=raw,
                currency=currency,
                amount=amount,
                problem=f"{raw} {problem}" if problem else None,
            )
        )
    return out


def parse_amount(text: str) -> tuple[float | None, str | None]:
    """A customer's number as an amount, or why it is not one."""
    token = text.strip().replace("−", "-").replace(" ", "")
    negative = token.startswith("-")
    token = token.lstrip("+-")
    if not _PLAIN.match(token):
        return None, "is not a plain amount (write it like 45 or 45.50)"
    try:
        value = Decimal(token.replace(",", ""))
    except InvalidOperation:
        return None, "is not a plain amount (write it like 45 or 45.50)"
    if negative:
        return None, "is negative"
    return _check(value)


def _check(value: Decimal) -> tuple[float | None, str | None]:
    if not value.is_finite():
        return None, "is not a number"
    if value <= 0:
        return None, "is not a positive amount"
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMALS:
        return None, f"has more than {MAX_DECIMALS} decimals"
    if value > Decimal(str(MAX_AMOUNT)):
        return None, f"is above the largest amount handled ({MAX_AMOUNT:,.0f})"
    return float(value), None


def amounts(text: str) -> list[float]:
    """The valid amounts in ``text``, in order (``$80``, ``80 dollars``, ``€12.50``)."""
    return [m.amount for m in mentions(text) if m.amount is not None]


def problems(text: str, *, currency: str | None) -> tuple[str, ...]:
    """Why the amounts in ``text`` cannot be acted on: malformed or out of range, or in a
    currency other than ``currency`` (when the policy sets one)."""
    found: list[str] = []
    for mention in mentions(text):
        if mention.problem:
            found.append(mention.problem)
        elif currency and mention.currency and mention.currency != currency:
            found.append(f"{mention.raw} is in {mention.currency}; amounts must be in {currency}")
    return tuple(found)


def argument_problem(value: Any) -> str | None:
    """Why a proposed amount argument may not run: None when it is a plain positive
    number with at most two decimals, below :data:`MAX_AMOUNT`."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return f"{value!r} is not a number"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} is not a finite number"
    decimal = Decimal(str(value))
    _, problem = _check(decimal)
    return f"{value!r} {problem}" if problem else None
