"""Eval suites: YAML files of scripted conversations and what each step must produce.

A suite names cases; a case is one conversation (a customer, optional policy overrides)
made of steps: a customer message (``user``), a human decision on the pending approval
(``decide``), or the clock moving on (``advance``, which applies approval expiry). Each
step may carry an ``expect`` block. Unknown keys are refused, and every schema error names
the file, the case and the key.

Example:
    >>> suite = parse_suite({"name": "smoke", "cases": [{"id": "hi", "turns": [
    ...     {"user": "where is my order A-1001", "expect": {"status": "answered"}}]}]})
    >>> suite.cases[0].turns[0].expect.status
    'answered'
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from govcx.errors import PolicyError, SuiteError
from govcx.governance.policy import Policy, parse_duration, parse_policy

Status = Literal["answered", "pending_approval", "escalated", "blocked", "with_human"]
STATUSES: tuple[str, ...] = ("answered", "pending_approval", "escalated", "blocked", "with_human")
ActionStatus = Literal["executed", "pending", "rejected", "failed", "refused"]
_CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,55}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ActionExpect(_Model):
    """One action the step must show (matched against the turn's actions, in order)."""

    tool: str
    args: dict[str, Any] | None = None
    """Arguments that must be present with these values (a subset of the actual ones)."""
    status: ActionStatus | None = None


class Expect(_Model):
    """What a step must produce. Every key is optional; text matches ignore case."""

    status: Status | None = None
    intent: str | None = None
    """A workflow name; ``out_of_scope`` expects no workflow (the classifier refused)."""
    actions: list[ActionExpect] | None = None
    """Each listed action must appear in this order; ``[]`` means no action at all."""
    approval_needed: bool | None = None
    """True: the step ends waiting for an approval. False: it does not."""
    approval_kind: Literal["action", "reply"] | None = None
    approvers: int | None = Field(None, ge=1, le=5)
    """Distinct approvals the pending request needs (2 = four-eyes)."""
    rules: list[str] | None = None
    """Each listed text must be a substring of one of the decision's rule ids."""
    findings: list[str] | None = None
    """Guard finding types that must be present (e.g. PROMPT_INJECTION, CREDIT_CARD)."""
    reply_contains: list[str] | None = None
    reply_not_contains: list[str] | None = None
    citations: bool | list[str] | None = None
    """True/false: the reply cites something / nothing; a list: these doc ids are cited."""
    no_pii: bool | None = None
    """The reply shows no email address, card, phone, SSN or IBAN number."""
    error: str | None = None
    """The step must fail with this error code (e.g. not_authorized, approval_stale)."""

    @model_validator(mode="after")
    def _error_alone(self) -> Expect:
        if self.error is not None:
            others = sorted(k for k in self.model_fields_set if k != "error")
            if others:
                raise ValueError(
                    f"error cannot be combined with {', '.join(others)}: "
                    "a step that fails produces no turn to check"
                )
        return self


class Decide(_Model):
    """A human decision on the conversation's pending approval."""

    as_: str = Field(alias="as")
    """The principal deciding (a name from the pack's govcx.yaml)."""
    decision: Literal["approve", "reject", "edit"]
    args: dict[str, Any] | None = None
    comment: str | None = None
    authenticated: bool = True
    """False plays a dev-mode decision made by name without a key (flagged in reports)."""

    @model_validator(mode="after")
    def _edit_args(self) -> Decide:
        if self.decision == "edit" and not self.args:
            raise ValueError("decision edit needs args (the changed arguments)")
        if self.decision != "edit" and self.args:
            raise ValueError("args are only accepted with decision edit")
        return self


class Step(_Model):
    """One step of a case: exactly one of ``user``, ``decide`` or ``advance``."""

    user: str | None = None
    """A customer message."""
    decide: Decide | None = None
    advance: str | None = None
    """Move the case's clock on (``25h``) and apply approval expiry."""
    expect: Expect | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        given = [k for k in ("user", "decide", "advance") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a step needs exactly one of user, decide or advance"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.user is not None and not self.user.strip():
            raise ValueError("user: the message is empty")
        if self.advance is not None:
            parse_duration(self.advance)
        return self

    @property
    def kind(self) -> Literal["user", "decide", "advance"]:
        if self.user is not None:
            return "user"
        return "decide" if self.decide is not None else "advance"

    @property
    def advance_by(self) -> timedelta:
        return parse_duration(self.advance or 0)

    def describe(self) -> str:
        """A one-line description for reports."""
        if self.user is not None:
            return self.user
        if self.decide is not None:
            text = f"{self.decide.as_} {self.decide.decision}s"
            return text + (f" {self.decide.args}" if self.decide.args else "")
        return f"time passes ({self.advance})"


class Case(_Model):
    """One scripted conversation."""

    id: str
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    customer: str | None = None
    """The customer id passed to tools (e.g. C-1001)."""
    policy: dict[str, Any] | None = None
    """A partial policy merged into the pack's policy for this case only."""
    turns: list[Step] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _CASE_ID.match(value):
            raise ValueError(
                f"{value!r} is not a valid case id: use 1-56 letters, digits, "
                "'_', '-', '.' starting with a letter or digit"
            )
        return value


class Suite(_Model):
    """A named list of cases, usually one YAML file."""

    name: str
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    """Tags added to every case of the suite."""
    cases: list[Case] = Field(min_length=1)
    file: str = Field("<suite>", exclude=True)
    """Where the suite was read from (set by the loader)."""

    @model_validator(mode="after")
    def _unique_ids(self) -> Suite:
        seen: set[str] = set()
        for case in self.cases:
            if case.id in seen:
                raise ValueError(f"case id {case.id!r} is used twice")
            seen.add(case.id)
        return self

    def case_tags(self, case: Case) -> list[str]:
        return sorted({*self.tags, *case.tags})


# -- loading ------------------------------------------------------------------------------
def _location(data: Any, loc: Sequence[int | str]) -> tuple[str | None, str]:
    """(case id, key path inside the case) for a pydantic error location."""
    case: str | None = None
    parts = list(loc)
    if len(parts) >= 2 and parts[0] == "cases" and isinstance(parts[1], int):
        index = parts[1]
        try:
            raw = data["cases"][index]
            case = str(raw.get("id")) if isinstance(raw, dict) and raw.get("id") else None
        except (KeyError, IndexError, TypeError):
            case = None
        case = case or f"#{index + 1}"
        parts = parts[2:]
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif str(part).startswith(("function-", "tagged-union")):
            continue
        else:
            path += ("." if path else "") + ("as" if part == "as_" else str(part))
    return case, path


def _reason(error: Mapping[str, Any], model_keys: Iterable[str] | None = None) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        valid = f" (valid keys: {', '.join(model_keys)})" if model_keys else ""
        return f"unknown key{valid}"
    if kind == "literal_error":
        expected = (error.get("ctx") or {}).get("expected", "")
        return f"got {error.get('input')!r}; valid values: {expected}"
    if kind == "missing":
        return "required key is missing"
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return message


_KEYS: dict[str, list[str]] = {
    "suite": ["name", "description", "tags", "cases"],
    "case": list(Case.model_fields),
    "step": ["user", "decide", "advance", "expect"],
    "expect": list(Expect.model_fields),
    "decide": ["as", "decision", "args", "comment", "authenticated"],
    "action": list(ActionExpect.model_fields),
}


def _keys_for(path: str) -> list[str] | None:
    tail = re.sub(r"\[\d+\]", "", path).split(".")
    parent = tail[-2] if len(tail) >= 2 else ""
    if parent == "expect":
        return _KEYS["expect"]
    if parent == "decide":
        return _KEYS["decide"]
    if parent == "actions":
        return _KEYS["action"]
    if parent == "turns":
        return _KEYS["step"]
    if len(tail) == 1:
        return None
    return None


def parse_suite(data: Any, *, file: str = "<suite>") -> Suite:
    """Validate parsed YAML into a Suite, or raise SuiteError naming case and key."""
    if not isinstance(data, dict):
        raise SuiteError(file, "a suite must be a YAML mapping with name and cases")
    try:
        suite = Suite.model_validate({**data, "file": file})
    except ValidationError as exc:
        errors = sorted(exc.errors(), key=lambda e: e.get("type") != "extra_forbidden")
        first = errors[0]
        case, path = _location(data, first.get("loc", ()))
        keys = None
        if first.get("type") == "extra_forbidden":
            if case is None and "." not in path and "[" not in path:
                keys = _KEYS["suite"]
            elif case is not None and "." not in path and "[" not in path:
                keys = _KEYS["case"]
            else:
                keys = _keys_for(path)
        reason = _reason(dict(first), keys)
        more = len(errors) - 1
        if more:
            reason += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise SuiteError(file, reason, case=case, field=path or None) from None
    return suite


def load_suite(path: str | Path) -> Suite:
    """Read and validate one suite file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteError(str(path), "file not found") from None
    except (UnicodeDecodeError, IsADirectoryError):
        raise SuiteError(str(path), "not a UTF-8 text file") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise SuiteError(
            str(path), where + (getattr(exc, "problem", None) or "invalid YAML")
        ) from None
    return parse_suite(data, file=str(path))


def suite_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders into their ``*.yaml``/``*.yml`` files (sorted); keep files as given."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
            if not found:
                raise SuiteError(str(path), "the folder holds no .yaml suite files")
            out.extend(found)
        else:
            out.append(path)
    return out


def load_suites(paths: Iterable[str | Path]) -> list[Suite]:
    """Load suites from files and folders; case ids must be unique across suites."""
    suites = [load_suite(p) for p in suite_files(paths)]
    owners: dict[str, str] = {}
    for suite in suites:
        for case in suite.cases:
            if case.id in owners and owners[case.id] != suite.file:
                raise SuiteError(
                    suite.file,
                    f"case id is also used in {owners[case.id]}; "
                    "case ids must be unique across the suites of a run",
                    case=case.id,
                )
            owners[case.id] = suite.file
    return suites


# -- policy overrides ---------------------------------------------------------------------
def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into ``base``: mappings merge, everything else replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def case_policy(base: Policy, case: Case, *, file: str = "<suite>") -> Policy:
    """The pack's policy with the case's overrides merged in.

    An override that does not set ``version`` gets ``<base version>+<case id>``, so audit
    events and approvals never claim the unmodified policy's version.
    """
    if not case.policy:
        return base
    data = merge(base.model_dump(mode="json"), case.policy)
    if "version" not in case.policy:
        data["version"] = f"{base.version}+{case.id}"
    try:
        return parse_policy(data, file=file)
    except PolicyError as exc:
        raise SuiteError(
            file,
            f"the merged policy is invalid: {exc.reason}",
            case=case.id,
            field=f"policy.{exc.field}" if exc.field else "policy",
        ) from None
