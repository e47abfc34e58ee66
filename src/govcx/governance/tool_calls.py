"""Which governed tools a tool client may call directly, and under which workflow.

govcx's MCP server (``govcx mcp serve``, ``/mcp``) lets an authenticated principal with the
role ``mcp`` call a pack's tools without a customer message. Such a call names a tool, not
an intent, but the gate decides under a workflow's autonomy. The rule, in one place:

- a tool is callable when the policy gives it a tier and at least one workflow lists it
  (a tool no workflow lists would be refused by the gate anyway: ``tool.X.not_allowed``);
- the call is decided under the *strictest* autonomy among the workflows that list it
  (``act`` < ``draft`` < ``recommend`` < ``escalate``), so calling a tool directly is never
  more autonomous than asking for it in a chat could be. Ties go to the workflow named
  first in the policy.

Example:
    >>> workflow_for(policy, "issue_refund")  # doctest: +SKIP
    'refund'
"""

from __future__ import annotations

from collections.abc import Iterable

from govcx.governance.policy import Policy

STRICTNESS = ("act", "draft", "recommend", "escalate")
"""Autonomy levels from the most to the least autonomous."""


def workflow_for(policy: Policy, tool: str) -> str | None:
    """The workflow whose autonomy governs a direct call of ``tool``; None when the tool
    has no tier or no workflow lists it (it is not callable)."""
    if tool not in policy.tools:
        return None
    listing = [name for name, wf in policy.workflows.items() if tool in wf.tools]
    if not listing:
        return None
    return max(listing, key=lambda name: STRICTNESS.index(policy.autonomy_of(name)))


def callable_tools(policy: Policy, registered: Iterable[str]) -> list[str]:
    """The registered tools a tool client may call, sorted by name."""
    return sorted(name for name in registered if workflow_for(policy, name) is not None)
