"""The governance policy: policy.yaml loaded into validated, immutable models.

A policy says, per workflow, how much autonomy the AI has; per tool, its risk tier and
the condition under which it needs a human; per approver role, the largest amount it may
approve. Loading rejects unknown keys and bad values with the file, the field path and
what would be valid, so a typo can never silently widen what the AI may do.

Example:
    >>> policy = load_policy("src/govcx/packs/acme/policy.yaml")
    >>> policy.workflows["refund"].autonomy
    'act'
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from govcx.errors import PolicyError
from govcx.governance.expr import Expression, ExpressionError

Autonomy = Literal["act", "draft", "recommend", "escalate"]
AUTONOMY_LEVELS: tuple[str, ...] = ("act", "draft", "recommend", "escalate")
GuardAction = Literal["block", "escalate", "strip", "log"]

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str | int | float) -> timedelta:
    """``"24h"`` → 24 hours. Accepts s, m, h, d, w; plain numbers are seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return timedelta(seconds=float(text))
    match = _DURATION.match(str(text))
    if not match and str(text).startswith("P"):  # ISO 8601, as a dumped policy writes it
        try:
            return TypeAdapter(timedelta).validate_python(str(text))
        except ValidationError:
            pass
    if not match:
        raise ValueError(f"{text!r} is not a duration; use a number and a unit, like 30m, 24h, 7d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Defaults(_Model):
    autonomy: Autonomy = "draft"
    """Autonomy of a workflow that does not set its own."""
    min_confidence: float = Field(0.6, ge=0.0, le=1.0)
    """Below this classification confidence the request escalates."""


class ApproverRole(_Model):
    max_amount: float | None = Field(None, ge=0)
    """Largest amount this role may approve; None means no limit."""


class Approvals(_Model):
    expiry: timedelta = timedelta(hours=24)
    """How long an approval request waits for a decision."""
    on_expiry: Literal["reject", "escalate"] = "escalate"
    """What happens when nobody decides in time. Never "approve": silence is not consent."""
    roles: dict[str, ApproverRole] = Field(default_factory=dict)
    """Approver roles by name (principals hold them as ``approver:<name>``)."""

    @field_validator("expiry", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        if isinstance(value, timedelta):
            return value
        return parse_duration(value)


class Tier(_Model):
    approval: Literal["never", "always"] = "never"
    """Whether every action of this tier waits for a human; tools add ``approval_if``."""
    approvers: int = Field(1, ge=1, le=5)
    """Distinct approvers needed (2 = four-eyes)."""
    roles: list[str] | None = None
    """Approver roles allowed to decide this tier; None means every approver role."""
    read_only: bool = False
    """Tools of this tier change nothing (a tier named ``read`` is read-only too). Read-only
    tools may run while a draft is prepared, and are never gated by draft/recommend."""


class Workflow(_Model):
    autonomy: Autonomy | None = None
    """act | draft | recommend | escalate; None takes ``defaults.autonomy``."""
    tools: list[str] = Field(default_factory=list)
    """Tools the AI may use in this workflow; anything else is refused."""
    examples: list[str] = Field(default_factory=list)
    """Customer phrasings that train the embedded classifier."""
    description: str = ""
    min_confidence: float | None = Field(None, ge=0.0, le=1.0)
    knowledge_tags: list[str] = Field(default_factory=list)
    """If set, the search by the customer's words considers only articles with one of
    these tags."""
    knowledge: list[str] = Field(default_factory=list)
    """The workflow's own articles (its procedures), by document id or tag: retrieved
    for every turn of this intent, ahead of (and besides) the search by the customer's
    words, even when no word matches. Each must name a live approved document or a tag
    of one; the runtime refuses the policy otherwise."""


class Limit(_Model):
    """A cumulative limit on one tool: ``{sum: amount, per: customer, window: 24h, max: 100}``
    or ``{count: true, per: order_id, window: 30d, max: 2}``. The proposal plus what already
    ran (or is reserved to run) for the same key within the window must not exceed ``max``;
    crossing it sends the action to approval (rule ``tool.NAME.limits[I]``)."""

    sum: str | None = None
    """A numeric argument of the tool whose values are added up."""
    count: bool | None = None
    """``true``: count the calls instead."""
    per: str
    """``customer``, ``conversation`` or an argument of the tool (like ``order_id``)."""
    window: timedelta
    """How far back executions count (a duration: 30m, 24h, 7d)."""
    max: float = Field(ge=0, allow_inf_nan=False)
    """The most the window may hold without a human."""

    @field_validator("window", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        if isinstance(value, timedelta):
            duration = value
        else:
            duration = parse_duration(value)
        if duration.total_seconds() <= 0:
            raise ValueError("the window must be longer than zero")
        return duration

    @field_validator("per", "sum")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(f"{value!r} is not an argument name")
        return value

    @model_validator(mode="after")
    def _one_measure(self) -> Limit:
        if (self.sum is None) == (self.count is None) or self.count is False:
            raise ValueError("a limit needs exactly one of `sum: ARGUMENT` or `count: true`")
        return self

    def describe(self) -> str:
        measure = f"sum of {self.sum}" if self.sum else "count"
        return f"{measure} per {self.per} within {_human(self.window)} at most {self.max:g}"


def _human(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class ToolPolicy(_Model):
    tier: str
    """Risk tier name; must be one of ``tiers``."""
    approval_if: str | None = None
    """CEL condition over the tool's arguments; true means a human must approve."""
    amount_arg: str | None = None
    """Argument that carries a money amount, checked against approver ``max_amount``; the
    gate also refuses to run a write whose amount (this argument, else ``amount``) is not a
    plain positive number in range."""
    limits: list[Limit] = Field(default_factory=list)
    """Cumulative limits (see :class:`Limit`); crossing any needs approval."""
    identifiers: list[str] | None = None
    """The arguments of a write that name a thing (an order, account or ticket id) and so
    must be grounded: the customer wrote the value in this conversation, or confirmed it
    after the agent offered it from a read tool's result; otherwise the agent asks which
    one (rule ``identifier.ungrounded``). Absent: every argument whose schema declares a
    ``pattern``; ``[]``: none."""

    @property
    def amount_key(self) -> str:
        return self.amount_arg or "amount"

    @field_validator("approval_if")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                Expression.compile(value)
            except ExpressionError as exc:
                raise ValueError(str(exc)) from None
        return value


OnFail = Literal["fix", "escalate", "reask", "log"]


class OutputGuardPolicy(_Model):
    """What the output guard does with each kind of problem in a drafted reply."""

    pii: OnFail = "fix"
    """PII that is not the customer's own: redact it."""
    commitments: OnFail = "escalate"
    """An amount, refund or date the policy did not approve: a human decides."""
    grounding: OnFail = "fix"
    """A factual sentence no retrieved approved text supports: drop it."""
    banned_phrases: OnFail = "fix"
    min_support: float = Field(0.5, ge=0.0, le=1.0)
    """Share of a sentence's content words one approved source must contain."""


class GuardPolicy(_Model):
    """What each kind of guard finding does to the turn."""

    injection: GuardAction = "block"
    indirect_injection: GuardAction = "strip"
    self_harm: GuardAction = "escalate"
    legal_threat: GuardAction = "escalate"
    abuse: GuardAction = "escalate"
    human_request: GuardAction = "escalate"
    banned_phrases: list[str] = Field(default_factory=list)
    """Phrases a reply must never contain."""
    output: OutputGuardPolicy | None = None
    """on_fail per output check (``reask`` acts as ``escalate`` on the embedded engine)."""


Priority = Literal["urgent", "high", "normal", "low"]
PRIORITIES: tuple[str, ...] = ("urgent", "high", "normal", "low")
"""Most urgent first."""

ROUTING_SAMPLE: dict[str, Any] = {
    "intent": "refund",
    "confidence": 0.5,
    "rules": ["intent.out_of_scope"],
    "findings": ["legal_threat"],
    "customer_id": "C-1",
    "tool": "issue_refund",
    "args": {"amount": 1.0, "order_id": "A-1"},
    "reason": "escalated",
}
"""The variables of a routing condition, with sample values: ``intent`` and ``confidence``
(the classification), ``rules`` (the gate's rule ids), ``findings`` (guard finding types
in lower case, like ``legal_threat``), ``customer_id``, ``tool`` and ``args`` (the
recommended action, ``""`` and ``{}`` without one) and ``reason``."""


class Team(_Model):
    description: str = ""


class RouteTarget(_Model):
    team: str
    priority: Priority = "normal"
    tags: list[str] = Field(default_factory=list)


class RouteRule(RouteTarget):
    when: str
    """CEL over the escalation's facts (:data:`ROUTING_SAMPLE`); the first rule that is
    true routes the case."""

    @field_validator("when")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            Expression.compile(value).evaluate(ROUTING_SAMPLE)
        except ExpressionError as exc:
            raise ValueError(
                f"{exc}; a routing condition may use {', '.join(sorted(ROUTING_SAMPLE))}"
            ) from None
        return value


class Routing(_Model):
    """Which team's queue an escalated conversation goes to, how urgent, with what tags."""

    teams: dict[str, Team] = Field(default_factory=dict)
    rules: list[RouteRule] = Field(default_factory=list)
    default: RouteTarget | None = None
    """Where a case goes when no rule matches (no team at all without it)."""


class SlaTarget(_Model):
    first_response: timedelta
    """A person answers the customer within this long of the escalation."""
    resolution: timedelta
    """The case is resolved (or handed back) within this long of the escalation."""

    @field_validator("first_response", "resolution", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        duration = value if isinstance(value, timedelta) else parse_duration(value)
        if duration.total_seconds() <= 0:
            raise ValueError("an SLA target must be longer than zero")
        return duration


ROLE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}(:[a-z][a-z0-9_-]{0,31})?")
"""A principal role: ``risk``, ``legal``, ``approver:manager``."""


class PolicyChanges(_Model):
    """Who must review a change to the policy before it can go live (see
    :mod:`govcx.governance.proposals`)."""

    approvers: int = Field(2, ge=1, le=5)
    """Distinct reviewers who must approve a proposal (never its author)."""
    roles: list[str] = Field(min_length=1)
    """Principal roles whose holders may review (a principal holding any of them counts),
    like ``risk``, ``legal``, ``auditor`` or ``approver:manager``."""
    impact_days: int = Field(30, ge=1, le=366)
    """How many days of recorded conversations a proposal's impact report replays."""

    @field_validator("roles")
    @classmethod
    def _role_names(cls, roles: list[str]) -> list[str]:
        for role in roles:
            if not ROLE_NAME.fullmatch(role) or role == "channel":
                raise ValueError(
                    f"{role!r} is not a reviewer role; use a role name like risk, legal, "
                    "auditor or approver:manager (never channel)"
                )
        return roles


class Governance(_Model):
    """How the policy itself may change."""

    policy_changes: PolicyChanges | None = None
    """With it, a change goes through a reviewed proposal: ``PUT /v1/policy`` is refused."""


class Policy(_Model):
    version: str
    """Recorded on every decision, approval and audit event."""
    defaults: Defaults = Field(default_factory=lambda: Defaults())
    approvals: Approvals = Field(default_factory=Approvals)
    tiers: dict[str, Tier]
    workflows: dict[str, Workflow]
    tools: dict[str, ToolPolicy] = Field(default_factory=dict)
    guards: GuardPolicy = Field(default_factory=GuardPolicy)
    currency: str | None = None
    """ISO 4217 code of the money the tools handle; an amount in another currency never
    runs a write."""
    duplicate_window: timedelta = timedelta(minutes=10)
    """An identical write already run in the conversation within this window needs
    approval (rule ``tool.NAME.duplicate``)."""
    routing: Routing = Field(default_factory=Routing)
    """Triage of escalations into cases: team, priority and tags (see :class:`Routing`)."""
    sla: dict[Priority, SlaTarget] = Field(default_factory=dict)
    """Deadlines of a case by its priority; a priority without an entry has none."""
    governance: Governance | None = None
    """Who reviews changes to this policy (see :class:`Governance`); absent, an admin
    activates a change directly."""

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError(
                f"{value!r} is not an ISO 4217 currency code; use three "
                "capital letters, like USD, EUR or GBP"
            )
        return value

    @field_validator("duplicate_window", mode="before")
    @classmethod
    def _duplicate_window(cls, value: Any) -> timedelta:
        duration = value if isinstance(value, timedelta) else parse_duration(value)
        if duration.total_seconds() < 0:
            raise ValueError("the window cannot be negative")
        return duration

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value

    @model_validator(mode="after")
    def _cross_references(self) -> Policy:
        if not self.tiers:
            raise ValueError("tiers: at least one tier is needed")
        tier_names = sorted(self.tiers)
        for name, tool in self.tools.items():
            if tool.tier not in self.tiers:
                raise _FieldProblem(
                    f"tools.{name}.tier",
                    f"unknown tier {tool.tier!r}; valid tiers: {', '.join(tier_names)}",
                )
        for name, wf in self.workflows.items():
            for i, tool_name in enumerate(wf.tools):
                if tool_name not in self.tools:
                    raise _FieldProblem(
                        f"workflows.{name}.tools[{i}]",
                        f"tool {tool_name!r} has no entry under tools: (every tool needs a tier); "
                        f"known tools: {', '.join(sorted(self.tools)) or 'none'}",
                    )
        teams = sorted(self.routing.teams)
        targets: list[tuple[str, RouteTarget]] = [
            (f"routing.rules[{i}].team", r) for i, r in enumerate(self.routing.rules)
        ]
        if self.routing.default is not None:
            targets.append(("routing.default.team", self.routing.default))
        for path, target in targets:
            if target.team not in self.routing.teams:
                raise _FieldProblem(
                    path,
                    f"unknown team {target.team!r}; teams under routing.teams: "
                    f"{', '.join(teams) or 'none'}",
                )
        roles = sorted(self.approvals.roles)
        for name, tier in self.tiers.items():
            for role in tier.roles or []:
                if role not in self.approvals.roles:
                    raise _FieldProblem(
                        f"tiers.{name}.roles",
                        f"unknown approver role {role!r}; valid roles: "
                        f"{', '.join(roles) or 'none'}",
                    )
        return self

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Policy:
        """A copy; with ``update`` its content differs, so its digest is recomputed."""
        copied = super().model_copy(update=update, deep=deep)
        copied.__dict__.pop("digest", None)
        return copied

    @functools.cached_property
    def digest(self) -> str:
        """sha256 of the canonical parsed form: the same content always has the same
        digest, whatever its YAML layout, key order or comments."""
        data = self.model_dump(mode="json")
        for tool in data.get("tools", {}).values():
            if tool.get("identifiers") is None:
                # Policies written before the field existed keep the digest they had.
                tool.pop("identifiers", None)
        if data.get("governance") is None:
            # Policies written before the section existed keep the digest they had.
            data.pop("governance", None)
        material = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(material.encode("utf-8")).hexdigest()

    @property
    def policy_changes(self) -> PolicyChanges | None:
        """The review a change to this policy needs; None when an admin may change it."""
        return self.governance.policy_changes if self.governance is not None else None

    def is_read_only(self, tool: str) -> bool:
        tool_policy = self.tools.get(tool)
        if tool_policy is None:
            return False
        tier = self.tiers[tool_policy.tier]
        return tier.read_only or tool_policy.tier == "read"

    def autonomy_of(self, workflow: str) -> str:
        wf = self.workflows.get(workflow)
        if wf is None or wf.autonomy is None:
            return self.defaults.autonomy
        return wf.autonomy

    def min_confidence_of(self, workflow: str) -> float:
        wf = self.workflows.get(workflow)
        if wf is not None and wf.min_confidence is not None:
            return wf.min_confidence
        return self.defaults.min_confidence


class _FieldProblem(ValueError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _describe(error: dict[str, Any]) -> tuple[str, str]:
    path = ""
    for part in error.get("loc", ()):
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return path, "unknown key (check the spelling; unknown keys are refused, not ignored)"
    if kind == "literal_error":
        return path, f"got {error.get('input')!r}; valid values: {ctx.get('expected', '')}"
    if kind == "missing":
        return path, "required field is missing"
    if kind == "value_error" and isinstance(ctx.get("error"), _FieldProblem):
        problem: _FieldProblem = ctx["error"]
        return problem.path, problem.reason
    message = str(error.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    return path, f"{message} (got {error.get('input')!r})"


def parse_policy(data: Any, *, file: str = "<policy>") -> Policy:
    """Validate already-parsed YAML data into a Policy, or raise PolicyError."""
    if not isinstance(data, dict):
        raise PolicyError(file, "the policy must be a YAML mapping with version, tiers, workflows")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        # An unknown key is usually the root cause (a typo), so report it first.
        errors = sorted(exc.errors(), key=lambda e: e.get("type") != "extra_forbidden")
        first = errors[0]
        path, reason = _describe(dict(first))
        more = len(exc.errors()) - 1
        if more:
            reason += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise PolicyError(file, reason, field=path or None) from None


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(str(path), "file not found") from None
    except UnicodeDecodeError:
        raise PolicyError(str(path), "not UTF-8 text") from None
    except OSError as exc:
        raise PolicyError(str(path), f"cannot read: {exc.strerror}") from None
    return policy_from_text(text, file=str(path))


def policy_from_text(text: str, *, file: str = "<policy>") -> Policy:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise PolicyError(file, f"{where}{problem}") from None
    return parse_policy(data, file=file)


def diff_policies(old: Policy, new: Policy) -> list[dict[str, Any]]:
    """Field-level differences between two policies, as {path, old, new} rows.

    The rows are sorted by path so the diff of the same two files is always the same.
    """
    rows: list[dict[str, Any]] = []

    def walk(path: str, a: Any, b: Any) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b), key=str):
                sub = f"{path}.{key}" if path else str(key)
                walk(sub, a.get(key, _ABSENT), b.get(key, _ABSENT))
            return
        if a != b:
            rows.append(
                {
                    "path": path,
                    "old": None if a is _ABSENT else a,
                    "new": None if b is _ABSENT else b,
                    "change": "added" if a is _ABSENT else "removed" if b is _ABSENT else "changed",
                }
            )

    walk("", old.model_dump(mode="json"), new.model_dump(mode="json"))
    return rows


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


_ABSENT = _Absent()
