"""Tool calls that a model wrote as text, and arguments that echo the tool's schema.

Small open models often write a tool call into the message content instead of
``tool_calls``. Such text is read as a call in these shapes only:

- bare JSON: ``{"name": T, "arguments": {...}}``, ``{"tool": T, "args": {...}}`` (or
  ``"parameters"``), OpenAI's ``{"type": "function", "function": {"name": T, ...}}`` and
  Llama's ``{"type": "function", "name": T, "parameters": {...}}``; arguments may be an
  object or a JSON string;
- the same inside a fenced code block (```json ... ```);
- the same inside ``<tool_call>...</tool_call>`` tags (Hermes, Qwen).

The rule: a text answer is a call only when it holds exactly one call-shaped object and
that object names a tool offered in this model call. Tags win over fences, fences over
bare JSON (only the strongest kind present is read). Anything else is no call: an unknown
tool name, a JSON object that is not call-shaped (prose around it or not), several calls
(even if only one names an offered tool), or arguments that are not an object. A parsed
call is handed on like a native one and goes through the same validation and gate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Any

JSON_TYPES = frozenset({"string", "integer", "number", "boolean", "object", "array", "null"})
SCHEMA_KEYS = frozenset(
    {
        "type",
        "description",
        "title",
        "enum",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "items",
        "properties",
        "required",
        "default",
        "examples",
        "anyOf",
        "oneOf",
        "$ref",
    }
)

_TAG = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|\Z)", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
_NAME_KEYS = ("name", "tool", "tool_name")
_ARG_KEYS = ("arguments", "args", "parameters")
_CALL_KEYS = frozenset({*_NAME_KEYS, *_ARG_KEYS, "type", "id", "function"})


def text_calls(text: str, offered: Collection[str]) -> list[dict[str, Any]]:
    """The one tool call written in ``text`` as ``[{"name", "args", "id"}]``, or ``[]``."""
    if not text or "{" not in text:
        return []
    tags = _TAG.findall(text)
    if tags:
        blocks = list(tags)
    else:
        fences = _FENCE.findall(text)
        blocks = list(fences) if fences else [text]
    found: list[Any] = []
    for block in blocks:
        found.extend(_json_values(block))
    calls: list[dict[str, Any] | None] = []
    for value in found:
        items = value if isinstance(value, list) else [value]
        calls.extend(_as_call(item) for item in items if isinstance(item, dict))
    shaped = [c for c in calls if c is not None]
    if len(shaped) != 1 or shaped[0]["name"] not in offered:
        return []
    return [{**shaped[0], "id": "text_call_0", "type": "tool_call"}]


def _json_values(text: str) -> list[Any]:
    """The top-level JSON objects and arrays in ``text``, left to right."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    i = 0
    while i < len(text):
        if text[i] not in "{[":
            i += 1
            continue
        try:
            value, end = decoder.raw_decode(text, i)
        except ValueError:
            i += 1
            continue
        if isinstance(value, dict | list):
            values.append(value)
        i = end
    return values


def _as_call(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """``{"name", "args"}`` when ``obj`` has the shape of a tool call, else None."""
    if not obj or not set(obj) <= _CALL_KEYS:
        return None
    inner = obj.get("function")
    if isinstance(inner, Mapping):
        if any(k in obj for k in (*_NAME_KEYS, *_ARG_KEYS)):
            return None
        return _as_call(inner)
    if inner is not None or ("type" in obj and obj["type"] != "function"):
        return None
    names = [obj[k] for k in _NAME_KEYS if k in obj]
    if len(names) != 1 or not isinstance(names[0], str) or not names[0]:
        return None
    given = [obj[k] for k in _ARG_KEYS if k in obj]
    if len(given) > 1:
        return None
    args: Any = given[0] if given else {}
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError:
            return None
    if not isinstance(args, dict):
        return None
    return {"name": names[0], "args": args}


def schema_echo(params: Mapping[str, Any], args: Mapping[str, Any]) -> str | None:
    """The argument that copies the tool's JSON schema instead of giving a value, if any.

    An echo is an object made of schema keywords with a ``type`` or ``description``
    (``{"type": "string", "description": ...}``), or a string equal to a JSON type name
    or to the parameter's own description, title or pattern.
    """
    for name, value in args.items():
        prop = params.get(name)
        prop = prop if isinstance(prop, Mapping) else {}
        if isinstance(value, Mapping):
            keys = set(value)
            if keys and keys <= SCHEMA_KEYS and keys & {"type", "description"}:
                return name
            continue
        if not isinstance(value, str):
            continue
        said = value.strip().casefold()
        if said in JSON_TYPES:
            return name
        for key in ("description", "title", "pattern"):
            text = prop.get(key)
            if isinstance(text, str) and text.strip() and said == text.strip().casefold():
                return name
    return None
