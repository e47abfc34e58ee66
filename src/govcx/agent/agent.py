"""The Agent: the Python API over the governed graph, used by the CLI, the HTTP API and
eval runners.

Example:
    >>> agent = Agent.open()                      # bundled acme pack, state in .govcx/
    >>> turn = agent.respond("conv-1", "Please refund $80 for order A-1002",
    ...                      customer_id="C-1001")
    >>> turn.status
    'pending_approval'
    >>> agent.decide(turn.approval_id, principal="dana", decision="approve").status
    'answered'
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Command

from govcx.engines.engine import Engine
from govcx.errors import (
    ApprovalStale,
    Conflict,
    GovcxError,
    InvalidInput,
    NotFound,
    PolicyError,
)
from govcx.governance import limits
from govcx.governance.approval import ApprovalRequest, ApprovalStore, action_token, can_decide
from govcx.governance.audit import AuditLog, audit_key
from govcx.governance.cases import CaseStore
from govcx.governance.policy import Policy
from govcx.governance.policy_store import PolicyStore
from govcx.governance.principal import SYSTEM, Principal
from govcx.governance.proposals import ProposalStore, Rollout
from govcx.governance.tool_calls import callable_tools, workflow_for
from govcx.graphs.checkpoints import PrunableSqliteSaver, continue_renamed, keep_latest
from govcx.graphs.context import Services, ShadowGate
from govcx.graphs.graph import build_graph
from govcx.graphs.outcome import at_rest, turn_of
from govcx.graphs.request import refreshed_for_edit
from govcx.graphs.suggest import suggest
from govcx.guardrails.guard import Guard
from govcx.knowledge.retriever import Retriever
from govcx.pack import Pack, load_pack
from govcx.paths import private_dir, private_file, tighten_tree
from govcx.settings import Settings
from govcx.store import migrate
from govcx.store.conversation import ConversationStore, new_id
from govcx.store.db import Database, resolve_url
from govcx.store.locks import ConversationLocks, ProcessLocks
from govcx.store.postgres import AdvisoryLocks
from govcx.store.sealed import Sealer, checkpoint_serde, data_key, sqlite_secure
from govcx.tools.executor import Executor
from govcx.turn import Turn

log = logging.getLogger(__name__)
MAX_MESSAGE_CHARS = 8000
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def check_id(kind: str, value: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise InvalidInput(
            f"{kind} {value!r} is not valid: use 1-64 letters, digits, "
            "'_', '-', '.', ':' starting with a letter or digit",
            details={"field": kind},
        )
    return value


def check_text(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("text must be a non-empty string", details={"field": "text"})
    if len(text) > MAX_MESSAGE_CHARS:
        raise InvalidInput(
            f"text is {len(text)} characters; the limit is {MAX_MESSAGE_CHARS}",
            details={"field": "text", "limit": MAX_MESSAGE_CHARS},
        )
    return text


def open_checkpointer(
    url: str, state_dir: Path, key: bytes | None = None
) -> BaseCheckpointSaver[Any]:
    """SqliteSaver beside a SQLite database; PostgresSaver for PostgreSQL. With ``key``
    (the data key) checkpoints are encrypted at rest (AES-GCM, govcx.store.sealed)."""
    serde = checkpoint_serde(key) if key is not None else None
    if url.startswith("postgresql"):
        from govcx.store.postgres import open_postgres_saver

        saver: BaseCheckpointSaver[Any] = open_postgres_saver(url, serde=serde)
        return saver
    path = private_file(state_dir / "checkpoints.db")
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
    sqlite_secure(conn)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    sqlite_saver = PrunableSqliteSaver(conn, serde=serde)
    sqlite_saver.setup()
    return sqlite_saver


def build_engine(pack: Pack, *, mode: str | None = None, cassette: str | None = None) -> Engine:
    """The pack's engine. ``mode`` (record|replay) and ``cassette`` apply to the LLM engine."""
    config = pack.config.engine
    if config.kind == "llm":
        from govcx.engines.llm import LLMEngine

        return LLMEngine.from_pack(pack, mode=mode, cassette=cassette)  # type: ignore[arg-type]
    from govcx.engines.embedded import EmbeddedEngine

    classifier = None
    if config.intent_model:
        from govcx.engines.classifier import ClassifierConfig

        classifier = ClassifierConfig(
            finetuned=pack.root / config.intent_model, finetuned_weight=config.intent_model_weight
        )
    return EmbeddedEngine.from_policy(
        pack.policy, classifier=classifier, extra_out_of_scope=config.out_of_scope_examples
    )


