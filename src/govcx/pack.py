"""Domain packs: a folder whose govcx.yaml names the policy, knowledge, tools and people.

Example:
    >>> pack = load_pack()              # the bundled acme pack
    >>> sorted(pack.principals)[:2]
    ['ada', 'dana']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from govcx.errors import ConfigError, PolicyError
from govcx.governance.policy import ROLE_NAME
from govcx.governance.principal import VALID_ROLES, Principal, canonical_name

if TYPE_CHECKING:  # imported where used: reading govcx.yaml alone (load_config) needs neither
    from govcx.governance.policy import Policy
    from govcx.tools.registry import ToolRegistry

BUNDLED_PACKS = Path(__file__).resolve().parent / "packs"
DEFAULT_PACK = BUNDLED_PACKS / "acme"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EngineConfig(_Model):
    kind: Literal["embedded", "llm"] = "embedded"
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    """Name of the environment variable holding the API key (never the key itself)."""
    temperature: float = 0.0
    timeout: float = 30.0
    max_tokens: int = 512
    max_retries: int = 2
    structured_output: Literal["json_schema", "function_calling", "json_mode"] = "json_schema"
    """How the LLM engine asks for structured classification output."""
    max_tool_rounds: int = Field(3, ge=1, le=10)
    """Read-tool rounds the LLM engine may take while planning."""
    backoff: float = Field(0.5, ge=0)
    backoff_max: float = Field(8.0, ge=0)
    cassette: str | None = None
    """Record/replay file for model calls, relative to the pack (see docs/llm.md)."""
    out_of_scope_examples: list[str] = Field(default_factory=list)
    """Extra off-topic phrasings the embedded classifier should refuse."""
    intent_model: str | None = None
    """Optional fine-tuned intent model folder for the embedded classifier, written by
    `govcx classifier finetune`; relative paths are relative to the pack."""
    intent_model_weight: float = Field(1.0, ge=0.0, le=1.0)
    """The fine-tuned model's share when blending with the TF-IDF/WordLlama classifier."""


class StorageConfig(_Model):
    url: str = "sqlite:///govcx.db"
    """Relative SQLite paths are relative to the state dir."""


class PrincipalConfig(_Model):
    roles: list[str]
    teams: list[str] = Field(default_factory=list)
    """For the ``agent`` role: teams of the policy's ``routing.teams``."""

    @field_validator("roles")
    @classmethod
    def _roles(cls, roles: list[str]) -> list[str]:
        for role in roles:
            if role in ("channel", "agent", "auditor", "admin"):
                continue
            if role.startswith("approver:") and len(role) > len("approver:"):
                continue
            if ROLE_NAME.fullmatch(role) and ":" not in role:
                continue  # a reviewer role; _check_principals checks the policy names it
            raise ValueError(f"unknown role {role!r}; valid roles: {', '.join(VALID_ROLES)}")
        return roles


class WebhookConfig(_Model):
    url: str
    events: list[str] = Field(default_factory=lambda: ["*"])
    secret_env: str | None = None


class PackConfig(_Model):
    name: str
    description: str = ""
    policy: str = "policy.yaml"
    knowledge: str | None = "knowledge/"
    tools: str | None = "tools.py"
    evals: str | None = "evals/"
    engine: EngineConfig = Field(default_factory=lambda: EngineConfig())
    storage: StorageConfig = Field(default_factory=StorageConfig)
    principals: dict[str, PrincipalConfig] = Field(default_factory=dict)
    knowledge_config: dict[str, Any] | None = None
    webhooks: list[WebhookConfig] = Field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Pack:
    """A loaded, cross-checked pack."""

    root: Path
    config: PackConfig
    policy: Policy
    policy_path: Path
    registry: ToolRegistry
    principals: dict[str, Principal]
    knowledge_dir: Path | None
    evals_dir: Path | None

    @property
    def name(self) -> str:
        return self.config.name

    def principal(self, name: str) -> Principal:
        """The principal called ``name``, matched canonically (trimmed, case-folded)."""
        wanted = canonical_name(name)
        for principal in self.principals.values():
            if canonical_name(principal.name) == wanted:
                return principal
        raise ConfigError(
            str(self.root / "govcx.yaml"),
            f"unknown principal {name!r}; principals: {', '.join(sorted(self.principals))}",
            field="principals",
        )


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "file not found") from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), "not UTF-8 text") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or "bad YAML"
        raise ConfigError(str(path), f"{where}{problem}") from None


