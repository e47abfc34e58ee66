"""govcx as an MCP server: the pack's governed tools for any MCP client.

An MCP client (an IDE assistant, another agent) lists the tools the policy tiers and a
workflow lists (:func:`govcx.governance.tool_calls.callable_tools`) and calls them. A call
is a turn of a conversation, run by :meth:`govcx.agent.agent.Agent.call_tool` through the
governed graph: the same gate, approvals, cumulative limits (counted together with chat
turns), execution ledger and audit chain as a customer message. Nothing runs ungated:

- a call the gate allows runs at once and returns the tool's result;
- a call that needs approval returns ``status: pending_approval`` with the
  ``approval_id``; a person decides it through the API, the console or the CLI, and the
  action runs exactly once then (a rejected one never runs). The client polls the tool
  ``govcx.approval_status`` for the outcome;
- arguments are validated against the tool's schema before anything runs: a malformed
  call is an MCP error (``INVALID_PARAMS``) and nothing is recorded or executed.

Every tool takes two more arguments, ``conversation_id`` and ``customer_id``: whom the call
acts for. The caller is a principal with the role ``mcp`` (authenticated by a govcx API
key: the bearer header over HTTP, ``GOVCX_API_KEY`` or ``--key-file`` over stdio); it owns
the conversations it starts, and another principal's conversation is "not found", as in
the HTTP API. An ``mcp`` principal can never decide an approval, its own calls' included.

Built on the official ``mcp`` SDK's low-level ``Server`` (not ``MCPServer``/FastMCP): the
tools are not Python functions of this module but the pack's tools, whose JSON schemas
and dispatch come from the pack and the policy at run time; the low-level server hands
``tools/list`` and ``tools/call`` to two functions, which is exactly what is needed.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from govcx.agent.agent import Agent, check_id
from govcx.api.auth import Caller, KeyRing
from govcx.api.errors import error_response
from govcx.errors import (
    Conflict,
    GovcxError,
    InvalidInput,
    NotFound,
    ToolArgumentError,
    Unauthenticated,
)
from govcx.governance.principal import Principal
from govcx.governance.tool_calls import callable_tools, workflow_for
from govcx.turn import Turn

ROLE_MCP = "mcp"
STATUS_TOOL = "govcx.approval_status"
"""The tool a client polls for the outcome of a call that waits for approval."""
ENVELOPE: dict[str, Any] = {
    "conversation_id": {
        "type": "string",
        "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
        "description": "The conversation the call acts in (created on first use, owned by "
        "the caller; one customer per conversation).",
    },
    "customer_id": {
        "type": "string",
        "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
        "description": "The customer the call acts for, e.g. C-1001.",
    },
    "idempotency_key": {
        "type": "string",
        "maxLength": 200,
        "description": "Optional: a retry with the same key returns the first outcome and "
        "runs nothing twice.",
    },
}
"""Arguments every governed tool takes besides its own (the runtime's context names,
which no pack tool may declare as an argument: ``govcx.tools.tool.CONTEXT_PARAMS``)."""
PRINCIPAL_STATE = "govcx_caller"
"""Where the HTTP wrapper leaves the authenticated caller in the request's scope state."""


def outcome(turn: Turn, tool: str) -> dict[str, Any]:
    """What a call's Turn means to the client: ``executed`` (with the result),
    ``pending_approval`` (with the approval id), ``escalated`` (a person has it now),
    or ``refused`` / ``failed`` / ``rejected`` / ``blocked`` (with the reason)."""
    action = next((a for a in turn.actions if a.tool == tool), None)
    decision = turn.decision
    status: str
    if turn.status in ("pending_approval", "escalated", "blocked"):
        status = turn.status
    elif action is not None and action.status != "pending":
        status = action.status
    else:
        status = "refused"  # the gate answered instead of acting (e.g. an invalid amount)
    error = action.error if action is not None else None
    if status == "refused" and error is None:
        error = decision.reason if decision is not None else "the gate did not run the call"
    return {
        "status": status,
        "tool": tool,
        "args": action.args if action is not None else None,
        "result": action.result if action is not None else None,
        "error": error,
        "approval_id": turn.approval_id,
        "approval_status": turn.approval_status,
        "case_id": turn.case_id,
        "conversation_id": turn.conversation_id,
        "turn_id": turn.turn_id,
        "message": turn.reply.text if turn.reply is not None else None,
        "decision": decision.model_dump(mode="json") if decision is not None else None,
    }


def _result(data: dict[str, Any], *, error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(text=json.dumps(data, ensure_ascii=False))],
        structured_content=data,
        is_error=error,
    )


def _invalid(message: str, details: dict[str, Any] | None = None) -> MCPError:
    return MCPError(types.INVALID_PARAMS, message, details or None)


