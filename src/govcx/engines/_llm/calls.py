"""Model calls: bounded retries with backoff, failure reasons, and a record of each call.

A call is retried on a timeout, a connection error, a rate limit (429, honouring
Retry-After up to the backoff cap), a server error (5xx) and malformed output, with
exponential backoff and jitter. Anything else (a 400, a bad key, an unknown model) fails
at once. When the retries run out the engine escalates with the reason; it never acts on
the partial output of a failed call. A replay-mode cassette miss is never retried or
swallowed: it is a broken test fixture, not a model failure.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import httpx
import openai
from langchain_core.messages import AIMessage, BaseMessage

from govcx.engines._llm.cassette import call_label
from govcx.engines._llm.tokens import TokenCounter
from govcx.errors import CassetteMiss

T = TypeVar("T")


class MalformedOutput(Exception):
    """The model answered, but not in the shape asked for."""

    def __init__(self, message: str, *, raws: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.raws = list(raws)
        """The answers (their tokens were spent all the same)."""


class TruncatedOutput(Exception):
    """The model stopped at its token limit; asking again gives the same cut answer."""


class ModelFailure(Exception):
    """A model call failed for good (after its retries); ``reason`` is for humans."""

    def __init__(self, reason: str, *, kind: str, attempts: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.attempts = attempts


@dataclass(frozen=True, kw_only=True)
class Failure:
    kind: str
    """timeout | connection | rate_limited | server_error | malformed | rejected | error"""
    retryable: bool
    reason: str
    retry_after: float | None = None


def classify_failure(exc: BaseException) -> Failure:
    """What went wrong, in words, and whether trying again can help."""
    if isinstance(exc, TruncatedOutput):
        return Failure(kind="truncated", retryable=False, reason=f"truncated output: {exc}")
    if isinstance(exc, MalformedOutput):
        return Failure(kind="malformed", retryable=True, reason=f"malformed output: {exc}")
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException | TimeoutError):
        return Failure(kind="timeout", retryable=True, reason="the model did not answer in time")
    if isinstance(exc, openai.RateLimitError):
        return Failure(
            kind="rate_limited",
            retryable=True,
            reason="rate limited (429)",
            retry_after=_retry_after(exc.response),
        )
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status >= 500 or status in (408, 409):
            return Failure(
                kind="server_error", retryable=True, reason=f"the model server failed ({status})"
            )
        return Failure(
            kind="rejected",
            retryable=False,
            reason=f"the model server refused the request ({status}): {_short(exc.message)}",
        )
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError | ConnectionError):
        return Failure(
            kind="connection", retryable=True, reason="the model server could not be reached"
        )
    if isinstance(exc, openai.APIResponseValidationError | ValueError | KeyError):
        return Failure(
            kind="malformed", retryable=True, reason=f"malformed response: {_short(str(exc))}"
        )
    return Failure(
        kind="error",
        retryable=False,
        reason=f"the model call failed ({type(exc).__name__}: {_short(str(exc))})",
    )


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _retry_after(response: httpx.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("retry-after-ms")
    try:
        if value is not None:
            return float(value) / 1000
        value = response.headers.get("retry-after")
        return float(value) if value is not None else None
    except ValueError:
        return None


def cassette_miss(exc: BaseException) -> CassetteMiss | None:
    """The CassetteMiss that the openai client wrapped, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, CassetteMiss):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently a failed call is tried again."""

    max_retries: int = 2
    """Retries after the first attempt (the pack's ``engine.max_retries``)."""
    backoff: float = 0.5
    """Wait before the first retry, in seconds; doubles each retry."""
    backoff_max: float = 8.0
    """Longest single wait, also the cap on a server's Retry-After."""
    jitter: float = 0.25
    """Up to this fraction of each wait is added at random, to spread retries out."""

    def wait(self, retry: int, failure: Failure) -> float:
        base = float(min(self.backoff_max, self.backoff * (2 ** (retry - 1))))
        if failure.retry_after is not None:
            base = min(self.backoff_max, max(base, failure.retry_after))
        return float(base + base * self.jitter * random.random())


@dataclass(frozen=True, kw_only=True)
class ModelCall:
    """One model call as the engine made it (with its retries)."""

    purpose: str
    """classify | plan | draft"""
    model: str
    conversation_id: str | None
    turn_id: str | None
    started_at: float
    attempts: int
    latency_ms: float
    """Wall time of the call, retries and backoff included."""
    model_ms: float
    """Time spent waiting on the model client (the attempts, without backoff)."""
    input_tokens: int
    output_tokens: int
    tokens_estimated: bool
    """True when the server reported no usage and the tokens were counted locally."""
    ok: bool
    error: str | None = None
    errors: tuple[str, ...] = field(default=())
    """The reason of each failed attempt, in order."""

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["errors"] = list(self.errors)
        data["total_tokens"] = self.total_tokens
        data["latency_ms"] = round(self.latency_ms, 3)
        data["model_ms"] = round(self.model_ms, 3)
        return data


class CallLog:
    """Recent model calls (bounded), with listeners for audit and metrics."""

    def __init__(self, maxlen: int = 2000) -> None:
        self._calls: deque[ModelCall] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self.listeners: list[Callable[[list[ModelCall]], None]] = []

    def add(self, calls: Iterable[ModelCall]) -> None:
        batch = list(calls)
        if not batch:
            return
        with self._lock:
            self._calls.extend(batch)
        for listener in list(self.listeners):
            listener(batch)

    def all(self) -> list[ModelCall]:
        with self._lock:
            return list(self._calls)

    def for_turn(self, turn_id: str) -> list[ModelCall]:
        return [c for c in self.all() if c.turn_id == turn_id]

    def last_turn(self) -> list[ModelCall]:
        calls = self.all()
        if not calls:
            return []
        turn = calls[-1].turn_id
        out: list[ModelCall] = []
        for call in reversed(calls):
            if call.turn_id != turn:
                break
            out.append(call)
        return out[::-1]


def with_retries(
    attempt: Callable[[], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, Failure], None] | None = None,
) -> tuple[T, int, list[str], float]:
    """Run ``attempt`` until it succeeds or the retries run out.

    Returns (result, attempts, reasons of failed attempts, seconds spent in attempts).
    Raises ModelFailure when it gives up, CassetteMiss unchanged.
    """
    errors: list[str] = []
    busy = 0.0
    tries = 0
    while True:
        tries += 1
        start = time.perf_counter()
        try:
            result = attempt()
        except Exception as exc:
            busy += time.perf_counter() - start
            miss = cassette_miss(exc)
            if miss is not None:
                raise miss from None
            failure = classify_failure(exc)
            errors.append(failure.reason)
            if not failure.retryable or tries > policy.max_retries:
                suffix = f" after {tries} attempts" if tries > 1 else ""
                raise ModelFailure(
                    failure.reason + suffix, kind=failure.kind, attempts=tries
                ) from exc
            if on_retry is not None:
                on_retry(tries, failure)
            sleep(policy.wait(tries, failure))
            continue
        busy += time.perf_counter() - start
        return result, tries, errors, busy


