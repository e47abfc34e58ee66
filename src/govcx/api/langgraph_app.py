"""govcx on the LangGraph server (``langgraph dev``, LangGraph Studio, langgraph-sdk).

``langgraph.json`` at the repository root points the LangGraph server at :data:`graph`
and :data:`auth`. The graph is a thin channel over the Agent facade, exactly like the
HTTP API: a run with ``{"message": ..., "customer_id": ...}`` on a thread is one
``Agent.respond`` on the govcx conversation named by the thread id, and a turn that needs
approval interrupts the LangGraph run; resuming it with ``Command(resume={"decision":
"approve" | "reject" | "edit", "args": ..., "comment": ...})`` is one ``Agent.decide``.
So the governed graph (guard, classify, gate, approvals, execution ledger, audit chain,
locks, recovery) runs inside govcx with govcx's own checkpointer and stores; nothing
about governance is re-implemented here, and the LangGraph server's thread state holds
only the Turn as stored (redacted).

Identity comes from :data:`auth`, LangGraph's custom auth: every request carries a govcx
API key (``Authorization: Bearer <key>``); the run's authenticated principal reaches the
nodes as ``config["configurable"]["langgraph_auth_user"]`` (a key the server reserves:
a client cannot set it). Messages need the role ``channel`` and act in the channel's own
conversations; decisions are checked by ``Agent.decide`` (``can_decide``), so a channel,
a tool client or an approver without authority is refused exactly as through the API.
A run without a govcx-authenticated user (no ``auth`` configured, Studio's built-in
user) is refused.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import interrupt

from govcx.agent.agent import Agent
from govcx.api.auth import KeyRing
from govcx.errors import GovcxError, Unauthenticated
from govcx.governance.principal import Principal

MARK = "govcx_key_id"
"""Set on the users :data:`auth` authenticates; a user without it (Studio's built-in
user, or a server without ``auth``) is never trusted by the nodes."""


class ThreadState(TypedDict, total=False):
    message: str
    """Input: the customer's message for this run."""
    customer_id: str | None
    """Input: the customer (fixed by the conversation's first message)."""
    turn: dict[str, Any] | None
    """The latest Turn, as govcx stores it (free text redacted)."""
    approval_id: str | None
    """The approval the thread waits for (an interrupted run)."""
    decision: dict[str, Any] | None
    """The resume value of the last decision: {decision, args?, comment?}."""
    error: dict[str, Any] | None
    """Why the last message or decision was refused: {code, message}; nothing changed."""


class _Shared:
    """One Agent and one key ring per server process, opened on first use (the server
    imports this module before it serves, and some commands only read the graph)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._agent: Agent | None = None
        self._keys: KeyRing | None = None

    def agent(self) -> Agent:
        with self._lock:
            if self._agent is None:
                from govcx.api.settings import ServerSettings

                settings = ServerSettings()
                self._agent = Agent.open(settings.pack, settings)
            return self._agent

    def keys(self) -> KeyRing:
        agent = self.agent()
        with self._lock:
            if self._keys is None:
                from govcx.governance.keys import KeyStore

                settings = agent.settings
                self._keys = KeyRing.configured(
                    api_keys=getattr(settings, "api_keys", None),
                    api_keys_file=getattr(settings, "api_keys_file", None),
                    principals=agent.pack.principals,
                    store=KeyStore(agent.db),
                )
            return self._keys


_shared = _Shared()


def _principal(config: RunnableConfig) -> Principal:
    """The pack principal of the run's authenticated user."""
    user = (config.get("configurable") or {}).get("langgraph_auth_user")
    get = getattr(user, "get", None)
    if user is None or get is None or not get(MARK):
        raise Unauthenticated(
            "this run has no govcx-authenticated user: send a govcx API key "
            "('Authorization: Bearer <key>') to a server started with langgraph.json's auth"
        )
    return _shared.agent().pack.principal(str(get("identity")))


def _refused(exc: GovcxError) -> dict[str, Any]:
    return {"error": {"code": exc.code, "message": exc.message}}


def respond(state: ThreadState, config: RunnableConfig) -> dict[str, Any]:
    """One customer message: ``Agent.respond`` as the channel that owns the thread."""
    agent = _shared.agent()
    try:
        principal = _principal(config)
        if not principal.is_channel:
            raise Unauthenticated(
                f"{principal.name} is not a channel; only channel keys send customer messages"
            )
        thread_id = str((config.get("configurable") or {}).get("thread_id"))
        turn = agent.respond(
            thread_id,
            str(state.get("message") or ""),
            customer_id=state.get("customer_id"),
            owner=principal.name,
        )
    except GovcxError as exc:
        return {**_refused(exc), "approval_id": None}
    stored = agent.at_rest(turn).model_dump(mode="json")
    waiting = turn.approval_id if turn.status == "pending_approval" else None
    return {"turn": stored, "approval_id": waiting, "error": None, "decision": None}


