"""Promises of follow-up in a reply, and whether anything backs them.

"A member of our team will follow up shortly" is a lie when nobody was told: no case was
opened, no approval waits for a person, no action ran. A small model that cannot make a
tool call, or a runtime with nothing to say, writes exactly that. The rule, applied to
every reply the turn ends with whichever engine wrote it (``check_reply`` in
:mod:`govcx.graphs.nodes`): a reply that promises follow-up or claims a hand-off is sent
only when this turn opened a case, created or decided an approval, or executed an action.
Otherwise the turn escalates: a case is opened and the reply says so truthfully.

What counts as a promise (sentence by sentence, case-insensitive):

- someone will come back: "a member of our team will follow up", "we'll get back to you",
  "someone will be in touch", "our specialists will contact you", "you'll hear from us";
- a hand-off claimed as done: "I've escalated this", "I have passed your request to",
  "your case has been forwarded", "I've opened a ticket";
- an action promised to this customer: "I'll look into it", "we will review your request",
  "I will process your refund", "we'll update you".

General policy the knowledge base states ("refunds are issued within 5 business days",
"we will trace it with the payment processor" with no "you") is not a promise to act on
this request and is left to the output guard's commitment and grounding checks.

Example:
    >>> promise_in("Thanks! A member of our team will follow up shortly.")
    'A member of our team will follow up'
    >>> promise_in("Returns are accepted within 30 days.") is None
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WILL = (
    r"(?:\s*(?:'ll|’ll|(?:'|’)(?:m|re|s)\s+going\s+to)|"
    r"\s+(?:will|shall|(?:are|is|am)\s+going\s+to))"
)
_WHO = (
    r"(?:we|i|someone|somebody|(?:a|one)\s+(?:member|colleague|representative|specialist|"
    r"agent|person|human)(?:\s+of\s+(?:our|the)\s+(?:\w+\s+)?team)?|(?:one\s+of\s+)?our\s+"
    r"(?:\w+\s+)?(?:team|staff|agents?|specialists?|representatives?|colleagues?|department)|"
    r"the\s+(?:\w+\s+)?(?:team|department)|support|they|he|she)"
)
_COME_BACK = (
    r"(?:follow(?:\s|-)?up|get\s+back|come\s+back|be\s+in\s+touch|get\s+in\s+touch|"
    r"reach\s+out|contact\s+you|call\s+you|e-?mail\s+you|write\s+to\s+you|message\s+you|"
    r"respond\s+to\s+you|reply\s+to\s+you|update\s+you|keep\s+you\s+(?:updated|posted|informed)|"
    r"let\s+you\s+know|notify\s+you|be\s+with\s+you|assist\s+you\s+(?:further|shortly|soon))"
)
_ACT_ON_IT = (
    r"(?:look\s+into|investigate|check\s+(?:on|into)|review|handle|take\s+care\s+of|"
    r"sort\s+out|resolve|fix|process|escalate|forward|pass\s+(?:on|along)|pass|arrange|"
    r"raise|open|create|submit|file|log)\s+(?:it|this|that|your|the\s+(?:issue|matter|"
    r"request|case|problem|ticket|refund|return|order)|a\s+(?:ticket|case|request|claim))"
)
_HANDED_OFF = (
    r"(?:escalated|forwarded|passed|handed|referred|transferred|raised|flagged|reported|"
    r"assigned|sent)\s+(?:it|this|that|your\s+\w+(?:\s+\w+)?|the\s+\w+(?:\s+\w+)?)?\s*"
    r"(?:on\s+)?(?:to|with|over\s+to|up\s+to|along\s+to)\s+(?:a|an|our|the|one)\b"
)
_PROMISES = re.compile(
    "|".join(
        (
            rf"\b{_WHO}{_WILL}\s+(?:\w+\s+)?(?:{_COME_BACK}|{_ACT_ON_IT})",
            rf"\b{_WHO}{_WILL}\s+be\s+(?:following\s+up|getting\s+back|"
            r"in\s+touch|contacting\s+you|reaching\s+out|looking\s+into)",
            r"(?<!when\s)(?<!if\s)(?<!whether\s)(?<!how\s)"
            r"\byou(?:'ll|’ll|\s+will|\s+should)\s+(?:hear\s+(?:back|from)|"
            r"(?:receive|get)\s+(?:a|an)\s+(?:reply|response|call|callback|update|e-?mail|"
            r"message)\s+from\s+(?:us|our|a|the|someone))",
            r"\b(?:expect|await)\s+(?:a|an)\s+(?:reply|response|call|callback|update|e-?mail)\s+"
            r"from\s+(?:us|our|a\s+member|the\s+team|someone)",
            rf"\b(?:i|we)\s*(?:'ve|’ve|\s+have|\s+just|\s+already)\s+(?:just\s+|already\s+|also\s+)?"
            rf"{_HANDED_OFF}",
            r"\b(?:i|we)\s*(?:'ve|’ve|\s+have)\s+(?:just\s+|already\s+|also\s+)?(?:escalated|opened|"
            r"created|raised|logged|filed|submitted)\s+(?:it|this|that|your|a|an)\b",
            r"\b(?:i|we)\s*(?:'ve|’ve|\s+have)\s+(?:just\s+|already\s+|also\s+)?(?:asked|told|"
            r"notified|alerted|informed)\s+(?:a|an|one|our|the|someone|somebody)\b",
            r"\b(?:your|the|this)\s+(?:request|case|issue|question|ticket|query|complaint|"
            r"message|matter)\s+(?:has\s+been|was|is\s+being)\s+(?:escalated|forwarded|passed|"
            r"handed|referred|transferred|raised|logged|assigned|sent)",
            r"\bsomeone\s+(?:from|on)\s+(?:our|the)\s+(?:\w+\s+)?team\s+(?:will|'ll)\b",
        )
    ),
    re.IGNORECASE,
)


@dataclass(frozen=True, kw_only=True)
class Backing:
    """What, in this turn, makes a promise of follow-up true."""

    case_id: str | None = None
    """A case opened (or already open) for the conversation: a person has it."""
    approval_id: str | None = None
    """An approval request this turn created or decided: a person looks at it."""
    executed: int = 0
    """Actions that ran this turn (their confirmations come from the tools)."""

    def __bool__(self) -> bool:
        return bool(self.case_id or self.approval_id or self.executed)


def promise_in(text: str) -> str | None:
    """The first phrase of ``text`` that promises follow-up or claims a hand-off, or None."""
    match = _PROMISES.search(" ".join(text.split()))
    return match.group(0) if match else None


def unbacked_promise(text: str, backing: Backing) -> str | None:
    """The promise ``text`` makes that nothing in ``backing`` keeps, or None."""
    if backing:
        return None
    return promise_in(text)
