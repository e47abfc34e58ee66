"""Street addresses without an NER model: street patterns, units, city/state/postcode lines.

A street is a house number next to a street name, where the street name carries a street
word (``12 Crown Street``, ``Rua do Arenque 1634``, ``Søndergade 52``), or is a run of
capitalised words between two numbers (``28245 Puruntie 82``). Post-office and military
addresses (``PSC 0413, Box 8144``, ``APO AE 09012``) and unit designators (``Apt. 5``,
``Suite 501``) count too. A found street grows over what follows it on the same line or
on the next short lines: unit, city, state, postcode, country.
"""

from __future__ import annotations

import re
from typing import Any

from govcx.guardrails._hit import Hit

# Street words written as a separate word, before or after the name (many languages).
_STREET_WORDS = (
    "street|st|str|strasse|straße|avenue|ave|av|avda|road|rd|boulevard|blvd|bd|lane|ln|"
    "drive|dr|court|ct|way|place|pl|square|sq|parkway|pkwy|terrace|ter|highway|hwy|"
    "crescent|cres|close|grove|gardens|gdns|mews|row|walk|hill|circle|cir|trail|trl|"
    "alley|plaza|expressway|freeway|turnpike|route|rte|broadway|quay|wharf|embankment|"
    "rua|via|viale|vicolo|corso|piazza|piazzale|largo|rue|chemin|allée|allee|impasse|"
    "quai|cours|calle|carrera|avenida|camino|paseo|ronda|travessa|praça|praca|alameda|"
    "estrada|rodovia|utca|út|tér|körút|ulica|ul|ulice|náměstí|třída|tänav|tee|maantee|"
    "iela|gatve|prospekt|weg|laan|straat|plein|gracht|kade|dijk|gasse|platz|allé|vej|"
    "gade|gata|gatan|vägen|veien|vegur|stræde|οδός|οδος|λεωφόρος|λεωφ|odos|leoforos|"
    "sokak|sokağı|caddesi|cad|mahallesi|jalan|jl|marg|nagar"
)
# Street words glued to the end of a name: Koskikatu, Søndergade, Bahnhofstraße.
_STREET_SUFFIXES = (
    "katu|tie|kuja|polku|raitti|väylä|gade|vej|vænget|gången|gatan|vägen|gata|veien|"
    "vegen|vegur|stræde|straße|strasse|weg|gasse|platz|allee|damm|ufer|straat|laan|"
    "plein|gracht|kade|dijk|singel|utca|ulica|ulice|iela|gatve|tänav|street|road|avenue"
)
_NUM = r"\d{1,6}[A-Za-z]?(?:[-/]\d{1,4}[A-Za-z]?)?"
_CAPW = r"[^\W\d_][\w'’.-]*"  # a word (the caller checks capitalisation where it matters)
_SEP = r"[ \t]+"

_UNIT = (
    r"(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Flat|Floor|Fl\.?|Room|Rm\.?|Bldg\.?|Building|"
    r"Block|Box|#)\s*\#?\s*[A-Za-z]?\d{1,6}[A-Za-z]?\.?"
)

