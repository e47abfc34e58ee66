"""The LLM engine: any OpenAI-compatible chat model proposes; the policy gate decides.

- classify: structured output (intent among the pack's workflows or ``out_of_scope``,
  confidence, entities).
- plan: tool calling, with only the workflow's tools bound (schemas without the
  parameters the runtime fills). Read-only tools run during planning through the
  ``read`` callback, for a bounded number of rounds; the one action the model proposes
  is validated against the tool's schema, and anything malformed becomes ``Plan.error``
  (escalated, never executed). A missing value becomes a clarifying question.
- draft: a reply grounded in the retrieved approved chunks, citing them by label; a
  label that names no retrieved chunk is dropped. Streams to a registered sink.
- compose: the reply after an action, from the tool's reply template, never written by
  the model (so a model cannot claim an action that did not happen).

Failures (timeouts, 5xx, 429, malformed output) are retried with backoff, then the turn
escalates with the reason; nothing acts on partial output. Every call's latency and
token usage is kept in :attr:`LLMEngine.calls` (and in an audit log after :meth:`attach`).

Example:
    >>> from govcx.testing import ScriptedChatModel, classified, reply
    >>> from govcx.pack import load_pack
    >>> pack = load_pack("tests/fixtures/shop")
    >>> model = ScriptedChatModel(script=[classified("returns_info", 0.9)])
    >>> engine = LLMEngine(model, policy=pack.policy)
    >>> ctx = TurnContext(conversation_id="c1", customer_id=None, turn_id="t1")
    >>> engine.classify("how do returns work?", ctx).intent
    'returns_info'

Against a server, from a pack whose govcx.yaml says ``engine: {kind: llm, model: ...}``:
``LLMEngine.from_pack(pack)``; offline and deterministic from a recording:
``LLMEngine.from_pack(pack, mode="replay", cassette="evals/cassette.jsonl")``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_openai.chat_models.base import BaseChatOpenAI
from pydantic import ValidationError

from govcx.engines import agreement
from govcx.engines._llm import planning, prompts
from govcx.engines._llm.calls import (
    CallLog,
    Failure,
    MalformedOutput,
    ModelCall,
    ModelCaller,
    ModelFailure,
    RetryPolicy,
    TruncatedOutput,
)
from govcx.engines._llm.cassette import Cassette, CassetteTransport, Mode
from govcx.engines.embedded import money_amounts
from govcx.engines.engine import Classification, Draft, Plan, ReadFn, TurnContext, compose_reply
from govcx.errors import CassetteMiss, ConfigError
from govcx.governance.policy import Policy
from govcx.knowledge.retriever import Chunk
from govcx.pack import EngineConfig, Pack
from govcx.tools.executor import Execution
from govcx.tools.registry import ToolRegistry
from govcx.tools.tool import ToolSpec

if TYPE_CHECKING:
    from govcx.governance.audit import AuditLog

__all__ = ["CassetteMiss", "LLMEngine", "LLMOptions", "ModelCall", "RetryPolicy", "StreamSink"]

log = logging.getLogger("govcx.llm")

StreamSink = Callable[[str, str], None]
"""Receives ``("delta", text)`` as reply text streams, ``("reset", reason)`` when what was
sent must be discarded (a retry restarts the reply, or the call failed), and
``("end", text)`` with the whole draft. The Turn's reply stays authoritative."""

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class LLMOptions:
    """Engine settings beyond the pack's ``engine`` block."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_tool_rounds: int = 3
    """Rounds of read-only tool calls the model may make while planning."""
    structured_output: Literal["json_schema", "function_calling", "json_mode"] = "json_schema"
    """How classification asks for structured output (``function_calling`` for servers
    without JSON-schema response formats)."""
    examples_per_workflow: int = 5
    """Workflow examples shown to the classifier."""
    max_chunk_chars: int = 1500
    """Longest knowledge passage put in a drafting prompt."""
    stream_autonomies: tuple[str, ...] = ("act",)
    """Draft tokens stream only for answer-only workflows with these autonomy levels;
    anything a human reviews first, or that depends on an action, never streams."""


class LLMEngine:
    """The chat-model engine. Build with :meth:`from_pack`, or pass any chat model."""

    name = "llm"

    def __init__(
        self,
        model: BaseChatModel,
        *,
        policy: Policy,
        model_name: str | None = None,
        description: str = "",
        options: LLMOptions | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: CassetteTransport | None = None,
    ) -> None:
        self.model = model
        self.model_name = model_name or str(
            getattr(model, "model_name", None) or type(model).__name__
        )
        self.description = description
        self.options = options or LLMOptions()
        self.calls = CallLog()
        """Recent model calls with their latency and token usage."""
        self.transport = transport
        self._policy = policy
        self._policy_source: Callable[[], Policy] | None = None
        self._caller = ModelCaller(
            model_name=self.model_name, retry=self.options.retry, log=self.calls, sleep=sleep
        )
        self._sinks: dict[str, StreamSink] = {}
        self._bound: dict[tuple[Any, ...], Any] = {}
        # OpenAI-compatible streams end with a finish reason; one without it was cut
        # short. Other chat models may never send one, so only these are held to it.
        self._reports_finish = bool(
            isinstance(model, BaseChatOpenAI) or getattr(model, "reports_finish_reason", False)
        )

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_pack(
        cls,
        pack: Pack,
        *,
        mode: Mode | None = None,
        cassette: str | Path | None = None,
        config: EngineConfig | None = None,
        options: LLMOptions | None = None,
        environ: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> LLMEngine:
        """The engine a pack's ``engine`` block describes.

        Args:
            pack: The loaded pack (its govcx.yaml ``engine`` block, policy, description).
            mode: ``live``, ``record`` (call the model and append every call to
                ``cassette``) or ``replay`` (answer from ``cassette``, no network). None
                reads ``GOVCX_ENGINE_MODE`` (so ``govcx eval run`` and its worker
                processes replay when it says ``replay``), else ``live``.
            cassette: JSON-lines cassette; a relative path is relative to the pack folder.
            config: Overrides the pack's engine block (e.g. to replay a suite of a pack
                configured for the embedded engine).
            environ: Where the API key variable named by ``api_key_env`` is read
                (default ``os.environ``).
            sleep: Waits between retries (tests pass a no-op or a recorder).
        """
        config = config or pack.config.engine
        where = str(pack.root / "govcx.yaml")
        cassette = cassette if cassette is not None else config.cassette
        path = Path(cassette) if cassette is not None else None
        if path is not None and not path.is_absolute():
            path = pack.root / path
        return cls.from_config(
            config,
            policy=pack.policy,
            description=pack.config.description,
            mode=mode or _env_mode(),
            cassette=path,
            options=options,
            environ=environ,
            source=where,
            sleep=sleep,
        )

    @classmethod
    def from_config(
        cls,
        config: EngineConfig,
        *,
        policy: Policy,
        description: str = "",
        mode: Mode = "live",
        cassette: str | Path | None = None,
        options: LLMOptions | None = None,
        environ: Mapping[str, str] | None = None,
        source: str = "govcx.yaml",
        sleep: Callable[[float], None] = time.sleep,
    ) -> LLMEngine:
        from govcx.engines._llm.client import build_chat_model

        if not config.model:
            raise ConfigError(
                source,
                "an llm engine needs a model name, e.g. {kind: llm, model: gpt-4o-mini}",
                field="engine.model",
            )
        if mode not in ("live", "record", "replay"):
            raise ConfigError(
                source,
                f"engine mode {mode!r} is not valid; use live, record or replay",
                field="engine.mode",
            )
        if mode != "live" and cassette is None:
            raise ConfigError(source, f"mode {mode} needs a cassette file", field="engine.cassette")
        if mode == "replay" and cassette is not None and not Path(cassette).exists():
            raise ConfigError(
                str(cassette),
                "cassette not found; record it first with mode record against a live model",
            )
        api_key = None
        if config.api_key_env and mode != "replay":
            env = os.environ if environ is None else environ
            api_key = env.get(config.api_key_env)
            if not api_key:
                raise ConfigError(
                    source,
                    f"the environment variable {config.api_key_env} "
                    "(named by engine.api_key_env) is not set",
                    field="engine.api_key_env",
                )
        transport = (
            None
            if mode == "live"
            else CassetteTransport(mode=mode, cassette=Cassette(cassette) if cassette else None)
        )
        chat = build_chat_model(
            model=config.model,
            base_url=config.base_url,
            api_key=api_key,
            temperature=config.temperature,
            timeout=config.timeout,
            max_tokens=config.max_tokens,
            transport=transport,
        )
        base = options or LLMOptions(
            max_tool_rounds=config.max_tool_rounds, structured_output=config.structured_output
        )
        options = replace(
            base,
            retry=replace(
                base.retry,
                max_retries=config.max_retries,
                backoff=config.backoff,
                backoff_max=config.backoff_max,
            ),
        )
        return cls(
            chat,
            policy=policy,
            model_name=config.model,
            description=description,
            options=options,
            transport=transport,
            sleep=sleep,
        )

    # -- wiring -------------------------------------------------------------------------
    @property
    def policy(self) -> Policy:
        return self._policy_source() if self._policy_source is not None else self._policy

    def attach(self, *, policy: Callable[[], Policy], audit: AuditLog) -> None:
        """Follow a live policy (``policy()`` is read on every use) and write every model
        call to ``audit`` (kind ``llm.call``: purpose, model, attempts, latency, tokens,
        error; no text). The Agent attaches the engine it is given to its own policy and
        audit log; attaching again to the same audit log is a no-op."""
        if getattr(self, "_attached_to", None) is audit:
            return
        # One engine may serve agents one after another (the eval workbench shares it
        # across cases): audit to the latest only, never to an agent that was closed.
        previous = getattr(self, "_audit_listener", None)
        if previous in self.calls.listeners:
            self.calls.listeners.remove(previous)
        self._attached_to = audit
        self._policy_source = policy

        def write(batch: list[ModelCall]) -> None:
            audit.append_many(
                [
                    {
                        "kind": "llm.call",
                        "actor": "agent",
                        "data": c.as_dict(),
                        "conversation_id": c.conversation_id,
                        "turn_id": c.turn_id,
                        "policy_version": self.policy.version,
                    }
                    for c in batch
                ]
            )

        self._audit_listener = write
        self.calls.listeners.append(write)

    @property
    def last_calls(self) -> list[ModelCall]:
        """The model calls of the most recent turn."""
        return self.calls.last_turn()

    def calls_for(self, turn_id: str) -> list[ModelCall]:
        return self.calls.for_turn(turn_id)

    @contextlib.contextmanager
    def stream(self, conversation_id: str, sink: StreamSink) -> Iterator[None]:
        """Stream reply tokens of turns on ``conversation_id`` to ``sink`` meanwhile.

        Example:
            >>> with engine.stream("conv-1", lambda kind, text: print(kind, text)):
            ...     turn = agent.respond("conv-1", "how do returns work?")  # doctest: +SKIP
        """
        self._sinks[conversation_id] = sink
        try:
            yield
        finally:
            if self._sinks.get(conversation_id) is sink:
                del self._sinks[conversation_id]

    # -- the Engine protocol -------------------------------------------------------------
    def classify(self, text: str, ctx: TurnContext) -> Classification:
        """The workflow of ``text`` (None when out of scope or when the model failed, with
        the reason in ``entities["engine_error"]``), its confidence and entities."""
        try:
            return self._classify(text, ctx)
        except CassetteMiss:
            raise  # a broken fixture, never an escalation: Agent fails the turn
        except Exception as exc:
            reason = _unexpected("classify", ctx, exc)
            return Classification(
                intent=None,
                confidence=0.0,
                error=reason,
                entities={"money": money_amounts(text), "engine_error": [reason]},
            )

    def plan(
        self,
        text: str,
        ctx: TurnContext,
        *,
        intent: str,
        classification: Classification,
        policy: Policy,
        registry: ToolRegistry,
        read: ReadFn,
    ) -> Plan:
        """The one action the model proposes for ``intent`` (validated), a clarifying
        question, nothing, or ``Plan.error`` (escalated, never executed)."""
        try:
            return self._plan(
                text,
                ctx,
                intent=intent,
                classification=classification,
                policy=policy,
                registry=registry,
                read=read,
            )
        except CassetteMiss:
            raise  # a broken fixture, never an escalation: Agent fails the turn
        except Exception as exc:
            return Plan(error=_unexpected("plan", ctx, exc))

    def draft(
        self, text: str, ctx: TurnContext, *, intent: str | None, chunks: Sequence[Chunk]
    ) -> Draft:
        """A reply grounded in ``chunks``, citing only them; streams to a registered sink."""
        try:
            return self._draft(text, ctx, intent=intent, chunks=chunks)
        except CassetteMiss:
            raise  # a broken fixture, never an escalation: Agent fails the turn
        except Exception as exc:
            reason = _unexpected("draft", ctx, exc)
            sink = _safe(self._sinks.get(ctx.conversation_id))
            if sink is not None:
                sink("reset", reason)
            return Draft(text="", citations=[], support=0.0)

    # -- classify ------------------------------------------------------------------------
    def _classify(self, text: str, ctx: TurnContext) -> Classification:
        policy = self.policy
        intents = list(policy.workflows)
        messages: list[BaseMessage] = [
            SystemMessage(
                prompts.classify_prompt(
                    policy,
                    pack_description=self.description,
                    examples=self.options.examples_per_workflow,
                )
            ),
            HumanMessage(text),
        ]
        structured = self._structured(tuple(intents))
        allowed = {*intents, prompts.OUT_OF_SCOPE}

        def attempt() -> tuple[prompts.ClassificationOut, list[AIMessage]]:
            out = structured(messages)
            raw = out.get("raw") if isinstance(out, dict) else None
            raws = [raw] if isinstance(raw, AIMessage) else []
            if out.get("parsing_error") or out.get("parsed") is None:
                raise MalformedOutput(
                    f"no classification in the answer ({out.get('parsing_error') or 'empty'})",
                    raws=raws,
                )
            try:
                parsed = prompts.ClassificationOut.model_validate(out["parsed"])
            except ValidationError as exc:
                raise MalformedOutput(
                    f"classification does not match its schema: {exc.errors()[0]['msg']}", raws=raws
                ) from None
            if parsed.intent not in allowed:
                raise MalformedOutput(f"intent {parsed.intent!r} is not a workflow", raws=raws)
            return parsed, raws

        money = money_amounts(text)
        try:
            result = self._call("classify", ctx, attempt, messages)
        except ModelFailure as exc:
            return Classification(
                intent=None,
                confidence=0.0,
                entities={"money": money, "engine_error": [exc.reason]},
                error=exc.reason,
            )
        entities: dict[str, list[Any]] = {"money": money}
        for entity in result.entities:
            kind = str(entity.type).strip().lower().replace(" ", "_") or "value"
            if kind in ("money", "engine_error"):
                continue
            entities.setdefault(kind, []).append(entity.value)
        intent = None if result.intent == prompts.OUT_OF_SCOPE else result.intent
        said = prompts.confidence_value(result.confidence)
        # Never the model's word alone: the embedded classifier reads the same message.
        check = agreement.agreement(agreement.classifier_for(policy), text, intent)
        confidence = round(agreement.combined_confidence(said, intent, check), 4)
        return Classification(
            intent=intent,
            confidence=confidence,
            alternatives={result.intent: confidence},
            entities=entities,
            model_confidence=said,
        )

    def _structured(self, intents: tuple[str, ...]) -> Any:
        """A function of the messages giving ``{"raw", "parsed", "parsing_error"}``.

        langchain's ``include_raw`` output runs its parsers in a thread pool (a thread
        started per call, tens of ms on a busy machine): when the runnable has its usual
        shape, the bound model is called directly and the answer parsed here instead.
        """
        method = self.options.structured_output
        key = ("classify", intents, method)
        if key not in self._bound:
            kwargs: dict[str, Any] = {"method": method, "include_raw": True}
            if method == "json_schema":
                kwargs["strict"] = True
            runnable = self.model.with_structured_output(
                prompts.classification_schema(intents), **kwargs
            )
            model = prompts.raw_model(runnable)
            if model is None:
                self._bound[key] = runnable.invoke
            else:

                def run(messages: list[BaseMessage]) -> dict[str, Any]:
                    raw = model.invoke(messages)
                    try:
                        parsed = prompts.parse_structured(raw, method)
                    except ValueError as exc:
                        return {"raw": raw, "parsed": None, "parsing_error": exc}
                    return {"raw": raw, "parsed": parsed, "parsing_error": None}

                self._bound[key] = run
        return self._bound[key]

    # -- plan ----------------------------------------------------------------------------
    def _plan(
        self,
        text: str,
        ctx: TurnContext,
        *,
        intent: str,
        classification: Classification,
        policy: Policy,
        registry: ToolRegistry,
        read: ReadFn,
    ) -> Plan:
        self._policy = policy
        workflow = policy.workflows.get(intent)
        if workflow is None or not workflow.tools:
            return Plan()
        specs = {name: registry.get(name) for name in workflow.tools if name in registry}
        if not specs:
            return Plan()
        lookups = [n for n in specs if policy.is_read_only(n)]
        actions = [n for n in specs if n not in lookups]
        pending = ctx.pending if ctx.pending and ctx.pending.get("tool") in specs else None
        bound = self._tools(intent, policy.version, specs)
        offered = {*specs, prompts.ASK_TOOL}
        messages: list[BaseMessage] = [
            SystemMessage(
                prompts.plan_prompt(
                    intent=intent,
                    description=workflow.description,
                    actions=actions,
                    lookups=lookups,
                    pending=pending,
                )
            ),
            HumanMessage(text),
        ]
        evidence: list[dict[str, Any]] = []
        for round_ in range(self.options.max_tool_rounds + 1):
            try:
                attempt = planning.tool_attempt(bound, messages, offered)
                message = self._call("plan", ctx, attempt, messages)
            except ModelFailure as exc:
                return Plan(error=f"the model call failed: {exc.reason}", evidence=evidence)
            calls: list[dict[str, Any]] = [dict(c) for c in message.tool_calls]
            if not calls:
                return Plan(evidence=evidence)
            proposed = [
                c for c in calls if c["name"] != prompts.ASK_TOOL and c["name"] not in lookups
            ]
            asked = [c for c in calls if c["name"] == prompts.ASK_TOOL]
            if planning.distinct_actions(proposed) > 1:
                names = ", ".join(c["name"] for c in proposed)
                return Plan(
                    error=f"the model proposed {len(proposed)} actions at once "
                    f"({names}); one per turn is allowed",
                    evidence=evidence,
                )
            if proposed:
                return planning.proposal(proposed[0], specs, pending, evidence, intent)
            if asked:
                return planning.asked(asked[0], specs, pending, evidence, intent)
            if not actions:
                # A workflow of lookups only: the lookup is the action (it runs after
                # the gate, and its reply template answers the customer).
                return planning.proposal(calls[0], specs, pending, evidence, intent)
            if round_ == self.options.max_tool_rounds:
                break
            messages.append(message)
            for call in calls:
                messages.append(planning.run_lookup(call, read, evidence))
        return Plan(
            error=f"the model was still calling lookup tools after "
            f"{self.options.max_tool_rounds} rounds",
            evidence=evidence,
        )

    def _tools(self, intent: str, version: str, specs: Mapping[str, ToolSpec]) -> Any:
        key = ("plan", intent, version, tuple(specs))
        if key not in self._bound:
            schemas = [prompts.tool_schema(s) for s in specs.values()]
            schemas.append(prompts.ask_tool_schema(list(specs)))
            self._bound[key] = self.model.bind_tools(schemas)
        return self._bound[key]

    # -- draft ---------------------------------------------------------------------------
    def _draft(
        self, text: str, ctx: TurnContext, *, intent: str | None, chunks: Sequence[Chunk]
    ) -> Draft:
        policy = self.policy
        if (
            not chunks
            or intent is None
            or intent not in policy.workflows
            or policy.autonomy_of(intent) == "escalate"
        ):
            return Draft(text="", citations=[], support=0.0)
        messages: list[BaseMessage] = [
            SystemMessage(prompts.draft_prompt(chunks, max_chars=self.options.max_chunk_chars)),
            HumanMessage(text),
        ]
        sink = _safe(self._sinks.get(ctx.conversation_id)) if self._may_stream(intent) else None

        def attempt() -> tuple[str, list[AIMessage]]:
            gate = prompts.StreamFilter()
            parts: list[str] = []
            total: Any = None
            for chunk in self.model.stream(messages):
                total = chunk if total is None else total + chunk
                parts.append(chunk.text)
                if sink is not None and (visible := gate.feed(chunk.text)):
                    sink("delta", visible)
            raws = [total] if isinstance(total, AIMessage) else []
            finish = (total.response_metadata or {}).get("finish_reason") if raws else None
            if finish is None and self._reports_finish:
                raise MalformedOutput("the reply stream ended before the model finished", raws=raws)
            if finish == "length":
                raise TruncatedOutput("the reply was cut at max_tokens")
            if sink is not None and (tail := gate.finish()):
                sink("delta", tail)
            return "".join(parts), raws

        def on_retry(_: int, failure: Failure) -> None:
            if sink is not None:
                sink("reset", failure.reason)

        try:
            output = self._call("draft", ctx, attempt, messages, on_retry=on_retry)
        except ModelFailure as exc:
            if sink is not None:
                sink("reset", exc.reason)
            return Draft(text="", citations=[], support=0.0)
        reply, citations, support = prompts.parse_draft(output, chunks)
        if sink is not None:
            sink("end", reply)
        return Draft(text=reply, citations=citations, support=support)

    def _may_stream(self, intent: str) -> bool:
        policy = self.policy
        workflow = policy.workflows.get(intent)
        return bool(
            workflow is not None
            and not workflow.tools
            and policy.autonomy_of(intent) in self.options.stream_autonomies
        )

    # -- compose -------------------------------------------------------------------------
    def compose(
        self,
        ctx: TurnContext,
        *,
        intent: str | None,
        executions: Sequence[Execution],
        draft: Draft,
        registry: ToolRegistry,
    ) -> Draft:
        """The reply after tools ran, from their reply templates (no model call)."""
        return compose_reply(executions, draft, registry)

    def _call(
        self,
        purpose: str,
        ctx: TurnContext,
        attempt: Callable[[], tuple[T, list[AIMessage]]],
        messages: Sequence[BaseMessage],
        *,
        on_retry: Callable[[int, Failure], None] | None = None,
    ) -> T:
        return self._caller.call(
            purpose,
            conversation_id=ctx.conversation_id,
            turn_id=ctx.turn_id,
            attempt=attempt,
            messages=messages,
            on_retry=on_retry,
        )

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _safe(sink: StreamSink | None) -> StreamSink | None:
    """The sink, made harmless: a slow or gone listener must never fail the draft (an
    error inside the model call would count as a model failure). After its first error
    it is no longer called."""
    if sink is None:
        return None
    broken = False

    def call(kind: str, text: str) -> None:
        nonlocal broken
        if broken:
            return
        try:
            sink(kind, text)
        except Exception:
            broken = True
            log.exception("a token stream listener failed; the turn goes on without it")

    return call


def _unexpected(purpose: str, ctx: TurnContext, exc: Exception) -> str:
    """An engine bug or an unforeseen error: logged with its traceback; the turn escalates
    with the reason rather than failing (and never acts on a half-made answer)."""
    log.exception(
        "LLM engine %s failed on conversation %s turn %s", purpose, ctx.conversation_id, ctx.turn_id
    )
    text = " ".join(str(exc).split())[:200]
    return f"the LLM engine failed while it tried to {purpose} ({type(exc).__name__}: {text})"


def _env_mode() -> Mode:
    value = os.environ.get("GOVCX_ENGINE_MODE") or "live"
    return value  # type: ignore[return-value]  # from_config rejects anything else
