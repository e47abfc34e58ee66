"""Principals: the people and systems that act on govcx, and their roles.

Roles: ``channel`` (converses on behalf of customers), ``approver:<role>`` (decides
approvals within that role's authority), ``agent`` (a person who takes over escalated
conversations of their ``teams``), ``auditor`` (reads audit), ``admin`` (changes policy).
A principal that holds ``channel`` can never decide an approval or work a case.
"""

from __future__ import annotations

from dataclasses import dataclass

VALID_ROLES = ("channel", "approver:<role>", "agent", "auditor", "admin")


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
    def is_agent(self) -> bool:
        return "agent" in self.roles and "channel" not in self.roles

    def has(self, role: str) -> bool:
        return role in self.roles


SYSTEM = Principal(name="system", roles=frozenset({"system"}))
"""The runtime itself (expiry sweeps, recovery)."""
