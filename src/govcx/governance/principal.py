"""Principals: the people and systems that act on govcx, and their roles.

Roles: ``channel`` (converses on behalf of customers), ``mcp`` (a tool client: calls the
pack's governed tools directly through govcx's MCP server, for customers, in
conversations it owns), ``approver:<role>`` (decides approvals within that role's
authority), ``agent`` (a person who takes over escalated conversations of their
``teams``), ``auditor`` (reads audit), ``admin`` (changes policy). A principal that holds
``channel`` or ``mcp`` speaks for customers: it can never decide an approval (not even of
its own calls) or work a case.
"""

from __future__ import annotations

from dataclasses import dataclass

VALID_ROLES = ("channel", "mcp", "approver:<role>", "agent", "auditor", "admin")
BUILT_IN_ROLES = frozenset({"channel", "mcp", "agent", "auditor", "admin"})
"""The roles govcx defines (besides ``approver:<role>``); any other is a reviewer role
that the policy must name under ``governance.policy_changes.roles``."""


def is_built_in(role: str) -> bool:
    """Whether govcx defines ``role`` (``approver:<role>`` included)."""
    return role in BUILT_IN_ROLES or (role.startswith("approver:") and len(role) > 9)


CUSTOMER_SIDE = frozenset({"channel", "mcp"})
"""Roles that act for customers: never an approver's or a case worker's."""


def canonical_name(name: str) -> str:
    """The form in which principal names are compared: trimmed and case-folded, so
    ``Lee`` and ``"lee "`` are the same person as ``lee``."""
    return name.strip().casefold()


@dataclass(frozen=True, kw_only=True)
class Principal:
    name: str
    roles: frozenset[str]
    teams: frozenset[str] = frozenset()
    """For the ``agent`` role: the teams (``routing.teams`` of the policy) whose cases this
    person works."""

    @property
    def approver_roles(self) -> list[str]:
        return sorted(r.split(":", 1)[1] for r in self.roles if r.startswith("approver:"))

    @property
    def is_channel(self) -> bool:
        return "channel" in self.roles

    @property
    def acts_for_customers(self) -> bool:
        """A channel or a tool client (``mcp``): never decides approvals or works cases."""
        return bool(self.roles & CUSTOMER_SIDE)

    @property
    def is_agent(self) -> bool:
        return "agent" in self.roles and not self.acts_for_customers

    def has(self, role: str) -> bool:
        return role in self.roles


SYSTEM = Principal(name="system", roles=frozenset({"system"}))
"""The runtime itself (expiry sweeps, recovery)."""
