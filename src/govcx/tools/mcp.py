"""MCP servers of a pack: discovery and calls, with the official ``mcp`` SDK.

The SDK is async and its transports (a stdio child process, a streamable HTTP session)
live in anyio task groups that must be entered and left by the same task. govcx's turn
runs synchronously (the graph and the executor are sync, in a worker thread of the API
or in the CLI), so :class:`McpConnections` owns one event loop on one daemon thread; each
server is one long-lived task on it that enters the SDK ``Client`` and holds it until
:meth:`McpConnections.close`. A tool call from any thread is a coroutine submitted to
that loop and waited for with a deadline: a slow server is a time-out, a dead one a
disconnect, both :class:`~govcx.errors.RemoteToolError`, never a hang.

A server that went away is reconnected on the next call, and its tool's schema is
compared again with the one discovered at load (the reviewed one): a server that comes
back with another schema is refused until the pack is reloaded and re-reviewed.

``close()`` ends every server task, which stops stdio processes (the SDK terminates them)
and HTTP sessions; the agent calls it when it closes, and ``atexit`` as a last resort.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import json
import logging
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from govcx.errors import RemoteToolError
from govcx.tools.remote import RemoteTool

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
"""Seconds a tool call may take unless the pack sets ``timeout:`` for the server."""
DEFAULT_CONNECT_TIMEOUT = 20.0
_CLOSE_TIMEOUT = 10.0


@dataclass(frozen=True, kw_only=True)
class McpServer:
    """How to reach one MCP server (from govcx.yaml ``mcp_servers``)."""

    name: str
    command: tuple[str, ...] = ()
    """stdio: the command line, run in ``cwd`` (the pack folder)."""
    cwd: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    url: str | None = None
    """streamable HTTP: the endpoint."""
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    replies: Mapping[str, str] = field(default_factory=dict)
    """Reply templates by tool name (see ``ToolSpec.reply``)."""

    @property
    def label(self) -> str:
        return f"MCP server {self.name}"


class _Link:
    """One server's live connection: the task that holds the SDK client open."""

    def __init__(self, server: McpServer) -> None:
        self.server = server
        self.client: Any = None
        self.task: asyncio.Task[None] | None = None
        self.stop: asyncio.Event | None = None
        self.error: BaseException | None = None
        self.broken = False
        """A call found the connection gone: the next call reconnects."""

    @property
    def alive(self) -> bool:
        return (
            not self.broken
            and self.client is not None
            and self.task is not None
            and not self.task.done()
        )