@dataclass(kw_only=True)
class ToolGateway:
    """The governed tools of one Agent, as MCP tools (transport-free, synchronous)."""

    agent: Agent
    announce: Callable[[Turn], None] | None = None
    """Called with every call's Turn (the API server publishes approval requests and
    escalations from it: webhooks, the console's live queue)."""

    def tools(self) -> list[types.Tool]:
        """The callable tools with their input schemas, and the approval-status tool."""
        policy = self.agent.sync_policy()
        registry = self.agent.pack.registry
        listed = []
        for name in callable_tools(policy, registry.names()):
            spec = registry.get(name)
            schema = dict(spec.args_model.model_json_schema())
            schema.pop("title", None)
            properties = {**schema.get("properties", {}), **ENVELOPE}
            required = [*schema.get("required", []), "conversation_id", "customer_id"]
            tier = policy.tools[name].tier
            read_only = policy.is_read_only(name)
            workflow = workflow_for(policy, name)
            listed.append(
                types.Tool(
                    name=name,
                    description=(
                        f"{spec.description} Governed by govcx: tier {tier}, workflow "
                        f"{workflow} (autonomy {policy.autonomy_of(str(workflow))}). "
                        + (
                            "Runs at once."
                            if read_only
                            else "May return status pending_approval with an approval_id "
                            f"instead of running; poll {STATUS_TOOL}."
                        )
                    ),
                    input_schema={
                        **schema,
                        "type": "object",
                        "properties": properties,
                        "required": required,
                        "additionalProperties": False,
                    },
                    annotations=types.ToolAnnotations(
                        read_only_hint=read_only, destructive_hint=not read_only
                    ),
                )
            )
        listed.append(
            types.Tool(
                name=STATUS_TOOL,
                description="The status of an approval a governed call is waiting for, and "
                "once decided, the call's outcome (executed with its result, rejected, "
                "failed, expired). Only approvals of the caller's own conversations.",
                input_schema={
                    "type": "object",
                    "properties": {"approval_id": {"type": "string"}},
                    "required": ["approval_id"],
                    "additionalProperties": False,
                },
                annotations=types.ToolAnnotations(read_only_hint=True),
            )
        )
        return listed

    def call(self, principal: Principal, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Run one call for ``principal``; returns the structured outcome.

        Raises MCPError (INVALID_PARAMS) for an unknown tool, malformed arguments, an id
        that is not valid, or a conversation the caller does not own: nothing ran then.
        """
        if not principal.has(ROLE_MCP):
            raise MCPError(
                types.INVALID_REQUEST,
                f"{principal.name} may not call governed tools: it needs the role mcp",
            )
        if name == STATUS_TOOL:
            return self.approval_status(principal, arguments)
        args = dict(arguments)
        conversation_id = args.pop("conversation_id", None)
        customer_id = args.pop("customer_id", None)
        key = args.pop("idempotency_key", None)
        missing = [
            field
            for field, value in (("conversation_id", conversation_id), ("customer_id", customer_id))
            if not isinstance(value, str) or not value
        ]
        if missing:
            raise _invalid(
                f"{name}: {' and '.join(missing)} must be given: every governed call acts "
                "for one customer in one conversation of the caller",
                {"missing": missing},
            )
        if key is not None and (not isinstance(key, str) or not 0 < len(key) <= 200):
            raise _invalid("idempotency_key must be a string of 1-200 characters")
        try:
            turn = self.agent.call_tool(
                str(conversation_id),
                name,
                args,
                customer_id=str(customer_id),
                principal=principal,
                idempotency_key=key,
            )
        except (ToolArgumentError, InvalidInput, NotFound, Conflict) as exc:
            raise _invalid(exc.message, {"code": exc.code, **exc.details}) from None
        if self.announce is not None:
            self.announce(turn)
        return outcome(turn, name)

    def approval_status(self, principal: Principal, arguments: dict[str, Any]) -> dict[str, Any]:
        """The approval and, once it is closed, the outcome of the call it held."""
        approval_id = arguments.get("approval_id")
        if set(arguments) != {"approval_id"} or not isinstance(approval_id, str):
            raise _invalid(f"{STATUS_TOOL} takes exactly one argument, approval_id (a string)")
        try:
            check_id("approval_id", approval_id)
            request = self.agent.approvals.get(approval_id)
            # Another principal's approval reads as one that does not exist.
            self.agent.conversations.check_owner(request.conversation_id, principal.name)
        except (InvalidInput, NotFound):
            raise _invalid(f"no approval with id {approval_id!r}") from None
        data: dict[str, Any] = {
            "approval_id": request.approval_id,
            "status": request.status,
            "tool": request.tool,
            "args": request.args,
            "conversation_id": request.conversation_id,
            "approvals_needed": request.approvals_needed,
            "decisions": [
                {"principal": d.principal, "decision": d.decision} for d in request.decisions
            ],
            "outcome": None,
        }
        if request.status != "pending" and request.tool:
            turn = self.agent.conversations.get_turn(request.turn_id)
            if turn is not None:
                data["outcome"] = outcome(turn, request.tool)
        return data


def build_server(gateway: ToolGateway, principal_of: Callable[[Any], Principal]) -> Server[Any]:
    """The MCP server; ``principal_of(ctx)`` names the authenticated caller of a request
    (fixed for stdio, the bearer key's over HTTP)."""

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        tools = await anyio.to_thread.run_sync(gateway.tools)
        return types.ListToolsResult(tools=tools)

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        principal = principal_of(ctx)
        arguments = dict(params.arguments or {})
        try:
            data = await anyio.to_thread.run_sync(gateway.call, principal, params.name, arguments)
        except MCPError:
            raise
        except GovcxError as exc:  # e.g. the conversation is busy past the lock timeout
            return _result({"status": "error", "error": exc.message, "code": exc.code}, error=True)
        failed = data.get("status") in ("refused", "failed", "rejected", "blocked")
        return _result(data, error=failed)

    return Server(
        "govcx",
        version=_version(),
        instructions=(
            "Governed customer-support tools. Every call acts for one customer "
            "(customer_id) in one conversation (conversation_id) and goes through govcx's "
            "policy gate: it runs, or returns status pending_approval with an approval_id "
            f"that a person decides; poll {STATUS_TOOL} for the outcome."
        ),
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def _version() -> str:
    from govcx.api.schemas import package_version

    return package_version()


# -- stdio ---------------------------------------------------------------------------------
def stdio_principal(keys: KeyRing, key: str | None) -> Principal:
    """The principal of the stdio client's key, which must hold the role ``mcp``."""
    if key is None:
        raise Unauthenticated(
            "govcx mcp serve needs an API key of a principal with the role mcp: create one "
            "with `govcx keys create NAME`, then `export GOVCX_API_KEY=gcx_...` or pass "
            "--key-file FILE"
        )
    caller = keys.authenticate(key)
    if caller is None:
        raise Unauthenticated("the API key is unknown, revoked or malformed")
    _require_mcp(caller)
    return caller.principal


def _require_mcp(caller: Caller) -> None:
    if not caller.has(ROLE_MCP):
        held = ", ".join(sorted(caller.principal.roles)) or "no roles"
        raise Unauthenticated(
            f"{caller.name} may not call governed tools: it needs the role mcp and has {held} "
            "(give a principal `roles: [mcp]` in govcx.yaml and use its key)"
        )


async def serve_stdio(gateway: ToolGateway, principal: Principal) -> None:
    """Serve one MCP client on this process's stdin/stdout until it closes."""
    from mcp.server.stdio import stdio_server

    server = build_server(gateway, lambda _ctx: principal)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


# -- streamable HTTP -----------------------------------------------------------------------
class McpEndpoint:
    """The streamable-HTTP MCP endpoint as an ASGI app: every request authenticated with
    a govcx key (bearer) of a principal with the role ``mcp``.

    Stateless: each POST is handled on its own, as its own key's principal, so a session
    id cannot carry one principal's identity into another's requests. JSON responses
    (no server push): a client polls ``govcx.approval_status``. No DNS-rebinding check:
    every request must carry a bearer key, which a browser never adds on its own.
    """

    def __init__(self, gateway: ToolGateway, keys: KeyRing) -> None:
        self.gateway = gateway
        self.keys = keys
        server = build_server(gateway, _caller_principal)
        self.sessions = StreamableHTTPSessionManager(
            app=server,
            stateless=True,
            json_response=True,
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self._app: ASGIApp = self.sessions.handle_request

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the session manager (in the server's lifespan)."""
        async with self.sessions.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        challenge = {"WWW-Authenticate": "Bearer"}
        header = Headers(scope=scope).get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            response = error_response(
                401,
                "unauthorized",
                "missing API key; send the header 'Authorization: Bearer <key>'",
                headers=challenge,
            )
            await response(scope, receive, send)
            return
        caller = await run_in_threadpool(self.keys.authenticate, token.strip())
        if caller is None:
            await error_response(401, "unauthorized", "unknown API key", headers=challenge)(
                scope, receive, send
            )
            return
        try:
            _require_mcp(caller)
        except Unauthenticated as exc:
            await error_response(
                403, "forbidden", exc.message, {"principal": caller.name, "needs": [ROLE_MCP]}
            )(scope, receive, send)
            return
        scope.setdefault("state", {})[PRINCIPAL_STATE] = caller.principal
        await self._app(scope, receive, send)


def _caller_principal(ctx: Any) -> Principal:
    request = getattr(ctx, "request", None)
    state = getattr(request, "scope", {}).get("state", {}) if request is not None else {}
    principal = state.get(PRINCIPAL_STATE)
    if not isinstance(principal, Principal):  # never reached behind McpEndpoint
        raise MCPError(types.INVALID_REQUEST, "unauthenticated request")
    return principal
