"""An OpenAI-compatible stub server on 127.0.0.1, for tests and benchmarks (no network).

``POST /v1/chat/completions`` answers from the same scripts as the scripted chat model
(:mod:`govcx.testing.llm`): plain and streamed (SSE) replies, tool calls, structured
output asked for as a JSON-schema response format, JSON mode or a forced function call,
and faults: an HTTP status (429 with Retry-After, 5xx), a delay past the client's
timeout, malformed arguments, a stream cut short.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from govcx.engines._llm.prompts import CLASSIFICATION_SCHEMA_NAME
from govcx.engines._llm.tokens import approx_tokens

if TYPE_CHECKING:
    from govcx.testing.script import Handler, ModelRequest, ModelResponse


class StubOpenAIServer:
    """Serves scripted answers until closed. Use as a context manager.

    Args:
        script: A list of responses (in order) or a function of the request.
        host: Loopback only; tests must never listen beyond this machine.
        port: The port to listen on (0: any free port).
    """

    def __init__(
        self,
        script: Sequence[ModelResponse] | Handler | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.script = script
        self.requests: list[ModelRequest] = []
        self.bodies: list[dict[str, Any]] = []
        self._queue: list[ModelResponse] = []
        self._position = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler_class(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL to configure (``.../v1``)."""
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}/v1"

    def push(self, *responses: ModelResponse) -> None:
        """Answer the next requests with these, before the script."""
        with self._lock:
            self._queue.extend(responses)

    def start(self) -> StubOpenAIServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> StubOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def answer(self, body: dict[str, Any]) -> tuple[ModelResponse, ModelRequest]:
        request = parse_request(body)
        with self._lock:
            self.requests.append(request)
            self.bodies.append(body)
            if self._queue:
                return self._queue.pop(0), request
            script = self.script
            if callable(script):
                return script(request), request
            items = list(script or [])
            if self._position >= len(items):
                raise LookupError(
                    f"the stub has no answer left for this {request.purpose} "
                    f"call; last user text: {request.user[:80]!r}"
                )
            item = items[self._position]
            self._position += 1
        return item, request


def parse_request(body: dict[str, Any]) -> ModelRequest:
    """A chat-completions JSON body as a ModelRequest."""
    from govcx.testing.script import ModelRequest, purpose_of

    messages = []
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        out: dict[str, Any] = {"role": message.get("role"), "content": content or ""}
        if message.get("tool_calls"):
            out["tool_calls"] = [
                {
                    "id": c.get("id"),
                    "name": c["function"]["name"],
                    "args": _loads(c["function"].get("arguments")),
                }
                for c in message["tool_calls"]
            ]
        if message.get("tool_call_id"):
            out["tool_call_id"] = message["tool_call_id"]
        messages.append(out)
    tools = [t["function"] for t in body.get("tools") or [] if "function" in t]
    schema, method = None, None
    response_format = body.get("response_format") or {}
    choice = body.get("tool_choice")
    forced = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
    if response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema, method = {"title": spec.get("name"), **(spec.get("schema") or {})}, "json_schema"
    elif response_format.get("type") == "json_object":
        schema, method = {"title": CLASSIFICATION_SCHEMA_NAME}, "json_mode"
    elif forced == CLASSIFICATION_SCHEMA_NAME:
        function = next(t for t in tools if t["name"] == forced)
        schema = {"title": forced, **(function.get("parameters") or {})}
        method, tools = "function_calling", [t for t in tools if t["name"] != forced]
    return ModelRequest(
        purpose=purpose_of(schema=schema, tools=tools),
        messages=tuple(messages),
        tools=tuple(tools),
        schema=schema,
        method=method,
        stream=bool(body.get("stream")),
        model=str(body.get("model") or ""),
        body=body,
    )


def _loads(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return text


def _handler_class(stub: StubOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            if not urlsplit(self.path).path.rstrip("/").endswith("/chat/completions"):
                self._json(404, {"error": {"message": f"no route {self.path}"}})
                return
            length = int(self.headers.get("content-length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                response, request = stub.answer(body)
            except Exception as exc:  # a broken script shows up as a 500 with the reason
                self._json(500, {"error": {"message": f"stub: {exc}", "type": "stub_error"}})
                return
            try:
                self._respond(response, request)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def _respond(self, response: ModelResponse, request: ModelRequest) -> None:
            from govcx.testing.script import render_structured

            if response.delay:
                time.sleep(response.delay)
            if response.status != 200:
                headers = (
                    {"retry-after": str(response.retry_after)}
                    if response.retry_after is not None
                    else {}
                )
                self._json(
                    response.status,
                    {"error": {"message": "stub fault", "type": "server_error"}},
                    headers,
                )
                return
            rendered = render_structured(response, request)
            if request.stream:
                self._stream(rendered, request, response.cut_after)
            else:
                self._json(200, _completion(rendered, request))

        def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _stream(
            self, response: ModelResponse, request: ModelRequest, cut_after: int | None
        ) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            base = {
                "id": "chatcmpl-stub",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": request.model,
            }

            def send(choices: list[Any], **extra: Any) -> None:
                chunk = {**base, "choices": choices, **extra}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()

            send(
                [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
            )
            words = _words(response.content)
            for count, word in enumerate(words, 1):
                send([{"index": 0, "delta": {"content": word}, "finish_reason": None}])
                if cut_after is not None and count >= cut_after:
                    return  # the connection closes with no finish reason
            for i, call in enumerate(_tool_calls(response)):
                send(
                    [
                        {
                            "index": 0,
                            "delta": {"tool_calls": [{**call, "index": i}]},
                            "finish_reason": None,
                        }
                    ]
                )
            finish = "tool_calls" if response.tool_calls else "stop"
            send([{"index": 0, "delta": {}, "finish_reason": finish}])
            if (request.body.get("stream_options") or {}).get("include_usage"):
                send([], usage=_usage(response, request))
            self.wfile.write(b"data: [DONE]\n\n")

    return Handler


def _words(text: str) -> list[str]:
    import re

    return re.findall(r"\S+\s*|\s+", text)


def _tool_calls(response: ModelResponse) -> list[dict[str, Any]]:
    return [
        {
            "id": spec.id or f"call_{i}",
            "type": "function",
            "function": {
                "name": spec.name,
                "arguments": spec.args if isinstance(spec.args, str) else json.dumps(spec.args),
            },
        }
        for i, spec in enumerate(response.tool_calls)
    ]


def _usage(response: ModelResponse, request: ModelRequest) -> dict[str, int]:
    if response.usage is not None:
        prompt, completion = response.usage
    else:
        prompt = sum(approx_tokens(str(m.get("content") or "")) + 4 for m in request.messages)
        completion = approx_tokens(response.content) + sum(
            approx_tokens(c["function"]["arguments"]) for c in _tool_calls(response)
        )
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _completion(response: ModelResponse, request: ModelRequest) -> dict[str, Any]:
    calls = _tool_calls(response)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": response.content or (None if calls else ""),
        "refusal": None,
    }
    if calls:
        message["tool_calls"] = calls
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if calls else "stop",
            }
        ],
        "usage": _usage(response, request),
    }
