"""Server-sent events: a streamed turn, the live approval queue, the live case inbox and
a conversation followed by its channel."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from govcx.api.auth import Caller
from govcx.api.errors import status_for
from govcx.api.runtime import ApiRuntime, PreparedMessage
from govcx.errors import GovcxError

log = logging.getLogger("govcx.api")

_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
_background: set[asyncio.Future[Any]] = set()


def _event(name: str, data: Any) -> ServerSentEvent:
    return ServerSentEvent(event=name, data=json.dumps(data, ensure_ascii=False, default=str))


def _error(status: int, code: str, message: str, details: dict[str, Any]) -> dict[str, Any]:
    return {"status": status, "error": {"code": code, "message": message, "details": details}}


def stream_turn(
    runtime: ApiRuntime, message: PreparedMessage, started: float | None = None
) -> EventSourceResponse:
    """``progress`` (``accepted`` at once, then one per graph node), then ``reply`` and
    ``turn`` (or ``error``).

    With an engine that streams (the LLM engine), ``token`` events (``{"text": ...}``)
    carry the reply's draft as the model writes it, before ``reply`` and ``turn``;
    ``token_reset`` (``{"reason": ...}``) says to discard the tokens shown so far (a retry
    restarts the draft, or the call failed). Tokens are provisional: the output guard and
    the policy gate run after the draft, so a channel shows them as a draft and replaces
    them with the ``reply`` event's text, which is the only authoritative reply.

    The turn runs in a worker thread whatever happens to the stream: a client that goes
    away loses the events, never the turn.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    started = time.perf_counter() if started is None else started

    def put(kind: str, value: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

    def sink(node: str, brief: dict[str, Any], seconds: float) -> None:
        put(
            "progress",
            {
                "node": node,
                "duration_ms": round(seconds * 1000, 3),
                "elapsed_ms": round((time.perf_counter() - started) * 1000, 3),
                **brief,
            },
        )

    def token(kind: str, text: str) -> None:
        if kind == "delta":
            put("token", {"text": text})
        elif kind == "reset":
            put("token_reset", {"reason": text})

    def work() -> None:
        try:
            put("turn", runtime.run_message(message, sink, on_token=token))
        except GovcxError as exc:
            put("error", _error(status_for(exc), exc.code, exc.message, exc.details))
        except Exception:
            log.exception("streamed turn failed on %s", message.conversation_id)
            put("error", _error(500, "internal_error", "the turn failed; see the server log", {}))

    future = asyncio.ensure_future(run_in_threadpool(work))
    _background.add(future)
    future.add_done_callback(_background.discard)

    async def events() -> AsyncIterator[ServerSentEvent]:
        # Acknowledge at once: the message is valid and its run has started (channels
        # show a typing indicator); the graph's own events follow as its nodes finish.
        yield _event(
            "progress",
            {
                "node": "accepted",
                "conversation_id": message.conversation_id,
                "duration_ms": 0.0,
                "elapsed_ms": round((time.perf_counter() - started) * 1000, 3),
            },
        )
        runtime.metrics.sse_first_event.observe(time.perf_counter() - started)
        while True:
            kind, value = await queue.get()
            if kind in ("progress", "token", "token_reset"):
                yield _event(kind, value)
                continue
            if kind == "turn":
                turn = value.model_dump(mode="json")
                yield _event("reply", turn["reply"])
                yield _event("turn", turn)
            else:
                yield _event("error", value)
            return

    return EventSourceResponse(events(), ping=15, headers=_HEADERS)


def _watch(
    runtime: ApiRuntime,
    name: str,
    fingerprint: Callable[[], Any],
    snapshot: Callable[[], dict[str, Any]],
) -> EventSourceResponse:
    """A ``name`` event with ``snapshot()`` now, and again whenever ``fingerprint()``
    changes: checked when the bus says something changed in this process, and every
    ``GOVCX_QUEUE_POLL_INTERVAL`` seconds for changes made by other processes."""
    interval = runtime.settings.queue_poll_interval

    async def events() -> AsyncIterator[ServerSentEvent]:
        entry = runtime.bus.waiter()
        last: Any = None
        try:
            while True:
                entry[1].clear()
                current = await run_in_threadpool(fingerprint)
                if current != last:
                    data = await run_in_threadpool(snapshot)
                    last = current
                    yield _event(name, data)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(entry[1].wait(), timeout=interval)
        finally:
            runtime.bus.drop_waiter(entry)

    return EventSourceResponse(events(), ping=15, headers=_HEADERS)


def stream_queue(runtime: ApiRuntime, caller: Caller) -> EventSourceResponse:
    """A ``queue`` event with the pending approvals now, and again whenever they change."""

    def snapshot() -> dict[str, Any]:
        views = runtime.approvals(caller, status="pending", conversation_id=None, limit=500)
        return {
            "approvals": [v.model_dump(mode="json") for v in views],
            "policy_version": runtime.agent.policy.version,
            "at": time.time(),
        }

    return _watch(runtime, "queue", runtime.queue_fingerprint, snapshot)


def stream_cases(
    runtime: ApiRuntime, caller: Caller, *, status: str | None, team: str | None
) -> EventSourceResponse:
    """A ``cases`` event with the caller's cases now (as ``GET /v1/cases`` lists them)
    and the teams they see, and again whenever a case changes or the customer of an open
    case writes. ``at`` is the server's clock, the one the SLA deadlines are computed
    with (the console counts down against it)."""

    def snapshot() -> dict[str, Any]:
        views = runtime.cases(
            caller,
            status=status,
            team=team,
            priority=None,
            assignee=None,
            customer_id=None,
            limit=500,
        )
        return {"cases": views, "teams": runtime.case_teams(caller), "at": runtime.agent.clock()}

    return _watch(runtime, "cases", runtime.cases_fingerprint, snapshot)


def stream_conversation(
    runtime: ApiRuntime, caller: Caller, conversation_id: str, after: int
) -> EventSourceResponse:
    """For the channel: ``message`` events with each new line that is not the
    customer's (a person's reply, role ``agent``; the AI's replies, which the channel also
    gets as Turns), and a ``control`` event when who answers changes (``ai``,
    ``waiting``, ``human``, ``resolved``), starting with the current one."""
    interval = runtime.settings.queue_poll_interval

    async def events() -> AsyncIterator[ServerSentEvent]:
        entry = runtime.bus.waiter()
        last_id, control = after, None
        try:
            while True:
                entry[1].clear()
                lines, now = await run_in_threadpool(
                    runtime.conversation_updates, caller, conversation_id, last_id
                )
                for line in lines:
                    last_id = max(last_id, int(line["message_id"]))
                    if line["role"] != "customer":
                        yield _event("message", line)
                if now != control:
                    control = now
                    yield _event("control", {"control": now, "conversation_id": conversation_id})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(entry[1].wait(), timeout=interval)
        finally:
            runtime.bus.drop_waiter(entry)

    return EventSourceResponse(events(), ping=15, headers=_HEADERS)
