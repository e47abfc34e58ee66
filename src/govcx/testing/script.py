"""The scripting language shared by the scripted chat model and the stub server.

- :class:`ModelRequest`: what the engine asked (purpose ``classify`` | ``plan`` | ``draft``).
- :class:`ModelResponse`: what the model answers, or a fault; build them with
  :func:`reply`, :func:`call`, :func:`classified`, :func:`fault`, :func:`slow`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from govcx.engines._llm.prompts import CLASSIFICATION_SCHEMA_NAME, OUT_OF_SCOPE

__all__ = [
    "Handler",
    "ModelRequest",
    "ModelResponse",
    "Purpose",
    "ToolCallSpec",
    "call",
    "classified",
    "fault",
    "purpose_of",
    "render_structured",
    "reply",
    "slow",
]

Purpose = Literal["classify", "plan", "draft"]


@dataclass(frozen=True, kw_only=True)
class ToolCallSpec:
    name: str
    args: dict[str, Any] | str
    """A dict, or raw text (which may be malformed JSON)."""
    id: str = ""


@dataclass(frozen=True, kw_only=True)
class ModelResponse:
    """A scripted answer, or a fault."""

    content: str = ""
    tool_calls: tuple[ToolCallSpec, ...] = ()
    structured: dict[str, Any] | None = None
    """The structured answer (classification); rendered as the request asked for it."""
    raw_structured: str | None = None
    """Sent instead of the structured answer (e.g. malformed JSON)."""
    status: int = 200
    """Not 200: the server fails with this status (the scripted model raises)."""
    retry_after: float | None = None
    delay: float = 0.0
    """Seconds before answering (past the client's timeout: a timeout)."""
    error: BaseException | None = None
    """Raised by the scripted model instead of answering."""
    cut_after: int | None = None
    """Streaming: stop after this many chunks, with no finish reason (partial output)."""
    usage: tuple[int, int] | None = None
    """(input, output) tokens reported; None counts them approximately."""


def reply(text: str) -> ModelResponse:
    return ModelResponse(content=text)


def call(name: str, args: Mapping[str, Any] | str | None = None, /, **kwargs: Any) -> ModelResponse:
    """A response calling one tool: ``call("lookup_order", order_id="A-1001")``, or with
    raw argument text: ``call("issue_refund", '{"amount": 5')``."""
    payload: dict[str, Any] | str = args if isinstance(args, str) else {**(args or {}), **kwargs}
    return ModelResponse(tool_calls=(ToolCallSpec(name=name, args=payload),))


def classified(intent: str, confidence: float = 0.9, **entities: str) -> ModelResponse:
    return ModelResponse(
        structured={
            "intent": intent,
            "confidence": confidence,
            "entities": [{"type": k, "value": str(v)} for k, v in entities.items()],
        }
    )


def fault(status: int, *, retry_after: float | None = None) -> ModelResponse:
    return ModelResponse(status=status, retry_after=retry_after)


def slow(delay: float, then: ModelResponse | None = None) -> ModelResponse:
    base = then or ModelResponse()
    return ModelResponse(**{**base.__dict__, "delay": delay})


@dataclass(frozen=True, kw_only=True)
class ModelRequest:
    """A model call as the scripted model or the stub server received it."""

    purpose: Purpose
    messages: tuple[dict[str, Any], ...]
    """OpenAI-style messages: role, content, and tool_calls / tool_call_id."""
    tools: tuple[dict[str, Any], ...] = ()
    """Bound function schemas: name, description, parameters."""
    schema: dict[str, Any] | None = None
    method: str | None = None
    stream: bool = False
    model: str = ""
    body: dict[str, Any] = field(default_factory=dict)
    """The raw JSON body (stub server only)."""

    @property
    def system(self) -> str:
        return "\n".join(
            str(m.get("content") or "") for m in self.messages if m.get("role") == "system"
        )

    @property
    def user(self) -> str:
        users = [m for m in self.messages if m.get("role") == "user"]
        return str(users[-1].get("content") or "") if users else ""

    @property
    def tool_results(self) -> list[str]:
        return [str(m.get("content") or "") for m in self.messages if m.get("role") == "tool"]

    @property
    def tool_names(self) -> list[str]:
        return [t["name"] for t in self.tools]

    @property
    def intents(self) -> list[str]:
        enum = ((self.schema or {}).get("properties", {}).get("intent") or {}).get("enum")
        return [str(e) for e in enum or [] if e != OUT_OF_SCOPE]

    def sources(self) -> dict[int, str]:
        """Drafting sources by number, from the ``[S1] title:\\ntext`` blocks."""
        found: dict[int, str] = {}
        for match in re.finditer(
            r"^\[S(\d+)\] [^\n]*:\n(.*?)(?=^\[S\d+\] |\Z)", self.system, re.MULTILINE | re.DOTALL
        ):
            found[int(match.group(1))] = match.group(2).strip()
        return found


Handler = Callable[[ModelRequest], ModelResponse]


def purpose_of(*, schema: dict[str, Any] | None, tools: Sequence[dict[str, Any]]) -> Purpose:
    if schema is not None:
        return "classify"
    return "plan" if tools else "draft"


def render_structured(response: ModelResponse, request: ModelRequest) -> ModelResponse:
    """A structured answer as text or as a tool call, the way the request asked for it."""
    if response.structured is None and response.raw_structured is None:
        return response
    text = (
        response.raw_structured
        if response.raw_structured is not None
        else json.dumps(response.structured)
    )
    if request.method == "function_calling":
        name = (request.schema or {}).get("title") or CLASSIFICATION_SCHEMA_NAME
        return ModelResponse(tool_calls=(ToolCallSpec(name=name, args=text),), usage=response.usage)
    return ModelResponse(content=text, usage=response.usage)
