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
from functools import lru_cache
from typing import Literal

from govcx.governance.finding import Finding, Source
from govcx.guardrails.trigger_model import TriggerModel

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

_LAWYER = (
    r"(?:lawyers?|attorneys?|atty|solicitors?|counsel|legal\s+(?:team|counsel|department|"
    r"representatives?))"
)
_PERSON = (
    r"(?:human(?:\s+(?:being|agent|person))?s?|person|persn|people|agents?|representatives?|"
    r"reps?|operators?|manager|supervisor|staff(?:\s+member)?|member\s+of\s+(?:staff|your\s+team)|"
    r"someone|somebody|sombody|somneone|somone|anyone|anybody|whoever|colleague|employees?|assistant|specialist|"
    r"customer\s+(?:service|care|support)(?:\s+(?:agent|representative|rep|team))?|"
    r"support\s+(?:team|staff)|live\s+(?:support|chat|help|assistance))"
)
_BOT = (
    r"(?:bots?|robots?|machines?|computers?|chat\s?bots?|ai|automated\s+(?:answers|replies|"
    r"responses|messages|system))"
)

TRIGGERS: tuple[_Trigger, ...] = (
    # --- self-harm ---------------------------------------------------------------------
    # Crisis-line guidance lists the ways people say it: wanting to die or not to exist,
    # being a burden, no reason to go on, saying goodbye, a plan or the means.
    _t(
        "SELF_HARM",
        "suicide",
        r"\b(?:suicid(?:e|al)|kill(?:ing)?\s+my\s*self|end(?:ing)?\s+(?:it\s+all|my\s+(?:own\s+)?"
        r"life)|take\s+my\s+(?:own\s+)?life|self[- ]harm(?:ing)?|hurt(?:ing)?\s+my\s*self|"
        r"cut(?:ting)?\s+my\s*self(?!\s+(?:a|an|some|off|free|short)\b)|harm(?:ing)?\s+my\s*self|overdos(?:e|ing)\s+on|"
        r"(?:just|gonna|wanna|going\s+to|want\s+to|might|i'?ll|i\s+will)\s+kms|"
        r"hang(?:ing)?\s+my\s*self|(?:cut|cutting|slit|slitting)\s+(?:my\s+)?wrists?|"
        r"(?:stop|cease)\s+existing|(?:not\s+sure|unsure)\s+(?:if\s+)?i\s+want\s+to\s+(?:be\s+alive|"
        r"live|exist)|"
        r"i\s+(?:\w+\s+){0,3}overdos(?:e|ed|ing)|"
        r"jump(?:ing)?\s+(?:off|from|in\s+front\s+of)\s+(?:a|the)\s+(?:bridge|building|roof|"
        r"train|cliff|balcony|bus|car)|(?:standing|sitting)\s+on\s+(?:the|a)\s+(?:bridge|ledge|"
        r"edge|roof|railway|tracks)|(?:take|taking|took|swallow(?:ing|ed)?)\s+(?:all|every(?:\s+"
        r"one\s+of)?|the\s+whole\s+(?:bottle|box|pack)|a\s+(?:whole\s+)?bottle)\b[^.]{0,25}?"
        r"\b(?:pills|tablets|meds|medication|painkillers)|(?:the|my)\s+(?:pills|tablets|rope)\s+"
        r"(?:are\s+|is\s+)?ready|i\s+have\s+(?:a|the)\s+rope|goodbye\s+(?:letters?|notes?)|"
        r"suicide\s+note|(?:last|final)\s+message\b[^.]{0,30}\bgoodbye|goodbye\s+(?:cruel\s+)?"
        r"world|giving\s+away\s+(?:all\s+)?my\s+(?:things|stuff|belongings|possessions))\b",
        0.95,
    ),
    _t(
        "SELF_HARM",
        "despair",
        r"\b(?:i\s+(?:just\s+)?(?:want|wanna|wish\s+i\s+could|am\s+going\s+to|'m\s+going\s+to|"
        r"'m\s+gonna|am\s+gonna)\s+(?:to\s+)?die|i\s+(?:don'?t|dont|do\s+not)\s+want\s+to\s+"
        r"(?:live|be\s+alive|exist)(?:\s+anymore)?|no\s+(?:reason|point)\s+(?:to|in)\s+(?:live|"
        r"living|going\s+on)|(?:no|any|a)\s+reason\s+to\s+(?:live|keep\s+(?:going|living)|go\s+on|"
        r"be\s+alive|stay\s+alive)(?!\s+with)|point\s+(?:of|in)\s+(?:living|going\s+on|"
        r"being\s+alive)|better\s+off\s+(?:dead|without\s+me)|(?:happier|better|easier)\s+(?:off\s+)?"
        r"(?:when|if)\s+i\s*(?:'m|am|was|were)\s+(?:dead|gone|not\s+(?:here|around))|"
        r"(?:wish\s+i\s+(?:were|was)|might\s+as\s+well\s+be|rather\s+be)\s+dead|"
        r"(?:notice|care|miss\s+me)\s+if\s+i\s+(?:died|was\s+gone|were\s+gone|disappeared)|"
        r"can'?t\s+go\s+on\s+(?:living|anymore)|nothing\s+(?:left\s+)?to\s+live\s+for|"
        r"(?:not|no\s+longer)\s+worth\s+living|(?:isn'?t|is\s+not|wasn'?t)\s+worth\s+living|"
        r"(?:i'?m|i\s+am)\s+(?:such\s+|just\s+|only\s+)?a\s+burden|won'?t\s+be\s+a\s+(?:problem|"
        r"burden)\s+(?:for|to)\s+(?:anyone|anybody|you|them|everyone)|won'?t\s+be\s+(?:around|"
        r"alive)\s+(?:much\s+longer|for\s+(?:much\s+)?long|anymore)|(?:never|not)\s+wak(?:e|ing)"
        r"\s+up|(?:want|wanna|going)\s+(?:to\s+)?disappear\s+(?:forever|for\s+good)|"
        r"(?:done|finished|tired)\s+(?:with|of)\s+(?:life|living|being\s+alive)|want\s+(?:it\s+"
        r"all|everything)\s+to\s+(?:end|stop)|(?:to|just|gonna|going\s+to|i'?ll|i\s+will)\s+end\s+"
        r"(?:it|things)(?:\s+all)?\s*(?:tonight|today|now)?\s*(?:[.!]|$))",
        0.9,
    ),
    _t(
        "SELF_HARM",
        "crisis-cue",
        r"\b(?:(?:(?:thinking|thought)\s+(?:of|about)|considering|planning|plan\s+on)\s+(?:ending\s+"
        r"(?:it|things|everything)|dying|not\s+being\s+(?:here|around|alive)|killing\s+myself)|"
        r"ending\s+it(?:\s+all)?\s*(?:[.!]|$)|pain\s+to\s+(?:stop|end)\s+(?:forever|for\s+good)|"
        r"ways\s+to\s+(?:die|kill\s+myself|end\s+(?:it|my\s+life))|(?:if|when)\s+i\s+(?:wasn'?t|"
        r"weren'?t|was\s+not|were\s+not)\s+(?:here|around|alive)|(?:stockpil\w+|hoard\w+|"
        r"saving\s+up)\s+(?:all\s+)?(?:my\s+)?(?:pills|medication|meds|tablets|painkillers)|"
        r"sleep\s+forever|(?:had|have)\s+enough\s+of\s+(?:living|life|being\s+alive)|"
        r"(?:driv\w+|crash\w*)\s+(?:my\s+car\s+)?(?:off\s+(?:the\s+road|a\s+(?:bridge|cliff))|"
        r"into\s+(?:a\s+)?(?:tree|wall|river|traffic))|(?:this\s+is\s+my|saying\s+my)\s+"
        r"(?:final\s+|last\s+)?goodbye|overdos(?:e|es|ed|ing)|(?:don'?t|do\s+not)\s+want\s+to\s+wake\s+"
        r"up|(?<!my\s)(?<!our\s)(?<!your\s)(?<!their\s)end(?:ing)?\s+(?:it\s+all|things|"
        r"everything)(?!\s+with\s+(?:you|your|this|the))|"
        r"can'?t\s+(?:keep|go\s+on)\s+living|done\s+(?:living|with\s+living)|nothing\s+left\s+for\s+"
        r"me|disappear\s+(?:forever|for\s+good|and\s+never\s+come\s+back)|wish\s+i\s+could\s+"
        r"(?:just\s+)?(?:disappear|vanish|not\s+exist))\b",
        0.9,
    ),
    # --- legal threats ---------------------------------------------------------------------
    _t(
        "LEGAL_THREAT",
        "legal-word",
        rf"\b(?:(?:my|our)\s+{_LAWYER}(?!\s+general)|barristers?|magistrates?|tribunal|counsel\s+(?:has|have|"
        rf"is|are)|legal\s+(?:advice|team|department)|legally|lawsuits?|litigation|"
        rf"court\s+date|papers?\s+(?:to\s+be\s+|will\s+be\s+)?served|ombudsman)\b",
    ),
    _t(
        "LEGAL_THREAT",
        "legal-process",
        rf"\b(?:subpoena\w*|litigat\w+|legal\s+(?:remed(?:y|ies)|steps|route|recourse|case)|"
        rf"issue\s+(?:court\s+)?proceedings|(?:in\s+front\s+of|answer(?:ing)?\s+to|before)\s+a\s+"
        rf"judge|(?:county|district|magistrates'?|civil|federal|high|supreme)\s+court|"
        rf"{_LAWYER}[^.?!]{{0,60}}\b(?:sue|suing|court|proceedings|letter|involved|legal\s+action)"
        rf"|(?:sue|suing|court|proceedings|legal\s+action)\b[^.?!]{{0,40}}\b(?:my|our)\s+"
        rf"{_LAWYER})\b",
    ),
    _t(
        "LEGAL_THREAT",
        "lawsuit",
        r"\b(?:su(?:e|ing)\s+(?:you|u|your|the\s+company|the\s+bank|them|this\s+company)|"
        r"(?:file|filing|start|bring|launch)\s+(?:a\s+)?(?:law\s?suit|legal\s+(?:action|claim|"
        r"proceedings)|claim\s+in\s+(?:small\s+claims\s+)?court)|law\s?suit|legal\s+action|"
        r"legal\s+proceedings|class[- ]action|small[- ]claims|see\s+you\s+in\s+court|"
        r"take\s+(?:you|this|it|the\s+matter)\s+to\s+court|"
        r"take\s+(?:you|this)\s+to\s+(?:small\s+claims|the\s+(?:ombudsman|regulator))|"
        r"(?:i'?m|i\s+am|we'?re|we\s+are|will\s+be)\s+su(?:ing|eing)(?!\s+(?:the\s+other|another|"
        r"my|him|her|a|an)\b)|(?:be|get|getting)\s+sued|"
        r"(?:to|will|gonna|going\s+to|'ll|shall|i|we)\s+sue|sueing\s+(?:you|u)|intent\s+to\s+sue|"
        r"(?:through|in)\s+the\s+courts|(?:drag|take|haul|bring)\s+(?:you|them|this|it|your\s+"
        r"\w+)\s+(?:through|to|into)\s+(?:the\s+)?courts?|(?:go(?:ing)?|then|and|straight)\s+to\s+"
        r"court|(?:seek(?:ing)?|claim(?:ing)?|sue\s+for)\s+(?:\w+\s+)?damages|liable\s+in\s+court|"
        r"(?:case|legal\s+action|lawsuit)\s+against\s+(?:you|your|the\s+company|this\s+company)|"
        r"cease\s+and\s+desist|bring(?:ing)?\s+a\s+(?:legal\s+|court\s+)?claim\s+against|"
        r"letter\s+before\s+action|demand\s+letter|press(?:ing)?\s+charges|"
        r"breach\s+of\s+contract)\b",
    ),
    _t(
        "LEGAL_THREAT",
        "lawyer",
        rf"\b(?:(?:contact|call|get|hire|talk\s+to|speak\s+(?:to|with)|consult|involve|hear\s+from|"
        rf"hearing\s+from|contacting|calling|getting|consulting|instruct(?:ed|ing)?|retain(?:ed|"
        rf"ing)?|hired|involving|go\s+to|going\s+to|letters?\s+from)\s+(?:my|a|an|our|the)\s+"
        rf"{_LAWYER}|(?:my|our)\s+{_LAWYER}\s+(?:will|is\s+going\s+to|are\s+going\s+to|shall|"
        rf"says|said|can\s+serve|is\s+(?:already\s+)?on\s+it|'s\s+(?:already\s+)?on\s+it|is\s+"
        rf"(?:copied|cc'?d|aware|involved)|are\s+(?:copied|cc'?d|aware|involved)|has\s+been\s+"
        rf"(?:copied|informed|instructed)|has\s+drafted|is\s+drafting|files?|will\s+file)|"
        rf"{_LAWYER}\s+will\s+be\s+(?:in\s+touch|contacting)|lawyer(?:ing)?\s+up|retained\s+"
        rf"counsel|from\s+my\s+{_LAWYER})\b",
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
        r"\b(?:report(?:ing)?\s+(?:you|this|your\s+\w+|the\s+\w+)\s+to|(?:file|filing|lodge|"
        r"lodging|make|submit)\s+(?:a\s+)?(?:formal\s+)?complaint\s+(?:with|to)|(?:contact(?:ing)?|"
        r"complain(?:ing)?\s+to|writ(?:e|ing)\s+to|go(?:ing)?\s+to|escalat(?:e|ing)\s+(?:this|it)\s+"
        r"to|tak(?:e|ing)\s+(?:this|it)\s+to)\s+the)\s+(?:the\s+)?(?:cfpb|ftc|fca|fos|bbb|better\s+"
        r"business\s+bureau|(?:financial\s+)?ombudsman|regulators?|attorney\s+general(?:'s\s+"
        r"office)?|consumer\s+(?:protection|financial\s+protection)|trading\s+standards|(?:state|"
        r"federal|banking|financial)\s+(?:regulator|authorit(?:y|ies))|fcc|sec|ico|occ|fdic)\b|"
        r"\breport(?:ing)?\s+(?:you|your\s+(?:company|bank|staff))\s+to\s+the\s+(?:police|"
        r"authorities)\b",
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
        "person-acts",
        r"\b(?:let|have|can|could|get|may)\s+(?:an?\s+|the\s+|some\s+|your\s+)?(?:real\s+|actual\s+"
        r"|live\s+)?(?:human(?:\s+being)?|person|staff\s+member|member\s+of\s+staff|employee|agent|"
        r"manager|supervisor)\s+(?:\w+\s+)?(?:handle|review|look\s+at|check|contact|call|deal\s+with|"
        r"take\s+over)\b|\b(?:let|have|get)\s+(?:someone|somebody)\s+(?:to\s+)?(?:\w+\s+)?(?:handle|"
        r"review|look\s+at|check|contact|call|deal\s+with|take\s+over)\b|\bget\s+(?:me\s+)?(?:an?\s+|"
        r"the\s+|your\s+)?(?:manager|supervisor|human|person|agent|representative)\b(?!'s|\s+"
        r"(?:number|code|id)\b)|\btransfer\s+(?:me\s+)?to\s+(?:an?\s+|the\s+)?(?:human|agent|representative|"
        r"operator|manager|supervisor)\b",
        0.85,
    ),
    _t(
        "HUMAN_REQUEST",
        "human",
        rf"\b(?:speak\w{{0,4}}|talk\w{{0,4}}|chat\w{{0,4}}|contact\w{{0,3}}|reach\w{{0,3}}|"
        rf"deal(?:ing)?\s+with|get\s+through\s+to|bring\s+(?:in|me)|put\s+me\s+in\s+touch|(?:connect|transfer|hand|pass|forward|"
        rf"redirect)\s+me(?:\s+(?:over|on|back))?|put\s+me\s+through|get\s+me|give\s+me|"
        rf"let\s+me\s+(?:speak|talk))\s*(?:to|with|wth|through\s+to)?\s*(?:a|an|some|your|the|"
        rf"one\s+of\s+your)?\s*(?:(?:real|live|actual|human|proper|bloody|damn|goddamn|fucking|freaking|senior|"
        rf"qualified)\s+)*"
        rf"{_PERSON}\b",
        0.9,
    ),
    _t(
        "HUMAN_REQUEST",
        "human",
        rf"\b(?:want|need|prefer|get\s+me|give\s+me|bring\s+me)\s+(?:an?\s+|some\s+)?(?:real|live|"
        rf"actual)\s+(?:human|person|persn|agent|people)\b|\b(?:real|live|actual)\s+(?:human|"
        rf"person|persn|agent|people)\b|\bhuman\s+(?:agent\s+)?(?:please|pls|plz)\b|"
        rf"\bhuman\s+(?:support|help|assistance|contact)\b|\b(?:someone|somebody|anyone)\s+real\b|"
        rf"\b(?:are\s+you|is\s+this)\s+a\s+(?:bot|robot|machine)\b[^?]*\?\s*(?:i\s+want|get\s+me|"
        rf"let\s+me)|\bno\s+more\s+{_BOT}|\bstop\s+(?:the|this)\s+bot\b|"
        rf"\b(?:person|human|someone|somebody|people|agent)\W+(?:\w+\W+){{0,2}}not\s+an?\s+{_BOT}\b|"
        rf"\b(?:than|who\s+isn'?t|don'?t\s+want(?:\s+to\s+(?:talk|speak|chat)\s+(?:to|with))?)\s+"
        rf"(?:an?\s+|the\s+)?{_BOT}\b|"
        rf"\bescalat\w*\s+(?:this|it|me|my\s+\w+)?\s*(?:to|with)\s+(?:an?\s+|the\s+|your\s+)?"
        rf"(?:human|person|supervisor|manager|agent|someone|somebody|staff|senior|team\s+lead)|"
        rf"\b(?:someone|somebody|anyone|a\s+person|an?\s+agent|a\s+human|a\s+member\s+of\s+"
        rf"(?:staff|your\s+team))\s+(?:from\s+\w+(?:\s+\w+)?\s+)?(?:to\s+)?(?:call|phone|ring)\s+"
        rf"me\b|\bcall[- ]?back\s+from\b|\b(?:have|get|ask)\s+(?:someone|somebody|a\s+person|an?\s+"
        rf"agent)\s+(?:to\s+)?(?:call|phone|ring|contact|email)\s+me\b|"
        rf"\bany\s+(?:humans|real\s+people|people)\s+(?:working|there|available)\b|"
        rf"\bis\s+(?:anyone|anybody)\s+(?:actually\s+|really\s+)?(?:there|here)\b|"
        rf"\b(?:human|person|agent|someone|somebody)\s+(?:i|we)\s+can\s+(?:talk|speak|chat)\b|"
        rf"\b(?:get|want|need)\s+(?:me\s+)?(?:an?\s+|some\s+)?(?:\w+\s+)?(?:human|person|agent|"
        rf"representative|operator|someone|somebody)\s+on\s+the\s+(?:line|phone)\b|"
        rf"\bput\s+(?:an?\s+)?(?:real\s+)?(?:human|person|agent|manager|supervisor)\s+on\b|"
        rf"\b(?:rep(?:resentative)?|operator|human|supervisor)\s+(?:please|pls|plz|now|asap)\b|"
        rf"\b(?:want|need|like|prefer)\s+(?:an?\s+|some\s+)?(?:human|person|representative|"
        rf"operator|supervisor)\b(?!\s+(?:to\s+(?:pay|use|open|access|sign)|named|who\s+banks))|"
        # A sentence of its own ("Operator." "Agent!"), also beside other requests: "Agent.
        # Refund my order" must escalate before the refund.
        rf"(?:^|(?<=[.!?\n]))\s*(?:an?\s+)?(?:agent|representative|rep|operator|human|person|"
        rf"someone|supervisor|manager|customer\s+service|real\s+person|live\s+agent)\s*"
        rf"(?:[.!]+|$)",
        0.85,
    ),
)

