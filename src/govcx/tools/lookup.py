"""Context lookups: the facts an approver needs beside a request, read before it is queued.

A tool names its lookup in the pack's tools module (``@tool(context=fn)``). When the
policy gate sends a call of that tool to an approver, the ``policy_gate`` node calls the
lookup once, with the call's canonical arguments (the very ones the approver decides on)
and the conversation's ``customer_id`` (and ``conversation_id``, ``data_dir`` if asked
for), and stores what it returns with the request. Nothing a customer writes chooses the
lookup: the pack binds it to the tool, and the arguments are validated first.

A lookup only informs. Its facts never change the gate's route, with one exception: a
lookup that raises :class:`~govcx.errors.ToolError` says the call *cannot succeed* (more
than what is left to refund, an order that is not the customer's); then no approver is
asked to approve something that would fail, and the customer is told the tool's message.
A lookup that fails in any other way never blocks the request: it is queued with its
context marked unavailable.

Lookups are not tools and never run through the executor: they get no idempotency key,
and :func:`govcx.pack.cross_check` refuses a pack whose lookup is a tool the policy does
not mark read-only.

Example:
    >>> result = look_up(registry.get("issue_refund"), {"order_id": "A-1002", "amount": 80},
    ...                  customer_id="C-1001", conversation_id="c-1", data_dir=path)
    >>> result.status, result.facts["remaining"]
    ('ok', 129.99)
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from govcx.errors import ToolError
from govcx.tools.tool import LOOKUP_PARAMS, ToolSpec

Status = Literal["ok", "refused", "unavailable"]
MAX_ERROR_CHARS = 300


@dataclass(frozen=True, kw_only=True)
class LookupResult:
    """What a context lookup found."""

    status: Status
    """``ok``: facts found; ``refused``: the call cannot succeed (``error`` says why, for
    the customer); ``unavailable``: the lookup failed (``error`` says how, for staff)."""
    facts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def look_up(
    spec: ToolSpec,
    args: Mapping[str, Any],
    *,
    customer_id: str | None,
    conversation_id: str,
    data_dir: Path,
) -> LookupResult | None:
    """Run ``spec``'s context lookup for ``args`` (canonical); None when it has none.

    Never raises: a ToolError is a refusal, anything else makes the context unavailable.
    """
    lookup = spec.context
    if lookup is None:
        return None
    given: dict[str, Any] = {
        **args,
        "customer_id": customer_id,
        "conversation_id": conversation_id,
        "data_dir": data_dir,
    }
    params = inspect.signature(lookup).parameters
    kwargs = {
        name: given[name]
        for name in params
        if name in given and (name in args or name in LOOKUP_PARAMS)
    }
    try:
        raw = lookup(**kwargs)
    except ToolError as exc:
        return LookupResult(status="refused", error=exc.message)
    except Exception as exc:  # a broken lookup must not block the request or the turn
        return LookupResult(status="unavailable", error=_describe(exc))
    if not isinstance(raw, Mapping):
        return LookupResult(
            status="unavailable",
            error=f"the lookup returned {type(raw).__name__}, not a JSON object of facts",
        )
    try:
        # In the lookup's order (what it lists first is what an approver reads first).
        facts: dict[str, Any] = json.loads(json.dumps(dict(raw), ensure_ascii=False, default=str))
    except (TypeError, ValueError) as exc:
        return LookupResult(
            status="unavailable", error=f"the lookup returned facts that are not JSON: {exc}"
        )
    return LookupResult(status="ok", facts=facts)


def _describe(exc: Exception) -> str:
    text = f"the lookup failed unexpectedly ({type(exc).__name__}: {exc})"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"
