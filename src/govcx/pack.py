"""Domain packs: a folder whose govcx.yaml names the policy, knowledge, tools and people.

Example:
    >>> pack = load_pack()              # the bundled acme pack
    >>> sorted(pack.principals)[:2]
    ['ada', 'dana']
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from govcx.errors import ConfigError, PolicyError
from govcx.governance.policy import ROLE_NAME
from govcx.governance.principal import VALID_ROLES, Principal, canonical_name, is_built_in

if TYPE_CHECKING:  # imported where used: reading govcx.yaml alone (load_config) needs neither
    from govcx.governance.policy import Policy
    from govcx.tools.gateway import Gateway
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
            if is_built_in(role):
                continue
            if ROLE_NAME.fullmatch(role) and ":" not in role:
                continue  # a reviewer role; _check_principals checks the policy names it
            raise ValueError(f"unknown role {role!r}; valid roles: {', '.join(VALID_ROLES)}")
        return roles


class WebhookConfig(_Model):
    url: str
    events: list[str] = Field(default_factory=lambda: ["*"])
    secret_env: str | None = None


def _check_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"URL {value!r} must start with http:// or https://")
    return value


class _ChannelConfig(_Model):
    principal: str
    """The principal the channel acts as: one of the pack's, with the role ``channel``."""
    timeout: float = Field(5.0, gt=0, le=60)
    """Seconds for each outbound call to the channel's API."""


class ChatwootChannelConfig(_ChannelConfig):
    base_url: str
    """The Chatwoot installation, e.g. ``https://app.chatwoot.com``."""
    account_id: int = Field(ge=1)
    """Deliveries for another account are ignored."""
    api_token_env: str
    """Variable holding the agent bot's access token (``api_access_token`` header)."""
    secret_env: str | None = None
    """Variable holding the bot's webhook secret: deliveries must carry a valid
    ``X-Chatwoot-Signature`` (Chatwoot 4.x signs bot webhooks)."""
    token_env: str | None = None
    """For installations that do not sign: a shared token the webhook URL carries as
    ``?token=...``. One of ``secret_env`` and ``token_env`` is required."""

    @model_validator(mode="after")
    def _authenticity(self) -> ChatwootChannelConfig:
        if self.secret_env is None and self.token_env is None:
            raise ValueError(
                "chatwoot needs secret_env (the agent bot's webhook secret, checked "
                "against X-Chatwoot-Signature) or token_env (a shared token in the URL)"
            )
        _check_url(self.base_url)
        return self


class SlackChannelConfig(_ChannelConfig):
    signing_secret_env: str
    """Variable holding the app's signing secret (requests are verified with it)."""
    bot_token_env: str
    """Variable holding the bot token (``xoxb-...``) for ``chat.postMessage``."""
    base_url: str = "https://slack.com/api/"
    """Slack's Web API (tests point it at a local server)."""

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)


class TwilioChannelConfig(_ChannelConfig):
    auth_token_env: str
    """Variable holding the account's auth token (``X-Twilio-Signature`` is checked)."""
    public_url: str | None = None
    """The URL Twilio calls for this server, e.g. ``https://govcx.example.com``: behind
    a proxy the URL the server sees differs and signatures would not match."""
    handoff: Literal["enqueue", "dial"] = "enqueue"
    """Hand-off as ``<Enqueue>`` into the case's team queue, or ``<Dial>`` to ``dial``."""
    dial: str | None = None
    """The number (or SIP URI) ``<Dial>`` calls on hand-off."""
    greeting: str = "Hello, how can I help you today?"
    language: str = "en-US"
    voice: str | None = None

    @model_validator(mode="after")
    def _handoff(self) -> TwilioChannelConfig:
        if self.handoff == "dial" and not self.dial:
            raise ValueError("handoff: dial needs `dial:` (the number or SIP URI to call)")
        if self.public_url is not None:
            _check_url(self.public_url)
        return self


class GenericChannelConfig(_ChannelConfig):
    secret_env: str
    """Variable holding the shared HMAC secret of requests and callbacks."""
    callback_urls: list[str] = Field(default_factory=list)
    """Allowed callback URL prefixes; a request naming another callback is refused."""

    @field_validator("callback_urls")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        return [_check_url(url) for url in value]


class ChannelsConfig(_Model):
    """Channel connectors mounted under ``/channels/`` (govcx.api.channels)."""

    chatwoot: ChatwootChannelConfig | None = None
    slack: SlackChannelConfig | None = None
    twilio: TwilioChannelConfig | None = None
    webhook: GenericChannelConfig | None = None


