"""Remote tools: MCP and OpenAPI operations as ToolSpecs, behind the same gate as native ones.

A remote tool arrives as a name, a description and a JSON schema written by someone else
(an MCP server, an OpenAPI document). govcx trusts none of it:

- the schema becomes a pydantic model (``extra="forbid"``) *and* is enforced in full with
  ``jsonschema`` after pydantic's coercion, so a malformed call fails closed before any
  network traffic (:func:`args_model`);
- its digest (:func:`schema_digest`, over the name, description and schema) must match the
  one recorded in the pack's ``tools.lock`` by ``govcx tools review``
  (:mod:`govcx.tools.review`); otherwise the tool is *disabled*: it is not in the
  registry, so no engine is offered it and a proposal naming it is refused;
- its tier comes only from the policy, never from hints the server publishes;
- its error text is never shown to a customer as a trusted line
  (:class:`~govcx.errors.RemoteToolError` carries a message govcx wrote).

``customer_id``, ``conversation_id`` and ``idempotency_key`` are filled by the runtime
when the schema declares them (a proposal can never set them), exactly as for a native
tool.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import jsonschema
from jsonschema.protocols import Validator
from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from govcx.tools.tool import CONTEXT_PARAMS, ToolSpec

REMOTE_CONTEXT: frozenset[str] = frozenset({"customer_id", "conversation_id", "idempotency_key"})
"""Runtime-filled parameters a remote tool may declare (``data_dir`` is local to govcx)."""

SourceKind = Literal["mcp", "openapi"]


class SchemaProblem(ValueError):
    """A remote tool's schema that govcx cannot enforce (the tool stays disabled)."""


@dataclass(frozen=True, kw_only=True)
class RemoteTool:
    """A tool discovered on an MCP server or chosen from an OpenAPI document."""

    name: str
    """Qualified name used in the policy: ``<source>.<remote name>`` (``crm.lookup_customer``)."""
    source: str
    """``mcp:<server>`` or ``openapi:<service>``."""
    remote_name: str
    """The tool's name on the server, or the operation's ``operationId``."""
    description: str
    input_schema: dict[str, Any] = field(repr=False)
    """The JSON schema of the arguments, as the server publishes it."""
    method: str | None = None
    """OpenAPI only: the HTTP method (``GET`` operations default to the read tier)."""

    @property
    def kind(self) -> SourceKind:
        return "mcp" if self.source.startswith("mcp:") else "openapi"

    @property
    def digest(self) -> str:
        return schema_digest(self)

    @property
    def runtime_params(self) -> frozenset[str]:
        """The runtime-filled parameters its schema declares."""
        return frozenset(self.input_schema.get("properties", {})) & REMOTE_CONTEXT


