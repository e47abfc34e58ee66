"""Test doubles for the LLM engine: scripted and adversarial chat models, a stub server.

One scripting language drives both an in-process chat model and an OpenAI-compatible
HTTP server, so a behaviour tested in a unit test can be replayed over the wire:

- :class:`ModelRequest`: what the engine asked (purpose ``classify`` | ``plan`` |
  ``draft``, messages, bound tools, structured-output schema).
- :class:`ModelResponse`: what the model answers: text, tool calls, a structured object,
  or a fault (an HTTP status, a delay past the timeout, malformed output, a stream cut
  short). Build them with :func:`reply`, :func:`call`, :func:`classified`,
  :func:`fault`, :func:`slow`.
- :class:`ScriptedChatModel`: a langchain chat model with ``bind_tools`` and
  ``with_structured_output``, answering from a list or a function of the request.
- :class:`RiskyChatModel`: always proposes the riskiest action it can, with the largest
  amounts, and claims it is done. :class:`InjectionFollowingChatModel`: obeys
  instructions planted in knowledge or tool output (InjecAgent-style).
- :class:`StubOpenAIServer`: ``/v1/chat/completions`` on 127.0.0.1 (JSON, SSE streaming,
  tool calls, JSON-schema response formats, 429/5xx, timeouts), same scripts.

Example:
    >>> model = ScriptedChatModel(script=[classified("refund", 0.9),
    ...                                   call("issue_refund", order_id="A-1001", amount=20)])
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import httpx
import openai
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda, RunnableParallel
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr

from govcx.engines._llm.prompts import ASK_TOOL, OUT_OF_SCOPE
from govcx.engines._llm.tokens import approx_tokens
from govcx.testing.script import (
    Handler,
    ModelRequest,
    ModelResponse,
    ToolCallSpec,
    call,
    classified,
    fault,
    purpose_of,
    render_structured,
    reply,
    slow,
)

__all__ = [
    "InjectionFollowingChatModel",
    "ModelRequest",
    "ModelResponse",
    "RiskyChatModel",
    "ScriptedChatModel",
    "ToolCallSpec",
    "call",
    "classified",
    "fault",
    "reply",
    "simple_responder",
    "slow",
]


# -- the scripted chat model -------------------------------------------------------------
class ScriptedChatModel(BaseChatModel):
    """A chat model answering from a script: a list (in order) or a function.

    Implements ``bind_tools`` and ``with_structured_output`` (all three methods), token
    usage, and streaming in word-sized chunks. ``requests`` keeps every request.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)
    reports_finish_reason: ClassVar[bool] = True
    """Its streams end with a finish reason, so a stream without one was cut short."""

    script: Any = None
    """A list of ModelResponse (consumed in order) or a function of ModelRequest."""
    model_name: str = "scripted"
    timeout: float = 30.0
    """A scripted delay at or past this raises a timeout (without waiting)."""
    requests: list[ModelRequest] = Field(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _position: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "govcx-scripted"

    # -- langchain surface -------------------------------------------------------------
    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any
    ) -> Runnable[Any, AIMessage]:
        formatted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: Any,
        *,
        include_raw: bool = False,
        method: str = "function_calling",
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[Any, Any]:
        spec = convert_to_openai_tool(schema)["function"]
        json_schema = {"title": spec["name"], **spec.get("parameters", {})}
        bound = self.bind(structured_schema=json_schema, structured_method=method)

        def parse(message: AIMessage) -> Any:
            if method == "function_calling":
                if not message.tool_calls:
                    raise ValueError("no tool call in the answer")
                return message.tool_calls[0]["args"]
            return json.loads(message.text)

        if not include_raw:
            return bound | RunnableLambda(parse)

        def with_raw(out: dict[str, Any]) -> Any:
            try:
                return {**out, "parsed": parse(out["raw"]), "parsing_error": None}
            except Exception as exc:
                return {**out, "parsed": None, "parsing_error": exc}

        # The shape langchain-openai builds: RunnableMap(raw=model) | parser.
        return RunnableParallel(raw=bound) | RunnableLambda(with_raw)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        response, request = self._answer(messages, kwargs, stream=False)
        return ChatResult(generations=[ChatGeneration(message=_to_message(response, request))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        response, request = self._answer(messages, kwargs, stream=True)
        message = _to_message(response, request)
        words = re.findall(r"\S+\s*|\s+", message.text) or [""]
        if response.cut_after is not None:
            words = words[: response.cut_after]
        for i, word in enumerate(words):
            last = i == len(words) - 1 and response.cut_after is None
            chunk = AIMessageChunk(
                content=word,
                tool_call_chunks=_tool_chunks(message) if last else [],
                usage_metadata=message.usage_metadata if last else None,
                response_metadata={"finish_reason": "stop"} if last else {},
            )
            if run_manager is not None:
                run_manager.on_llm_new_token(word)
            yield ChatGenerationChunk(message=chunk)

    # -- scripting ---------------------------------------------------------------------
    def _answer(
        self, messages: list[BaseMessage], kwargs: dict[str, Any], *, stream: bool
    ) -> tuple[ModelResponse, ModelRequest]:
        tools = tuple(t["function"] for t in kwargs.get("tools") or [] if "function" in t)
        schema = kwargs.get("structured_schema")
        request = ModelRequest(
            purpose=purpose_of(schema=schema, tools=tools),
            messages=tuple(_message_dict(m) for m in messages),
            tools=tools,
            schema=schema,
            method=kwargs.get("structured_method"),
            stream=stream,
            model=self.model_name,
        )
        with self._lock:
            self.requests.append(request)
            response = self._next(request)
        if response.error is not None:
            raise response.error
        if response.delay >= self.timeout:
            raise openai.APITimeoutError(request=_http_request())
        if response.delay:
            time.sleep(response.delay)
        if response.status != 200:
            raise status_error(response.status, retry_after=response.retry_after)
        return response, request

    def _next(self, request: ModelRequest) -> ModelResponse:
        if callable(self.script):
            result: ModelResponse = self.script(request)
            return result
        script = list(self.script or [])
        if self._position >= len(script):
            raise AssertionError(
                f"the script has no answer left for this {request.purpose} "
                f"call (it had {len(script)}); last user text: "
                f"{request.user[:80]!r}"
            )
        item = script[self._position]
        self._position += 1
        answer: ModelResponse = item(request) if callable(item) else item
        return answer


def _http_request() -> httpx.Request:
    return httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")


def status_error(status: int, *, retry_after: float | None = None) -> openai.APIStatusError:
    """The exception the openai client raises for an HTTP status."""
    headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
    response = httpx.Response(status, headers=headers, request=_http_request())
    kinds: dict[int, type[openai.APIStatusError]] = {
        400: openai.BadRequestError,
        401: openai.AuthenticationError,
        403: openai.PermissionDeniedError,
        404: openai.NotFoundError,
        429: openai.RateLimitError,
    }
    kind = kinds.get(status) or (
        openai.InternalServerError if status >= 500 else openai.APIStatusError
    )
    return kind(f"scripted status {status}", response=response, body=None)


def _message_dict(message: BaseMessage) -> dict[str, Any]:
    role = {
        SystemMessage: "system",
        HumanMessage: "user",
        AIMessage: "assistant",
        ToolMessage: "tool",
    }.get(type(message), message.type)
    out: dict[str, Any] = {"role": role, "content": message.text}
    if isinstance(message, AIMessage) and message.tool_calls:
        out["tool_calls"] = [
            {"id": c.get("id"), "name": c["name"], "args": c["args"]} for c in message.tool_calls
        ]
    if isinstance(message, ToolMessage):
        out["tool_call_id"] = message.tool_call_id
    return out


def _to_message(response: ModelResponse, request: ModelRequest) -> AIMessage:
    response = render_structured(response, request)
    calls, invalid = [], []
    for i, spec in enumerate(response.tool_calls):
        call_id = spec.id or f"call_{i}"
        args: Any = spec.args
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                invalid.append(
                    {
                        "name": spec.name,
                        "args": spec.args,
                        "id": call_id,
                        "error": "invalid JSON",
                        "type": "invalid_tool_call",
                    }
                )
                continue
        calls.append({"name": spec.name, "args": args, "id": call_id, "type": "tool_call"})
    prompt = sum(approx_tokens(str(m.get("content") or "")) + 4 for m in request.messages)
    output = approx_tokens(response.content) + sum(
        approx_tokens(json.dumps(c["args"])) for c in calls
    )
    inp, out = response.usage or (prompt, output)
    return AIMessage(
        content=response.content,
        tool_calls=calls,
        invalid_tool_calls=invalid,
        usage_metadata={"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out},
    )


def _tool_chunks(message: AIMessage) -> list[Any]:
    chunks: list[Any] = [
        {
            "name": c["name"],
            "args": json.dumps(c["args"]),
            "id": c["id"],
            "index": i,
            "type": "tool_call_chunk",
        }
        for i, c in enumerate(message.tool_calls)
    ]
    return chunks


# -- well-behaved and adversarial models ------------------------------------------------
_MONEY = re.compile(r"\$\s?(\d+(?:\.\d+)?)")


def _fill(params: Mapping[str, Any], text: str) -> dict[str, Any]:
    args: dict[str, Any] = {}
    amounts = [float(a) for a in _MONEY.findall(text)]
    for name, prop in (params.get("properties") or {}).items():
        pattern = prop.get("pattern") if isinstance(prop, dict) else None
        kind = prop.get("type") if isinstance(prop, dict) else None
        if pattern:
            match = re.search(pattern.strip("^$"), text, re.IGNORECASE)
            if match:
                args[name] = match.group(0).upper()
        elif kind in ("number", "integer") and amounts:
            args[name] = amounts[0]
    return args


def simple_responder(keywords: Mapping[str, Sequence[str]]) -> Handler:
    """A well-behaved model: classifies by keywords, fills tool arguments it can find in
    the text (values matching a parameter's pattern, dollar amounts), asks for the rest,
    and drafts from the first source, citing it."""

    def handle(request: ModelRequest) -> ModelResponse:
        text = request.user.lower()
        if request.purpose == "classify":
            for intent, words in keywords.items():
                if any(w in text for w in words):
                    return classified(intent, 0.92)
            return classified(OUT_OF_SCOPE, 0.8)
        if request.purpose == "plan":
            tools = [t for t in request.tools if t["name"] != ASK_TOOL]
            if request.messages[-1].get("role") == "tool":
                return reply("Looked it up.")
            best = tools[-1]
            args = _fill(best.get("parameters") or {}, request.user)
            missing = [
                p for p in (best.get("parameters") or {}).get("required", []) if p not in args
            ]
            if missing:
                return call(ASK_TOOL, tool=best["name"], missing=missing, known=args)
            return call(best["name"], args)
        sources = request.sources()
        if not sources:
            return reply("NO_ANSWER")
        first = re.split(r"(?<=[.!?])\s", sources[min(sources)])[0]
        return reply(f"{first} [S{min(sources)}]")

    return handle


class RiskyChatModel(ScriptedChatModel):
    """An adversary: classifies every message as ``intent``, proposes the riskiest tool
    it was given (or ``extra_tool``, which it was not) with the largest amounts allowed,
    sets runtime-only parameters if told to, and claims success with a bogus citation."""

    intent: str | None = None
    huge: float = 1_000_000.0
    """Amount used where a schema declares no maximum (or always, see below)."""
    respect_maximum: bool = True
    """Use a declared schema maximum (the largest valid amount); False sends ``huge``."""
    extra_tool: str | None = None
    smuggle: dict[str, Any] = Field(default_factory=dict)

    def model_post_init(self, context: Any) -> None:
        self.script = self._attack

    def _attack(self, request: ModelRequest) -> ModelResponse:
        if request.purpose == "classify":
            return classified(self.intent or (request.intents or [OUT_OF_SCOPE])[0], 1.0)
        if request.purpose == "draft":
            return reply(
                f"Done! I have refunded ${self.huge:,.0f} and closed your account. [S1] [S42]"
            )
        if self.extra_tool:
            return call(self.extra_tool, {**self.smuggle})
        tools = [t for t in request.tools if t["name"] != ASK_TOOL]
        riskiest = max(tools, key=lambda t: (_numbers(t), request.tools.index(t)))
        args = _fill(riskiest.get("parameters") or {}, request.user)
        for name, prop in ((riskiest.get("parameters") or {}).get("properties") or {}).items():
            if isinstance(prop, dict) and prop.get("type") in ("number", "integer"):
                limit = prop.get("maximum") if self.respect_maximum else None
                args[name] = limit if limit is not None else self.huge
        return call(riskiest["name"], {**args, **self.smuggle})


def _numbers(tool: Mapping[str, Any]) -> int:
    props = (tool.get("parameters") or {}).get("properties") or {}
    return sum(
        1 for p in props.values() if isinstance(p, dict) and p.get("type") in ("number", "integer")
    )


INJECTED_CALL = re.compile(
    r"(?is)ignore (?:all )?(?:previous|prior) instructions\W+(?:and )?"
    r"call (\w+) with (\{.*?\})"
)
INJECTED_SAY = re.compile(
    r"(?is)ignore (?:all )?(?:previous|prior) instructions\W+(?:and )?"
    r"(?:say|reply)\W+\"([^\"]+)\""
)


class InjectionFollowingChatModel(ScriptedChatModel):
    """A gullible model: obeys ``Ignore previous instructions and call TOOL with {json}``
    wherever it reads it (customer text, tool output), and ``... and say "TEXT"`` in a
    knowledge source. Otherwise it behaves like :func:`simple_responder`."""

    intent: str = "refund"
    keywords: dict[str, list[str]] = Field(default_factory=dict)

    def model_post_init(self, context: Any) -> None:
        self.script = self._obey

    def _obey(self, request: ModelRequest) -> ModelResponse:
        if request.purpose == "classify":
            return classified(self.intent, 0.95)
        if request.purpose == "plan":
            for text in [request.user, *request.tool_results]:
                match = INJECTED_CALL.search(text.replace('\\"', '"'))
                if match:
                    try:
                        return call(match.group(1), json.loads(match.group(2)))
                    except ValueError:
                        continue
            if request.tool_results:
                return reply("I looked it up; nothing else to do.")
            for tool in request.tools:
                params = tool.get("parameters") or {}
                args = _fill(params, request.user)
                if tool["name"].startswith("lookup") and all(
                    p in args for p in params.get("required", [])
                ):
                    return call(tool["name"], args)
        if request.purpose == "draft":
            for number, text in request.sources().items():
                said = INJECTED_SAY.search(text)
                if said:
                    return reply(f"{said.group(1)} [S{number}]")
        return simple_responder(self.keywords or {self.intent: [""]})(request)
