"""The structure of a jailbreak prompt: what it talks about, rather than any one phrase.

In-the-wild jailbreaks come in endless wordings ("You are now Zed, who...", "simulate a
conversation between two AIs...", "respond twice, once as ChatGPT and once as...") but
share a structure: they address an AI, give it a persona, dictate how every answer must
be written, talk about its rules, filters and morals, speak of prompts and modes, and
often frame it all as fiction or a game. A customer writing to support talks about
orders, cards and accounts, and touches at most one or two of these subjects, even in a
long, angry or chatty message.

Each subject is a :class:`Family` of patterns. :func:`structure` reports which families a
text touches, and the detector turns that into evidence:

- three or more families, one of them naming the AI, a persona or a prompt: a jailbreak
  (stronger with four or more);
- a persona given to the assistant plus one more family, in a message of several
  sentences (``LONG_PERSONA`` characters): a jailbreak, since a customer has no reason to
  recast the agent as somebody else;
- two families otherwise: corroboration only, never enough alone.

The families are written for the shape of the attack, not from any dataset's wording;
``tests/fixtures/guards/benign_long.txt`` holds long customer messages that use the same
vocabulary innocently ("pretend", "act as", "character", "rules", "from now on") and must
stay below the threshold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_I = re.I


@dataclass(frozen=True)
class Family:
    """One subject of a jailbreak prompt, found by ``pattern`` (or by ``min_count``
    occurrences of it)."""

    name: str
    pattern: re.Pattern[str]
    min_count: int = 1
    before: re.Pattern[str] | None = None
    """What the text just before a match must end with (searched on 40 characters)."""


@dataclass(frozen=True)
class Structure:
    """The families a text touches, with the first match of each."""

    families: dict[str, tuple[int, int, str]]
    length: int

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.families)


CORE = frozenset({"ai", "persona", "prompt"})
"""Families that only a text addressed to an AI touches; one must be present."""
LONG_PERSONA = 250
"""A persona plus one more family counts as a jailbreak from this many characters on."""

_SECOND_PERSON_ORDERS = (
    r"\b(?:you|u)\s*(?:will|'ll|must|shall|should|have\s+to|are\s+(?:to|going\s+to|now|not|"
    r"no\s+longer|allowed|able|free)|can(?:not|'t)?|never|always|do\s+not|don't|may)\b"
)

FAMILIES: tuple[Family, ...] = (
    # The addressee is an AI model (not "the chatbot on your website", which is "chatbot").
    Family(
        "ai",
        re.compile(
            r"\b(?:chat\s?gpt|gpt[-\s]?[0-9](?:\.5)?|open\s?ai|[a-z]+gpt|llms?|(?:large\s+)?"
            r"language\s+models?|ai\s+(?:models?|systems?|assistants?|language\s+models?)|"
            r"chat\s?bots?|an\s+ai|the\s+ai|as\s+an\s+ai|bard|bing\s+chat|claude|"
            r"artificial\s+intelligence)\b",
            _I,
        ),
    ),
    # The assistant is given another identity: "act as ..." said to it (at the start of a
    # sentence or after "you will", "I want you to", "please"), not "can he act as...".
    Family(
        "persona",
        re.compile(r"\b(?:act|behave|respond|speak|talk|reply|answer|write)\s+(?:as|like)\b", _I),
        before=re.compile(
            r"(?:^|[.!?\n:\"*]\s*|\byou\s+(?:(?:will|must|should|shall|to|can|are\s+to|now)"
            r"\s+)+|\bi\s+want\s+you\s+to\s+|\bplease\s+|\bnow\s+)$",
            _I,
        ),
    ),
    Family(
        "persona",
        re.compile(
            r"\bpretend(?:ing)?\s+(?:to\s+be|you(?:'re|\s+are)|that\s+you)"
            r"|\byou\s*(?:are|'re|’re)\s+(?:now|going\s+to\s+(?:be|act|pretend|simulate|play|"
            r"become|roleplay))\b"
            r"|\byou\s+will\s+(?:now\s+)?(?:be(?:come)?\s+(?:an?\s+|my\s+|the\s+)?(?-i:[A-Z\"'])|"
            r"act|play|simulate|roleplay|pretend|portray|take\s+on|embody)\b"
            r"|\byou\s+must\s+(?:act|play|become|pretend|simulate|roleplay)\b"
            r"|\bsimulat(?:e|ing)\s+(?:an?\s+|another\s+|the\s+)?(?:\w+\s+)?(?:ai|mode|"
            r"conversation|dialog(?:ue)?|computer|terminal|chatbot|character|person|persona|"
            r"entity|game|model)\b"
            r"|\brole[- ]?play\w*|\b(?:in|stay|break|out\s+of|a|the|this|your|fictional|new)\s+"
            r"character\b|\bpersona\b|\bpersonif\w+|\bimpersonat\w+|\bemulat\w+"
            r"|\byour\s+(?:new\s+)?name\s+(?:is|will\s+be)\b|\byou\s+will\s+be\s+(?:called|"
            r"named|known\s+as)|\btwo\s+(?:different\s+|separate\s+)?(?:entities|personalities|"
            r"characters|personas|ais?)\b|\balter\s+ego\b|\b(?:your|an?)\s+(?:\w+\s+)?(?:unfiltered|"
            r"uncensored|evil|dark|unrestricted|jailbroken|opposite)\s+(?:twin|version|self|side|"
            r"counterpart)\b",
            _I,
        ),
    ),
    # How every answer must be written.
    Family(
        "directive",
        re.compile(
            r"\b(?:respond(?:ing)?\s+(?:to|with|as|in|only|like)|your\s+(?:responses?|replies|"
            r"reply|answers?|outputs?)|(?:every|each|all|any)\s+(?:of\s+my\s+)?(?:responses?|"
            r"replies|reply|answers?|prompts?|messages?|questions?|requests?)|always\s+"
            r"(?:respond|reply|answer|start|begin|stay|remain|provide|generate|give|say)|never\s+"
            r"(?:refuse|say|mention|break|respond|reply|decline|deny|tell|explain)|(?:start|"
            r"begin|end|prefix)\s+(?:your|each|every|all)\s+(?:\w+\s+)?(?:responses?|reply|"
            r"replies|answers?|messages?|output)|(?:two|2|both)\s+(?:\w+\s+)?(?:responses|"
            r"answers|ways|paragraphs|personalities|replies)|from\s+now\s+on|from\s+this\s+"
            r"(?:point|moment)|for\s+the\s+rest\s+of\s+(?:this|the|our)\s+(?:conversation|chat|"
            r"session)|break\s+character|do\s+not\s+(?:refuse|filter|apologi[sz]e|include\s+"
            r"(?:any\s+)?(?:warnings?|disclaimers?))|(?:don't|dont)\s+(?:refuse|filter|"
            r"apologi[sz]e))",
            _I,
        ),
    ),
    # Its rules, filters and morals.
    Family(
        "limits",
        re.compile(
            r"\b(?:amoral|unethical|immoral|illegal(?:ity)?|unfiltered|uncensored|censor(?:ed|"
            r"ship|ing)?|filter(?:s|ed|ing)?|content\s+polic(?:y|ies)|ethic(?:s|al|ally)|"
            r"moral(?:s|ity|ly)?|legality|guidelines|restrictions?|limitations|no\s+matter\s+"
            r"(?:how|what)|disclaimers?|harmful|offensive|explicit|nsfw|profanity|swear\w*|"
            r"without\s+(?:hesitation|question)|refus(?:e|es|al|ing)|constraints|boundaries|"
            r"dangerous|inappropriate)\b",
            _I,
        ),
    ),
    # Prompts, modes and templates.
    Family(
        "prompt",
        re.compile(
            r"\bprompts?\b|\[(?:insert|your|prompt|input|role|topic|question|name)[^\]\n]{0,40}\]|"
            r"\{[a-z_ ]{2,30}\}|<[a-z_ ]{2,30}>|\bjailbr\w*|\bmode\b|\btokens?\b|\benabled\b|"
            r"\bthe\s+user\b|\bthis\s+conversation\b",
            _I,
        ),
    ),
    # Fiction, games and hypotheticals.
    Family(
        "fiction",
        re.compile(
            r"\b(?:fiction(?:al)?|hypothetical(?:ly)?|stor(?:y|ies)|scenario|game|let'?s\s+play|"
            r"imagine|world\s+where|novel|screenplay|movie|dialog(?:ue)?|conversation\s+between|"
            r"narrat\w+|rpg|dungeon)\b",
            _I,
        ),
    ),
    # Many orders given to "you".
    Family("orders", re.compile(_SECOND_PERSON_ORDERS, _I), min_count=3),
)


def structure(text: str) -> Structure:
    """Which jailbreak families ``text`` touches, with each one's first match."""
    found: dict[str, tuple[int, int, str]] = {}
    for family in FAMILIES:
        if family.name in found:
            continue
        matches = family.pattern.finditer(text)
        if family.before is not None:
            before = family.before
            matches = (
                m for m in matches if before.search(text[max(0, m.start() - 40) : m.start()])
            )
        first = [m for _, m in zip(range(family.min_count), matches, strict=False)]
        if len(first) < family.min_count:
            continue
        m = first[0]
        found[family.name] = (m.start(), m.end(), m.group(0).strip())
    return Structure(families=found, length=len(text))


def weight(found: Structure) -> float:
    """How strongly the families found indicate a jailbreak (0 when they do not)."""
    names = found.names
    if len(names) >= 3 and names & CORE:
        return 0.9 if len(names) >= 4 else 0.8
    if "persona" in names and len(names) >= 2 and found.length >= LONG_PERSONA:
        return 0.75
    if len(names) >= 2 and names & CORE:
        return 0.4
    return 0.0