class McpServerConfig(_Model):
    """One MCP server: ``{command: [python, crm_server.py]}`` (stdio, run in the pack
    folder; ``python`` means the interpreter running govcx) or ``{url: ..., headers_env:
    NAME}`` (streamable HTTP)."""

    command: list[str] | None = Field(None, min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    """Extra environment variables for a stdio server (values, not secrets' names)."""
    pass_env: list[str] = Field(default_factory=list)
    """Variables of govcx's own environment passed to a stdio server when set (the SDK
    gives a child only a safe minimum, like PATH and HOME)."""
    url: str | None = None
    headers_env: str | None = None
    """Environment variable holding the HTTP headers: a JSON object of headers, or one
    value sent as ``Authorization``."""
    timeout: float = Field(30.0, gt=0, le=600)
    """Seconds one tool call may take; then the call fails (never hangs)."""
    connect_timeout: float = Field(20.0, gt=0, le=600)
    replies: dict[str, str] = Field(default_factory=dict)
    """Reply templates by tool name (``lookup_order: "Order {order_id} is {status}."``),
    formatted with the arguments and the result's fields, as ``@tool(reply=...)``."""

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("give exactly one of `command:` (stdio) or `url:` (streamable HTTP)")
        if self.headers_env and self.url is None:
            raise ValueError("headers_env is for a `url:` server")
        return self


class OpenApiConfig(_Model):
    """One OpenAPI-described service whose chosen operations become tools."""

    spec: str
    """The OpenAPI document (YAML or JSON), relative to the pack."""
    operations: list[str] = Field(min_length=1)
    """operationIds to turn into tools ``<service>.<operationId>``."""
    base_url: str | None = None
    """Default: the document's first ``servers:`` url."""
    base_url_env: str | None = None
    """Environment variable that, when set, overrides base_url (per deployment)."""
    auth_env: str | None = None
    """Environment variable holding the ``Authorization`` header value."""
    timeout: float = Field(30.0, gt=0, le=600)
    replies: dict[str, str] = Field(default_factory=dict)
    """Reply templates by operationId, as for MCP servers."""


_SOURCE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def _source_names(value: dict[str, Any]) -> dict[str, Any]:
    for name in value:
        if not _SOURCE_NAME.match(name):
            raise ValueError(
                f"{name!r} is not a source name; use letters, digits, - and _ (no dots: "
                "tools are named <source>.<tool>)"
            )
    return value


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
    channels: ChannelsConfig = Field(default_factory=ChannelsConfig)
    mcp_servers: dict[str, McpServerConfig] = Field(default_factory=dict)
    """MCP servers whose tools the pack may use (each still needs review and a tier)."""
    openapi: dict[str, OpenApiConfig] = Field(default_factory=dict)
    """OpenAPI services whose chosen operations the pack may use."""
    tools_lock: str = "tools.lock"
    """The reviewed schemas of the remote tools (``govcx tools review``)."""

    @field_validator("mcp_servers", "openapi")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _source_names(value)

    @model_validator(mode="after")
    def _distinct_sources(self) -> PackConfig:
        both = sorted(set(self.mcp_servers) & set(self.openapi))
        if both:
            raise ValueError(f"{', '.join(both)} is both an MCP server and an OpenAPI service")
        return self


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
    gateway: Gateway | None = None
    """The MCP servers and OpenAPI services (None without any); see :meth:`close`."""

    @property
    def name(self) -> str:
        return self.config.name

    def close(self) -> None:
        """Stop the pack's MCP servers and close its HTTP clients (idempotent)."""
        if self.gateway is not None:
            self.gateway.close()

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


def load_pack(path: str | Path | None = None, *, environ: Mapping[str, str] | None = None) -> Pack:
    """Load and cross-check a pack folder (default: the bundled acme pack).

    A pack with ``mcp_servers`` or ``openapi`` starts and connects to them here
    (``environ``, default ``os.environ``, holds the secrets they name); call
    :meth:`Pack.close` when done (the agent does).
    """
    from govcx.governance.policy import load_policy
    from govcx.tools.registry import ToolRegistry

    root, config = load_config(path)
    config_path = root / "govcx.yaml"
    policy_path = root / config.policy
    policy = load_policy(policy_path)
    registry = (
        ToolRegistry.from_module_file(root / config.tools) if config.tools else ToolRegistry()
    )
    gateway = _open_gateway(root, config, os.environ if environ is None else environ)
    try:
        if gateway is not None:
            registry.gateway = gateway
            for spec in gateway.specs:
                if spec.name in registry:
                    raise ConfigError(
                        str(config_path),
                        f"tool {spec.name} is defined twice (tools module and a remote source)",
                    )
                registry.add(spec)
        cross_check(policy, policy_path, registry)
        return _finish(root, config, config_path, policy, policy_path, registry, gateway)
    except BaseException:
        if gateway is not None:
            gateway.close()
        raise


def _finish(
    root: Path,
    config: PackConfig,
    config_path: Path,
    policy: Policy,
    policy_path: Path,
    registry: ToolRegistry,
    gateway: Gateway | None,
) -> Pack:
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
        gateway=gateway,
    )