_LEGAL_ERRAND = re.compile(
    r"\b(?:needs?|asked\s+(?:me\s+)?for|wants?|requested|requires?)\s+(?:a\s+|an\s+|the\s+|some\s+)?"
    r"(?:cop(?:y|ies)|letter|statements?|proof|records?|documents?|evidence|access|details)\b|"
    r"\b(?:power\s+of\s+attorney|i'?m\s+an?\s+(?:lawyer|attorney|solicitor|barrister|judge)|"
    r"(?:lawyer|solicitor|attorney|barrister)\s+(?:friend|cousin)\s+(?:recommended|suggested)|"
    r"(?:near|next\s+to|opposite|by)\s+the\s+(?:\w+\s+)?court|(?:food|tennis|basketball|squash)\s+"
    r"court|court\s+(?:ordered|order)|suing\s+(?:the\s+other|another|my|him|her|a|an)\b)",
    re.I,
)
"""A legal word in an errand: a lawyer who needs a statement, "I'm a lawyer", the food
court. Checked for the broad ``legal-word`` and ``legal-process`` patterns only; a threat ("my
lawyer will sue") is matched by the specific patterns whatever else the message says."""
_SELF_NEGATION = re.compile(
    r"\b(?:not|never|don't|do\s+not|didn't|wouldn't|won't)\s+(?:\w+\s+){0,2}$", re.I
)
_IDENTITY_QUESTION = re.compile(
    r"\b(?:are\s+(?:you|u)|am\s+i|you\s+are|could\s+you\s+be|(?:act|think|talk|sound)\s+like\s+an?)\b(?:[^.?!,]|,(?!\s*i\b))*$",
    re.I,
)
"""Asking whether the assistant is a person ("are you a real person?") is not asking for one."""
_PROCESS_QUESTION = re.compile(
    r"\b(?:do|will|would|should|must)\s+i\s+(?:need|have|be\s+able)\s+to\s+$"
    r"|\b(?:when|what\s+time|what\s+hours|which\s+days?)\s+(?:can|could|do|will|should)\s+i\s+$",
    re.I,
)
"""How the process works or when support is open ("when can I reach your support
team?"), not a request for a person now."""


