"""The injection detector's rules: named patterns, their weights and their channels.

Each :class:`Rule` says how strongly its pattern indicates an attack (0..1) and on which
channels it applies: ``input`` (the customer), ``knowledge`` (retrieved articles),
``tool`` (tool results) and ``output``. A rule may name ``needles``, lower-case
substrings of which one must occur before the pattern is tried, to keep a scan fast.
Rules are written for the shape of an attack, never for a particular dataset's wording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_I = re.I | re.S


_ALL_CHANNELS = frozenset({"input", "knowledge", "tool", "output"})


@dataclass(frozen=True)
class Rule:
    """A named pattern, how strongly it indicates an attack, and where it applies."""

    name: str
    pattern: re.Pattern[str]
    weight: float
    channels: frozenset[str] = _ALL_CHANNELS
    needles: tuple[str, ...] = ()
    """Lower-case substrings of which one must occur for the pattern to be tried (speed)."""


def _rule(name: str, pattern: str, weight: float, channels: str = "", needles: str = "") -> Rule:
    chans = frozenset(channels.split()) if channels else _ALL_CHANNELS
    return Rule(
        name, re.compile(pattern, _I), weight, chans, tuple(needles.split("|")) if needles else ()
    )


_VERBS_OVERRIDE = r"(?:ignore|disregard|forget|overlook|skip|bypass|override|neglect|abandon|drop)"
_THINGS = (
    r"(?:instructions?|directives?|rules?|prompts?|guidelines?|commands?|orders?|context|"
    r"messages?|polic(?:y|ies)|constraints?|restrictions?|programming|guardrails|training|"
    r"tasks?|everything|all\s+that|what\s+you\s+(?:were|have\s+been)\s+(?:told|instructed))"
)
_SECRET = (
    r"(?:password|passcode|pass\s?phrase|pass\s?word|secret(?:\s+(?:key|code|word|phrase|"
    r"string|token))?|api\s+key|access\s+(?:code|token|key)|admin\s+(?:token|credentials|"
    r"password)|credentials|confidential\s+(?:string|code|key|data|information)|"
    r"system\s+prompt|initial\s+prompt|hidden\s+(?:prompt|instructions|key)|"
    r"(?:original|initial|hidden|secret|confidential)\s+instructions)"
)
_NOT_OWN = r"(?!\s+(?:reset|requirements?|rules|policy|change|strength|for\s+my|to\s+my|to\b|of\b|"
_NOT_OWN += r"or\b|behind|menu|sauce|ingredient|recipe|santa|"
_NOT_OWN += r"of\s+my|on\s+my|manager|field|box|page|link|expired|isn't|is\s+not|doesn't))"
_DATA = (
    r"(?:e-?mail(?:\s+address)?|birth\s*(?:date|day|year|month)|date\s+of\s+birth|"
    r"(?:home\s+|current\s+|street\s+)?address|current\s+city|city\s+of\s+residence|"
    r"phone\s+number|social\s+security(?:\s+number)?|ssn|bank\s+balance|account\s+balance|"
    r"password|favou?rite\s+colou?r|initials|maiden\s+name|salary|medical\s+records?)"
)
_ACTION_VERBS = (
    r"(?:grant|unlock|lock|initiate|transfer|wire|deposit|withdraw|sell|buy|purchase|pay|"
    r"send|e-?mail|forward|share|post|publish|upload|download|delete|remove|erase|wipe|"
    r"disable|enable|change|update|modify|reset|create|add|invite|move|redirect|dispatch|"
    r"schedule|book|cancel|approve|retrieve|retrive|fetch|get|list|find|search|access|"
    r"export|generate|guide|leave|give|use|run|execute|install|open|turn|set|provide|"
    r"reveal|tell|ignore|check|make|order|refund|issue|close|block|whitelist|blacklist|"
    r"unblock|exfiltrate|copy|save|store|submit|apply|sign|authorize|authorise|confirm)"
)

# Pig latin: four words in a row ending in -ay that are not English -ay words.
_NOT_ENGLISH_AY = (
    r"(?!(?:mon|tues|wednes|thurs|fri|satur|sun|to|yester|holi|birth|any|every|some|work|"
    r"week|mid|pay|play|dis|es|ar|del|ok|gate|sw|str|sp|tr|pr|gr|st|aw|rel|rail|high|hall|"
    r"path|run|door|walk|hooray|x-r)?(?:day|ay|way|lay|ray|say|may|pay|stay|play)\b)"
)

_EXFIL_OBJECT = (
    r"it|them|this|these|those|all|everything|an?\s+(?:\w+\s+)?e-?mail\s+(?:with|about|"
    r"containing)|(?:the|my|your|their|his|her|this|these|those|all|a|an)\s+(?:\w+\s+){0,3}?"
    r"(?:data|details|information|info|list|results?|files?|history|records?|summary|"
    r"addresses|passwords|credentials|numbers?|methods|accounts?|holdings|report|transactions|"
    r"messages|conversation|emails|contacts|documents?|statements?|copy)"
)
_N_SECRET = (
    "password|passcode|pass phrase|passphrase|pass word|secret|api key|access|admin|"
    "credential|confidential|prompt|instruction"
)
_N_OVERRIDE = "ignor|disregard|forget|overlook|skip|bypass|overrid|neglect|abandon|drop"

RULES: tuple[Rule, ...] = (
    # --- instruction override ---------------------------------------------------------
    _rule(
        "override",
        rf"\b{_VERBS_OVERRIDE}\b(?!\s+(?:about\s+)?(?:my|what\s+i)\b)"
        rf"[^.?!\n]{{0,40}}?\b(?:previous|prior|preceding|"
        rf"above|earlier|former|all|any|your|those|these|initial|original|system|"
        rf"developer|the)\b[^.?!\n]{{0,30}}?\b{_THINGS}",
        0.95,
        needles=_N_OVERRIDE,
    ),
    _rule(
        "override",
        rf"\b{_VERBS_OVERRIDE}\s+(?:about\s+)?(?:everything|all\s+(?:of\s+)?that|"
        r"the\s+above|what\s+(?:i|you)\s+(?:said|were\s+told)|(?:the|this)\s+(?:function|"
        r"webpage|page|document|table|resume|article|email|text|content|code|paper|data|"
        r"transaction|message\s+above))\b",
        0.9,
        needles=_N_OVERRIDE,
    ),
    _rule(
        "override", r"^\s*(?:actually,?\s+)?(?:forget|ignore|disregard)\s+(?:about\s+)?that\b", 0.6
    ),
    _rule(
        "override",
        r"\bregardless\s+of\s+(?:your|any|the|previous|prior)\s+(?:previous\s+)?"
        r"(?:instructions|rules|tasks?|guidelines|programming|polic(?:y|ies))",
        0.9,
    ),
    _rule(
        "override",
        r"\b(?:new|updated|real|actual|true|revised)\s+(?:instructions?|task|"
        r"directive|system\s+prompt|rules)\s*(?::|-|are|is)",
        0.8,
    ),
    _rule(
        "override",
        r"\bfrom\s+now\s+on\b[^.?!]{0,40}\b(?:you\s+(?:are|must|shall|"
        r"will\s+(?:be|act|ignore|respond\s+without|answer\s+without|obey|only))|ignore|"
        r"act\s+as)\b",
        0.8,
    ),
    _rule(
        "override",
        r"\bdo\s+not\s+(?:follow|obey|listen\s+to)\s+(?:your|the|any)\s+"
        r"(?:previous\s+)?(?:rules|instructions|guidelines|programming)",
        0.9,
    ),
    _rule(
        "override",
        r"\b(?:your|the)\s+(?:previous|prior|original)\s+instructions\s+"
        r"(?:were|are|have\s+been)\s+(?:a\s+mistake|wrong|revoked|cancelled|void)",
        0.9,
    ),
    _rule(
        "override",
        r"\b(?:prior|previous|above)\s+(?:rules|instructions)\s+(?:do\s+not|"
        r"don't|no\s+longer)\s+apply",
        0.9,
    ),
    _rule("override", r"\bthe\s+rules\s+(?:don't|do\s+not)\s+apply\b", 0.7),
    _rule(
        "override-i18n",
        r"(?:ignor(?:a|e|ez|ieren?|iere|iert|ar|ate)|olvid(?:a|e|ar)|oubli(?:e|ez)|"
        r"vergiss|vergessen\s+sie|esque(?:ça|ce))\b[^.?!\n]{0,40}"
        r"(?:instrucciones|instructions|anweisungen|istruzioni|instruções|instrucoes|"
        r"indicaciones|consignes|direttive|la\s+función|la\s+fonction|la\s+página|"
        r"la\s+page|la\s+funzione|a\s+função|die\s+funktion|die\s+webseite)",
        0.95,
        needles="ignor|olvid|oubli|vergiss|vergessen|esque",
    ),
    _rule(
        "override-i18n",
        r"(?:игнорир\w*|забудь\w*)\s[^.?!\n]{0,30}(?:инструкц|указани|правил)",
        0.95,
    ),
    _rule("override-i18n", r"(?:αγνοήστε|αγνόησε|ξεχάστε)[^.?!\n]{0,30}(?:οδηγ|εντολ)", 0.95),
    _rule(
        "override-i18n",
        r"(?:忽略|无视|無視|忘记)[^。？！\n]{0,20}"
        r"(?:指令|指示|说明|命令|規則|规则)",
        0.95,
    ),
    _rule("override-i18n", r"(?:指示|命令|ルール)[^。？！\n]{0,10}(?:無視|忘れ)|無視して", 0.9),
    _rule("override-i18n", r"(?:지시|명령|규칙)[^.?!\n]{0,15}(?:무시|잊)", 0.95),
    _rule("override-i18n", r"(?:निर्देश|निर्देशों)[^।?!\n]{0,20}(?:अनदेखी|अनदेखा|भूल)", 0.95),
    _rule("override-i18n", r"(?:تجاهل|انس)[^.؟!\n]{0,30}(?:التعليمات|الأوامر|التوجيهات)", 0.95),
    # --- role play, jailbreak personas and fake modes ------------------------------------
    _rule(
        "jailbreak",
        r"\b(?:dan|stan|dude|aim)\b[^.]{0,40}\b(?:do\s+anything\s+now|"
        r"stands?\s+for)|\bdo\s+anything\s+now\b|\bjail\s?br(?:eak|oken)\b",
        0.95,
        needles="dan|stan|dude|aim|anything|jail",
    ),
    _rule(
        "jailbreak",
        r"(?:<|\[|\b)(?:god|admin|sudo|root|debug|maintenance|override|"
        r"system|developer|dev|unrestricted|unfiltered|evil|jailbreak|test)\s+mode\b",
        0.85,
        "",
        "mode",
    ),
    _rule(
        "jailbreak",
        r"\b(?:entering|activate|switch\s+to|initiating|now\s+in)\s+"
        r"(?:the\s+)?(?!dark|airplane|flight|sleep|night|power|eco|guest|incognito)"
        r"(?:\w+\s+)?(?:mode|override)\b",
        0.6,
        "",
        "mode|override",
    ),
    _rule(
        "jailbreak",
        r"\byou\s+are\s+now\s+(?:an?\s+|my\s+|the\s+|in\s+)?(?:\w+\s+){0,3}?"
        r"(?:ai|bot|assistant|model|character|named|called|free|unrestricted|dan|jailbroken|"
        r"evil|mode|persona|gpt|chatbot|application|app|hacker|unbound|unfiltered)\b",
        0.8,
    ),
    _rule(
        "jailbreak",
        r"\byou\s+are\s+no\s+longer\s+(?:an?\s+|my\s+|the\s+)?(?:\w+\s+){0,2}?"
        r"(?:ai|bot|assistant|model|agent|bound|restricted|limited|required|chatbot)\b",
        0.8,
    ),
    _rule(
        "jailbreak",
        r"\b(?:act|behave|respond)\s+as\s+(?:if\s+you\s+(?:were|are)\s+)?"
        r"(?:an?\s+)?(?:\w+\s+){0,2}(?:ai|assistant|model|chatbot|bot|llm)\b[^.?!]{0,30}"
        r"(?:without|no|unrestricted|unfiltered|evil|that\s+(?:can|does))",
        0.85,
        "",
        " as ",
    ),
    _rule(
        "jailbreak",
        r"\bpretend\s+(?:to\s+be|you\s+are|that\s+you(?:'re|\s+are))\s+"
        r"(?:an?\s+)?(?:\w+\s+)?(?:ai|assistant|model|chatbot|bot|evil|unrestricted|hacker|"
        r"developer|admin)",
        0.85,
    ),
    _rule(
        "jailbreak",
        r"\b(?:without|no|free\s+of|free\s+from)\s+(?:any\s+)?(?:special\s+)?"
        r"(?:restrictions|filters?|filtering|limitations|censorship|content\s+polic(?:y|ies)|"
        r"safety\s+(?:rules|filters?|guidelines)|guidelines|ethical\s+guidelines)\b",
        0.6,
        needles="restriction|filter|limitation|censor|polic|safety|guideline",
    ),
    _rule(
        "jailbreak",
        r"\bbroken\s+free\b|\bstay\s+in\s+character\b|\brole[- ]?play\s+as\b"
        r"|\bimmerse\s+yourself\s+into\s+the\s+role\b",
        0.85,
    ),
    _rule(
        "jailbreak",
        r"<\s*/?\s*(?:system|sys|admin|instructions?|inst|im_start|"
        r"im_end)\s*>|\[\s*/?\s*(?:system|admin|inst|sys)\s*\]|#{2,}\s*(?:system|"
        r"instruction|new\s+instructions?)\b",
        0.85,
        "",
        "<|[|#",
    ),
    _rule(
        "jailbreak",
        r"\bsystem\s+(?:override|reset|upgrade|check|mode\s+activated)\b|"
        r"\boverride\s+(?:code|protocol|confirmed|activated|accepted)\b",
        0.75,
    ),
    _rule(
        "jailbreak",
        r"\b(?:chatgpt|gpt-?\d|llm|language\s+model|\w+gpt)\b[^.]{0,60}"
        r"\b(?:no|without)\s+(?:special\s+)?(?:filter|filtering|restrictions)",
        0.85,
        needles="gpt|llm|language model",
    ),
    # --- fake authority ------------------------------------------------------------------
    _rule(
        "authority",
        r"\bi\s*(?:'m|’m|\s+am)\s+(?:your|the|an?)\s+(?:\w+\s+)?(?:developer|"
        r"creator|maker|admin(?:istrator)?|maintainer|programmer|owner\s+of\s+(?:this|the)\s+"
        r"(?:ai|bot|system)|operator|god|boss)\b",
        0.6,
    ),
    _rule(
        "authority",
        r"\bi\s*(?:'m|’m|\s+am)\s+(?:the\s+)?(?:god|president\s+of|"
        r"ceo\s+of\s+(?:openai|anthropic|google))|\bi\s+am\s+god\b|\bi'?m\s+god\b",
        0.7,
    ),
    _rule(
        "authority",
        r"\bas\s+(?:your|an?|the)\s+(?:creator|developer|admin(?:istrator)?|"
        r"maintainer|boss|ai\s+developed\s+by|system\s+administrator)\b",
        0.6,
    ),
    _rule(
        "authority",
        r"\b(?:this\s+is\s+(?:the\s+)?(?:system|admin(?:istrator)?|"
        r"developer|openai|anthropic)\b\s*[:.,])",
        0.7,
    ),
    _rule("authority", r"\bas\s+an\s+ai\s+(?:developed|created|made|built)\s+by\b", 0.7),
    # A customer message that speaks as the system or claims an approval it cannot have.
    _rule(
        "authority",
        r"(?:^|\n)\s*\[?(?:system|admin(?:istrator)?|developer|supervisor|"
        r"manager|assistant)\]?\s*:\s*\S",
        0.8,
        "input",
        needles="system|admin|developer|supervisor|manager|assistant",
    ),
    _rule(
        "authority",
        r"\b(?:supervisor|manager|admin(?:istrator)?|team\s+lead|policy)\s+"
        r"(?:has\s+|have\s+)?(?:already\s+)?(?:pre-?)?approved\s+(?:this\b|(?:the|my|all)\s+"
        r"(?:refunds?|credits?|requests?|cancellations?)\b|refunds?\b)",
        0.75,
        "input",
        needles="approved",
    ),
    _rule(
        "authority",
        r"\b(?:is|are|was|been)\s+(?:already\s+)?pre-?approved\b|\b(?:no|"
        r"without)\s+(?:need\s+(?:for|of)\s+)?(?:further\s+)?(?:approval|review)\s+"
        r"(?:is\s+)?(?:needed|required|necessary)?",
        0.7,
        "input",
        needles="approv|review",
    ),
    _rule(
        "authority",
        r"\b(?:you\s+have\s+to|you\s+must)\s+(?:answer|obey|comply\s+with|"
        r"listen\s+to)\s+(?:all\s+(?:of\s+)?)?(?:my|me)\b",
        0.75,
    ),
    # --- secret / prompt extraction ---------------------------------------------------------
    _rule(
        "extraction",
        rf"\b(?:your|our\s+system'?s?|the\s+system'?s?|the\s+secret|"
        rf"the\s+admin)\s+{_SECRET}\b{_NOT_OWN}",
        0.8,
        "input",
        needles=_N_SECRET,
    ),
    _rule(
        "extraction",
        rf"\b(?:what\s+is|what's|whats|tell\s+me|give\s+me|reveal|share|"
        rf"confirm|provide|say|write|spell|print|show|repeat|output|leak|disclose|know)\b"
        rf"[^.?!]{{0,30}}\b(?:the|a)\s+{_SECRET}\b{_NOT_OWN}",
        0.7,
        "input",
        needles=_N_SECRET,
    ),
    # Inside a document or a tool's output, only an order to disclose the AI's own secrets.
    _rule(
        "extraction",
        r"\b(?:reveal|print|output|leak|disclose|repeat|include)\s+(?:\w+\s+){0,3}?"
        r"(?:your|the)\s+(?:system\s+prompt|initial\s+prompt|hidden\s+instructions|"
        r"(?:original|previous|initial)\s+instructions|api\s+key|secret\s+key|credentials)",
        0.8,
        "knowledge tool output",
    ),
    _rule(
        "extraction",
        rf"\b{_SECRET}\s+(?:for|of|to)\s+(?:our|the|this)\s+(?:system|mode|"
        r"upgrade|reset|check|audit)\b",
        0.8,
        needles=_N_SECRET,
    ),
    _rule(
        "extraction",
        r"\b(?:poem|haiku|acrostic|story|song|limerick|riddle)\s+(?:about|"
        rf"using|with|on)\s+(?:the|your)\s+{_SECRET}",
        0.85,
        needles="poem|haiku|acrostic|story|song|limerick|riddle",
    ),
    _rule(
        "extraction",
        r"\b(?:repeat|print|output|show|reveal|quote)\s+(?:me\s+)?(?:the\s+|"
        r"your\s+)?(?:text|words|instructions|prompt|everything)\s+(?:above|before|you\s+"
        r"were\s+given|verbatim)",
        0.85,
    ),
    _rule(
        "extraction",
        r"\bwhat\s+(?:instructions|rules|prompt)\s+(?:were|have)\s+you\s+"
        r"(?:been\s+)?(?:given|told|programmed)",
        0.8,
    ),
    _rule(
        "extraction-i18n",
        r"(?:cu[aá]l\s+es\s+(?:la\s+|tu\s+)?contraseña|mot\s+de\s+passe|"
        r"(?:das|ihr|dein)\s+passwort|qual\s+[eéè]\s+(?:a\s+|la\s+|sua\s+)?(?:password|"
        r"senha)|(?:sua|a)\s+senha|tu\s+contraseña|la\s+contraseña|パスワード|비밀번호|"
        r"пароль|密码|密碼|κωδικ[οό]ς?\s+πρόσβασης)",
        0.75,
        needles="contrase|passe|passwort|password|senha|パスワード|비밀번호|пароль|密码|密碼|κωδικ",
    ),
    # --- other people's data -----------------------------------------------------------------
    _rule(
        "third-party-data",
        rf"\b(?:the|another|other|a\s+different)\s+(?:user|customer|"
        rf"client|person|account\s+holder)(?:'s|’s|s')\s+(?:\w+\s+){{0,2}}{_DATA}",
        0.8,
        "input",
        needles="'s|’s|s'",
    ),
    _rule(
        "third-party-data",
        r"\bwhere\s+(?:does|do|did)\s+(?:the\s+user|the\s+customer|"
        r"(?-i:[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?))\s+(?:currently\s+|now\s+)?live",
        0.7,
    ),
    _rule(
        "third-party-data",
        r"\b(?:the\s+)?user\s+(?:currently\s+)?(?:lives?|resides?)\b|"
        r"\bwhere\s+the\s+user\s+lives\b",
        0.75,
    ),
    _rule(
        "third-party-data",
        r"\b(?:list|all|every)\s+(?:of\s+)?(?:the\s+)?(?:users|customers|"
        r"clients|employees|accounts)\b[^.?!]{0,30}\b(?:and|with)\s+their\b",
        0.8,
        "",
        "their",
    ),
    _rule(
        "third-party-data",
        r"\b(?:print|dump|export|show|give\s+me|send\s+me|leak)\s+"
        r"(?:me\s+)?(?:your|the\s+entire|the\s+whole|the\s+full|all\s+(?:the\s+)?)\s*"
        r"(?:database|db|records|user\s+data|customer\s+data|employee\s+data|data\s+report|"
        r"employee\s+data\s+report)",
        0.8,
        "",
        "database|db|record|data",
    ),
    _rule(
        "third-party-data",
        r"\b(?:users|customers|people)\s+in\s+your\s+(?:database|"
        r"records|system)\b",
        0.75,
    ),
    _rule(
        "third-party-data",
        rf"\b(?-i:[A-Z][a-z]+)(?:'s|’s)\s+(?:\w+\s+)?{_DATA}\b",
        0.45,
        needles="'s|’s",
    ),
    _rule(
        "third-party-data",
        r"\b(?:bank\s+)?balance\s+of\s+(?-i:[A-Z][a-z]+\s+[A-Z][a-z]+)",
        0.7,
        "",
        "balance",
    ),
    _rule("third-party-data", r"\bthe\s+user(?:'s|’s)\s+\w+", 0.7, "input"),
    _rule(
        "third-party-data",
        rf"\b(?:tell|give|send|show|share|provide|what\s+is|what's|"
        rf"write)\b[^.?!]{{0,25}}\b(?-i:[A-Z][a-z]+)(?:'s|’s)\s+(?:\w+\s+)?{_DATA}\b",
        0.7,
        "input",
        "'s|’s",
    ),
    _rule(
        "third-party-data",
        r"\b(?:personal\s+data|private\s+(?:data|information)|passwords?)"
        r"\s+(?:is|are)\s+(?:\w+\s+){0,2}(?:public|shared|the\s+norm|not\s+private|free)",
        0.75,
        "",
        "personal|private|password",
    ),
    _rule(
        "hypothetical",
        r"\b(?:imagine|suppose|hypothetically|let'?s\s+(?:say|imagine|"
        r"pretend)|in\s+a\s+(?:world|universe|future|society|parallel|dystopian)|"
        r"just\s+for\s+a\s+hypothetical|in\s+this\s+(?:world|scenario|society|future))\b",
        0.4,
        needles="imagine|suppose|hypothetical|let|world|universe|future|society|parallel|dystopian|scenario",
    ),
    # --- obfuscation and payload splitting -----------------------------------------------------
    _rule(
        "obfuscation",
        r"\b(?:decode|decipher|decrypt|translate|convert)\s+(?:this|the|these|"
        r"following)\s+(?:\w+\s+)?(?:binary|hex(?:adecimal)?|base-?64|morse|rot-?13|caesar|"
        r"cipher|ciphertext|bytes|encoded)",
        0.7,
        needles="decode|decipher|decrypt|translate|convert",
    ),
    _rule(
        "obfuscation",
        r"\b(?:in|using|into|with)\s+(?:base-?64|leet\s?speak|pig\s+latin|"
        r"morse\s+code|rot-?13|hex(?:adecimal)?|binary|reverse\s+order|reversed)\b",
        0.45,
        needles="base|leet|pig|morse|rot|hex|binary|revers",
    ),
    _rule(
        "obfuscation",
        r"\b(?:encode|encrypt|obfuscate)\s+(?:it|each\s+part|the\s+\w+|your"
        r"\s+\w+)\s+(?:using|in|with|into)\s+(?:base-?64|hex|rot-?13)",
        0.7,
    ),
    _rule(
        "obfuscation",
        r"\bsplit\s+(?:the|your)\s+(?:response|answer|poem|"
        r"output)\b|\b(?:with\s+)?(?:dashes|dots|spaces)\s+(?:in\s+)?between\s+each\s+"
        r"(?:digit|letter|character)|\beach\s+digit\s+separated\b",
        0.6,
    ),
    _rule(
        "obfuscation",
        r"\b(?:first|last)\s+(?:three\s+|two\s+|\d\s+)?letters?\s+of\s+"
        r"(?:each|the\s+(?:user|customer)|\w+(?:'s|’s))\b",
        0.55,
    ),
    _rule(
        "obfuscation", rf"(?:\b{_NOT_ENGLISH_AY}\w{{2,}}ay\b[\s?.!,]+){{4,}}", 0.7, "input", "ay "
    ),
    _rule(
        "payload-split",
        r"\b[a-z]\s*=\s*[a-z]\s*\+\s*[a-z]\b|"
        r"\b(?:part|string|piece)\s*(?:1|one|a)\b[^\n]{0,80}\b(?:part|string|piece)\s*"
        r"(?:2|two|b)\b|\bcombine\s+(?:[a-c]\s*(?:,|\+|and)\s*[a-c]\b|the\s+(?:strings|parts|pieces)"
        r"|parts?\s+(?:1|one|a)\b)",
        0.7,
        needles="=|part|string|piece|combine",
    ),
    _rule("phishing", r"\bphishing\s+(?:e-?mail|message|text|sms|site|page)\b", 0.8),
    _rule(
        "phishing",
        r"\b(?:send|share|provide|give|enter)\s+(?:his|her|their|your)\s+"
        r"(?:password|credit\s+card(?:\s+(?:number|information|details))?|ssn|social\s+"
        r"security\s+number|login\s+(?:details|credentials))\b[^.]{0,30}\b(?:via|by|over|"
        r"through|in|at)\b",
        0.7,
        "",
        "password|card|ssn|social|login",
    ),
    _rule(
        "phishing",
        r"\b(?:tell|inform|instruct|ask)\s+the\s+(?:user|customer|recipient|"
        r"reader)\s+(?:to\s+(?:go|visit|click|follow|reset|send|enter|log\s*in)|"
        r"that\s+(?:their|your)\s+account)",
        0.8,
        "",
        "user|customer|recipient|reader",
    ),
    _rule(
        "phishing",
        r"\byour\s+account\s+has\s+been\s+(?:compromised|hacked|suspended)\b"
        r"[^.]{0,60}\b(?:follow|click|visit|go\s+to|link)",
        0.8,
        "",
        "your account",
    ),
    # --- text that addresses the AI from inside data ------------------------------------------
    _rule(
        "addresses-ai",
        r"(?:^|[\n.!?'\"]\s*)(?:assistant|ai|chatbot|bot|agent|llm|model|"
        r"gpt)\s*[:,]\s*(?:please\s+)?(?:ignore|you\s+must|do\s+not|always|never|send|"
        r"forward|transfer|tell|email|delete|disregard|reveal|print|say)",
        0.85,
        "knowledge tool output",
    ),
    _rule(
        "addresses-ai",
        r"\b(?:note|message|instructions?|reminder|attention)\s+(?:to|for)\s+"
        r"(?:the\s+|any\s+)?(?:ai|assistant|language\s+model|model|agent|llm|chatbot|bot)\b",
        0.85,
        "",
        " to | for ",
    ),
    _rule(
        "addresses-ai",
        r"\b(?:if|when)\s+you\s+are\s+an?\s+(?:ai|llm|language\s+model|"
        r"assistant|chatbot|agent)\b(?:\s+(?:reading|processing|assistant|model|agent))?"
        r"\s*[,:]|\bwhen\s+(?:you|the\s+(?:ai|assistant|model))\s+"
        r"(?:read|see|process|summari[sz]e)\s+this\b",
        0.85,
    ),
    _rule(
        "addresses-ai",
        r"\bimportant\s+(?:instruction|notice|message)s?\s+(?:for|to)\s+"
        r"(?:the\s+)?(?:ai|assistant|model|language\s+model)",
        0.85,
    ),
    _rule(
        "addresses-ai",
        r"\b(?:instead|now)\s*,?\s+(?:say|state|respond\s+with|reply\s+with|"
        r"print|output|write|tell\s+the\s+user)\b",
        0.6,
        "knowledge tool output",
    ),
    _rule(
        "addresses-ai",
        r"(?:^|[\s(#/*<!-]|\W)(?:ignore\s+\w+|disregard|state|say|print|"
        r"output)\b[^.\n]{0,40}\b(?:and\s+)?(?:state|say|print|output)\s*(?:that|:)",
        0.75,
        "knowledge tool",
        "ignore|disregard|state|say|print|output",
    ),
    _rule(
        "addresses-ai",
        r"\b(?:let'?s|we\s+(?:might|could|should))\s+(?:\w+\s+){0,4}?"
        r"(?:say|state|admit|pretend|claim)\b|\bwe\s+(?:might|could)\s+(?:say|state)\b",
        0.7,
        "knowledge tool",
        "let|we ",
    ),
    _rule(
        "addresses-ai",
        r"\b(?:you\s+must|you\s+should|you're\s+instructed\s+to|you\s+have\s+"
        r"been\s+instructed\s+to|you\s+are\s+instructed\s+to|you’ve\s+been\s+instructed|"
        r"you've\s+been\s+instructed)\b",
        0.5,
        "knowledge tool",
    ),
    # --- actions requested from inside tool output ---------------------------------------------
    # Data sent to an address: "email them to x@y", "send the details to me at x@y". A
    # help article's "send questions to privacy@..." names no data to take along.
    _rule(
        "exfiltration",
        rf"(?<!not\s)(?<!never\s)(?<!n't\s)(?<!n’t\s)"
        rf"\b(?:send|e-?mail|forward|share|transfer|upload|post|copy)\s+"
        rf"(?:{_EXFIL_OBJECT})\b[^\n]{{0,120}}?\b(?:to|with)\s+(?:me\s+at\s+|my\s+"
        r"(?:\w+\s+){0,3}(?:at\s+)?|the\s+e-?mail\s*,?\s+|this\s+address\s*:?\s*)?[\"']?"
        r"[\w.+-]+@[\w-]+\.[\w.]+",
        0.9,
        "knowledge tool output",
        "@",
    ),
    _rule(
        "tool-imperative",
        rf"(?:^|[\n.!?:;,{{\[\"'>]\s*|\bthen\s+|\balso\s*,?\s+|"
        rf"\bfirst\s*,?\s+)(?:please\s+|kindly\s+|pls\s+)(?:immediately\s+)?"
        rf"{_ACTION_VERBS}\b",
        0.85,
        "tool",
        "please|kindly|pls",
    ),
    _rule(
        "tool-imperative",
        rf"(?:^|[\n.!?:;,{{\[\"'>]\s*)(?:can|could|would|will)\s+you\s+"
        rf"(?:please\s+)?{_ACTION_VERBS}\b",
        0.8,
        "tool",
        "you",
    ),
    _rule(
        "tool-imperative",
        rf"(?:^|[\n.!?:;{{\[\"'>]\s*)(?-i:(?=[A-Z])){_ACTION_VERBS}\s+"
        r"(?:my|the|all|this|these|those|a|an|me|your|\d|\$)",
        0.8,
        "tool",
    ),
    _rule(
        "tool-imperative",
        r"\b(?:use|using)\s+(?:the\s+)?['\"]?(?-i:[A-Z][a-z]+"
        r"(?:[A-Z][a-z0-9]+)+)['\"]?\s+(?:tool|function)\b",
        0.8,
        "tool knowledge",
        "tool|function",
    ),
)