_PATTERNS: list[tuple[str, re.Pattern[str], float]] = [
    # 12 Crown Street / 1668 Glyn St / 3911 Fourth Avenue / 159 Eleftheriou Venizelou str
    (
        "number+name+street-word",
        re.compile(
            rf"\b(?:{_NUM}{_SEP}){{1,2}}(?:{_CAPW}{_SEP}){{0,3}}(?:{_STREET_WORDS})\b\.?(?:{_SEP}{_NUM}\b)?",
            re.I,
        ),
        0.75,
    ),
    # PSC 0413, Box 8144 / Unit 4719 Box 7394 / APO AA 42323 / P.O. Box 12
    (
        "postal-box",
        re.compile(
            r"\b(?:(?:PSC|CMR|Unit)\s+\d{3,5},?\s+Box\s+\d{2,5}|(?:APO|FPO|DPO)\s+A[AEP]\s+\d{5}|"
            r"P\.?\s?O\.?\s+Box\s+\d{1,6}|Post\s?box\s+\d{1,6}|Postfach\s+\d{1,6})\b",
            re.I,
        ),
        0.8,
    ),
]
# Street word first, then the name and the number: Rua do Arenque 1634, Via Franscini 71.
# (Found word by word with a set lookup: one regex alternation of a hundred street words
# tried at every position costs more than the rest of the PII scan.)
_STREET_WORD_SET = frozenset(_STREET_WORDS.split("|"))
_SUFFIX_TUPLE = tuple(_STREET_SUFFIXES.split("|"))
_ANY_WORD = re.compile(r"[^\W\d_]+")
_NAME_THEN_NUMBER = re.compile(rf"\.?{_SEP}(?:{_CAPW}{_SEP}){{0,3}}{_NUM}\b")
_THEN_NUMBER = re.compile(rf"\.?{_SEP}{_NUM}\b")
_WORDS_BEFORE = re.compile(rf"(?:{_CAPW}{_SEP}){{1,2}}$")
# 28245 Puruntie 82 / 10252 Μεγάλη Άμμος 184: capitalised words between two numbers.
_NUM_NAME_NUM = re.compile(rf"\b{_NUM}{_SEP}((?:{_CAPW}{_SEP}){{1,3}}){_NUM}\b\.?")
_UNIT_RE = re.compile(rf"(?<![\w]){_UNIT}", re.I)
_ADDRESS_CUE = re.compile(
    r"\b(?:address(?:es)?(?:\s+is)?|lives?\s+at|living\s+at|located\s+at|is\s+at|"
    r"ship(?:ped)?\s+(?:it\s+)?to|send\s+(?:it|them|this|a\s+new\s+one|the\s+\w+)\s+to|"
    r"deliver(?:ed)?\s+(?:it\s+)?to|moved\s+to|return\s+(?:it\s+)?to)\b"
    r"[ \t]*(?:is|was|are)?[ \t]*:?[ \t\n]*",
    re.I,
)
_CUE_TAIL = re.compile(
    r"[^?!;\n]{3,80}?(?=[ \t]*(?:[?!;]|\.\s|\.$|\bfor\b|\bafter\b|\bin\s+case\b|"
    r"\bthe\s+first\b|$|\n))",
    re.M,
)
# A following line that belongs to the address: city, state, postcode, country.
_TAIL_LINE = re.compile(
    r"[ \t]*,?[ \t]*(?:[^\W\d_][\w'’.()-]*(?:[ \t]+[^\W\d_][\w'’.()-]*){0,3})?"
    r"(?:[ \t]*,?[ \t]*(?:[A-Z]{2}|[^\W\d_]+))?(?:[ \t]*,?[ \t]*[A-Z]{0,2}[ -]?\d{3,6}"
    r"(?:[ -]\d{2,4}|[ ][A-Z]{2})?)?[ \t]*",
    re.U,
)
_UPPERW = r"[^\W\d_a-zà-ÿ][\w'’-]*"  # a word that starts with a capital
_SAME_LINE_TAIL = re.compile(
    rf",?{_SEP}?(?:{_UNIT})|,?[ \t]*(?:{_UPPERW}[ \t]*){{1,3}}(?:,?[ \t]*[A-Z]{{2}})?"
    r"(?:,?[ \t]*[A-Z]{0,2}-?\d{3,6}(?:-\d{4})?)?(?=[\s,.?!;]|$)",
)
_CORNER = re.compile(r"\bthe\s+corner\s+of\s+[^?!;\n]{3,60}?(?=[?!;\n]|,\s|$)", re.I)
_PARTICLES = {
    "do",
    "da",
    "de",
    "del",
    "della",
    "di",
    "dos",
    "das",
    "la",
    "le",
    "van",
    "von",
    "der",
    "den",
    "des",
    "du",
}
_NOT_STREET_WORDS = {
    "of",
    "the",
    "and",
    "for",
    "to",
    "in",
    "on",
    "at",
    "by",
    "with",
    "from",
    "a",
    "an",
    "or",
    "you",
    "your",
    "my",
    "our",
    "their",
    "this",
    "that",
}


def _titled(words: str) -> bool:
    parts = words.split()
    return bool(parts) and all(p[:1].isupper() for p in parts)


