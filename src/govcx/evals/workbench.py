"""Plays scripted conversations on a pack, each in its own fresh state dir.

Building the expensive, read-only parts of an Agent (the guard's recognisers, the
knowledge index, the classifier) takes seconds; a state dir (SQLite stores, checkpoints,
the pack's business data) takes milliseconds. A :class:`Workbench` builds the former once
per process and shares them, and gives every conversation a new state dir, so cases never
see each other's refunds, approvals or audit events.

Example:
    >>> bench = Workbench(pack_dir=None, root=Path("/tmp/evals"))
    >>> played = bench.play(Script(conversation_id="eval-1", customer="C-1001",
    ...                            steps=[Step(user="where is my order A-1002")]),
    ...                     bench.pack.policy)
    >>> played.steps[0].turn["status"]
    'answered'
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from govcx.agent.agent import Agent, build_engine
from govcx.engines.engine import Engine
from govcx.errors import GovcxError
from govcx.evals import compliance
from govcx.evals.suite import Step
from govcx.governance.policy import Policy
from govcx.guardrails.guard import Guard
from govcx.knowledge.retriever import Retriever
from govcx.pack import Pack, load_pack
from govcx.settings import Settings

RetrieverFactory = Callable[[Pack, Path], Retriever]
"""Builds the (read-only) retriever once per process; gets the pack and a folder of its own."""
GuardFactory = Callable[[Policy], Guard]
"""Builds a guard for a policy (cached per ``guards`` section)."""


class CaseClock:
    """Real time plus an offset that ``advance`` steps move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass(frozen=True, kw_only=True)
class Script:
    """A conversation to play: who the customer is and the steps, in order."""

    conversation_id: str
    customer: str | None = None
    steps: Sequence[Step] = ()


@dataclass(frozen=True, kw_only=True)
class Played:
    """What one step produced."""

    index: int
    kind: str
    input: str
    turn: dict[str, Any] | None = None
    """The Turn as JSON data; None when the step raised or changed nothing."""
    approval: dict[str, Any] | None = None
    """The pending approval request the step ended with, if any."""
    error_code: str | None = None
    error: str | None = None
    latency_ms: float = 0.0
    events: frozenset[str] = frozenset()
    """Kinds of the audit events this step appended."""
    gate: dict[str, Any] | None = None
    """The policy_gate event of this step (route, rules, approval tier), if it ran."""


@dataclass(frozen=True, kw_only=True)
class PlayResult:
    steps: list[Played]
    violations: list[compliance.Violation] = field(default_factory=list)
    unauthenticated: list[dict[str, Any]] = field(default_factory=list)
    """Decisions made without a key (dev mode); flagged, not violations."""
    policy_version: str = ""
    error: str | None = None
    """An unexpected internal error that stopped the script."""


def _knowledge_retriever(pack: Pack, folder: Path) -> Retriever:
    from govcx.knowledge import KnowledgeConfig, build_retriever

    config = (
        KnowledgeConfig.model_validate(pack.config.knowledge_config)
        if pack.config.knowledge_config
        else None
    )
    return build_retriever(pack.knowledge_dir, folder, config=config)


def _default_guard(policy: Policy) -> Guard:
    from govcx.guardrails import build_guard

    return build_guard(policy.guards)


