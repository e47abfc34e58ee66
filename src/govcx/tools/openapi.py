"""OpenAPI operations as tools: chosen by ``operationId``, called with httpx.

An operation's path, query and header parameters and its JSON request body's properties
become one flat argument object (its JSON schema is what ``govcx tools review`` locks).
Local ``$ref``s are resolved so the schema stands on its own. ``idempotency_key``,
``customer_id`` and ``conversation_id`` are filled by the runtime when the operation takes
a parameter of that name, and an ``Idempotency-Key`` header parameter is filled with the
runtime's idempotency key (the usual HTTP convention).

A response outside 2xx, a time-out or a refused connection is a
:class:`~govcx.errors.RemoteToolError` (the body is logged, never shown to the customer).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import yaml

from govcx.errors import ConfigError, RemoteToolError
from govcx.tools.remote import RemoteTool

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
IDEMPOTENCY_HEADER = "idempotency-key"


@dataclass(frozen=True, kw_only=True)
class OpenApiService:
    """One service of govcx.yaml ``openapi:``, resolved."""

    name: str
    spec: Path
    operations: tuple[str, ...]
    base_url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    replies: Mapping[str, str] = field(default_factory=dict)
    """Reply templates by operationId (see ``ToolSpec.reply``)."""

    @property
    def label(self) -> str:
        return f"the {self.name} service"


@dataclass(frozen=True, kw_only=True)
class _Binding:
    """Where each argument goes in the HTTP request."""

    method: str
    path: str
    params: dict[str, tuple[str, str]]
    """Argument name -> (location, wire name): path, query, header."""
    body: tuple[str, ...]
    """Arguments sent as JSON body properties."""


class OpenApiClient:
    """Loaded document, bindings and the HTTP client of one service."""

    def __init__(self, service: OpenApiService) -> None:
        self.service = service
        self.doc = _read(service.spec)
        self.bindings: dict[str, _Binding] = {}
        base = service.base_url or _server_url(self.doc)
        if not base:
            raise ConfigError(
                str(service.spec),
                f"no base_url for {service.name}: set openapi.{service.name}.base_url in "
                "govcx.yaml or `servers:` in the document",
            )
        self.client = httpx.Client(
            base_url=base, headers=dict(service.headers), timeout=service.timeout
        )

    def tools(self) -> list[RemoteTool]:
        found = {
            op.get("operationId"): (method, path, op)
            for path, item in (self.doc.get("paths") or {}).items()
            if isinstance(item, Mapping)
            for method, op in item.items()
            if method in _METHODS and isinstance(op, Mapping)
        }
        missing = [o for o in self.service.operations if o not in found]
        if missing:
            known = ", ".join(sorted(str(k) for k in found if k)) or "none"
            raise ConfigError(
                str(self.service.spec),
                f"operation {', '.join(missing)} not in the document; operationIds: {known}",
            )
        tools = []
        for op_id in self.service.operations:
            method, path, op = found[op_id]
            schema, binding = self._schema(method, path, op)
            self.bindings[op_id] = binding
            text = str(op.get("description") or op.get("summary") or "").strip()
            tools.append(
                RemoteTool(
                    name=f"{self.service.name}.{op_id}",
                    source=f"openapi:{self.service.name}",
                    remote_name=op_id,
                    description=text,
                    input_schema=schema,
                    method=method.upper(),
                )
            )
        return tools

    def _schema(
        self, method: str, path: str, op: Mapping[str, Any]
    ) -> tuple[dict[str, Any], _Binding]:
        props: dict[str, Any] = {}
        required: list[str] = []
        params: dict[str, tuple[str, str]] = {}
        item = (self.doc.get("paths") or {}).get(path) or {}
        for raw in [*(item.get("parameters") or []), *(op.get("parameters") or [])]:
            param = _deref(self.doc, raw)
            where, wire = param.get("in"), str(param.get("name"))
            if where not in ("path", "query", "header"):
                continue
            arg = "idempotency_key" if wire.lower() == IDEMPOTENCY_HEADER else wire
            schema = dict(_deref(self.doc, param.get("schema") or {}))
            if param.get("description"):
                schema.setdefault("description", param["description"])
            props[arg] = schema
            params[arg] = (where, wire)
            if param.get("required") or where == "path":
                required.append(arg)
        body: list[str] = []
        content = (_deref(self.doc, op.get("requestBody") or {}).get("content")) or {}
        json_body = content.get("application/json")
        if json_body:
            schema = _deref(self.doc, json_body.get("schema") or {})
            for name, prop in (schema.get("properties") or {}).items():
                props[name] = prop
                body.append(name)
            required += [r for r in schema.get("required", []) if r in body]
        input_schema: dict[str, Any] = {"type": "object", "properties": props}
        if required:
            input_schema["required"] = sorted(set(required))
        input_schema["additionalProperties"] = False
        return input_schema, _Binding(method=method, path=path, params=params, body=tuple(body))

    def call(self, op_id: str, args: dict[str, Any]) -> dict[str, Any]:
        binding = self.bindings[op_id]
        path = binding.path
        query: dict[str, Any] = {}
        headers: dict[str, str] = {}
        body: dict[str, Any] = {}
        for name, value in args.items():
            if name in binding.params:
                where, wire = binding.params[name]
                if where == "path":
                    path = path.replace("{" + wire + "}", quote(str(value), safe=""))
                elif where == "query":
                    query[wire] = value
                else:
                    headers[wire] = str(value)
            elif name in binding.body:
                body[name] = value
        label = self.service.label
        try:
            response = self.client.request(
                binding.method.upper(),
                path,
                params=query,
                headers=headers,
                json=body if binding.body else None,
            )
        except httpx.TimeoutException:
            raise RemoteToolError(label, "timeout", f"{op_id}: no answer in time") from None
        except httpx.TransportError as exc:
            log.warning("%s: %s failed: %s", label, op_id, exc)
            raise RemoteToolError(label, "disconnected", f"{op_id}: {exc}") from None
        if response.status_code >= 400:
            log.warning(
                "%s: %s -> HTTP %s: %s", label, op_id, response.status_code, response.text[:500]
            )
            raise RemoteToolError(
                label, "error", f"{op_id}: HTTP {response.status_code}: {response.text[:300]}"
            )
        if not response.content:
            return {}
        try:
            data = response.json()
        except ValueError:
            return {"text": response.text[:2000]}
        return data if isinstance(data, dict) else {"items": data}

    def close(self) -> None:
        self.client.close()


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(path), "OpenAPI document not found") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"not a readable YAML/JSON document ({exc})") from None
    if not isinstance(data, dict) or "paths" not in data:
        raise ConfigError(str(path), "not an OpenAPI document (no `paths:`)")
    return data


def _server_url(doc: Mapping[str, Any]) -> str | None:
    servers: Sequence[Any] = doc.get("servers") or []
    return str(servers[0]["url"]) if servers and "url" in servers[0] else None


def _deref(doc: Mapping[str, Any], node: Any, depth: int = 0) -> Any:
    """``node`` with every local ``$ref`` replaced by what it points to."""
    if depth > 32:
        raise ConfigError("<openapi>", "$ref nesting deeper than 32 (a cycle?)")
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = doc
            for part in ref[2:].split("/"):
                target = target.get(part.replace("~1", "/").replace("~0", "~"), {})
            return _deref(doc, target, depth + 1)
        return {k: _deref(doc, v, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_deref(doc, v, depth + 1) for v in node]
    return node