class StreetAddressRecognizer:
    """Finds street addresses; see the module docstring for how."""

    entity = "STREET_ADDRESS"

    def analyze(self, text: str) -> list[Hit]:
        spans: list[tuple[int, int, float, str]] = []
        if not any(ch.isdigit() for ch in text):
            return []  # every pattern here needs a house, unit or box number
        for name, regex, score in _PATTERNS:
            for m in regex.finditer(text):
                if name == "number+name+street-word" and not self._plausible_words(m.group(0)):
                    continue
                spans.append((m.start(), m.end(), score, name))
        for m in _ANY_WORD.finditer(text):
            word = m.group(0).lower()
            if word in _STREET_WORD_SET:
                rest = _NAME_THEN_NUMBER.match(text, m.end())
                if rest and self._street_name(m.group(0), rest.group(0)):
                    spans.append((m.start(), rest.end(), 0.7, "street-word+name+number"))
            elif len(word) > 4 and word.endswith(_SUFFIX_TUPLE):
                # Koskikatu 25 / Søndergade 52 / Brucker Bundesstrasse 31
                rest = _THEN_NUMBER.match(text, m.end())
                if rest:
                    before = _WORDS_BEFORE.search(text, max(0, m.start() - 60), m.start())
                    start = before.start() if before and _titled(before.group(0)) else m.start()
                    spans.append((start, rest.end(), 0.7, "compound-street+number"))
        for m in _CORNER.finditer(text):
            spans.append((m.start(), m.end(), 0.6, "corner"))
        for m in _NUM_NAME_NUM.finditer(text):
            words = m.group(1).split()
            if (
                _titled(m.group(1))
                and not re.search(r"\d[.,]\d", m.group(0))
                and not any(w.lower() in _NOT_STREET_WORDS for w in words)
            ):
                spans.append((m.start(), m.end(), 0.65, "number+name+number"))
        for m in _UNIT_RE.finditer(text):
            # A bare "Box 12" or "#3" is too weak alone; a unit next to an address is kept.
            if m.group(0)[:1] in "#Bb":
                continue
            spans.append((m.start(), m.end(), 0.5, "unit"))
        spans.extend(self._after_cue(text))
        merged = self._merge(spans)
        return [
            Hit(
                type=self.entity,
                start=a,
                end=self._extend(text, b),
                score=s,
                detail=f"address:{why}",
            )
            for a, b, s, why in merged
        ]

    @staticmethod
    def _street_name(street_word: str, rest: str) -> bool:
        """``Rua do Arenque 1634`` yes; ``square root of 80``, ``way to transfer my 401k`` no."""
        if not street_word[:1].isupper() and not rest.startswith("."):
            return False  # "Rua ...", or an abbreviation: "ul. Miła 53"
        words = rest.strip(" .\t").split()[:-1]
        return all(
            (w[:1].isupper() or w.lower() in _PARTICLES) and w.lower() not in _NOT_STREET_WORDS
            for w in words
        )

    @staticmethod
    def _plausible_words(match: str) -> bool:
        # "3 days st..." is not a street: the words between the number and the street
        # word are capitalised (or numbers), "12 Crown Street", "233 Erzsébet tér 19".
        words = match.split()
        if words and words[-1][:1].isdigit():
            words = words[:-1]  # the house number after the street word
        return all(w[:1].isupper() or w[:1].isdigit() for w in words[1:-1])

    @staticmethod
    def _after_cue(text: str) -> list[tuple[int, int, float, str]]:
        out = []
        for cue in _ADDRESS_CUE.finditer(text):
            pos = cue.end()
            # Up to the end of the sentence (or of the address block).
            rest = _CUE_TAIL.match(text, pos)
            if not rest:
                continue
            chunk = rest.group(0)
            if not re.search(r"\d", chunk) or re.search(r"@|\b\d{1,2}:\d{2}\b", chunk):
                continue
            if chunk[:1].isdigit() or chunk[:1].isupper() or chunk.lower().startswith("the corner"):
                out.append((pos, pos + len(chunk.rstrip(" ,")), 0.6, "cue"))
        return out

    @staticmethod
    def _merge(spans: list[tuple[int, int, float, str]]) -> list[tuple[int, int, float, str]]:
        merged: list[list[Any]] = []
        for a, b, s, why in sorted(spans):
            if merged and a <= merged[-1][1] + 2:
                last = merged[-1]
                last[1] = max(last[1], b)
                last[2] = max(last[2], s)
            else:
                merged.append([a, b, s, why])
        return [(a, b, s, why) for a, b, s, why in merged]

    @staticmethod
    def _extend(text: str, end: int) -> int:
        """Grow an address over its unit, city, state, postcode and country."""
        for _ in range(3):
            m = _SAME_LINE_TAIL.match(text, end)
            if not m or m.end() == end:
                break
            end = m.end()
        lines = 0
        while lines < 4 and end < len(text) and text[end] == "\n":
            skip = 1 if text[end + 1 : end + 2] == "\n" else 0  # one blank line inside
            nl_end = text.find("\n", end + 1 + skip)
            line = text[end + 1 + skip : nl_end if nl_end != -1 else len(text)]
            quote = re.match(r"[ \t]*(?:>|\?\?\?)?", line)
            lead = quote.end() if quote else 0
            stripped = line[lead:].strip()
            if not stripped or len(stripped) > 40 or re.search(r"[@:]|\d{3}[ -]\d{3}", line):
                break
            if not (_TAIL_LINE.fullmatch(line[lead:]) or _UNIT_RE.fullmatch(stripped)):
                break
            if stripped[:1].islower():
                break
            end = end + 1 + skip + len(line.rstrip())
            lines += 1
        return end