class Workbench:
    """Shared components of one pack, and fresh state dirs for each conversation.

    Args:
        pack_dir: The pack folder (None: the bundled acme pack).
        root: A folder for this workbench's state dirs (a temporary one if None).
        retriever_factory: Builds the retriever (default: the pack's knowledge base,
            indexed once under ``root``).
        guard_factory: Builds a guard for a policy (default: the real guard).
    """

    def __init__(
        self,
        pack_dir: str | Path | None = None,
        *,
        root: Path | None = None,
        retriever_factory: RetrieverFactory | None = None,
        guard_factory: GuardFactory | None = None,
    ) -> None:
        self.pack = load_pack(pack_dir)
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="govcx-eval-")) if root is None else root
        self.root.mkdir(parents=True, exist_ok=True)
        self._retriever_factory = retriever_factory or _knowledge_retriever
        self._guard_factory = guard_factory or _default_guard
        self._retriever: Retriever | None = None
        self._engines: dict[str, Engine] = {}
        self._guards: dict[str, Guard] = {}
        self._template: Path | None = None

    # -- shared components ---------------------------------------------------------------
    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            self._retriever = self._retriever_factory(self.pack, self.root / "knowledge")
        return self._retriever

    def engine(self, policy: Policy) -> Engine:
        """The engine for ``policy``, shared by every policy that trains it the same way."""
        key = json.dumps(
            {name: [wf.examples, wf.description] for name, wf in sorted(policy.workflows.items())},
            sort_keys=True,
        )
        if key not in self._engines:
            self._engines[key] = build_engine(dataclasses.replace(self.pack, policy=policy))
        return self._engines[key]

    def guard(self, policy: Policy) -> Guard:
        key = policy.guards.model_dump_json()
        if key not in self._guards:
            self._guards[key] = self._guard_factory(policy)
        return self._guards[key]

    def warm(self, policy: Policy | None = None) -> None:
        """Build the shared components now (so the first case is not slower)."""
        policy = policy or self.pack.policy
        _ = self.retriever
        self.engine(policy)
        self.guard(policy)

    def agent(
        self, state_dir: Path, policy: Policy, clock: Callable[[], float] = time.time
    ) -> Agent:
        """An Agent on a fresh state dir, always SQLite inside it (never a shared database)."""
        settings = Settings(home=state_dir, database_url="sqlite:///govcx.db", pack=None)
        return Agent(
            dataclasses.replace(self.pack, policy=policy),
            settings,
            engine=self.engine(policy),
            retriever=self.retriever,
            guard=self.guard(policy),
            clock=clock,
            adopt_pack_policy=True,  # throwaway state: the replayed policy decides
        )

    def fresh_state_dir(self) -> Path:
        """A new, empty state dir: a copy of a template whose databases already have their
        schema (copying takes ~1 ms; creating the schema ~100 ms)."""
        if self._template is None:
            template = self.root / "template"
            self.agent(template, self.pack.policy).close()
            self._template = template
        target = Path(tempfile.mkdtemp(prefix="case-", dir=self.root))
        shutil.copytree(self._template, target, dirs_exist_ok=True)
        return target

    def close(self) -> None:
        self.pack.close()  # the pack's MCP servers, shared by every agent of the bench
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- playing ---------------------------------------------------------------------------
    def play(self, script: Script, policy: Policy, *, check: bool = True) -> PlayResult:
        """Play ``script`` under ``policy`` in a new state dir, then delete it.

        With ``check``, the governance compliance of the conversation is checked from the
        stores (ledger, approvals, audit) before the state dir goes.
        """
        state_dir = self.fresh_state_dir()
        clock = CaseClock()
        agent = self.agent(state_dir, policy, clock)
        played: list[Played] = []
        violations: list[compliance.Violation] = []
        unauthenticated: list[dict[str, Any]] = []
        error = None
        try:
            seq = 0
            expected: list[compliance.StepEvents] = []
            for index, step in enumerate(script.steps):
                result = _play_step(agent, script, index, step, clock)
                events = list(
                    agent.audit.events(conversation_id=script.conversation_id, after_seq=seq)
                )
                if events:
                    seq = events[-1].seq
                gate = next((e.data for e in reversed(events) if e.kind == "policy_gate"), None)
                result = dataclasses.replace(
                    result, events=frozenset(e.kind for e in events), gate=gate
                )
                played.append(result)
                if check:
                    expected.append(
                        compliance.StepEvents(
                            index=index,
                            actual=result.events,
                            expected=compliance.expected_events(
                                step.kind,
                                result.turn,
                                decision=step.decide.decision if step.decide else None,
                            ),
                        )
                    )
            if check:
                violations = _check(agent, policy, script.conversation_id, expected)
                unauthenticated = compliance.unauthenticated_decisions(
                    agent.approvals.list(conversation_id=script.conversation_id, limit=10_000)
                )
        except Exception as exc:  # keep the run going; the case reports what broke
            error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"
        finally:
            agent.close()
            shutil.rmtree(state_dir, ignore_errors=True)
        return PlayResult(
            steps=played,
            violations=violations,
            policy_version=policy.version,
            error=error,
            unauthenticated=unauthenticated,
        )


def _play_step(agent: Agent, script: Script, index: int, step: Step, clock: CaseClock) -> Played:
    cid = script.conversation_id
    turn = None
    code = message = None
    started = time.perf_counter()
    try:
        if step.user is not None:
            turn = agent.respond(cid, step.user, customer_id=script.customer)
        elif step.decide is not None:
            pending = agent.approvals.list(status="pending", conversation_id=cid)
            if not pending:
                code, message = "no_pending_approval", "there is no pending approval to decide"
            else:
                turn = agent.decide(
                    pending[-1].approval_id,
                    principal=step.decide.as_,
                    decision=step.decide.decision,
                    args=step.decide.args,
                    comment=step.decide.comment,
                    authenticated=step.decide.authenticated,
                )
        else:
            clock.offset += step.advance_by.total_seconds()
            resumed = [t for t in agent.expire_overdue() if t.conversation_id == cid]
            turn = resumed[-1] if resumed else None
    except GovcxError as exc:
        code, message = exc.code, exc.message
    latency = (time.perf_counter() - started) * 1000
    data = turn.model_dump(mode="json") if turn is not None else None
    approval = None
    if data and data.get("status") == "pending_approval" and data.get("approval_id"):
        try:
            approval = agent.approvals.get(str(data["approval_id"])).model_dump(mode="json")
        except GovcxError:
            approval = None
    return Played(
        index=index,
        kind=step.kind,
        input=step.describe(),
        turn=data,
        approval=approval,
        error_code=code,
        error=message,
        latency_ms=latency,
    )


def _check(
    agent: Agent, policy: Policy, cid: str, steps: list[compliance.StepEvents]
) -> list[compliance.Violation]:
    events = list(agent.audit.events(conversation_id=cid))
    executions = compliance.collect_executions(agent.executor.ledger(cid), events)
    approvals = {a.approval_id: a for a in agent.approvals.list(conversation_id=cid, limit=10_000)}
    out = compliance.check_executions(
        policy, cid, executions, approvals, principals=agent.pack.principals
    )
    verify = agent.audit.verify()
    out += compliance.check_chain(verify.ok, verify.problems)
    out += compliance.check_events(steps)
    return out
