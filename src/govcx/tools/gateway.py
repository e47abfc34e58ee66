"""The tool gateway: a pack's MCP servers and OpenAPI services, reviewed, as ToolSpecs.

:func:`open_gateway` connects to every source, discovers its tools and compares each with
``tools.lock`` (:mod:`govcx.tools.review`). A reviewed tool becomes a ToolSpec in the
pack's registry and from then on is a tool like any other: the policy gate, approvals,
limits, the executor's ledger and the audit treat it exactly as a native one (the policy
must still give it a tier, and a workflow list it, before an engine is offered it). A
tool that is unreviewed, changed since review or missing is *disabled*: it stays out of
the registry, so it is never offered and a proposal naming it is refused; the reason is in
:attr:`Gateway.disabled` for ``govcx tools list`` and the policy check.

A source that cannot be reached at load disables its tools (the pack still loads: the
rest of the agent works, and ``govcx tools list`` says why).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from govcx.errors import ConfigError, GovcxError
from govcx.tools.mcp import McpConnections, McpServer
from govcx.tools.openapi import OpenApiClient, OpenApiService
from govcx.tools.remote import RemoteTool, SchemaProblem, make_remote_spec
from govcx.tools.review import Reviewed, ReviewState, read_lock, state_of
from govcx.tools.tool import ToolSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class CatalogEntry:
    """One remote tool as ``govcx tools list`` shows it."""

    tool: RemoteTool
    state: ReviewState
    changes: tuple[str, ...] = ()


@dataclass(kw_only=True)
class Gateway:
    """The remote tools of one pack and the connections that call them."""

    lock_path: Path
    entries: list[CatalogEntry] = field(default_factory=list)
    specs: list[ToolSpec] = field(default_factory=list)
    disabled: dict[str, str] = field(default_factory=dict)
    """Tool name -> why it cannot run (unreviewed, changed, missing)."""
    unavailable: dict[str, str] = field(default_factory=dict)
    """Source name (``crm``) -> why it could not be reached at load."""
    locked: dict[str, Reviewed] = field(default_factory=dict)
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def why_disabled(self, name: str) -> str | None:
        """Why the remote tool ``name`` cannot run, or None if it is no disabled remote tool
        (a tool under an unreachable source counts as disabled)."""
        if name in self.disabled:
            return self.disabled[name]
        source = name.split(".", 1)[0]
        if "." in name and source in self.unavailable:
            return f"{source} was unavailable at load: {self.unavailable[source]}"
        return None

    def close(self) -> None:
        """Stop stdio servers, HTTP sessions and clients. Idempotent."""
        closers, self._closers = self._closers, []
        for close in closers:
            try:
                close()
            except Exception as exc:  # keep closing the others
                log.warning("closing a tool source failed: %s", exc)


def open_gateway(
    *,
    mcp_servers: Sequence[McpServer],
    openapi: Sequence[OpenApiService],
    lock_path: Path,
) -> Gateway:
    """Connect to every source, discover and check its tools.

    Raises:
        ConfigError: an OpenAPI document or a ``tools.lock`` that cannot be read, an
            operation that is not in its document.
    """
    gateway = Gateway(lock_path=lock_path, locked=read_lock(lock_path))
    try:
        discovered: list[tuple[RemoteTool, Callable[[dict[str, Any]], Any]]] = []
        replies: dict[str, str] = {}
        if mcp_servers:
            connections = McpConnections()
            gateway._closers.append(connections.close)
            for server in mcp_servers:
                try:
                    found = connections.connect(server)
                except GovcxError as exc:
                    detail = exc.details.get("detail", exc.message)
                    gateway.unavailable[server.name] = str(detail)
                    log.warning("%s is unavailable: %s", server.label, detail)
                    continue
                for tool in found:
                    discovered.append((tool, _mcp_call(connections, server.name, tool)))
                replies.update({f"{server.name}.{t}": r for t, r in server.replies.items()})
        for service in openapi:
            client = OpenApiClient(service)
            gateway._closers.append(client.close)
            for tool in client.tools():
                discovered.append((tool, _openapi_call(client, tool.remote_name)))
            replies.update({f"{service.name}.{t}": r for t, r in service.replies.items()})
        _check(gateway, discovered, replies)
    except BaseException:
        gateway.close()
        raise
    return gateway


def _check(
    gateway: Gateway,
    discovered: list[tuple[RemoteTool, Callable[[dict[str, Any]], Any]]],
    replies: dict[str, str],
) -> None:
    seen: set[str] = set()
    for tool, call in discovered:
        if tool.name in seen:
            raise ConfigError(str(gateway.lock_path), f"two tools are named {tool.name}")
        seen.add(tool.name)
        state, changes = state_of(tool, gateway.locked.get(tool.name))
        if state == "reviewed":
            try:
                gateway.specs.append(make_remote_spec(tool, call, reply=replies.get(tool.name)))
            except SchemaProblem as exc:
                state, changes = "unavailable", [f"its schema cannot be enforced: {exc}"]
        gateway.entries.append(CatalogEntry(tool=tool, state=state, changes=tuple(changes)))
        if state != "reviewed":
            gateway.disabled[tool.name] = f"{state}: {'; '.join(changes)}"
    for name, entry in gateway.locked.items():
        source = entry.source.split(":", 1)[-1]
        if name not in seen and source not in gateway.unavailable:
            gateway.disabled[name] = "missing: its source no longer offers it"


def _mcp_call(
    connections: McpConnections, server: str, tool: RemoteTool
) -> Callable[[dict[str, Any]], Any]:
    def call(args: dict[str, Any]) -> Any:
        return connections.call(server, tool.remote_name, args)

    return call


def _openapi_call(client: OpenApiClient, op_id: str) -> Callable[[dict[str, Any]], Any]:
    def call(args: dict[str, Any]) -> Any:
        return client.call(op_id, args)

    return call
