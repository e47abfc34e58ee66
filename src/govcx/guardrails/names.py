"""Person names without an NER model: gazetteers, word statistics and context cues.

Every word is classified once:

- *known*: in the union of the first- and last-name lists that Faker (a dependency of
  guardrails-ai, MIT licensed) ships for ~80 locales, about 30,000 of each;
- *ambiguous*: a known name that is also a very frequent English word ("Will", "Grace");
- *ordinary*: a stop word (scikit-learn's list), a word of Faker's English lorem list or
  of the customer-service vocabulary below, a country or US state, or any word that is
  frequent in pyspellchecker's English word-frequency list;
- *foreign*: a word that English text never uses ("Kaczmarek", "Szabina"), so most
  likely a name (or a place, when it stands alone).

A run of capitalised words (initials and particles like "van" allowed) is a name when it
holds no ordinary word and has a known name, a middle initial, or only foreign words
("Bonifacy Kaczmarek"). A single word is a name when known, or foreign in a name's
grammar ("Kónya, Becker and Vasquez", "Shovda is reliable"). A cue ("my name is",
"this is", "Mr.", "Dear", "Name:", a chat speaker label "Nicole:") makes the words after
it a name even when no list knows them. Acronyms (ATM, AUD) and words glued to an email
address or a handle are never names.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from govcx.governance.expr import trusted_file, write_private
from govcx.guardrails._hit import Hit

# Everyday words of customer-service text that also occur in some name list.
_DOMAIN_WORDS = """
account accounts address age agent air amazon america american amount app apple april
arrive arrived august auto balance bank banking bill bills black blue bonus book booking
branch brown business buy call can card cards care cash chance change charge charged
chase check china city claim clear close code cost credit currency customer day dear
debit delivery deposit did direct doctor does dollar dollars done door down dr east easter
email euro euros europe exchange express faith fee fees fine first ford france free friday
fund funds get gift give gold good google grand grant gray great green hall happy help
here hey hi hill hold holiday home hope hotel how india iphone joy july june just key king
lane last law lee less life light like limit line link live loan london long love lucky mail
main major march mark market mart master max may me mister miss monday money morning
most mr mrs ms much my name new news next night no north number ok okay one order
paid paris park pay payment paypal per phone pin plan please plus point post pound pounds
price prime pro rate red refund rich right rose royal sale saturday say school see send
service share shop silver small smart so son south spring star state states still stock
store street sun sunday support sure swift tax tell thank thanks the this thursday time
today top transfer travel true tuesday union united up us usa video visa wait wall want
way wednesday week well west white why will win wire wood work world yes young
date when where website mobile desk fax office zip postcode country bot user assistant
e-mail c'mon
""".split()

_TITLES = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Madam|Mme|Mlle|Herr|Frau|Sr|Sra|Srta)"
_PARTICLES = {
    "van",
    "von",
    "de",
    "der",
    "den",
    "da",
    "das",
    "do",
    "dos",
    "del",
    "della",
    "di",
    "du",
    "la",
    "le",
    "bin",
    "ibn",
    "al",
    "el",
    "ter",
    "ten",
    "af",
    "zu",
}
# Words that end a name run because the run is an organisation or a place.
_NOT_PERSON_TAIL = {
    "inc",
    "ltd",
    "llc",
    "plc",
    "corp",
    "corporation",
    "company",
    "co",
    "group",
    "bank",
    "university",
    "college",
    "school",
    "hospital",
    "street",
    "st",
    "avenue",
    "ave",
    "road",
    "rd",
    "city",
    "county",
    "state",
    "airport",
    "station",
    "park",
    "lake",
    "river",
    "hotel",
    "foundation",
    "institute",
    "association",
    "society",
    "gmbh",
    "ag",
    "sa",
    "bv",
    "oy",
    "ab",
}

_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*\.?")
_CUE = re.compile(
    r"(?:\bmy\s+name\s+is|\bmy\s+name's|\bname\s*(?:is|:)|\bcall\s+me|\bthis\s+is|"
    r"\bcalls?\s+me|\bi\s+am|\bi'm|\bi’m|\bit's|\bit\s+is|\bunder(?:\s+the\s+name)?|\bdear|\bhello|\bhi|"
    r"\bregards,?|\bsincerely,?|\bthanks,?|\bsigned|\bcontact|\bspeak\s+(?:to|with)|"
    r"\bon\s+behalf\s+of|\bnamed|\bcalled|"
    r"\blast\s+name\s*(?:is|:|\?)|\bfirst\s+name\s*(?:is|:|\?)|\bfull\s+name\s*(?:is|:|\?)|"
    rf"\b{_TITLES}\.?)[ \t]*",
    re.I,
)
# Strong cues: what follows is a name even in lower case ("my name is jo smith").
_STRONG_CUE = re.compile(
    r"(?:\bmy\s+name\s+is|\bname\s*:|\bcall\s+me|\b(?:last|first|full)\s+name\s*(?:is|:|\?)"
    rf"|\b{_TITLES}\.?)[ \t]*",
    re.I,
)


# Known names that are also very frequent English words ("Will", "Grace", "White") need
# more evidence than a known name that is rarely an ordinary word ("Kevin", "Hannah").
_AMBIGUOUS_FREQ = 20_000
# An unlisted word this frequent in English text is an ordinary word, not a name.
_ORDINARY_FREQ = 200

KNOWN, AMBIGUOUS, FOREIGN, ORDINARY, INITIAL = "known", "ambiguous", "foreign", "ordinary", "init"


@dataclass(frozen=True)
class Gazetteer:
    """Name lists and an English vocabulary, all lower case."""

    first: frozenset[str]
    last: frozenset[str]
    common: frozenset[str]
    """Stop words and customer-service words: never a name on their own."""
    english: dict[str, int]
    """English word frequencies (pyspellchecker), empty when it is not installed."""

    def classify(self, word: str) -> str:
        w = word.lower()
        if len(w) == 1:
            return INITIAL
        if w in self.common:
            return ORDINARY
        freq = self.english.get(w, 0)
        if w in self.first or w in self.last:
            return AMBIGUOUS if freq >= _AMBIGUOUS_FREQ else KNOWN
        if freq >= _ORDINARY_FREQ or (not self.english and w.isascii()):
            return ORDINARY
        return FOREIGN if freq == 0 else ORDINARY


def _english_frequencies() -> dict[str, int]:
    try:
        from spellchecker import SpellChecker
    except ImportError:  # pragma: no cover - optional: without it unlisted words are ordinary
        return {}
    return dict(SpellChecker(language="en", distance=1).word_frequency.dictionary)


@cache
def gazetteer() -> Gazetteer:
    """The name lists, built once per process (about 0.4 s), or read from the state dir's
    cache (:func:`govcx.governance.expr.private_cache_dir`) where an earlier process wrote
    them for the same library versions and code (about 0.05 s)."""
    from govcx.governance.expr import private_cache_dir

    cache_dir = private_cache_dir()
    if cache_dir is None:
        return _build_gazetteer()
    path = cache_dir / f"names-{_gazetteer_key()}.json"
    cached = _read_gazetteer(path)
    if cached is not None:
        return cached
    built = _build_gazetteer()
    body = json.dumps(
        {
            "first": sorted(built.first),
            "last": sorted(built.last),
            "common": sorted(built.common),
            "english": built.english,
        }
    )
    write_private(path, lambda tmp: tmp.write_text(body, "utf-8"), keep=("names-*.json", 2))
    return built


_GAZETTEER_LIBRARIES = ("faker", "pyspellchecker", "scikit-learn")


def _gazetteer_key() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = [hashlib.sha256(Path(__file__).read_bytes()).hexdigest()]
    for name in _GAZETTEER_LIBRARIES:
        try:
            parts.append(f"{name}={version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name}=")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _read_gazetteer(path: Path) -> Gazetteer | None:
    """The gazetteer kept at ``path`` if it is an owner-only file of this user and well
    formed; None otherwise (it is built again and replaced)."""
    if not trusted_file(path):
        return None
    try:
        data = json.loads(path.read_text("utf-8"))
        lists = {k: frozenset(data[k]) for k in ("first", "last", "common")}
        english = data["english"]
        if not (
            all(isinstance(w, str) for words in lists.values() for w in words)
            and isinstance(english, dict)
            and all(isinstance(n, int) for n in english.values())
        ):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Gazetteer(english=english, **lists)


def _build_gazetteer() -> Gazetteer:
    import faker.providers.person as person_providers
    from faker.providers.lorem.en_US import Provider as Lorem
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    first: set[str] = set()
    last: set[str] = set()
    for info in pkgutil.iter_modules(person_providers.__path__):
        module = importlib.import_module(f"{person_providers.__name__}.{info.name}")
        provider = getattr(module, "Provider", None)
        for attr in dir(provider):
            if attr.startswith("_") or "name" not in attr or "language" in attr:
                continue
            if "first" not in attr and "last" not in attr:
                continue
            values = getattr(provider, attr)
            if isinstance(values, dict):
                values = list(values)
            if not isinstance(values, list | tuple):
                continue
            target = first if "first" in attr else last
            target.update(v.lower() for v in values if isinstance(v, str) and len(v) > 1)
    common = set(ENGLISH_STOP_WORDS) | set(Lorem.word_list) | set(_DOMAIN_WORDS)
    # Countries and US states are places, never a person on their own.
    from faker.providers.address.en_US import Provider as Address

    for place in (*Address.countries, *Address.states):
        common.update(w.lower() for w in place.split() if len(w) > 3)
    return Gazetteer(
        first=frozenset(first),
        last=frozenset(last),
        common=frozenset(common),
        english=_english_frequencies(),
    )


_CAMEL_NAMES = (
    "Mc",
    "Mac",
    "O'",
    "O’",
    "D'",
    "D’",
    "De",
    "Di",
    "Da",
    "Du",
    "La",
    "Le",
    "Van",
    "Von",
)


@dataclass(frozen=True)
class _Tok:
    text: str
    start: int
    end: int

    @property
    def is_cap(self) -> bool:
        """Capitalised like a name: not an acronym (ATM, AUD, ATMs) nor all capitals."""
        t = self.text
        if not t[:1].isupper():
            return False
        if len(t) > 1 and t.isupper():
            return len(t.rstrip(".")) == 1
        if "-" in t and not all(part[:1].isupper() for part in t.split("-")):
            return False  # "Top-up", "Check-in"; names are "Mayo-Walters"
        head = t[:3]
        return not (sum(c.isupper() for c in head) >= 2 and not t.startswith(_CAMEL_NAMES))

    @property
    def is_initial(self) -> bool:
        return len(self.text.rstrip(".")) == 1 and self.text[:1].isupper()


def _tokens(text: str) -> list[_Tok]:
    toks = []
    for m in _WORD.finditer(text):
        word, start = m.group(0), m.start()
        if word.endswith(".") and len(word) > 2:
            word = word[:-1]  # keep the dot only on initials ("D.")
        for poss in ("'s", "’s"):
            if word.endswith(poss) and len(word) > 3:
                word = word[: -len(poss)]
        toks.append(_Tok(word, start, start + len(word)))
    return toks


def _sentence_initial(text: str, start: int) -> bool:
    before = text[:start].rstrip(" \t\"'“(")
    return not before or before[-1] in ".!?\n;>"


@dataclass(frozen=True)
class _Cues:
    any: set[int]
    """Offsets where a cue ends (a name may start there)."""
    strong: set[int]
    """Offsets where a strong cue ends (even a lower-case word is a name there)."""


_NAME_VERBS = {
    "had",
    "has",
    "is",
    "was",
    "said",
    "says",
    "and",
    "wrote",
    "told",
    "lives",
    "called",
    "asked",
    "went",
    "will",
    "would",
    "can",
    "could",
    "did",
    "does",
    "lived",
    "works",
    "worked",
    "sent",
    "wants",
    "needs",
    "thinks",
    "knows",
    "gave",
    "got",
    "here",
    "speaking",
}


class PersonRecognizer:
    """Finds person names; see the module docstring for how."""

    entity = "PERSON"

    def __init__(self) -> None:
        self._g = gazetteer()

    def analyze(self, text: str) -> list[Hit]:
        toks = _tokens(text)
        # Where a cue ends, a name may start: found once per text, not per word.
        cues = _Cues(
            {m.end() for m in _CUE.finditer(text)}, {m.end() for m in _STRONG_CUE.finditer(text)}
        )
        hits: list[Hit] = []
        i = 0
        while i < len(toks):
            n, reason, score = self._run_at(text, toks, i, cues)
            if n:
                hits.append(
                    Hit(
                        type=self.entity,
                        start=toks[i].start,
                        end=toks[i + n - 1].end,
                        score=score,
                        detail=f"names:{reason}",
                    )
                )
                i += n
            else:
                i += 1
        return hits

    @staticmethod
    def _joined(text: str, a: _Tok, b: _Tok) -> bool:
        return text[a.end : b.start] in (" ", "  ", ". ") and not (
            text[a.end : b.start] == ". " and not a.is_initial
        )

    @staticmethod
    def _inside_address(text: str, tok: _Tok) -> bool:
        """Part of an email address, a domain or a handle: ``bob.jones@...``."""
        after = text[tok.end : tok.end + 2]
        before = text[max(0, tok.start - 2) : tok.start]
        return (
            after[:1] in ("@", "_")
            or (after[:1] == "." and after[1:2].isalnum())
            or before[-1:] in ("@", "_", "/")
            or (before[-1:] == "." and before[:1].isalnum())
        )

    def _run_at(self, text: str, toks: list[_Tok], i: int, cues: _Cues) -> tuple[int, str, float]:
        g = self._g
        tok = toks[i]
        if not tok.is_cap and tok.start not in cues.strong and tok.text not in g.first:
            return 0, "", 0.0  # the common case, decided without further work
        if self._inside_address(text, tok):
            return 0, "", 0.0
        prefix = text[max(0, tok.start - 40) : tok.start]
        strong = tok.start in cues.strong
        cue = strong or tok.start in cues.any
        if not tok.is_cap:
            lower_ok = strong and not re.search(rf"\b{_TITLES}\.?\s*$", prefix, re.I)
            if lower_ok and g.classify(tok.text) not in (ORDINARY, AMBIGUOUS, INITIAL):
                return self._lower_run(text, toks, i, "cue", 0.8)
            return self._lowercase_pair(toks, i)
        run = [tok]
        j = i + 1
        while j < len(toks) and len(run) < 4 and self._joined(text, toks[j - 1], toks[j]):
            t = toks[j]
            if t.text.lower() in _NOT_PERSON_TAIL:
                return 0, "", 0.0
            if t.is_cap or t.is_initial:
                run.append(t)
            elif t.text.lower() in _PARTICLES and j + 1 < len(toks) and toks[j + 1].is_cap:
                run.append(t)
            else:
                break
            j += 1
        while len(run) > 1 and (
            run[-1].text.lower() in _PARTICLES
            or (run[-1].is_initial and not run[-1].text.endswith("."))
        ):
            run.pop()
        if j < len(toks) and toks[j].text.lower() in _NOT_PERSON_TAIL and j == i + len(run):
            return 0, "", 0.0
        kinds = [
            INITIAL if t.text.lower() in _PARTICLES and 0 < k < len(run) - 1 else g.classify(t.text)
            for k, t in enumerate(run)
        ]
        # Trim ordinary words off the end of the run ("Kyle Kuefer Who" -> "Kyle Kuefer").
        while len(run) > 1 and kinds[-1] in (ORDINARY,):
            run.pop()
            kinds.pop()
        if kinds[0] == INITIAL:
            return 0, "", 0.0
        initial = _sentence_initial(text, tok.start)
        speaker = text[run[-1].end : run[-1].end + 1] == ":" and len(run) == 1 and initial
        if speaker:
            if kinds[0] in (KNOWN, AMBIGUOUS, FOREIGN):
                return 1, "speaker", 0.7
            return 0, "", 0.0
        if cue and kinds[0] != ORDINARY:
            return len(run), "cue", 0.85
        if ORDINARY in kinds:
            return 0, "", 0.0
        names = [k for k in kinds if k != INITIAL]
        initial_inside = len(run) >= 3 and INITIAL in kinds[1:-1]
        if len(names) >= 2:
            if KNOWN in names or initial_inside:
                return len(run), "gazetteer", 0.75
            if all(k == FOREIGN for k in names) and not _sentence_initial(text, tok.start):
                return len(run), "shape", 0.55
            if all(k in (FOREIGN, AMBIGUOUS) for k in names) and FOREIGN in names:
                return len(run), "shape", 0.55
            return 0, "", 0.0
        if kinds[0] not in (KNOWN, FOREIGN) or len(tok.text) < 3:
            return 0, "", 0.0
        nxt = text[tok.end : tok.end + 1]
        verb_next = nxt == "," or (
            i + 1 < len(toks)
            and toks[i + 1].text in _NAME_VERBS
            and toks[i + 1].start == tok.end + 1
        )
        if kinds[0] == FOREIGN:
            # An unlisted word alone is a name only where a name's grammar shows.
            if (initial and verb_next) or self._in_name_list(text, toks, i):
                return 1, "shape", 0.5
            return 0, "", 0.0
        if initial and not verb_next:
            return 0, "", 0.0
        return 1, "gazetteer", 0.6

    def _in_name_list(self, text: str, toks: list[_Tok], i: int) -> bool:
        """``Kónya, Becker and Vasquez``: a word listed next to a known name."""
        for j in (i - 1, i + 1):
            if not 0 <= j < len(toks):
                continue
            a, b = (toks[j], toks[i]) if j < i else (toks[i], toks[j])
            if text[a.end : b.start] in (", ", " and ", " & ") and toks[j].is_cap:
                if self._g.classify(toks[j].text) == KNOWN:
                    return True
        return False

    def _lower_run(
        self, text: str, toks: list[_Tok], i: int, reason: str, score: float
    ) -> tuple[int, str, float]:
        n = 1
        while (
            i + n < len(toks)
            and n < 3
            and self._joined(text, toks[i + n - 1], toks[i + n])
            and self._g.classify(toks[i + n].text) not in (ORDINARY, AMBIGUOUS)
        ):
            n += 1
        return n, reason, score

    def _lowercase_pair(self, toks: list[_Tok], i: int) -> tuple[int, str, float]:
        g = self._g
        if i + 1 >= len(toks):
            return 0, "", 0.0
        a, b = toks[i].text, toks[i + 1].text
        if not (a.islower() and b.islower()) or len(a) < 3 or len(b) < 3:
            return 0, "", 0.0
        if a in g.first and g.classify(a) == KNOWN and b in g.last and g.classify(b) == KNOWN:
            return 2, "gazetteer-lower", 0.5
        return 0, "", 0.0
