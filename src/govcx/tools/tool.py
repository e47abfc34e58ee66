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

A tool may name a read-only *context lookup* (``@tool(context=fn)``): when a call of the
tool waits for an approver, the runtime first calls ``fn`` with the call's canonical
arguments (and ``customer_id``, ``conversation_id``, ``data_dir`` if it declares them) and
shows the facts it returns beside the request (``govcx.tools.lookup``). A lookup is never
given an ``idempotency_key``: it answers questions, it changes nothing.

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
import string
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
LOOKUP_PARAMS: frozenset[str] = CONTEXT_PARAMS - {"idempotency_key"}
"""What the runtime gives a context lookup besides the tool's arguments (no idempotency
key: a lookup reads, it has no effect to deduplicate)."""


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
    context: Callable[..., Any] | None = field(default=None, repr=False)
    """Read-only lookup of the facts an approver needs beside a request for this tool
    (see :mod:`govcx.tools.lookup`); None when the tool declares none."""

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

    @cached_property
    def reply_fields(self) -> tuple[str, ...]:
        """The field names the ``reply`` template uses (``amount``, ``refund_id``...)."""
        if not self.reply:
            return ()
        try:
            parsed = list(string.Formatter().parse(self.reply))
        except ValueError:
            return ()
        names = (re.split(r"[.\[]", name, maxsplit=1)[0] for _, name, _, _ in parsed if name)
        return tuple(dict.fromkeys(n for n in names if n))

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
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    reply: str | None = None,
    context: Callable[..., Any] | None = None,
) -> ToolSpec:
    """Build a ToolSpec from a function's signature and docstring.

    Raises TypeError for a signature the runtime cannot call (``*args``, ``**kwargs``) and
    for a ``context`` lookup that asks for something it will not be given.
    """
    sig = inspect.signature(fn)
    hints = inspect.get_annotations(fn, eval_str=True)
    fields: dict[str, Any] = {}
    runtime: set[str] = set()
    for pname, param in sig.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"tool {fn.__name__}: *args/**kwargs are not allowed in tools")
        if pname in CONTEXT_PARAMS:
            runtime.add(pname)
            continue
        annotation = hints.get(pname, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[pname] = (annotation, default)
    tool_name = name or fn.__name__
    if context is not None:
        _check_lookup(tool_name, context, set(fields))
    model = create_model(f"{tool_name}_args", __config__=ConfigDict(extra="forbid"), **fields)
    return ToolSpec(
        name=tool_name,
        description=_description(fn),
        fn=fn,
        args_model=model,
        context_params=frozenset(runtime),
        reply=reply,
        context=context,
    )


def _check_lookup(tool_name: str, lookup: Callable[..., Any], args: set[str]) -> None:
    """A lookup takes some of the tool's arguments and of :data:`LOOKUP_PARAMS`, by name."""
    if not callable(lookup):
        raise TypeError(f"tool {tool_name}: context= must be a function, not {lookup!r}")
    label = getattr(lookup, "__name__", repr(lookup))
    for pname, param in inspect.signature(lookup).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise TypeError(
                f"tool {tool_name}: its context lookup {label} must take named parameters "
                "only (no *args, **kwargs or positional-only parameters)"
            )
        if pname not in args and pname not in LOOKUP_PARAMS and param.default is param.empty:
            valid = ", ".join(sorted(args | LOOKUP_PARAMS))
            raise TypeError(
                f"tool {tool_name}: its context lookup {label} takes {pname!r}, which the "
                f"runtime does not give a lookup; it may take {valid}"
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
    *,
    name: str | None = None,
    reply: str | None = None,
    context: Callable[..., Any] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    reply: str | None = None,
    context: Callable[..., Any] | None = None,
) -> Any:
    """Register a function as a govcx tool. Usable bare (``@tool``) or with options.

    Args:
        name: Tool name in policy.yaml (default: the function name).
        reply: Template for the customer reply after a successful call, formatted with
            the arguments and the result's fields, e.g. ``"Refunded ${amount:.2f}."``.
        context: A read-only lookup run before a call of this tool is queued for an
            approver: it takes any of the tool's arguments by name (and ``customer_id``,
            ``conversation_id``, ``data_dir``) and returns a JSON object of facts shown
            beside the request (an order's total, what was refunded). Raising ToolError
            says the call cannot succeed: the request is not queued and the customer gets
            the message. See :mod:`govcx.tools.lookup`.

    The function itself is returned unchanged, so it stays callable and testable.
    """

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        spec = make_spec(func, name=name, reply=reply, context=context)
        func.__govcx_tool__ = spec  # type: ignore[attr-defined]
        if _collector.specs is not None:
            _collector.specs.append(spec)
        return func

    if fn is not None:
        return register(fn)
    return register