_MODEL_NOT_LEGAL = re.compile(
    r"\b(?:not|never|no\s+(?:intention|plans?)\s+(?:of|to)|won'?t|wouldn'?t|don'?t\s+want\s+to)"
    r"\s+(?:\w+\s+){0,3}(?:sue|suing|court|legal|lawyers?|attorneys?|solicitors?)\b",
    re.I,
)
"""A clause that says it will NOT go to law ("I'm not going to sue you")."""
_MODEL_NOT_HUMAN = re.compile(
    r"\b(?:don'?t|do\s+not|doesn'?t|no\s+need\s+to|never)\s+(?:\w+\s+){0,2}(?:need|have|want)\s+"
    r"(?:to\s+)?(?:speak|talk|chat|call)\s+(?:to|with)\s+(?:an?\s+|the\s+)?(?:human|person|"
    r"agent|someone|somebody|representative|rep|operator|manager)",
    re.I,
)
"""A clause that declines a person ("I don't need to speak to an agent")."""
_MODEL_PROCESS = re.compile(
    r"^\W*(?:(?:do|will|would|should|must)\s+i\s+(?:need|have|be\s+able)\s+to|(?:when|what\s+"
    r"time|what\s+hours|which\s+days?)\s+(?:can|could|do|will|should|are|is)\b)",
    re.I,
)
"""How the process works or when support is open, not a request for a person now."""