def schema_digest(tool: RemoteTool) -> str:
    """``sha256:`` of the canonical JSON of what a reviewer approved: the remote name, the
    description (a model reads it: a changed description can change behaviour) and the
    input schema (and, for OpenAPI, the method)."""
    material = json.dumps(
        {
            "name": tool.remote_name,
            "description": tool.description,
            "input_schema": tool.input_schema,
            "method": tool.method,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return "sha256:" + hashlib.sha256(material.encode("utf-8")).hexdigest()


class _RemoteArgs(BaseModel):
    """Base of a remote tool's argument model: pydantic coerces, then the full JSON schema
    (nested objects, ``$ref``, formats the fields below cannot express) must hold."""

    model_config = ConfigDict(extra="forbid")
    remote_validator: ClassVar[Validator | None] = None

    @model_validator(mode="after")
    def _full_schema(self) -> _RemoteArgs:
        validator = type(self).remote_validator
        if validator is None:
            return self
        data = self.model_dump(mode="json", exclude_none=True)
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
        if errors:
            first = errors[0]
            where = ".".join(str(p) for p in first.absolute_path) or "args"
            raise ValueError(f"{where}: {first.message}")
        return self


_SIMPLE: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list[Any],
    "object": dict[str, Any],
}


def _annotation(schema: Mapping[str, Any]) -> tuple[Any, bool]:
    """The Python type of a property and whether it accepts null."""
    if "enum" in schema and all(isinstance(v, str | int | bool) for v in schema["enum"]):
        values = tuple(schema["enum"])
        return (Literal[values] if values else Any), None in values
    kind = schema.get("type")
    nullable = False
    if isinstance(kind, list):
        nullable = "null" in kind
        rest = [k for k in kind if k != "null"]
        kind = rest[0] if len(rest) == 1 else None
    elif kind is None:
        options = schema.get("anyOf") or schema.get("oneOf") or []
        kinds = [o.get("type") for o in options if isinstance(o, Mapping)]
        nullable = "null" in kinds
        rest = [k for k in kinds if k != "null"]
        kind = rest[0] if len(rest) == 1 and isinstance(rest[0], str) else None
        if kind is not None:
            schema = next(o for o in options if o.get("type") == kind)
    return _SIMPLE.get(str(kind), Any), nullable


def _field(schema: Mapping[str, Any], required: bool) -> tuple[Any, Any]:
    annotation, nullable = _annotation(schema)
    constraints: dict[str, Any] = {}
    if annotation is str:
        for key, name in (("pattern", "pattern"), ("minLength", "min_length")):
            if key in schema:
                constraints[name] = schema[key]
        if "maxLength" in schema:
            constraints["max_length"] = schema["maxLength"]
    if annotation in (int, float):
        for key, name in (
            ("minimum", "ge"),
            ("maximum", "le"),
            ("exclusiveMinimum", "gt"),
            ("exclusiveMaximum", "lt"),
        ):
            if isinstance(schema.get(key), int | float) and not isinstance(schema[key], bool):
                constraints[name] = schema[key]
    if nullable or not required:
        annotation = annotation | None
    default = ... if required else schema.get("default")
    return annotation, Field(default, description=schema.get("description"), **constraints)


def args_model(tool: RemoteTool) -> type[BaseModel]:
    """The argument model of ``tool``: its schema minus the runtime-filled parameters.

    Raises:
        SchemaProblem: the schema is not an object schema or not valid JSON Schema.
    """
    schema = tool.input_schema
    if schema.get("type", "object") != "object" or not isinstance(
        schema.get("properties", {}), Mapping
    ):
        raise SchemaProblem("its input schema is not a JSON object schema")
    props: dict[str, Any] = dict(schema.get("properties", {}))
    local = sorted(set(props) & (CONTEXT_PARAMS - REMOTE_CONTEXT))
    if local:
        raise SchemaProblem(f"it declares {', '.join(local)}, which govcx never sends out")
    required = set(schema.get("required", [])) - REMOTE_CONTEXT
    agent_schema = {
        **schema,
        "properties": {k: v for k, v in props.items() if k not in REMOTE_CONTEXT},
        "required": sorted(required),
    }
    try:
        cls = jsonschema.validators.validator_for(agent_schema)
        cls.check_schema(agent_schema)
    except jsonschema.SchemaError as exc:
        raise SchemaProblem(f"its input schema is not valid JSON Schema: {exc.message}") from None
    fields = {
        name: _field(prop if isinstance(prop, Mapping) else {}, name in required)
        for name, prop in agent_schema["properties"].items()
    }
    try:
        model = create_model(  # type: ignore[call-overload]
            _model_name(tool.name), __base__=_RemoteArgs, **fields
        )
    except Exception as exc:  # a pattern pydantic's regex engine rejects, a bad default
        raise SchemaProblem(f"its input schema cannot be enforced: {exc}") from None
    model.remote_validator = cls(agent_schema)
    return model


def _model_name(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name) + "_args"


def make_remote_spec(
    tool: RemoteTool, call: Callable[[dict[str, Any]], Any], *, reply: str | None = None
) -> ToolSpec:
    """A ToolSpec whose function sends the validated arguments (and the runtime-filled
    parameters the schema declares) through ``call``."""
    model = args_model(tool)
    runtime = tool.runtime_params
    optional = set(tool.input_schema.get("properties", {})) - set(
        tool.input_schema.get("required", [])
    )

    def invoke(**kwargs: Any) -> Any:
        # An optional argument left out stays out (pydantic fills None; the server's schema
        # may not allow null).
        sent = {k: v for k, v in kwargs.items() if not (v is None and k in optional)}
        return call(sent)

    invoke.__name__ = tool.name
    return ToolSpec(
        name=tool.name,
        description=tool.description.split("\n\n", 1)[0].replace("\n", " ").strip(),
        fn=invoke,
        args_model=model,
        context_params=runtime,
        reply=reply,
    )