class ModelCaller:
    """Runs model calls with retries, and records each in a CallLog."""

    def __init__(
        self,
        *,
        model_name: str,
        retry: RetryPolicy,
        log: CallLog,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.model_name = model_name
        self.retry = retry
        self.log = log
        self.sleep = sleep
        self._counter = TokenCounter(model_name)

    def call(
        self,
        purpose: str,
        *,
        conversation_id: str | None,
        turn_id: str | None,
        attempt: Callable[[], tuple[T, list[AIMessage]]],
        messages: Sequence[BaseMessage],
        on_retry: Callable[[int, Failure], None] | None = None,
    ) -> T:
        """Run ``attempt`` (which returns its value and the raw answers) and record it.

        Raises ModelFailure when the retries run out (recorded too), CassetteMiss as is.
        """
        raws: list[AIMessage] = []

        def tracked() -> T:
            try:
                value, got = attempt()
            except MalformedOutput as exc:
                raws.extend(r for r in exc.raws if isinstance(r, AIMessage))
                raise
            raws.extend(got)
            return value

        token = call_label.set(f"{purpose} conversation={conversation_id} turn={turn_id}")
        started = time.time()
        t0 = time.perf_counter()
        try:
            value, attempts, errors, busy = with_retries(
                tracked, self.retry, sleep=self.sleep, on_retry=on_retry
            )
        except ModelFailure as exc:
            elapsed = time.perf_counter() - t0
            self._record(
                purpose,
                conversation_id,
                turn_id,
                started,
                exc.attempts,
                elapsed,
                elapsed,
                raws,
                messages,
                error=exc.reason,
                errors=(exc.reason,),
            )
            raise
        finally:
            call_label.reset(token)
        self._record(
            purpose,
            conversation_id,
            turn_id,
            started,
            attempts,
            time.perf_counter() - t0,
            busy,
            raws,
            messages,
            error=None,
            errors=tuple(errors),
        )
        return value

    def _record(
        self,
        purpose: str,
        conversation_id: str | None,
        turn_id: str | None,
        started: float,
        attempts: int,
        elapsed: float,
        busy: float,
        raws: list[AIMessage],
        messages: Sequence[BaseMessage],
        *,
        error: str | None,
        errors: tuple[str, ...],
    ) -> None:
        input_tokens = output_tokens = 0
        estimated = not raws
        if not raws:
            input_tokens = self._counter.count_messages(messages) * attempts
        for raw in raws:
            usage = raw.usage_metadata
            if usage and (usage.get("input_tokens") or usage.get("output_tokens")):
                input_tokens += int(usage.get("input_tokens") or 0)
                output_tokens += int(usage.get("output_tokens") or 0)
                continue
            estimated = True
            input_tokens += self._counter.count_messages(messages)
            output_tokens += self._counter.count(
                raw.text + (json.dumps(raw.tool_calls, default=str) if raw.tool_calls else "")
            )
        self.log.add(
            [
                ModelCall(
                    purpose=purpose,
                    model=self.model_name,
                    conversation_id=conversation_id,
                    turn_id=turn_id,
                    started_at=started,
                    attempts=attempts,
                    latency_ms=elapsed * 1000,
                    model_ms=busy * 1000,
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                    tokens_estimated=estimated,
                    ok=error is None,
                    error=error,
                    errors=errors,
                )
            ]
        )