def after_respond(state: ThreadState) -> str:
    return "await_decision" if state.get("approval_id") else END


def await_decision(state: ThreadState) -> dict[str, Any]:
    """Wait for a person's decision (no side effects: a resumed node runs again)."""
    decision = interrupt({"approval_id": state.get("approval_id"), "turn": state.get("turn")})
    return {"decision": decision if isinstance(decision, dict) else {"decision": decision}}


def decide(state: ThreadState, config: RunnableConfig) -> dict[str, Any]:
    """``Agent.decide`` as the user who resumed the run; a refused decision changes
    nothing and the thread waits again."""
    agent = _shared.agent()
    approval_id = str(state.get("approval_id"))
    value = state.get("decision") or {}
    try:
        principal = _principal(config)
        turn = agent.decide(
            approval_id,
            principal=principal,
            decision=str(value.get("decision")),
            args=value.get("args"),
            comment=value.get("comment"),
        )
    except GovcxError as exc:
        still = _pending(agent, approval_id)
        closed = None if still else agent.conversations.get_turn(_turn_id(agent, approval_id))
        out = {**_refused(exc), "approval_id": approval_id if still else None}
        if closed is not None:
            out["turn"] = agent.at_rest(closed).model_dump(mode="json")
        return out
    stored = agent.at_rest(turn).model_dump(mode="json")
    waiting = approval_id if _pending(agent, approval_id) else None  # e.g. four-eyes
    return {"turn": stored, "approval_id": waiting, "error": None}


def _pending(agent: Agent, approval_id: str) -> bool:
    try:
        return agent.approvals.get(approval_id).status == "pending"
    except GovcxError:
        return False


def _turn_id(agent: Agent, approval_id: str) -> str:
    try:
        return agent.approvals.get(approval_id).turn_id
    except GovcxError:
        return ""


def after_decide(state: ThreadState) -> str:
    return "await_decision" if state.get("approval_id") else END


def build() -> CompiledStateGraph[Any, Any, Any, Any]:
    """The thread graph: respond → (await_decision → decide)* → END."""
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(ThreadState)
    builder.add_node("respond", respond)
    builder.add_node("await_decision", await_decision)
    builder.add_node("decide", decide)
    builder.add_edge(START, "respond")
    builder.add_conditional_edges("respond", after_respond, ["await_decision", END])
    builder.add_edge("await_decision", "decide")
    builder.add_conditional_edges("decide", after_decide, ["await_decision", END])
    return builder.compile(name="govcx")


graph = build()
"""The graph ``langgraph.json`` serves (the server adds its own checkpointer)."""


def _build_auth() -> Any:
    """LangGraph custom auth over govcx API keys (needs langgraph-sdk, which langgraph
    brings along)."""
    from langgraph_sdk import Auth

    checker = Auth()

    @checker.authenticate
    async def authenticate(authorization: str | None) -> dict[str, Any]:
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Auth.exceptions.HTTPException(
                status_code=401, detail="send a govcx API key: 'Authorization: Bearer <key>'"
            )
        try:
            keys = await asyncio.to_thread(_shared.keys)
            caller = await asyncio.to_thread(keys.authenticate, key.strip())
        except GovcxError as exc:
            raise Auth.exceptions.HTTPException(status_code=401, detail=exc.message) from None
        if caller is None:
            raise Auth.exceptions.HTTPException(status_code=401, detail="unknown API key")
        return {
            "identity": caller.name,
            "permissions": sorted(caller.principal.roles),
            "is_authenticated": True,
            MARK: caller.key_id,
        }

    def roles(ctx: Any) -> set[str]:
        return set(ctx.permissions or ())

    def is_approver(ctx: Any) -> bool:
        return any(r.startswith("approver:") for r in roles(ctx))

    @checker.on.threads.create
    async def create_thread(ctx: Any, value: Any) -> bool:
        if "channel" not in roles(ctx):
            return False
        metadata = value.setdefault("metadata", {})
        metadata["owner"] = ctx.user.identity
        return True

    @checker.on.threads
    async def threads(ctx: Any, value: Any) -> Any:
        # Channels see their own threads; approvers read and resume any (Agent.decide
        # decides whether their decision counts); nobody else.
        if "channel" in roles(ctx):
            return {"owner": ctx.user.identity}
        return is_approver(ctx)

    @checker.on.assistants.read
    async def read_assistants(ctx: Any, value: Any) -> bool:
        return True

    @checker.on.assistants.search
    async def search_assistants(ctx: Any, value: Any) -> bool:
        return True

    @checker.on
    async def deny(ctx: Any, value: Any) -> bool:
        return False  # everything not allowed above (assistants' changes, crons, store)

    return checker


auth = _build_auth()
"""The custom auth ``langgraph.json`` names (``auth.path``)."""