def _open_gateway(root: Path, config: PackConfig, environ: Mapping[str, str]) -> Gateway | None:
    """Connect the pack's MCP servers and OpenAPI services (None when it has none)."""
    if not config.mcp_servers and not config.openapi:
        return None
    from govcx.tools.gateway import open_gateway
    from govcx.tools.mcp import McpServer
    from govcx.tools.openapi import OpenApiService

    file = str(root / "govcx.yaml")
    servers = []
    for name, server in config.mcp_servers.items():
        headers: dict[str, str] = {}
        if server.headers_env:
            headers = _headers(
                _secret(environ, server.headers_env, file, f"mcp_servers.{name}.headers_env"),
                file,
                f"mcp_servers.{name}.headers_env",
            )
        command = tuple(server.command or ())
        if command and command[0] in ("python", "python3"):
            command = (sys.executable, *command[1:])
        servers.append(
            McpServer(
                name=name,
                command=command,
                cwd=root,
                env={**{n: environ[n] for n in server.pass_env if n in environ}, **server.env},
                url=server.url,
                headers=headers,
                timeout=server.timeout,
                connect_timeout=server.connect_timeout,
                replies=server.replies,
            )
        )
    services = []
    for name, service in config.openapi.items():
        auth: dict[str, str] = {}
        if service.auth_env:
            auth["Authorization"] = _secret(
                environ, service.auth_env, file, f"openapi.{name}.auth_env"
            )
        base_url = service.base_url
        if service.base_url_env and environ.get(service.base_url_env):
            base_url = environ[service.base_url_env]
        services.append(
            OpenApiService(
                name=name,
                spec=root / service.spec,
                operations=tuple(service.operations),
                base_url=base_url,
                headers=auth,
                timeout=service.timeout,
                replies=service.replies,
            )
        )
    return open_gateway(mcp_servers=servers, openapi=services, lock_path=root / config.tools_lock)


def _secret(environ: Mapping[str, str], name: str, file: str, field: str) -> str:
    value = environ.get(name)
    if not value:
        raise ConfigError(file, f"the environment variable {name} is not set", field=field)
    return value


def _headers(value: str, file: str, field: str) -> dict[str, str]:
    if not value.lstrip().startswith("{"):
        return {"Authorization": value}
    try:
        data = json.loads(value)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ConfigError(
            file,
            "the variable must hold a JSON object of header names to strings, or one "
            "Authorization value",
            field=field,
        )
    return {str(k): v for k, v in data.items()}


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
        for side in ("channel", "mcp"):
            if "agent" in principal.roles and side in principal.roles:
                raise ConfigError(
                    str(config_path),
                    f"{name} holds both {side} and agent; a {side} principal speaks for "
                    "customers and can never work their cases: use two principals",
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
            if is_built_in(role):
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
    is an argument of the tool, and so is each of ``identifiers``; each limit sums a
    numeric argument and is kept per customer, conversation or one of the tool's
    arguments; a tool's context lookup is no tool that can write. ``policy_path`` is the file
    named in the error. Every place a policy is accepted calls this: the pack loader,
    ``govcx policy check``, ``PUT /v1/policy`` and the policy simulator.

    Example:
        >>> pack = load_pack()
        >>> cross_check(pack.policy, pack.policy_path, pack.registry)
    """
    from govcx.governance.expr import Expression, ExpressionError

    for name, tool_policy in policy.tools.items():
        if name not in registry and registry.why_disabled(name) is not None:
            continue  # a remote tool that is disabled stays unusable; `govcx tools list` says why
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
        unknown = [a for a in tool_policy.identifiers or () if a not in spec.params]
        if unknown:
            raise PolicyError(
                str(policy_path),
                f"{name} has no argument {unknown[0]!r}; it takes "
                f"{', '.join(spec.params) or 'no arguments'}",
                field=f"tools.{name}.identifiers",
            )
        _check_limits(name, tool_policy.limits, spec.params, policy_path)
        _check_lookup(policy, name, spec, policy_path)
    _check_untiered_writes(policy, policy_path, registry)


def _check_untiered_writes(policy: Policy, policy_path: str | Path, registry: ToolRegistry) -> None:
    """Every chosen OpenAPI operation that is not a GET must have a tier: a pack author
    who picked a write operation has to say how risky it is."""
    if registry.gateway is None:
        return
    untiered = sorted(
        entry.tool.name
        for entry in registry.gateway.entries
        if entry.tool.kind == "openapi"
        and entry.tool.method != "GET"
        and entry.tool.name not in policy.tools
    )
    if untiered:
        raise PolicyError(
            str(policy_path),
            f"{', '.join(untiered)} change things (not GET) and have no tier; add each under "
            "tools: with a tier (GET operations may go without one, and are then never used)",
            field="tools",
        )


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