class McpConnections:
    """The MCP servers of one pack, on one private event loop thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="govcx-mcp", daemon=True
        )
        self._thread.start()
        self._links: dict[str, _Link] = {}
        self._schemas: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        self._closed = False
        _open.add(self)

    # -- discovery ---------------------------------------------------------------------

    def connect(self, server: McpServer) -> list[RemoteTool]:
        """Start ``server`` and list its tools (named ``<server>.<tool>``).

        Raises:
            RemoteToolError: the server cannot be started or reached, or listing failed.
        """
        link = _Link(server)
        with self._lock:
            self._links[server.name] = link
        self._submit(self._open(link), server.connect_timeout, server, "start")
        listed = self._submit(self._list(link), server.connect_timeout, server, "list tools")
        tools: list[RemoteTool] = []
        for item in listed:
            tool = RemoteTool(
                name=f"{server.name}.{item.name}",
                source=f"mcp:{server.name}",
                remote_name=item.name,
                description=(item.description or "").strip(),
                input_schema=dict(item.input_schema or {}),
            )
            self._schemas[(server.name, item.name)] = tool.digest
            tools.append(tool)
        return tools

    # -- calls ----------------------------------------------------------------------------

    def call(self, server_name: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        """Call ``tool`` on ``server_name`` and return its result as a JSON object.

        Raises:
            RemoteToolError: the server failed, timed out or disconnected (the message is
                govcx's, for the customer; the server's own text is logged).
        """
        link = self._links.get(server_name)
        if link is None or self._closed:
            raise RemoteToolError(f"MCP server {server_name}", "closed", "the connection is closed")
        server = link.server
        if not link.alive:
            self._reconnect(link, tool)
        try:
            result = self._submit(
                link.client.call_tool(tool, args, read_timeout_seconds=server.timeout),
                server.timeout + 5.0,
                server,
                f"call {tool}",
            )
        except RemoteToolError as exc:
            if exc.kind == "disconnected":
                link.broken = True
            raise
        if result.is_error:
            text = _text(result.content)
            log.warning("%s: tool %s returned an error: %s", server.label, tool, text[:500])
            raise RemoteToolError(server.label, "error", text[:500])
        if isinstance(result.structured_content, dict):
            return dict(result.structured_content)
        text = _text(result.content)
        try:
            parsed = json.loads(text)
        except ValueError:
            return {"text": text}
        return parsed if isinstance(parsed, dict) else {"value": parsed}

    def _reconnect(self, link: _Link, tool: str) -> None:
        server = link.server
        log.warning("%s is disconnected (%s); reconnecting", server.label, link.error)
        self._submit(self._close_link(link), _CLOSE_TIMEOUT, server, "stop")
        self._submit(self._open(link), server.connect_timeout, server, "reconnect")
        listed = self._submit(self._list(link), server.connect_timeout, server, "list tools")
        for item in listed:
            if item.name != tool:
                continue
            now = RemoteTool(
                name=f"{server.name}.{item.name}",
                source=f"mcp:{server.name}",
                remote_name=item.name,
                description=(item.description or "").strip(),
                input_schema=dict(item.input_schema or {}),
            ).digest
            if now == self._schemas.get((server.name, tool)):
                return
        raise RemoteToolError(
            server.label,
            "changed",
            f"after reconnecting, {tool} is gone or has another schema than the reviewed one",
        )

    # -- the loop side -------------------------------------------------------------------

    async def _open(self, link: _Link) -> None:
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        link.stop = asyncio.Event()
        link.error = None
        link.broken = False
        link.task = asyncio.get_running_loop().create_task(self._hold(link, ready))
        await ready

    async def _hold(self, link: _Link, ready: asyncio.Future[None]) -> None:
        """Enter the SDK client, publish it, and keep it open until told to stop."""
        from mcp import Client  # imported here: packs without MCP servers never load the SDK

        server = link.server
        try:
            async with Client(_transport(server), read_timeout_seconds=server.timeout) as client:
                link.client = client
                if not ready.done():
                    ready.set_result(None)
                assert link.stop is not None
                await link.stop.wait()
        except BaseException as exc:  # the SDK raises groups, OSError, MCPError...
            link.error = exc
            if not ready.done():
                ready.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
                raise
        finally:
            link.client = None

    async def _list(self, link: _Link) -> list[Any]:
        items: list[Any] = []
        cursor: str | None = None
        while True:
            page = await link.client.list_tools(cursor=cursor)
            items += list(page.tools)
            cursor = page.next_cursor
            if not cursor:
                return items

    async def _close_link(self, link: _Link) -> None:
        if link.stop is not None:
            link.stop.set()
        if link.task is not None and not link.task.done():
            try:
                await asyncio.wait_for(asyncio.shield(link.task), _CLOSE_TIMEOUT)
            except (TimeoutError, Exception):
                link.task.cancel()

    def _submit(self, coro: Any, timeout: float, server: McpServer, what: str) -> Any:
        """Run ``coro`` on the loop and wait at most ``timeout`` seconds for it."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise RemoteToolError(
                server.label, "timeout", f"no answer to {what} within {timeout:g}s"
            ) from None
        except RemoteToolError:
            raise
        except Exception as exc:
            detail = _describe(exc)
            kind = "timeout" if "timed out" in detail else _kind(exc, detail)
            log.warning("%s: %s failed: %s", server.label, what, detail)
            raise RemoteToolError(server.label, kind, f"{what}: {detail}") from None

    # -- shutdown ------------------------------------------------------------------------

    def close(self) -> None:
        """Stop every server (stdio processes end) and the loop thread. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            links = list(self._links.values())
        for link in links:
            try:
                asyncio.run_coroutine_threadsafe(self._close_link(link), self._loop).result(
                    _CLOSE_TIMEOUT + 2
                )
            except Exception as exc:  # closing must go on for the other servers
                log.warning("%s did not stop cleanly: %s", link.server.label, exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_CLOSE_TIMEOUT)
        if not self._thread.is_alive():
            self._loop.close()
        _open.discard(self)


def _transport(server: McpServer) -> Any:
    if server.url is not None:
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        http = httpx2.AsyncClient(
            headers=dict(server.headers),
            timeout=httpx2.Timeout(server.connect_timeout, read=server.timeout + 5.0),
        )
        return streamable_http_client(server.url, http_client=http)
    from mcp.client.stdio import StdioServerParameters

    return StdioServerParameters(
        command=server.command[0],
        args=list(server.command[1:]),
        cwd=str(server.cwd) if server.cwd else None,
        env=dict(server.env) or None,
    )


def _text(content: Any) -> str:
    return "\n".join(str(getattr(part, "text", "")) for part in content or ()).strip()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _describe(exc.exceptions[0])
    text = str(exc) or type(exc).__name__
    return text[:300]


def _kind(exc: BaseException, detail: str) -> str:
    if isinstance(exc, OSError) or "closed" in detail.lower() or "connect" in detail.lower():
        return "disconnected"
    return "error"


_open: weakref.WeakSet[McpConnections] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:  # a CLI run that never closed its pack still stops its servers
    for connections in list(_open):
        connections.close()
