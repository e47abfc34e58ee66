"""Record and replay model calls at the HTTP layer.

A :class:`CassetteTransport` sits under the chat model's httpx client. In ``record`` mode
it forwards each request and appends the response to a JSON-lines cassette, keyed on the
request path and its canonical JSON body (model, messages, tools, response format,
temperature, max tokens, stream options: the prompt and every parameter). In ``replay``
mode it answers from the cassette and never opens a socket; a request with no recording
raises :class:`CassetteMiss`, which names the call (purpose, conversation, turn), the
prompt and the closest recording. ``live`` forwards everything and records nothing.

Why the HTTP layer and not a chat-model wrapper: the recording is exactly what went over
the wire, so structured output, tool calls and streaming (SSE) are all covered the same
way and replay runs the real langchain-openai parsing code. The price is that a
langchain-openai upgrade that changes the request body changes the keys: replay then
reports misses and the suite is re-recorded.

Cassette lines: ``{"key", "label", "recorded_at", "request": {"path", "body"},
"response": {"status", "content_type", "body" | "sse"}}``. Headers are not stored, so
API keys never reach a cassette; prompts (customer text) do, so record synthetic data.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import httpx

from govcx.errors import CassetteMiss, ConfigError

Mode = Literal["live", "record", "replay"]
MODES: tuple[str, ...] = ("live", "record", "replay")

call_label: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "govcx_llm_call_label", default=None
)
"""Set by the engine around each model call; names the call in a cassette and a miss."""


def request_key(path: str, body: Any) -> str:
    """sha256 over the endpoint path and the canonical JSON body."""
    canonical = json.dumps(
        {"path": _endpoint(path), "body": body},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _endpoint(path: str) -> str:
    # The same call recorded against one host replays against another (vLLM vs OpenAI
    # base paths differ): key on the endpoint name only.
    return "/" + "/".join(path.rstrip("/").split("/")[-2:])


def prompt_excerpt(body: Any, limit: int = 160) -> str:
    """The last user message of a chat request, shortened (for error messages)."""
    messages = body.get("messages") if isinstance(body, dict) else None
    for message in reversed(messages or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            text = content if isinstance(content, str) else json.dumps(content)
            return text if len(text) <= limit else text[: limit - 3] + "..."
    return ""


class Cassette:
    """A JSON-lines file of recorded calls, loaded into memory; appends are atomic lines."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.entries: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                key = entry["key"]
                entry["response"]["status"]
            except (ValueError, KeyError, TypeError):
                raise ConfigError(
                    str(self.path),
                    f"line {number}: not a cassette entry "
                    "(a JSON object with key, request and response)",
                ) from None
            self.entries[key] = entry

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: str) -> dict[str, Any] | None:
        return self.entries.get(key)

    def add(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, sort_keys=True, ensure_ascii=False)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
            self.entries[entry["key"]] = entry

    def closest(self, path: str, body: Any, label: str | None) -> str | None:
        """Describe the recording most like this request (which fields differ)."""
        if not isinstance(body, dict):
            return None
        best: tuple[int, str] | None = None
        for entry in self.entries.values():
            request = entry.get("request") or {}
            recorded = request.get("body")
            if _endpoint(request.get("path", "")) != _endpoint(path) or not isinstance(
                recorded, dict
            ):
                continue
            differ = sorted(k for k in set(body) | set(recorded) if body.get(k) != recorded.get(k))
            score = len(differ) + (0 if label and entry.get("label") == label else 1)
            text = (
                f"{entry.get('label') or entry['key'][:16]} differs in "
                f"{', '.join(differ) or 'nothing'}"
            )
            if best is None or score < best[0]:
                best = (score, text)
        return best[1] if best else None


class CassetteTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """An httpx transport (sync and async) that records or replays through a cassette."""

    def __init__(
        self,
        *,
        mode: Mode,
        cassette: Cassette | None = None,
        inner: httpx.BaseTransport | None = None,
        inner_async: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is not valid; use one of {', '.join(MODES)}")
        if mode != "live" and cassette is None:
            raise ValueError(f"mode {mode!r} needs a cassette")
        self.mode = mode
        self.cassette = cassette
        self._inner = inner
        self._inner_async = inner_async
        self.hits = 0
        """Requests answered from the cassette."""

    # -- sync ---------------------------------------------------------------------------
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.mode == "replay":
            return self._replay(request)
        if self._inner is None:
            self._inner = httpx.HTTPTransport(proxy=_env_proxy(request.url))
        if self.mode == "live":
            return self._inner.handle_request(request)
        request.headers["accept-encoding"] = "identity"
        response = self._inner.handle_request(request)
        if not 200 <= response.status_code < 300:
            return response
        record = self._recorder(request, response)
        if _is_sse(response):
            return httpx.Response(
                response.status_code,
                headers=_plain(response.headers),
                stream=_TeeStream(response.stream, record),
                extensions=response.extensions,
                request=request,
            )
        content = response.read()
        record(content)
        return httpx.Response(
            response.status_code,
            headers=_plain(response.headers),
            content=content,
            extensions=response.extensions,
            request=request,
        )

    # -- async --------------------------------------------------------------------------
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.mode == "replay":
            return self._replay(request)
        if self._inner_async is None:
            self._inner_async = httpx.AsyncHTTPTransport(proxy=_env_proxy(request.url))
        if self.mode == "live":
            return await self._inner_async.handle_async_request(request)
        request.headers["accept-encoding"] = "identity"
        response = await self._inner_async.handle_async_request(request)
        if not 200 <= response.status_code < 300:
            return response
        record = self._recorder(request, response)
        if _is_sse(response):
            return httpx.Response(
                response.status_code,
                headers=_plain(response.headers),
                stream=_AsyncTeeStream(response.stream, record),
                extensions=response.extensions,
                request=request,
            )
        content = await response.aread()
        record(content)
        return httpx.Response(
            response.status_code,
            headers=_plain(response.headers),
            content=content,
            extensions=response.extensions,
            request=request,
        )

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()

    async def aclose(self) -> None:
        if self._inner_async is not None:
            await self._inner_async.aclose()

    # -- shared -------------------------------------------------------------------------
    def _replay(self, request: httpx.Request) -> httpx.Response:
        assert self.cassette is not None
        body = _body(request)
        key = request_key(request.url.path, body)
        entry = self.cassette.get(key)
        if entry is None:
            label = call_label.get()
            raise CassetteMiss(
                path=self.cassette.path,
                key=key,
                label=label,
                prompt=prompt_excerpt(body),
                closest=self.cassette.closest(request.url.path, body, label),
            )
        self.hits += 1
        recorded = entry["response"]
        if "sse" in recorded:
            content = str(recorded["sse"]).encode("utf-8")
        else:
            content = json.dumps(recorded.get("body")).encode("utf-8")
        headers = {"content-type": recorded.get("content_type") or "application/json"}
        return httpx.Response(
            int(recorded["status"]), headers=headers, content=content, request=request
        )

    def _recorder(
        self, request: httpx.Request, response: httpx.Response
    ) -> Callable[[bytes], None]:
        assert self.cassette is not None
        cassette = self.cassette
        body = _body(request)
        path = request.url.path
        label = call_label.get()
        content_type = response.headers.get("content-type", "application/json")

        def record(content: bytes) -> None:
            recorded: dict[str, Any] = {
                "status": response.status_code,
                "content_type": content_type,
            }
            text = content.decode("utf-8", errors="replace")
            if "text/event-stream" in content_type:
                recorded["sse"] = text
            else:
                try:
                    recorded["body"] = json.loads(text)
                except ValueError:
                    return  # not a JSON answer: nothing a replay could use
            cassette.add(
                {
                    "key": request_key(path, body),
                    "label": label,
                    "recorded_at": round(time.time(), 3),
                    "request": {"path": _endpoint(path), "body": body},
                    "response": recorded,
                }
            )

        return record


def _env_proxy(url: httpx.URL) -> str | None:
    """The proxy the environment sets for ``url`` (HTTPS_PROXY, NO_PROXY...), if any."""
    import urllib.request

    if urllib.request.proxy_bypass(url.host):
        return None
    return urllib.request.getproxies().get(url.scheme)


def _body(request: httpx.Request) -> Any:
    raw = request.read()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")


def _is_sse(response: httpx.Response) -> bool:
    return "text/event-stream" in response.headers.get("content-type", "")


def _plain(headers: httpx.Headers) -> list[tuple[str, str]]:
    # The recorded body is decoded; length and encoding headers no longer apply.
    drop = {"content-encoding", "content-length", "transfer-encoding"}
    return [(k, v) for k, v in headers.multi_items() if k.lower() not in drop]


class _TeeStream(httpx.SyncByteStream):
    """Passes a streamed body through and records it once it was read to the end."""

    def __init__(self, inner: Any, on_complete: Callable[[bytes], None]) -> None:
        self._inner = inner
        self._on_complete = on_complete
        self._parts: list[bytes] = []
        self._complete = False

    def __iter__(self) -> Iterator[bytes]:
        for part in self._inner:
            self._parts.append(part)
            yield part
        self._complete = True

    def close(self) -> None:
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            _finish(self)


class _AsyncTeeStream(httpx.AsyncByteStream):
    def __init__(self, inner: Any, on_complete: Callable[[bytes], None]) -> None:
        self._inner = inner
        self._on_complete = on_complete
        self._parts: list[bytes] = []
        self._complete = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._inner:
            self._parts.append(part)
            yield part
        self._complete = True

    async def aclose(self) -> None:
        try:
            aclose = getattr(self._inner, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            _finish(self)


def _finish(tee: _TeeStream | _AsyncTeeStream) -> None:
    # The openai client closes a stream after its [DONE] event without reading on to
    # the end of the body: that is complete too. A stream closed before either is not.
    body = b"".join(tee._parts)
    if tee._complete or b"data: [DONE]" in body:
        tee._complete = False
        tee._parts = []
        tee._on_complete(body)