class Agent:
    """A pack running on a state dir: converse, decide approvals, recover, audit."""

    def __init__(
        self,
        pack: Pack,
        settings: Settings | None = None,
        *,
        engine: Engine | None = None,
        retriever: Retriever | None = None,
        guard: Guard | None = None,
        clock: Callable[[], float] = time.time,
        adopt_pack_policy: bool = False,
    ) -> None:
        self.pack = pack
        self._owns_pack = False
        """True when :meth:`open` loaded the pack: :meth:`close` then closes it too."""
        self._adopt_pack_policy = adopt_pack_policy
        """Activate a new pack policy even over a governed one: only for throwaway state
        (the eval workbench replays a candidate on a copy of a template state dir)."""
        self.settings = settings or Settings()
        state_dir = self.settings.state_dir()
        self.state_dir = state_dir
        url = resolve_url(self.settings.database_url or pack.config.storage.url, state_dir)
        self.db = Database(url)
        try:
            key = data_key(self.settings, state_dir, backend=self.db.backend)
            chain_key = audit_key(self.settings, state_dir, self.db.backend)
        except GovcxError:
            self.db.dispose()
            raise
        migrate.prepare(self.db, auto_upgrade=self.settings.auto_migrate, audit_key=chain_key)
        self.sealer = Sealer(key)
        """Opens what approval requests keep sealed (the context facts before redaction)."""
        self.audit = AuditLog(self.db, key=chain_key)
        self.approvals = ApprovalStore(self.db)
        self.conversations = ConversationStore(self.db, clock=clock)
        data_dir = private_dir(state_dir / "packs" / pack.name)
        self.executor = Executor(
            db=self.db,
            registry=pack.registry,
            approvals=self.approvals,
            data_dir=data_dir,
            clock=clock,
        )
        self.policies = PolicyStore(self.db)
        self.proposals = ProposalStore(self.db)
        """Policy proposals and the shadow/rollout beside the active policy."""
        self._policy, self._policy_seq = self._start_policy()
        self._rollout: Rollout | None = None
        self._rollout_seq = -1
        self._sync_rollout()
        self.clock = clock
        self.engine = engine or build_engine(pack, mode=self.settings.engine_mode)
        attach = getattr(self.engine, "attach", None)
        if callable(attach):  # e.g. the LLM engine audits model calls, follows the live policy
            attach(policy=lambda: self.policy, audit=self.audit)
        if retriever is None:
            from govcx.knowledge import build_retriever

            retriever = build_retriever(
                pack.knowledge_dir, state_dir, config=_knowledge_config(pack)
            )
        self.retriever = retriever
        from govcx.knowledge.retriever import check_workflow_knowledge

        try:
            check_workflow_knowledge(self._policy, retriever, str(pack.policy_path))
        except GovcxError:
            self.db.dispose()
            raise
        if guard is None:
            from govcx.guardrails import build_guard

            guard = build_guard(pack.policy.guards)
        self.guard = guard
        self.cases = CaseStore(self.db, self.audit, clock=clock, redact=guard.redact)
        self.checkpointer = open_checkpointer(url, state_dir, key)
        self.graph = build_graph(self.checkpointer)
        self._unsaved = build_graph()
        self.locks: ProcessLocks = (
            AdvisoryLocks(self.db)
            if self.db.backend == "postgresql"
            else ConversationLocks(state_dir / "locks")
        )
        tighten_tree(state_dir)  # what third-party code (Chroma, a pack's store) created
        self.observers: list[Callable[[str, dict[str, Any]], None]] = []
        self._observers_lock = threading.Lock()
        self.services = Services(
            policy_source=lambda: self._policy,
            engine=self.engine,
            retriever=self.retriever,
            guard=self.guard,
            executor=self.executor,
            approvals=self.approvals,
            audit=self.audit,
            registry=pack.registry,
            conversations=self.conversations,
            cases=self.cases,
            clock=self.clock,
            observer=self._observe,
            sealer=self.sealer,
            shadow=self._shadow_gate,
        )
        from govcx.agent.lifecycle import PolicyLifecycle

        self.lifecycle = PolicyLifecycle(self)
        """Proposals, reviews, shadow, rollout, activation and rollback of policies."""

    @classmethod
    def open(
        cls, pack: str | Path | None = None, settings: Settings | None = None, **kwargs: Any
    ) -> Agent:
        settings = settings or Settings()
        loaded = load_pack(pack or settings.pack)
        try:
            agent = cls(loaded, settings, **kwargs)
        except BaseException:
            loaded.close()
            raise
        agent._owns_pack = True
        return agent

    # -- policy ---------------------------------------------------------------------------
    @property
    def policy(self) -> Policy:
        return self._policy

    def _start_policy(self) -> tuple[Policy, int]:
        """The policy to decide under: the deployment's active one from the database.

        The pack's policy file is registered by content: a file whose version the database
        does not know yet is activated; a file whose version names other content in the
        database is refused (its version must be bumped); a known file leaves the active
        policy as it is (it may be a newer one activated through the API)."""
        file = self.pack.policy
        source = f"file {self.pack.policy_path}"
        with self.db.begin() as conn:
            try:
                new = self.policies.register(file, actor=SYSTEM.name, source=source, conn=conn)
            except GovcxError as exc:
                raise PolicyError(
                    str(self.pack.policy_path), f"{exc.message}", field="version"
                ) from None
            active = self.policies.active(conn)
            if (
                new
                and active is not None
                and active.digest != file.digest
                and not self._adopt_pack_policy
            ):
                current = self.policies.load(active.version, conn)
                if current.policy_changes is not None:
                    # A governed policy changes through reviewed proposals only: the new
                    # file is registered (so it can be proposed), not activated.
                    log.warning(
                        "%s: policy %s is registered but not activated: the active policy "
                        "%s is governed; propose it with `govcx policy propose`",
                        self.pack.policy_path,
                        file.version,
                        active.version,
                    )
                    new = False
            if new or active is None:
                old = active.version if active else None
                active = self.policies.activate(file, actor=SYSTEM.name, source=source, conn=conn)
                self.audit.append_many(
                    [
                        {
                            "kind": "policy.activated",
                            "actor": SYSTEM.name,
                            "policy_version": file.version,
                            "policy_digest": file.digest,
                            "data": {
                                "previous_version": old,
                                "version": file.version,
                                "digest": file.digest,
                                "source": source,
                            },
                        }
                    ],
                    conn=conn,
                )
        policy = file if active.digest == file.digest else self.policies.load(active.version)
        return policy, active.seq

    def sync_policy(self) -> Policy:
        """Pick up a policy another process (an API worker, the CLI) activated since.

        One indexed read; called before every turn, decision, expiry and recovery, so the
        API, the CLI and every worker decide under the same active policy."""
        seq = self.policies.active_seq()
        if seq != self._policy_seq:
            active = self.policies.active()
            if active is not None:
                self._policy = (
                    self.pack.policy
                    if active.digest == self.pack.policy.digest
                    else self.policies.load(active.version)
                )
                self._policy_seq = active.seq
        self._sync_rollout()
        return self._policy

    def _sync_rollout(self) -> None:
        """Pick up a shadow or rollout started or ended elsewhere (one indexed read)."""
        seq = self.proposals.rollout_seq()
        if seq == self._rollout_seq:
            return
        try:
            rollout = self.proposals.rollout()
        except GovcxError as exc:  # a tampered proposal never decides anything
            log.error("the policy rollout is ignored: %s", exc.message)
            rollout = None
        if rollout is not None and self.policies.active_seq() != self._policy_seq:
            self.sync_policy()
        self._rollout, self._rollout_seq = rollout, seq

    @property
    def rollout(self) -> Rollout | None:
        """The proposal running beside the active policy (shadow or rollout), or None."""
        return self._rollout

    def policy_for(self, conversation_id: str, started: float | None = None) -> Policy:
        """The policy that decides ``conversation_id``: the active one, or the candidate
        of a rollout the conversation takes part in (a hash of conversation and proposal
        against the share in force when the conversation started; see
        :mod:`govcx.governance.proposals`). ``started`` is the conversation's
        ``created_at`` when the caller has it (None: read it; a new one is now)."""
        rollout = self._rollout
        if rollout is None or rollout.mode != "rollout":
            return self._policy
        if started is None:
            started = self._started(conversation_id)
        return rollout.candidate if rollout.applies(conversation_id, started) else self._policy

    def _started(self, conversation_id: str) -> float | None:
        try:
            return float(self.conversations.get(conversation_id)["created_at"])
        except NotFound:
            return None

    def _services_for(self, conversation_id: str, started: float | None = None) -> Services:
        """The services of one conversation's run: its policy is the candidate while a
        rollout it takes part in runs, the active policy otherwise (read at each node)."""
        rollout = self._rollout
        if rollout is None or rollout.mode != "rollout":
            return self.services
        if started is None:
            started = self._started(conversation_id)
        if not rollout.applies(conversation_id, started):
            return self.services
        pinned = rollout.proposal_id

        def source() -> Policy:
            current = self._rollout
            if current is not None and current.proposal_id == pinned and current.mode == "rollout":
                return current.candidate
            return self._policy  # the rollout ended meanwhile: the active policy decides

        return dataclasses.replace(self.services, policy_source=source)

    def _shadow_gate(self) -> ShadowGate | None:
        rollout = self._rollout
        if rollout is None or rollout.mode != "shadow":
            return None
        return ShadowGate(
            policy=rollout.candidate,
            record=functools.partial(self._record_shadow, rollout.proposal_id),
        )

    def _record_shadow(
        self,
        proposal_id: str,
        conversation_id: str,
        turn_id: str,
        workflow: str | None,
        active: Any,
        candidate: Any,
    ) -> None:
        self.proposals.record_shadow(
            proposal_id=proposal_id,
            conversation_id=conversation_id,
            turn_id=turn_id,
            workflow=workflow,
            active=(active.route, list(active.rules)),
            candidate=(candidate.route, list(candidate.rules)),
            now=self.clock(),
        )

    def set_policy(
        self,
        policy: Policy,
        *,
        actor: str,
        source: str = "Python API",
        supersede: bool = True,
        also: Callable[[Any], None] | None = None,
    ) -> bool:
        """Activate ``policy`` (already validated) for the whole deployment.

        Returns False when it is the active policy already. Raises PolicyVersionConflict
        when its version already names other content. Pending approvals requested under
        another policy can no longer be decided: they are superseded and their
        conversations escalated to a person (the customer is told); with ``supersede``
        false the caller does that (``supersede_stale``) to announce the turns.

        An activation ends any shadow or rollout (every conversation then decides under
        ``policy``); ``also`` runs in the same transaction (the lifecycle's bookkeeping)."""
        current = self.sync_policy()
        if policy.digest == current.digest and policy.version == current.version:
            self.policies.register(policy, actor=actor, source=source)
            return False
        with self.db.begin() as conn:
            active = self.policies.activate(policy, actor=actor, source=source, conn=conn)
            if self._rollout is not None:
                self.proposals.set_rollout(
                    None, mode="off", share=0, actor=actor, now=self.clock(), conn=conn
                )

            self.audit.append_many(
                [
                    {
                        "kind": "policy.activated",
                        "actor": actor,
                        "policy_version": policy.version,
                        "policy_digest": policy.digest,
                        "data": {
                            "previous_version": current.version,
                            "version": policy.version,
                            "digest": policy.digest,
                            "source": source,
                        },
                    }
                ],
                conn=conn,
            )
            if also is not None:
                also(conn)
        self._policy, self._policy_seq = policy, active.seq
        self._sync_rollout()
        if supersede:
            self.supersede_stale()
        return True

    def supersede_stale(self) -> list[Turn]:
        """Close the pending approvals of another policy than the active one, and hand
        their conversations to a person; returns the resumed (escalated) turns."""
        self.sync_policy()
        turns = []
        for request in self.approvals.list(status="pending", limit=100_000):
            if request.bound_to(self.policy_for(request.conversation_id)):
                continue
            turn = self._close(request, "superseded")
            if turn is not None:
                turns.append(turn)
        return turns

    def _observe(self, kind: str, data: dict[str, Any]) -> None:
        # Other threads add and remove per-turn observers meanwhile: iterate a snapshot.
        for observer in tuple(self.observers):
            observer(kind, data)

    def _config(self, conversation_id: str) -> RunnableConfig:
        return {"configurable": {"thread_id": conversation_id}}

    # -- conversing -----------------------------------------------------------------------
    def respond(
        self,
        conversation_id: str,
        text: str,
        *,
        customer_id: str | None = None,
        idempotency_key: str | None = None,
        owner: str | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        on_token: Callable[[str, str], None] | None = None,
    ) -> Turn:
        """Run one customer message through the graph and return the Turn.

        Args:
            conversation_id: The conversation (LangGraph thread); created on first use.
            text: The customer's message (at most 8000 characters).
            customer_id: The customer, passed to tools as context. The first message that
                names one fixes it; a later one naming another raises CustomerMismatch.
            idempotency_key: A repeat with the same key returns the first Turn and
                processes nothing twice.
            owner: The channel speaking (the HTTP API passes its caller, the CLI ``cli``).
                A new conversation belongs to it; an existing one of another owner is
                NotFound. None (trusted Python code) skips the check.
            on_event: Called with (node, summary) after each node of this turn.
            on_token: Engines that stream (the LLM engine) call it with ("delta", text)
                as the reply's draft arrives, ("reset", reason) when what was sent must
                be discarded, and ("end", draft). Provisional: the output guard and the
                gate run afterwards, so the Turn's reply is what counts (docs/llm.md).
        """
        stream = getattr(self.engine, "stream", None)
        if on_token is not None and callable(stream):
            with stream(conversation_id, on_token):
                return self.respond(
                    conversation_id,
                    text,
                    customer_id=customer_id,
                    idempotency_key=idempotency_key,
                    owner=owner,
                    on_event=on_event,
                )
        if on_event is None:
            return self._respond(conversation_id, text, customer_id, idempotency_key, owner)

        def scoped(kind: str, data: dict[str, Any]) -> None:
            if data.get("conversation_id") == conversation_id:
                on_event(kind, data)

        with self._observers_lock:
            self.observers = [*self.observers, scoped]
        try:
            return self._respond(conversation_id, text, customer_id, idempotency_key, owner)
        finally:
            with self._observers_lock:
                self.observers = [o for o in self.observers if o is not scoped]

    def _respond(
        self,
        conversation_id: str,
        text: str,
        customer_id: str | None,
        idempotency_key: str | None,
        owner: str | None,
    ) -> Turn:
        check_id("conversation_id", conversation_id)
        check_text(text)
        if customer_id is not None:
            check_id("customer_id", customer_id)
        turn_id = new_id("turn")
        if idempotency_key is not None:
            digest = hashlib.sha256(f"{conversation_id}|{idempotency_key}".encode()).hexdigest()
            turn_id = "turn_" + digest[:20]
        with self.locks.hold(conversation_id, timeout=self.settings.lock_timeout):
            if idempotency_key is not None:
                existing = self.conversations.get_turn(turn_id)
                if existing is not None and (
                    owner is None or self.conversations.owned_by(conversation_id, owner)
                ):
                    return existing
            self.sync_policy()
            conv = self.conversations.ensure(conversation_id, customer_id, start=True, owner=owner)
            if conv["status"] == "running":
                # We hold the conversation's lock, so the process that ran it died mid-run:
                # finish that run (from its checkpoint and the execution ledger) first.
                self._recover_locked(conversation_id)
                conv = self.conversations.ensure(
                    conversation_id, customer_id, start=True, owner=owner
                )
            customer = conv.get("customer_id") or customer_id
            services = self._services_for(conversation_id, conv.get("created_at"))
            control = conv.get("control", "ai")
            if control in ("waiting", "human"):
                # A person has the conversation: the AI records the message for them and
                # says nothing (graphs.nodes.with_human; no checkpoint, like still_waiting).
                case = self.cases.open_for(conversation_id)
                out = self._unsaved.invoke(
                    {
                        "conversation_id": conversation_id,
                        "customer_id": customer,
                        "turn_id": turn_id,
                        "text": text,
                        "with_human": True,
                        "case_id": case.case_id if case else None,
                    },
                    context=services,
                )
                return turn_of(out, interrupted=False, approvals=self.approvals)
            if control == "resolved":
                self.conversations.set_control(conversation_id, "ai")
            if conv["status"] == "pending_approval":
                # The conversation's checkpoint holds the run waiting for the approval:
                # this message runs on the graph without a checkpointer (still_waiting).
                out = self._unsaved.invoke(
                    {
                        "conversation_id": conversation_id,
                        "customer_id": customer,
                        "turn_id": turn_id,
                        "text": text,
                        "waiting_for_approval": True,
                    },
                    context=services,
                )
                return turn_of(out, interrupted=False, approvals=self.approvals)
            try:
                out = self.graph.invoke(
                    {
                        "conversation_id": conversation_id,
                        "customer_id": customer,
                        "turn_id": turn_id,
                        "text": text,
                        "call": None,  # a tool call of an earlier turn is not this one
                    },
                    self._config(conversation_id),
                    context=services,
                    durability=self.settings.durability,
                )
            except Exception as exc:
                self._fail(conversation_id, turn_id, exc)
                raise
            return self._finish(conversation_id, out)

    def call_tool(
        self,
        conversation_id: str,
        tool: str,
        args: dict[str, Any],
        *,
        customer_id: str,
        principal: Principal,
        idempotency_key: str | None = None,
    ) -> Turn:
        """Run a tool client's direct call of ``tool`` through the governed graph.

        The call is a turn of the conversation like a customer message, decided by the
        same gate (tiers, ``approval_if``, cumulative limits counted with chat turns,
        duplicates, autonomy of the workflow from
        :func:`govcx.governance.tool_calls.workflow_for`), executed through the same
        executor and ledger, audited in the same chain; a call that needs approval stops
        at ``pending_approval`` and runs once when a person approves it
        (:meth:`decide`). Used by govcx's MCP server.

        Args:
            conversation_id: The conversation the call acts in; created on first use,
                owned by ``principal``; another principal's is NotFound.
            tool: A tool the policy tiers and a workflow lists.
            args: The tool's arguments; validated before anything runs.
            customer_id: The customer the call acts for (a conversation has one).
            principal: The authenticated caller (role ``mcp``); owns the conversation.
            idempotency_key: A repeat with the same key returns the first Turn.

        Raises:
            NotFound: an unknown or uncallable tool, another principal's conversation.
            ToolArgumentError: arguments that do not match the tool's schema.
            CustomerMismatch: the conversation belongs to another customer.
            Conflict: the conversation waits for an approval or a person has it.
        """
        check_id("conversation_id", conversation_id)
        check_id("customer_id", customer_id)
        policy = self.sync_policy()
        workflow = workflow_for(policy, tool)
        if workflow is None or tool not in self.pack.registry:
            callable_ = ", ".join(callable_tools(policy, self.pack.registry.names())) or "none"
            raise NotFound("tool", tool, hint=f"callable tools: {callable_}")
        canonical = self.pack.registry.get(tool).validate(args)
        turn_id = new_id("turn")
        if idempotency_key is not None:
            digest = hashlib.sha256(f"{conversation_id}|{idempotency_key}".encode()).hexdigest()
            turn_id = "turn_" + digest[:20]
        owner = principal.name
        with self.locks.hold(conversation_id, timeout=self.settings.lock_timeout):
            if idempotency_key is not None:
                existing = self.conversations.get_turn(turn_id)
                if existing is not None and self.conversations.owned_by(conversation_id, owner):
                    return existing
            conv = self.conversations.ensure(conversation_id, customer_id, start=True, owner=owner)
            if conv["status"] == "running":
                self._recover_locked(conversation_id)
                conv = self.conversations.ensure(
                    conversation_id, customer_id, start=True, owner=owner
                )
            if conv.get("control", "ai") in ("waiting", "human"):
                raise Conflict(
                    f"a person has conversation {conversation_id} (its case is waiting or "
                    "claimed); nothing ran: the AI does not act in it until it is handed back",
                    details={"conversation_id": conversation_id, "control": conv["control"]},
                )
            if conv["status"] == "pending_approval":
                waiting = self.approvals.list(status="pending", conversation_id=conversation_id)
                raise Conflict(
                    f"conversation {conversation_id} waits for approval "
                    f"{waiting[0].approval_id if waiting else '(unknown)'}; nothing ran: "
                    "call again once it is decided, or use another conversation",
                    details={
                        "conversation_id": conversation_id,
                        "approval_id": waiting[0].approval_id if waiting else None,
                    },
                )
            if conv.get("control") == "resolved":
                self.conversations.set_control(conversation_id, "ai")
            # Under a rollout the conversation's own policy decides the call, as a message.
            services = self._services_for(conversation_id, conv.get("created_at"))
            call = {
                "tool": tool,
                "args": canonical,
                "workflow": workflow,
                "principal": principal.name,
            }
            try:
                out = self.graph.invoke(
                    {
                        "conversation_id": conversation_id,
                        "customer_id": conv.get("customer_id") or customer_id,
                        "turn_id": turn_id,
                        "text": "",
                        "call": call,
                    },
                    self._config(conversation_id),
                    context=services,
                    durability=self.settings.durability,
                )
            except Exception as exc:
                self._fail(conversation_id, turn_id, exc)
                raise
            return self._finish(conversation_id, out)

    def _fail(self, conversation_id: str, turn_id: str, exc: Exception) -> None:
        """A run that raised (a replay miss, a broken tool registry, a database error) must
        not leave its conversation ``running``: recovery would replay the same failure and
        the conversation would look busy. The next message starts a new run. (A process
        that dies mid-run leaves ``running``, and ``recover`` finishes that run.)"""
        code = exc.code if isinstance(exc, GovcxError) else type(exc).__name__
        try:
            with self.db.begin() as conn:
                self.conversations.set_status(
                    conversation_id, "idle", last_turn_status="failed", conn=conn
                )
                # Room the gate reserved for this run's tool call must stop counting.
                limits.release_conversation(conn, conversation_id, reason="the turn failed")
                self.audit.append_many(
                    [
                        {
                            "kind": "turn.failed",
                            "actor": SYSTEM.name,
                            "conversation_id": conversation_id,
                            "turn_id": turn_id,
                            "policy_version": self._policy.version,
                            "data": {"error": code, "engine": self.engine.name},
                        }
                    ],
                    conn=conn,
                )
        except Exception:  # the run's own error is the one to report
            log.exception("could not mark the failed turn of %s", conversation_id)

    def at_rest(self, turn: Turn) -> Turn:
        """The Turn as stored: the reply may repeat the customer's own details back to
        them, which the caller gets and the turns table does not."""
        return at_rest(turn, self.guard.redact)

    def _finish(self, conversation_id: str, out: dict[str, Any] | None = None) -> Turn:
        """Build the Turn from the run's output (or, without one, the checkpointed state),
        store it and update the conversation in one transaction."""
        if out is None:
            snapshot = self.graph.get_state(self._config(conversation_id))
            values: dict[str, Any] = dict(snapshot.values)
            interrupted = any(task.interrupts for task in snapshot.tasks)
        else:
            values = dict(out)
            interrupted = bool(values.pop("__interrupt__", None))
        turn = turn_of(values, interrupted=interrupted, approvals=self.approvals)
        with self.db.begin() as conn:
            if interrupted and turn.reply is not None:
                # The holding notice the customer sees belongs in the transcript too, as a
                # system line: the assistant line of this turn is the outcome after the
                # decision, which must not overwrite it.
                self.conversations.add_message(
                    conversation_id, turn.turn_id, "system", turn.reply.text, conn=conn
                )
            self.conversations.save_turn(self.at_rest(turn), conn=conn)
            self.conversations.set_status(
                conversation_id,
                "pending_approval" if interrupted else "idle",
                last_turn_status=turn.status,
                count_turn=True,
                conn=conn,
            )
        # The run has ended or stopped at an approval: only its latest checkpoint is read
        # again (govcx.graphs.checkpoints).
        keep_latest(self.checkpointer, conversation_id)
        return turn

    # -- approvals -------------------------------------------------------------------------
    def principal(self, who: str | Principal) -> Principal:
        return who if isinstance(who, Principal) else self.pack.principal(who)

    def decide(
        self,
        approval_id: str,
        *,
        principal: str | Principal,
        decision: str,
        args: dict[str, Any] | None = None,
        comment: str | None = None,
        authenticated: bool = True,
    ) -> Turn:
        """Approve, reject or edit a pending approval, then resume its conversation.

        ``principal`` is trusted (this is Python code): a name, matched canonically, or a
        Principal. ``authenticated=False`` records a dev-mode decision made by name only
        (``--as`` without a key): the Decision and its audit event are flagged.

        Raises ApprovalStale (decided, expired, superseded by a policy change, lost a
        race), NotAuthorized, ToolArgumentError (edit with bad arguments), NotFound.
        """
        who = self.principal(principal)
        if decision not in ("approve", "reject", "edit"):
            raise InvalidInput(
                f"decision {decision!r} is not valid; use approve, reject or edit",
                details={"field": "decision"},
            )
        request = self.approvals.get(approval_id)
        if comment is not None:
            comment = self.guard.redact(comment)  # stored in the approval and the audit
        now = self.clock()
        self.sync_policy()
        policy = self.policy_for(request.conversation_id)
        if request.status == "pending" and now >= request.expires_at:
            self._close(request, "expired")
            raise ApprovalStale(
                approval_id, f"it has expired; on_expiry ({policy.approvals.on_expiry}) was applied"
            )
        if request.status == "pending" and not request.bound_to(policy):
            self._close(request, "superseded")
            raise ApprovalStale(
                approval_id,
                f"it was requested under policy "
                f"{request.policy_version} ({request.policy_digest[:12]}) and "
                f"{policy.version} ({policy.digest[:12]}) is active now; the "
                "conversation was handed to a person and the customer told",
            )
        new_args, new_token, refreshed = None, None, None
        if decision == "edit":
            new_args, new_token = self._edited(request, args, policy)
            # Who may not decide it hears that first; then the context and the reply if
            # approved follow the edited arguments (ApprovalStore.decide checks again).
            can_decide(
                policy, who, request, decision="edit", args=new_args, now=now
            ).raise_if_denied(approval_id, who.name)
            refreshed = refreshed_for_edit(
                self._services_for(request.conversation_id), request, new_args
            )
        elif args:
            raise InvalidInput(
                "args are only accepted with decision edit", details={"field": "args"}
            )
        with self.locks.hold(request.conversation_id, timeout=self.settings.lock_timeout):
            self._recover_if_dead(request.conversation_id)
            # The decision and its audit event commit together (verify requires both).
            with self.db.begin() as conn:
                updated = self.approvals.decide(
                    approval_id,
                    principal=who,
                    decision=decision,  # type: ignore[arg-type]
                    policy=policy,
                    args=new_args,
                    comment=comment,
                    new_token=new_token,
                    now=now,
                    authenticated=authenticated,
                    refreshed=refreshed,
                    conn=conn,
                )
                self.audit.append_many(
                    [
                        {
                            "kind": f"approval.{decision}",
                            "actor": who.name,
                            "conversation_id": request.conversation_id,
                            "turn_id": request.turn_id,
                            "policy_version": policy.version,
                            "policy_digest": policy.digest,
                            "data": {
                                "approval_id": approval_id,
                                "status": updated.status,
                                "args": new_args,
                                "comment": comment,
                                "approvals": len(updated.approvers),
                                "approvals_needed": updated.approvals_needed,
                                "authenticated": authenticated,
                            },
                        }
                    ],
                    conn=conn,
                )
            if updated.status == "pending":
                turn = self.conversations.get_turn(request.turn_id)
                if turn is None:
                    raise NotFound("turn", request.turn_id)
                return turn
            return self._resume(updated)

    def _edited(
        self, request: ApprovalRequest, args: dict[str, Any] | None, policy: Policy
    ) -> tuple[dict[str, Any], str]:
        if not args:
            raise InvalidInput("edit needs args", details={"field": "args"})
        if request.kind == "reply":
            reply = args.get("reply")
            if set(args) != {"reply"} or not isinstance(reply, str) or not reply.strip():
                raise InvalidInput(
                    'editing a reply takes args {"reply": "new text"}', details={"field": "args"}
                )
            token = action_token(
                conversation_id=request.conversation_id,
                kind="reply",
                tool=None,
                args=args,
                policy_version=policy.version,
                policy_digest=policy.digest,
                draft_reply=request.draft_reply,
            )
            return dict(args), token
        spec = self.pack.registry.get(str(request.tool))
        merged = {**(request.args or {}), **args}
        canonical = spec.validate(merged)
        token = action_token(
            conversation_id=request.conversation_id,
            kind="action",
            tool=request.tool,
            args=canonical,
            policy_version=policy.version,
            policy_digest=policy.digest,
        )
        return canonical, token

    def _resume(self, request: ApprovalRequest) -> Turn:
        self.conversations.set_status(request.conversation_id, "running")
        out = self.graph.invoke(
            Command(resume={"approval_id": request.approval_id}),
            self._config(request.conversation_id),
            context=self._services_for(request.conversation_id),
            durability="sync",
        )
        return self._finish(request.conversation_id, out)

    def _close(self, request: ApprovalRequest, status: str) -> Turn | None:
        """Close a pending request nobody may decide any more (``expired``: overdue;
        ``superseded``: evaluated under another policy) and resume its conversation,
        which applies on_expiry or, when superseded, escalates to a person."""
        with self.locks.hold(request.conversation_id, timeout=self.settings.lock_timeout):
            closed = self.approvals.expire(request.approval_id, now=self.clock(), status=status)  # type: ignore[arg-type]
            if closed is None:
                return None
            policy = self.policy_for(request.conversation_id)
            self.audit.append_many(
                [
                    {
                        "kind": f"approval.{status}",
                        "actor": SYSTEM.name,
                        "conversation_id": request.conversation_id,
                        "turn_id": request.turn_id,
                        "policy_version": policy.version,
                        "policy_digest": policy.digest,
                        "data": {
                            "approval_id": request.approval_id,
                            "on_expiry": policy.approvals.on_expiry
                            if status == "expired"
                            else "escalate",
                            "requested_under": {
                                "version": request.policy_version,
                                "digest": request.policy_digest,
                            },
                        },
                    }
                ]
            )
            return self._resume(closed)

    def expire_overdue(self) -> list[Turn]:
        """Apply on_expiry to every overdue pending approval, and close the approvals of a
        policy no longer active; returns the resumed turns."""
        turns = self.supersede_stale()
        for request in list(self.approvals.overdue(self.clock())):
            turn = self._close(request, "expired")
            if turn is not None:
                turns.append(turn)
        return turns

    # -- recovery -------------------------------------------------------------------------
    def recover(self) -> list[Turn]:
        """Finish runs that a crash left mid-step. Safe to run at any time, from several
        processes at once: a conversation a live process holds is skipped."""
        self.sync_policy()
        finished: list[Turn] = []
        for conversation_id in self.conversations.with_status("running"):
            if self.locks.is_held_elsewhere(conversation_id):
                continue  # a live process is working on it
            with self.locks.hold(conversation_id, timeout=self.settings.lock_timeout):
                turn = self._recover_if_dead(conversation_id)
            if turn is not None:
                finished.append(turn)
        return finished

    def _recover_if_dead(self, conversation_id: str) -> Turn | None:
        """With the conversation's lock held: a ``running`` status means the process that
        ran it died; finish that run before anything else happens on it."""
        try:
            status = self.conversations.get(conversation_id)["status"]
        except NotFound:
            return None
        if status != "running":
            return None
        return self._recover_locked(conversation_id)

    def _recover_locked(self, conversation_id: str) -> Turn | None:
        """Finish the interrupted run: its step is finished or failed according to the
        execution ledger (a tool call recorded as succeeded is not repeated; one left
        ``started`` is called again with the same idempotency key), and its Turn and
        transcript lines are completed."""
        config = self._config(conversation_id)
        continue_renamed(self.graph, config)  # a checkpoint of a version before the names
        snapshot = self.graph.get_state(config)
        interrupted = any(task.interrupts for task in snapshot.tasks)
        if interrupted:
            request = self.approvals.get(str(snapshot.values.get("approval_id")))
            if request.status != "pending":
                return self._resume(request)
        elif snapshot.next:
            self.audit.append(
                kind="recover.resume",
                actor=SYSTEM.name,
                conversation_id=conversation_id,
                turn_id=snapshot.values.get("turn_id"),
                policy_version=self._policy.version,
                data={"next": list(snapshot.next)},
            )
            try:
                self.graph.invoke(
                    None, config, context=self._services_for(conversation_id), durability="sync"
                )
            except Exception as exc:
                self._fail(conversation_id, str(snapshot.values.get("turn_id")), exc)
                raise
        if snapshot.values:
            return self._finish(conversation_id)
        self.conversations.set_status(conversation_id, "idle")
        return None

    # -- hand-off -------------------------------------------------------------------------
    def suggest_reply(self, case_id: str, principal: str | Principal) -> dict[str, Any]:
        """A reply the AI suggests for the customer's latest message, for the person who
        works the case; recorded in the audit trail, never sent (graphs.suggest)."""
        who = self.principal(principal)
        case = self.cases.check(case_id, who)
        lines = self.conversations.transcript(case.conversation_id)
        customer = [m["text"] for m in lines if m["role"] == "customer"]
        if not customer:
            raise InvalidInput(
                f"case {case_id} has no customer message to answer", details={"field": "case_id"}
            )
        self.sync_policy()
        suggestion = suggest(
            self._services_for(case.conversation_id),
            conversation_id=case.conversation_id,
            customer_id=case.customer_id,
            case_id=case_id,
            text=customer[-1],
        ).as_dict()
        self.cases.record_suggestion(case_id, who, suggestion)
        return suggestion

    # -- reading --------------------------------------------------------------------------
    def conversation(self, conversation_id: str) -> dict[str, Any]:
        conv = self.conversations.get(conversation_id)
        return {
            "conversation_id": conversation_id,
            "customer_id": conv["customer_id"],
            "status": conv["status"],
            "control": conv.get("control", "ai"),
            "turn_count": conv["turn_count"],
            "transcript": self.conversations.transcript(conversation_id),
            "turns": self.conversations.turn_bodies(conversation_id),
            "pending_approvals": [
                a.model_dump(mode="json")
                for a in self.approvals.list(status="pending", conversation_id=conversation_id)
            ],
            "actions": self.executor.ledger(conversation_id),
        }

    # -- retention ------------------------------------------------------------------------
    def prune(self, *, older_than: float) -> list[str]:
        """Delete the checkpoints of finished conversations idle for ``older_than`` seconds.

        The transcript, turns, approvals and the audit trail are kept; a pruned
        conversation can still be read and audited, and a new message starts it afresh.
        """
        cutoff = self.clock() - older_than
        pruned = []
        for conversation_id in self.conversations.idle_before(cutoff):
            with self.locks.hold(conversation_id, timeout=self.settings.lock_timeout):
                self.checkpointer.delete_thread(conversation_id)
                pruned.append(conversation_id)
        if pruned:
            self.audit.append(
                kind="retention.prune",
                actor=SYSTEM.name,
                policy_version=self._policy.version,
                data={"conversations": len(pruned), "older_than_s": older_than},
            )
        return pruned

    def close(self) -> None:
        if self._owns_pack:  # opened by Agent.open: stop its MCP servers and HTTP clients
            self.pack.close()
        conn = getattr(self.checkpointer, "conn", None)
        if isinstance(conn, sqlite3.Connection):
            conn.close()
        pool = getattr(self.checkpointer, "govcx_pool", None)
        if pool is not None:
            pool.close()
        self.db.dispose()


def _knowledge_config(pack: Pack) -> Any:
    if not pack.config.knowledge_config:
        return None
    from govcx.knowledge import KnowledgeConfig

    return KnowledgeConfig.model_validate(pack.config.knowledge_config)