def load_config(path: str | Path | None = None) -> tuple[Path, PackConfig]:
    """The pack folder and its validated govcx.yaml, without loading the policy or the
    tools (for commands that only open the pack's database)."""
    root = Path(path).expanduser().resolve() if path else DEFAULT_PACK
    if not root.is_dir():
        raise ConfigError(str(root), "pack folder not found (a pack is a folder with govcx.yaml)")
    config_path = root / "govcx.yaml"
    data = _read_yaml(config_path)
    if not isinstance(data, dict):
        raise ConfigError(str(config_path), "must be a YAML mapping with at least `name:`")
    try:
        config = PackConfig.model_validate(data)
    except ValidationError as exc:
        err = sorted(exc.errors(), key=lambda e: e.get("type") != "extra_forbidden")[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = (
            "unknown key (valid keys: " + ", ".join(PackConfig.model_fields) + ")"
            if err["type"] == "extra_forbidden" and len(err["loc"]) == 1
            else str(err["msg"]).removeprefix("Value error, ")
        )
        raise ConfigError(str(config_path), msg, field=loc) from None
    return root, config


def load_pack(path: str | Path | None = None) -> Pack:
    """Load and cross-check a pack folder (default: the bundled acme pack)."""
    from govcx.governance.policy import load_policy
    from govcx.tools.registry import ToolRegistry

    root, config = load_config(path)
    config_path = root / "govcx.yaml"
    policy_path = root / config.policy
    policy = load_policy(policy_path)
    registry = (
        ToolRegistry.from_module_file(root / config.tools) if config.tools else ToolRegistry()
    )
    cross_check(policy, policy_path, registry)
    _check_principals(config, config_path, policy, policy_path)
    principals = {
        name: Principal(name=name, roles=frozenset(p.roles), teams=frozenset(p.teams))
        for name, p in config.principals.items()
    }
    knowledge_dir = root / config.knowledge if config.knowledge else None
    if knowledge_dir is not None and not knowledge_dir.is_dir():
        raise ConfigError(
            str(config_path), f"knowledge folder {knowledge_dir} not found", field="knowledge"
        )
    evals_dir = root / config.evals if config.evals else None
    return Pack(
        root=root,
        config=config,
        policy=policy,
        policy_path=policy_path,
        registry=registry,
        principals=principals,
        knowledge_dir=knowledge_dir,
        evals_dir=evals_dir if evals_dir and evals_dir.is_dir() else None,
    )


def _check_principals(
    config: PackConfig, config_path: Path, policy: Policy, policy_path: Path
) -> None:
    """Principal names are unique after trimming and case-folding (so one person cannot
    count twice toward four-eyes), and every ``approver:X`` role names a role X of the
    policy's ``approvals.roles``."""
    seen: dict[str, str] = {}
    for name in config.principals:
        key = canonical_name(name)
        if not key:
            raise ConfigError(str(config_path), "a principal name is empty", field="principals")
        if key in seen:
            raise ConfigError(
                str(config_path),
                f"principals {seen[key]!r} and {name!r} are "
                "the same name once trimmed and case-folded; names must be "
                "unique so one person cannot act as two (rename or merge them)",
                field="principals",
            )
        seen[key] = name
    for name in config.principals:
        if name != name.strip():
            raise ConfigError(
                str(config_path),
                f"principal {name!r} has leading or trailing spaces; write it as {name.strip()!r}",
                field="principals",
            )
    teams = sorted(policy.routing.teams)
    for name, principal in config.principals.items():
        if principal.teams and "agent" not in principal.roles:
            raise ConfigError(
                str(config_path),
                f"{name} has teams but not the role agent; teams are for people who work "
                "cases: add agent to its roles or remove teams",
                field=f"principals.{name}.teams",
            )
        if "agent" in principal.roles and "channel" in principal.roles:
            raise ConfigError(
                str(config_path),
                f"{name} holds both channel and agent; a channel speaks for customers and "
                "can never work their cases: use two principals",
                field=f"principals.{name}.roles",
            )
        for team in principal.teams:
            if team not in policy.routing.teams:
                raise ConfigError(
                    str(config_path),
                    f"team {team!r} of {name} is not defined by the policy "
                    f"({policy_path.name} routing.teams); valid teams: "
                    f"{', '.join(teams) or 'none (the policy defines no routing.teams)'}",
                    field=f"principals.{name}.teams",
                )
    reviewers = policy.policy_changes.roles if policy.policy_changes is not None else []
    for name, principal in config.principals.items():
        for role in principal.roles:
            if role in ("channel", "agent", "auditor", "admin") or role.startswith("approver:"):
                continue
            if role not in reviewers:
                raise ConfigError(
                    str(config_path),
                    f"unknown role {role!r} of {name}; valid roles: {', '.join(VALID_ROLES)}, "
                    "or a reviewer role the policy names under "
                    f"governance.policy_changes.roles ({', '.join(reviewers) or 'none'})",
                    field=f"principals.{name}.roles",
                )
    defined = sorted(policy.approvals.roles)
    for name, principal in config.principals.items():
        for role in principal.roles:
            if not role.startswith("approver:"):
                continue
            wanted = role.split(":", 1)[1]
            if wanted not in policy.approvals.roles:
                valid = (
                    ", ".join(f"approver:{r}" for r in defined)
                    or "none (the policy defines no approvals.roles)"
                )
                raise ConfigError(
                    str(config_path),
                    f"role {role!r} of {name} is not defined "
                    f"by the policy ({policy_path.name} approvals.roles); valid "
                    f"approver roles: {valid}",
                    field=f"principals.{name}.roles",
                )


def cross_check(policy: Policy, policy_path: str | Path, registry: ToolRegistry) -> None:
    """Check ``policy`` against the tools it governs; raise PolicyError on the first problem.

    What a policy file alone cannot show (``load_policy`` checks the file itself): every
    tool it names is defined in ``registry``; each ``approval_if`` evaluates on the tool's
    own arguments (a sample call), so it names no argument the tool lacks; ``amount_arg``
    is an argument of the tool; each limit sums a numeric argument and is kept per
    customer, conversation or one of the tool's arguments; a tool's context lookup is
    no tool that can write. ``policy_path`` is the file
    named in the error. Every place a policy is accepted calls this: the pack loader,
    ``govcx policy check``, ``PUT /v1/policy`` and the policy simulator.

    Example:
        >>> pack = load_pack()
        >>> cross_check(pack.policy, pack.policy_path, pack.registry)
    """
    from govcx.governance.expr import Expression, ExpressionError

    for name, tool_policy in policy.tools.items():
        if name not in registry:
            defined = ", ".join(registry.names()) or "none"
            raise PolicyError(
                str(policy_path),
                f"tool {name!r} is not defined in the pack's "
                f"tools module; defined tools: {defined}",
                field=f"tools.{name}",
            )
        spec = registry.get(name)
        if tool_policy.approval_if:
            sample = {p: _sample(schema) for p, schema in spec.params.items()}
            sample.update({"tool": name, "customer_id": "C-0"})
            try:
                Expression.compile(tool_policy.approval_if).evaluate(sample)
            except ExpressionError as exc:
                raise PolicyError(
                    str(policy_path),
                    f"{exc}; {name} takes {', '.join(spec.params) or 'no arguments'}",
                    field=f"tools.{name}.approval_if",
                ) from None
        if tool_policy.amount_arg and tool_policy.amount_arg not in spec.params:
            raise PolicyError(
                str(policy_path),
                f"{name} has no argument {tool_policy.amount_arg!r}",
                field=f"tools.{name}.amount_arg",
            )
        _check_limits(name, tool_policy.limits, spec.params, policy_path)
        _check_lookup(policy, name, spec, policy_path)


def _check_lookup(policy: Policy, name: str, spec: Any, policy_path: str | Path) -> None:
    """A context lookup only reads: one that is itself a tool must be a read-only one."""
    bound = getattr(spec.context, "__govcx_tool__", None)
    if bound is not None and not policy.is_read_only(bound.name):
        raise PolicyError(
            str(policy_path),
            f"{name}'s context lookup is the tool {bound.name}, which is not read-only in "
            "this policy; a lookup must only read: use a read-only tool (a tier with "
            "read_only: true) or a plain function",
            field=f"tools.{name}",
        )


def _check_limits(name: str, limits: Any, params: dict[str, Any], policy_path: str | Path) -> None:
    """A limit sums a numeric argument of its tool and is kept per customer, per
    conversation or per one of the tool's arguments."""
    takes = ", ".join(params) or "no arguments"
    for i, limit in enumerate(limits):
        if limit.sum is not None:
            kind = params.get(limit.sum, {}).get("type")
            if kind is None and "anyOf" in params.get(limit.sum, {}):
                kinds = [s.get("type") for s in params[limit.sum]["anyOf"]]
                kind = "number" if {"number", "integer"} & set(kinds) else None
            if limit.sum not in params or kind not in ("number", "integer"):
                raise PolicyError(
                    str(policy_path),
                    f"{name} has no numeric argument {limit.sum!r} to sum; {name} takes {takes}",
                    field=f"tools.{name}.limits[{i}].sum",
                )
        if limit.per not in ("customer", "conversation") and limit.per not in params:
            raise PolicyError(
                str(policy_path),
                f"per must be customer, conversation or an "
                f"argument of {name}; {name} takes {takes}",
                field=f"tools.{name}.limits[{i}].per",
            )


def _sample(schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if kind is None and "anyOf" in schema:
        kinds = [s.get("type") for s in schema["anyOf"] if s.get("type") != "null"]
        kind = kinds[0] if kinds else None
    return {"number": 1.0, "integer": 1, "boolean": False, "array": [], "object": {}}.get(
        str(kind), "x"
    )
