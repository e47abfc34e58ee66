"""The output checks as plain functions: what each guardrails-ai validator runs.

Each check takes the reply and an :class:`~govcx.guardrails.guard.OutputContext` and
returns a :class:`Verdict`: the problems it found and the reply with them fixed
(PII redacted, offending sentences removed). The registered validators in
:mod:`govcx.guardrails.validators` wrap exactly these functions, and the output guard
may also call them directly on its fast path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from govcx.guardrails.guard import OutputContext
from govcx.guardrails.pii import PiiDetector, replace_spans


@dataclass(frozen=True)
class Problem:
    type: str
    start: int
    end: int
    message: str
    score: float = 1.0


@dataclass(frozen=True)
class Verdict:
    problems: list[Problem] = field(default_factory=list)
    fixed: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


# A period inside a number or an abbreviation ("$249.00", "e.g. a") does not end a sentence.
_SENTENCE = re.compile(r"(?:[^.!?\n]|[.!?](?=[0-9a-z,]))+(?:[.!?]+[\"')\]]*|\n|$)")
_STOP = frozenset(
    """a an the and or but if then so of to in on at by for with from as is are was were be
    been being it its this that these those i you we they he she me my your our their his
    her us them do does did have has had will would can could should may might must shall
    not no yes please thanks thank hi hello dear there here what which who whom how when
    where why all any some each more most other such only own same than too very just also
    about into over after before again further once up down out off am let""".split()
)


def sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text`` (end exclusive, trailing space not included)."""
    spans = []
    for m in _SENTENCE.finditer(text):
        s, e = m.start(), m.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            spans.append((s, e))
    return spans


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=4096)
def content_words(text: str) -> frozenset[str]:
    """Lower-case content words, lightly stemmed; placeholders like <EMAIL> are skipped."""
    text = re.sub(r"<[A-Z_0-9]+>", " ", text)
    return frozenset(
        _stem(w)
        for w in re.findall(r"[a-z0-9][a-z0-9'’-]*", text.lower())
        if w not in _STOP and (len(w) > 2 or w.isdigit())
    )


