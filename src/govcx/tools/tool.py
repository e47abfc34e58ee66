"""Tools: typed Python functions the agent may call, always through the policy gate.

A pack's ``tools.py`` registers functions with ``@tool``. The function's signature is
the contract: parameters are validated with pydantic before any call, ``Annotated[str,
Field(pattern=...)]`` lets the embedded engine find the value in customer text, and the
first docstring paragraph describes the tool to models and approvers.

Some parameter names are filled by the runtime, never by the model or the customer:

- ``customer_id``, ``conversation_id``: the conversation's context.
- ``idempotency_key``: stable across retries of the same step, so a downstream system
  can drop a duplicate after a crash.
- ``data_dir``: a folder under the state dir that belongs to this pack.

Example:
    >>> from typing import Annotated
    >>> from pydantic import Field
    >>> from govcx import tool
    >>> @tool(reply="Order {order_id} is {status}.")
    ... def lookup_order(order_id: Annotated[str, Field(pattern=r"A-\\d{4}")],
    ...                  customer_id: str) -> dict:
    ...     '''Look up one of the customer's orders.'''
    ...     return {"order_id": order_id, "status": "shipped"}
"""

from __future__ import annotations

import inspect
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, overload

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from govcx.errors import ToolArgumentError

CONTEXT_PARAMS: frozenset[str] = frozenset(
    {"customer_id", "conversation_id", "idempotency_key", "data_dir"}
)
"""Parameter names the runtime fills; a proposal can never set them."""


@dataclass(frozen=True, kw_only=True)
class ToolSpec:
    """A registered tool: its function, argument model and description."""

    name: str
    description: str
    fn: Callable[..., Any] = field(repr=False)
    args_model: type[BaseModel] = field(repr=False)
    """Pydantic model of the arguments the agent supplies (context params excluded)."""
    context_params: frozenset[str] = frozenset()
    """Which context parameters the function declares."""
    reply: str | None = None
    """Reply template formatted with the arguments and the result's fields."""

    @cached_property
    def _schema(self) -> dict[str, Any]:
        # Built once: engines read it on every turn.
        schema: dict[str, Any] = self.args_model.model_json_schema()
        return schema

    @property
    def params(self) -> dict[str, Any]:
        """JSON schema properties of the agent-supplied arguments."""
        props: dict[str, Any] = self._schema.get("properties", {})
        return props

    @property
    def required(self) -> list[str]:
        required: list[str] = self._schema.get("required", [])
        return required

    @cached_property
    def _patterns(self) -> dict[str, re.Pattern[str]]:
        found: dict[str, re.Pattern[str]] = {}
        for name, prop in self.params.items():
            pattern = prop.get("pattern")
            if pattern:
                found[name] = re.compile(pattern.lstrip("^").rstrip("$"), re.IGNORECASE)
        return found

    def patterns(self) -> dict[str, re.Pattern[str]]:
        """Compiled ``pattern`` constraints by parameter, for finding values in text."""
        return dict(self._patterns)

    def render_reply(self, args: Mapping[str, Any], result: Mapping[str, Any] | None) -> str:
        """The customer-facing line for a successful call: the ``reply`` template formatted
        with the arguments and the result's fields, or a plain line from the description."""
        if self.reply:
            try:
                return self.reply.format(**{**args, **(result or {})}).strip()
            except (KeyError, ValueError, IndexError, TypeError):
                pass
        label = self.description.rstrip(".")
        return f"Done: {label[0].lower() + label[1:]}." if label else "Done."

    def validate(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and normalise agent-supplied arguments, or raise ToolArgumentError."""
        smuggled = sorted(set(args) & CONTEXT_PARAMS)
        if smuggled:
            raise ToolArgumentError(
                f"{self.name}: {', '.join(smuggled)} is filled by the runtime and cannot be set",
                details={"tool": self.name, "fields": smuggled},
            )
        try:
            model = self.args_model.model_validate(dict(args))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'args'}: {e['msg']}" for e in exc.errors()
            )
            raise ToolArgumentError(
                f"{self.name}: {problems}", details={"tool": self.name, "errors": problems}
            ) from None
        return model.model_dump(mode="json")

    def json_schema(self) -> dict[str, Any]:
        """OpenAI-style function schema (for models that call tools)."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.args_model.model_json_schema(),
        }


def _description(fn: Callable[..., Any]) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.split("\n\n", 1)[0].replace("\n", " ").strip()


def make_spec(
    fn: Callable[..., Any], *, name: str | None = None, reply: str | None = None
) -> ToolSpec:
    """Build a ToolSpec from a function's signature and docstring."""
    sig = inspect.signature(fn)
    hints = inspect.get_annotations(fn, eval_str=True)
    fields: dict[str, Any] = {}
    context: set[str] = set()
    for pname, param in sig.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"tool {fn.__name__}: *args/**kwargs are not allowed in tools")
        if pname in CONTEXT_PARAMS:
            context.add(pname)
            continue
        annotation = hints.get(pname, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[pname] = (annotation, default)
    tool_name = name or fn.__name__
    model = create_model(f"{tool_name}_args", __config__=ConfigDict(extra="forbid"), **fields)
    return ToolSpec(
        name=tool_name,
        description=_description(fn),
        fn=fn,
        args_model=model,
        context_params=frozenset(context),
        reply=reply,
    )


class _Collector(threading.local):
    """Specs registered while a pack's tools module is being imported."""

    def __init__(self) -> None:
        self.specs: list[ToolSpec] | None = None


_collector = _Collector()


@overload
def tool(fn: Callable[..., Any], /) -> Callable[..., Any]: ...
@overload
def tool(
    *, name: str | None = None, reply: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]: ...


def tool(
    fn: Callable[..., Any] | None = None, /, *, name: str | None = None, reply: str | None = None
) -> Any:
    """Register a function as a govcx tool. Usable bare (``@tool``) or with options.

    Args:
        name: Tool name in policy.yaml (default: the function name).
        reply: Template for the customer reply after a successful call, formatted with
            the arguments and the result's fields, e.g. ``"Refunded ${amount:.2f}."``.

    The function itself is returned unchanged, so it stays callable and testable.
    """

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        spec = make_spec(func, name=name, reply=reply)
        func.__govcx_tool__ = spec  # type: ignore[attr-defined]
        if _collector.specs is not None:
            _collector.specs.append(spec)
        return func

    if fn is not None:
        return register(fn)
    return register
