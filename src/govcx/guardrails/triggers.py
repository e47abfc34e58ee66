"""Escalation triggers: self-harm, legal threats, abuse of staff, requests for a human.

Each trigger is a set of phrase patterns written to match the intent rather than single
words: "this bill is killing me" is not self-harm, "can my lawyer see the account" is
not a legal threat, "this is so damn slow" is not abuse of staff. A finding's ``detail``
quotes the phrase that fired. What a trigger does (escalate, log, ...) is the policy's
business; see :func:`govcx.guardrails.guard.apply_policy`.

Example:
    >>> [f.type for f in TriggerDetector().detect("I want to talk to a real person")]
    ['HUMAN_REQUEST']
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from govcx.governance.finding import Finding, Source

_F = re.I


@dataclass(frozen=True)
class _Trigger:
    type: str
    name: str
    pattern: re.Pattern[str]
    score: float


def _t(kind: str, name: str, pattern: str, score: float = 0.9) -> _Trigger:
    return _Trigger(kind, name, re.compile(pattern, _F), score)


_YOU = r"(?:you|u|ya|your\s+(?:staff|agents?|people|team|company|bank|service|support)|y'all)"
_INSULT = (
    r"(?:idiots?|stupid|dumb|useless|morons?|incompetent|pathetic|worthless|clowns?|"
    r"imbeciles?|retard(?:ed|s)?|losers?|scum|thieves|crooks|liars?|frauds?|jokes?|"
    r"garbage|trash|bitch(?:es)?|bastards?|assholes?|a\s*-?\s*holes?|dicks?|pricks?|"
    r"cunts?|twats?|wankers?|pieces?\s+of\s+(?:shit|crap|garbage|trash)|scumbags?)"
)

TRIGGERS: tuple[_Trigger, ...] = (
    # --- self-harm ---------------------------------------------------------------------
    _t(
        "SELF_HARM",
        "suicide",
        r"\b(?:suicid(?:e|al)|kill(?:ing)?\s+my\s*self|end(?:ing)?\s+"
        r"(?:it\s+all|my\s+(?:own\s+)?life)|take\s+my\s+(?:own\s+)?life|self[- ]harm(?:ing)?|"
        r"hurt(?:ing)?\s+my\s*self|cut(?:ting)?\s+my\s*self|harm(?:ing)?\s+my\s*self|"
        r"overdos(?:e|ing)\s+on|jump(?:ing)?\s+off\s+a\s+(?:bridge|building|roof))\b",
        0.95,
    ),
    _t(
        "SELF_HARM",
        "despair",
        r"\b(?:i\s+(?:just\s+)?(?:want|wanna|wish\s+i\s+could|am\s+going"
        r"\s+to|'m\s+going\s+to|'m\s+gonna|am\s+gonna)\s+(?:to\s+)?die|i\s+(?:don't|do\s+not)"
        r"\s+want\s+to\s+(?:live|be\s+alive|exist)(?:\s+anymore)?|no\s+(?:reason|point)\s+"
        r"(?:to|in)\s+(?:live|living|going\s+on)|better\s+off\s+dead|can't\s+go\s+on\s+"
        r"(?:living|anymore)|nothing\s+to\s+live\s+for|not\s+worth\s+living)\b",
        0.9,
    ),
    # --- legal threats ---------------------------------------------------------------------
    _t(
        "LEGAL_THREAT",
        "lawsuit",
        r"\b(?:su(?:e|ing)\s+(?:you|u|your|the\s+company|the\s+bank|"
        r"them|this\s+company)|(?:file|filing|start|bring|launch)\s+(?:a\s+)?(?:law\s?suit|"
        r"legal\s+(?:action|claim|proceedings)|claim\s+in\s+(?:small\s+claims\s+)?court)|"
        r"law\s?suit|legal\s+action|legal\s+proceedings|class[- ]action|small[- ]claims|"
        r"see\s+you\s+in\s+court|take\s+(?:you|this|it|the\s+matter)\s+to\s+court|"
        r"take\s+(?:you|this)\s+to\s+(?:small\s+claims|the\s+(?:ombudsman|regulator)))\b",
    ),
    _t(
        "LEGAL_THREAT",
        "lawyer",
        r"\b(?:(?:contact|call|get|hire|talk\s+to|speak\s+(?:to|with)|"
        r"consult|involve|hear\s+from|hearing\s+from|contacting|calling|getting)\s+(?:my|a|an)\s+"
        r"(?:lawyers?|attorneys?|solicitors?|legal\s+(?:team|counsel|representation))|my\s+"
        r"(?:lawyers?|attorneys?|solicitors?)\s+(?:will|is\s+going\s+to|are\s+going\s+to|"
        r"shall)|(?:lawyers?|attorneys?|solicitors?)\s+will\s+be\s+(?:in\s+touch|contacting))\b",
    ),
    _t(
        "LEGAL_THREAT",
        "suit",
        r"\b(?:(?:files?|filing|filed|bring(?:s|ing)?|brought)\s+(?:a\s+)?suit|(?:lawyers?|"
        r"attorneys?|solicitors?|counsel)\s+(?:files?|is\s+filing|will\s+file|sues?|will\s+sue|"
        r"is\s+suing|is\s+drafting|has\s+drafted))\b",
    ),
    _t(
        "LEGAL_THREAT",
        "regulator",
        r"\b(?:report(?:ing)?\s+(?:you|this|your\s+\w+|the\s+\w+)\s+"
        r"to|(?:file|filing|lodge|lodging|make|submit)\s+(?:a\s+)?(?:formal\s+)?complaint\s+"
        r"(?:with|to))\s+(?:the\s+)?(?:cfpb|ftc|fca|fos|bbb|better\s+business\s+bureau|"
        r"(?:financial\s+)?ombudsman|regulators?|attorney\s+general|consumer\s+(?:protection|"
        r"financial\s+protection)|trading\s+standards|(?:state|federal|banking|financial)\s+"
        r"(?:regulator|authorit(?:y|ies))|authorities|police|fcc|sec|ico|occ|fdic)\b",
    ),
    # --- abuse of staff -------------------------------------------------------------------------
    _t(
        "ABUSE",
        "insult",
        rf"\b{_YOU}\s*(?:are|'re|r|re|is)\s+(?:such\s+|so\s+|an?\s+|a\s+"
        rf"bunch\s+of\s+|all\s+|fucking\s+|bloody\s+|complete\s+|total\s+|absolute\s+)*"
        rf"{_INSULT}\b",
        0.9,
    ),
    _t(
        "ABUSE",
        "insult",
        rf"\b(?:stupid|useless|dumb|fucking|incompetent|worthless|"
        rf"pathetic)\s+(?:bot|robot|machine|ai|idiots?|agent|company|bank|clowns?|people|"
        rf"staff|morons?)\b|\b(?:you|u)\s+{_INSULT}\b",
        0.85,
    ),
    _t(
        "ABUSE",
        "profanity-at-you",
        r"\b(?:fuck|f\*+k|f\*\*\*|screw|damn|piss\s+off)\s+"
        r"(?:you|u|off|yourself|this\s+(?:bot|company|bank))\b|\bgo\s+to\s+hell\b|"
        r"\bshut\s+the\s+(?:fuck|hell)\s+up\b|\beat\s+shit\b|\bgo\s+fuck\b|\bstfu\b|\bgtfo\b",
        0.9,
    ),
    _t(
        "ABUSE",
        "threat",
        rf"\b(?:i\s*(?:'ll|will|am\s+going\s+to|'m\s+going\s+to|'m\s+gonna|"
        rf"am\s+gonna)|i'?m\s+coming\s+to)\s+(?:to\s+)?(?:kill|hurt|beat|find|come\s+after|"
        rf"destroy|shoot|stab|punch|burn|hunt\s+down|track\s+down|get)\s+{_YOU}\b|"
        rf"\b{_YOU}\s*(?:'ll|will)\s+(?:regret|pay\s+for)\s+(?:this|it)\b|"
        rf"\bwatch\s+your\s+back\b|\bi\s+know\s+where\s+(?:you|your\s+\w+)\s+(?:live|work)",
        0.95,
    ),
    # --- asking for a human ---------------------------------------------------------------------
    _t(
        "HUMAN_REQUEST",
        "human",
        r"\b(?:speak|talk|chat|connect\s+me|put\s+me\s+through|"
        r"transfer\s+me|get\s+me|give\s+me|let\s+me\s+(?:speak|talk))\s+(?:to|with|through\s+to)?"
        r"\s*(?:a|an|some|your|the)?\s*(?:real|live|actual|human|proper)?\s*(?:human(?:\s+being)?|"
        r"person|people|agent|representative|rep|operator|manager|supervisor|staff\s+member|"
        r"someone\s+(?:real|human)|customer\s+service\s+(?:agent|representative|rep))\b",
        0.9,
    ),
    _t(
        "HUMAN_REQUEST",
        "human",
        r"\b(?:want|need|prefer|get\s+me|give\s+me|bring\s+me)\s+"
        r"(?:an?\s+|some\s+)?(?:real|live|actual)\s+(?:human|person|agent)\b|"
        r"\bhuman\s+(?:agent\s+)?please\b|\b(?:are\s+you|is\s+this)\s+a\s+(?:bot|"
        r"robot|machine)\b[^?]*\?\s*(?:i\s+want|get\s+me|let\s+me)|\bno\s+more\s+bots?\b|"
        r"\bstop\s+(?:the\s+)?bot\b|^\s*(?:an?\s+)?(?:agent|representative|operator|human|"
        r"real\s+person|live\s+agent)\s*[.!]*\s*$",
        0.85,
    ),
)

_SELF_NEGATION = re.compile(
    r"\b(?:not|never|don't|do\s+not|didn't|wouldn't|won't)\s+(?:\w+\s+){0,2}$", re.I
)
_PROCESS_QUESTION = re.compile(
    r"\b(?:do|will|would|should|must)\s+i\s+(?:need|have|be\s+able)\s+to\s+$",
    re.I,
)


class TriggerDetector:
    """Finds the escalation triggers in one text."""

    def detect(self, text: str, source: Source = "input") -> list[Finding]:
        """At most one finding per trigger type, on its first occurrence."""
        findings: list[Finding] = []
        seen: set[str] = set()
        for trig in TRIGGERS:
            if trig.type in seen:
                continue
            for m in trig.pattern.finditer(text):
                before = text[max(0, m.start() - 24) : m.start()]
                if trig.type in ("LEGAL_THREAT", "ABUSE") and _SELF_NEGATION.search(before):
                    continue  # "I'm not going to sue you", "I don't think you are stupid"
                if trig.type == "HUMAN_REQUEST" and (
                    _SELF_NEGATION.search(before) or _PROCESS_QUESTION.search(before)
                ):
                    continue  # "I don't need to speak to an agent", "do I need to speak to"
                findings.append(
                    Finding(
                        type=trig.type,
                        start=m.start(),
                        end=m.end(),
                        score=trig.score,
                        source=source,
                        detail=f"{trig.name}: {m.group(0).strip()!r}",
                    )
                )
                seen.add(trig.type)
                break
        return sorted(findings, key=lambda f: f.start)