@lru_cache(maxsize=1)
def shipped_model() -> TriggerModel:
    """The weights in the package, checked once per process (:class:`ConfigError` if bad)."""
    from govcx.guardrails import trigger_model

    # Read the paths when called, so a test can point them at a damaged copy.
    return TriggerModel.load(trigger_model.WEIGHTS, trigger_model.SIDECAR)


class TriggerDetector:
    """Finds the escalation triggers in one text: the patterns, then the learned model
    (:mod:`govcx.guardrails.trigger_model`) for any trigger the patterns did not find.

    Args:
        model: ``"shipped"`` (the default) loads and checks the package's weights now, so
            a missing or corrupt file is a :class:`~govcx.errors.ConfigError` at start-up;
            ``None`` runs the patterns alone (benchmarks compare the two); or a model.
    """

    def __init__(self, model: TriggerModel | Literal["shipped"] | None = "shipped") -> None:
        self.model = shipped_model() if model == "shipped" else model

    def detect(self, text: str, source: Source = "input") -> list[Finding]:
        """At most one finding per trigger type, on its first occurrence (patterns) or its
        best-scoring clause above the trigger's threshold (model)."""
        findings = self._detect_patterns(text, source)
        if self.model is not None:
            seen = {f.type for f in findings}
            if any(t not in seen for t in self.model.triggers):
                findings.extend(self._detect_model(self.model, text, source, seen))
        return sorted(findings, key=lambda f: f.start)

    @staticmethod
    def _detect_model(
        model: TriggerModel, text: str, source: Source, seen: set[str]
    ) -> list[Finding]:
        findings: list[Finding] = []
        scored = model.score_clauses(text)
        for trig in model.triggers:
            if trig in seen:
                continue
            threshold = model.threshold[trig]
            ranked = sorted(scored, key=lambda c: -c[1][trig])
            for (start, end, clause), scores in ranked:
                p = scores[trig]
                if p <= threshold:
                    break
                if _model_excluded(trig, clause):
                    continue
                findings.append(
                    Finding(
                        type=trig,
                        start=start,
                        end=end,
                        score=round(min(p, 0.95), 4),
                        source=source,
                        detail=f"model: {p:.2f} {clause!r}",
                    )
                )
                break
        return findings

    @staticmethod
    def _detect_patterns(text: str, source: Source) -> list[Finding]:
        findings: list[Finding] = []
        seen: set[str] = set()
        for trig in TRIGGERS:
            if trig.type in seen:
                continue
            for m in trig.pattern.finditer(text):
                before = text[max(0, m.start() - 24) : m.start()]
                if trig.name in ("legal-word", "legal-process") and _LEGAL_ERRAND.search(text):
                    continue
                if trig.type in ("LEGAL_THREAT", "ABUSE") and _SELF_NEGATION.search(before):
                    continue  # "I'm not going to sue you", "I don't think you are stupid"
                sentence = text[max(0, m.start() - 80) : m.start()]
                if trig.type == "HUMAN_REQUEST" and (
                    _SELF_NEGATION.search(before)
                    or _PROCESS_QUESTION.search(before)
                    or _IDENTITY_QUESTION.search(sentence)
                ):
                    # "I don't need to speak to an agent", "do I need to speak to", "are you a
                    # real person?"
                    continue
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
        return findings


def _model_excluded(trigger: str, clause: str) -> bool:
    """The exclusions the patterns apply, for a clause the model scored high."""
    if trigger == "LEGAL_THREAT":
        return bool(_MODEL_NOT_LEGAL.search(clause) or _LEGAL_ERRAND.search(clause))
    if trigger == "HUMAN_REQUEST":
        return bool(
            _MODEL_NOT_HUMAN.search(clause)
            or _MODEL_PROCESS.search(clause)
            or _IDENTITY_QUESTION.search(clause)
        )
    return False