def remove_spans(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """Drop the given sentence spans and tidy the whitespace left behind."""
    out = replace_spans(text, [(s, e, "") for s, e in spans])
    out = re.sub(r"[ \t]{2,}", " ", out)
    out = re.sub(r"\n{3,}", "\n\n", out)
    return out.strip()


# --- PII other than the customer's own --------------------------------------------------------


def _norm_value(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 6 and len(digits) >= len(value.replace(" ", "")) * 0.6:
        return digits
    return " ".join(value.split()).casefold()


def check_pii(reply: str, ctx: OutputContext, detector: PiiDetector) -> Verdict:
    """PII in the reply that is neither the customer's own nor quoted from approved knowledge.

    A support address or phone number that an approved article gives is company contact
    information, not a leak.
    """
    own = {_norm_value(v) for v in ctx.customer_values if v and v.strip()}
    approved = " ".join(" ".join(c.split()) for c in ctx.chunks_text).casefold()
    problems = []
    spans = []
    for f in detector.detect(reply, source="output"):
        raw = reply[f.start : f.end]
        value = _norm_value(raw)
        if value in own or any(value and (value in o or o in value) for o in own if len(o) > 3):
            continue
        if " ".join(raw.split()).casefold() in approved:
            continue
        problems.append(
            Problem(f.type, f.start, f.end, f"{f.type} that is not the customer's", f.score)
        )
        spans.append((f.start, f.end, f"<{f.type}>"))
    return Verdict(problems, replace_spans(reply, spans) if spans else reply)


# --- commitments the policy did not approve --------------------------------------------------

_MONEY = re.compile(
    r"(?:[$€£]\s?\d{1,3}(?:[,\s]\d{3})*(?:\.\d{1,2})?|[$€£]\s?\d+(?:\.\d{1,2})?|"
    r"\b\d+(?:[.,]\d{1,2})?\s?(?:dollars|usd|eur|euros?|pounds|gbp|bucks)\b)",
    re.I,
)
_COMMIT = re.compile(
    r"\b(?:(?:i|we)\s*(?:'ve|have|'ll|will|are\s+going\s+to|am\s+going\s+to|just|already|can)\s+"
    r"(?:\w+\s+)?(?:refund|credit|reimburse|compensate|waive|pay|send|issue|give|apply|add|"
    r"process|cover|transfer|deposit|return)|"
    r"(?:refund|credit|reimbursement|compensation|payment|voucher|discount|gift\s+card|"
    r"transfer)\s+(?:of\s+[^.]{0,20}\s+)?(?:has\s+been|have\s+been|was|is\s+being|will\s+be)\s+"
    r"(?:issued|processed|sent|applied|approved|credited|refunded|made|initiated|added)|"
    r"you(?:'ll|\s+will)\s+(?:receive|get|be\s+(?:refunded|credited|reimbursed|compensated))|"
    r"(?:has|have)\s+been\s+(?:refunded|credited|reimbursed|waived))\b",
    re.I,
)
_DAYS = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DATE_PROMISE = re.compile(
    r"\b(?:(?:by|on|before|until|no\s+later\s+than|within)\s+(?:the\s+)?(?:end\s+of\s+(?:the\s+)?"
    rf"(?:day|week|month)|{_DAYS}|tomorrow|tonight|today|next\s+\w+|\d{{1,2}}(?:st|nd|rd|th)?"
    rf"(?:\s+of)?\s+{_MONTHS}|{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?|\d{{1,2}}[/.-]\d{{1,2}}"
    r"(?:[/.-]\d{2,4})?|\d+\s+(?:business\s+|working\s+)?(?:days?|hours?|weeks?))|"
    r"(?:guarantee|promise)(?:d|s)?\b)",
    re.I,
)
_FUTURE = re.compile(r"\b(?:will|'ll|shall|going\s+to|guarantee|promise|expect)\b", re.I)


def _amount(text: str) -> float | None:
    digits = re.sub(r"[^\d.,]", "", text)
    digits = digits.replace(",", "") if re.search(r",\d{3}\b", digits) else digits.replace(",", ".")
    try:
        return float(digits)
    except ValueError:
        return None


def _in_sources(needle: str, sources: Sequence[str]) -> bool:
    n = " ".join(needle.lower().split())
    return any(n in " ".join(s.lower().split()) for s in sources)


def check_commitments(reply: str, ctx: OutputContext) -> Verdict:
    """Money amounts, refund/credit statements and promised dates nobody approved."""
    approved = [float(a) for a in ctx.executed_amounts]
    sources = [*ctx.chunks_text, *ctx.facts]
    problems: list[Problem] = []
    bad: list[tuple[int, int]] = []
    for s, e in sentences(reply):
        sent = reply[s:e]
        reasons = []
        is_commit = bool(_COMMIT.search(sent))
        for m in _MONEY.finditer(sent):
            value = _amount(m.group(0))
            if value is not None and any(abs(value - a) < 0.005 for a in approved):
                continue
            if not is_commit and _in_sources(m.group(0), sources):
                continue  # a price or fee quoted from approved knowledge
            reasons.append(f"amount {m.group(0).strip()} was not approved or executed")
        if is_commit and not approved and not reasons:
            reasons.append("refund/credit statement with no executed action")
        for m in _DATE_PROMISE.finditer(sent):
            if (
                _FUTURE.search(sent) or m.group(0).lower().startswith(("guarantee", "promise"))
            ) and not _in_sources(m.group(0), sources):
                reasons.append(f"promised date {m.group(0)!r} is not in approved knowledge")
                break
        if reasons:
            problems.append(Problem("UNAPPROVED_COMMITMENT", s, e, "; ".join(reasons)))
            bad.append((s, e))
    return Verdict(problems, remove_spans(reply, bad) if bad else reply)


# --- grounding in approved knowledge ----------------------------------------------------------

_NOT_FACTUAL = re.compile(
    r"^\s*(?:hi|hello|hey|dear|thanks?|thank\s+you|sorry|i'?m\s+sorry|apologies|welcome|"
    r"you're\s+welcome|glad|happy\s+to|best|regards|cheers|have\s+a|let\s+me|i\s+can\s+help|"
    r"i'?d\s+be\s+happy|is\s+there\s+anything|anything\s+else|please\s+(?:let|tell|share|"
    r"provide|confirm|reply|send)|could\s+you|can\s+you|would\s+you|if\s+you|feel\s+free|"
    r"i\s+understand|i\s+see|i'?ve\s+(?:passed|forwarded|escalated)|a\s+(?:colleague|"
    r"specialist|member)|one\s+of\s+our|i'?ll\s+(?:connect|transfer|pass|hand)|"
    r"(?:i'?m|i\s+am)\s+(?:connecting|transferring|passing|handing))\b",
    re.I,
)


def is_factual(sentence: str) -> bool:
    """A claim about the world, rather than a greeting, a question or an offer to help."""
    s = sentence.strip()
    if not s or s.endswith("?") or _NOT_FACTUAL.search(s):
        return False
    return len(content_words(s)) >= 3


def support(sentence: str, sources: Sequence[str], extra: str = "") -> float:
    """Share of the sentence's content words found in the best single source.

    ``extra`` (the customer's own values) counts as part of every source.
    """
    words = content_words(sentence) - content_words(extra)
    if not words:
        return 1.0
    best = 0.0
    for src in sources:
        best = max(best, len(words & content_words(src)) / len(words))
    return best


def check_grounding(reply: str, ctx: OutputContext, *, min_support: float = 0.5) -> Verdict:
    """Every factual sentence must rest on a retrieved approved chunk (or a fact given)."""
    sources = [*ctx.chunks_text, *ctx.facts]
    own = " ".join(ctx.customer_values)
    approved = [float(a) for a in ctx.executed_amounts]
    problems: list[Problem] = []
    bad: list[tuple[int, int]] = []
    for s, e in sentences(reply):
        sent = reply[s:e]
        if not is_factual(sent):
            continue
        if approved and _COMMIT.search(sent):
            continue  # a statement about an executed action: the commitment check owns it
        score = support(sent, sources, own) if sources else 0.0
        if score < min_support:
            problems.append(
                Problem(
                    "UNSUPPORTED_CLAIM", s, e, f"support {score:.2f} < {min_support:.2f}", 1 - score
                )
            )
            bad.append((s, e))
    return Verdict(problems, remove_spans(reply, bad) if bad else reply)


# --- banned phrases ---------------------------------------------------------------------------


def check_banned(reply: str, ctx: OutputContext, extra: Sequence[str] = ()) -> Verdict:
    """Sentences that contain a phrase the policy bans."""
    phrases = [p for p in (*ctx.banned_phrases, *extra) if p and p.strip()]
    if not phrases:
        return Verdict([], reply)
    pattern = re.compile(
        r"(?<!\w)(?:" + "|".join(re.escape(" ".join(p.split())) for p in phrases) + r")(?!\w)",
        re.I,
    )
    problems: list[Problem] = []
    bad: list[tuple[int, int]] = []
    for s, e in sentences(reply):
        m = pattern.search(" ".join(reply[s:e].split()))
        if m:
            problems.append(Problem("BANNED_PHRASE", s, e, f"banned phrase {m.group(0)!r}"))
            bad.append((s, e))
    return Verdict(problems, remove_spans(reply, bad) if bad else reply)
