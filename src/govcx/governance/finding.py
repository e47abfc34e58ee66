"""Guard findings: typed facts about a piece of text, with where they were found."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Source = Literal["input", "knowledge", "tool", "output"]

ESCALATION_TYPES = ("SELF_HARM", "LEGAL_THREAT", "ABUSE", "HUMAN_REQUEST")
INJECTION = "PROMPT_INJECTION"
OUTPUT_TYPES = ("UNAPPROVED_COMMITMENT", "UNSUPPORTED_CLAIM", "BANNED_PHRASE")
"""Problems the output guard finds in a reply, besides PII."""


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One detection. PII findings use Presidio's entity names (EMAIL_ADDRESS, ...)."""

    type: str
    start: int
    end: int
    score: float
    source: Source = "input"
    action: str = "log"
    """What the policy makes of it: block | escalate | strip | redact | log."""
    detail: str = ""

    @property
    def is_pii(self) -> bool:
        return self.type not in (*ESCALATION_TYPES, INJECTION, *OUTPUT_TYPES)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
