"""Fixed customer-facing texts the runtime itself says (not drafted by an engine), and
what an approval request will tell the customer once it is decided."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from govcx.engines.engine import Draft, compose_reply
from govcx.tools.executor import Execution
from govcx.tools.registry import ToolRegistry

BLOCKED = "I'm sorry, I can't help with that request."
PENDING_ACTION = (
    "I've passed your request to a member of our team for approval. "
    "You'll get an update here as soon as it has been reviewed."
)
BUSY_WITH_APPROVAL = (
    "Your earlier request is still waiting for a team member's approval. "
    "I'll update you here as soon as it has been reviewed. Until then I can answer general "
    "questions, but not look into or change your orders or account."
)
"""The reply to a message while an approval waits that is not a question the policy lets
the AI answer from knowledge alone: the message is recorded (the approver sees it with
the conversation) but not answered, so the reply says so."""
STILL_WAITING = "Your earlier request is still waiting for a team member's approval."
"""Said after a question answered while an approval waits, so the answer is not taken
for news of the request."""
REJECTED = (
    "A member of our team reviewed your request and could not approve it, so nothing has "
    "been changed. I can help with anything else here."
)
"""The reply when an approver rejects an action. It promises nothing: a rejection opens
no case, so "they will follow up" would be a promise nobody keeps."""
REJECTED_REPLY = (
    "A member of our team reviewed the answer I drafted and could not approve it, so I "
    "can't answer that here. I can help with anything else."
)
"""The reply when an approver rejects a drafted answer (a ``reply`` approval)."""
NOT_APPROVED_IN_TIME = (
    "Your request could not be approved, so nothing has been changed. You're welcome to "
    "ask again here."
)
"""The reply when an approval expires (``on_expiry: reject``) or its resume is invalid:
nobody reviewed it, so the reply does not say anyone did."""


def not_approved(status: str | None, kind: str | None) -> str:
    """What the customer hears when an approval ends without approval (``rejected``,
    ``expired`` with ``on_expiry: reject``, or an ``invalid`` resume)."""
    if status == "rejected":
        return REJECTED_REPLY if kind == "reply" else REJECTED
    return NOT_APPROVED_IN_TIME


ESCALATED = (
    "I've passed this to a member of our support team, who will follow up with you here shortly."
)
SELF_HARM = (
    "I'm really sorry you're going through this. If you are in danger or thinking about "
    "harming yourself, please contact your local emergency number or a crisis line "
    "right away. I've also asked a member of our team to reach out to you."
)
NO_KNOWLEDGE = (
    "I don't have approved information to answer that, so I've passed your question "
    "to a member of our team."
)
FALLBACK = "Thanks for your message. A member of our team will follow up shortly."


def invalid_amount(currency: str | None) -> str:
    """The clarifying question when an amount cannot be acted on as written."""
    unit = f" in {currency}" if currency else ""
    return (
        "I can only handle an amount" + unit + " written as a plain number, like 45 or "
        "45.50. Could you tell me the amount again?"
    )


class _Unknown:
    """A reply field only the call's result will give: shown as ``[name]``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __format__(self, spec: str) -> str:
        return f"[{self.name}]"


def if_approved(
    registry: ToolRegistry,
    tool: str,
    args: Mapping[str, Any],
    facts: Mapping[str, Any] | None = None,
    draft: Draft | None = None,
) -> str:
    """What the customer is told when ``tool(args)`` is approved and succeeds, composed
    as the engines compose it after the call (:func:`~govcx.engines.engine.compose_reply`):
    the tool's reply template over the arguments, then the context lookup's ``facts``
    (a payment method), and ``[name]`` for what only the result will say (a refund id)."""
    spec = registry.get(tool) if tool in registry else None
    known = {**(facts or {}), **args}
    result: dict[str, Any] = {
        name: known[name] if name in known else _Unknown(name)
        for name in (spec.reply_fields if spec else ())
        if name not in args
    }
    preview = Execution(tool=tool, args=dict(args), status="executed", result=result)
    return compose_reply([preview], draft or Draft(text=""), registry).text
