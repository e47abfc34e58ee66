"""The FastAPI app factory.

Example:
    >>> from govcx.api import create_app
    >>> from govcx.settings import Settings
    >>> app = create_app(Settings(api_keys="k3y-for-the-web-chat-01:web-chat"))  # doctest: +SKIP
    >>> import uvicorn; uvicorn.run(app)                                          # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from govcx.agent.agent import Agent
from govcx.api.auth import KeyRing, dev_keys
from govcx.api.channels import build_channels
from govcx.api.errors import ApiError, error_response, install_error_handlers
from govcx.api.events import EventBus
from govcx.api.impacts import ImpactReport
from govcx.api.mcp_server import McpEndpoint, ToolGateway
from govcx.api.metrics import Metrics
from govcx.api.routers import (
    approvals,
    audit,
    cases,
    console,
    conversations,
    docs,
    policy,
    proposals,
    report,
    system,
)
from govcx.api.runtime import ApiRuntime
from govcx.api.schemas import package_version
from govcx.api.settings import ServerSettings
from govcx.api.tracing import Tracing
from govcx.api.webhooks import WebhookDispatcher, resolve_secrets
from govcx.governance.keys import KeyStore
from govcx.governance.policy import parse_duration
from govcx.settings import Settings

log = logging.getLogger("govcx.api")

DESCRIPTION = """\
The HTTP API of govcx, a governed agent runtime for customer support.

Channels post customer messages and get a **Turn** back (answered, pending approval,
escalated or blocked). Approvers work the approval queue (also in the browser at
[/console](/console)). Auditors read and verify the hash-chained audit log; admins change
the policy.

**Auth**: `Authorization: Bearer <key>`; each key maps to a principal of the pack and its
roles (`channel`, `approver:<role>`, `auditor`, `admin`). Keys are created with
`govcx keys create NAME` (stored hashed, revocable with `govcx keys revoke KEY_ID`).

**Errors**: every 4xx and 5xx is `{"error": {"code", "message", "details"}}`.
"""

TAGS = [
    {"name": "conversations", "description": "Customer conversations (channel keys)."},
    {"name": "approvals", "description": "The approval queue (approver keys)."},
    {
        "name": "cases",
        "description": "Escalated conversations in team queues: claim, reply, hand back, "
        "resolve (agent keys).",
    },
    {"name": "audit", "description": "The audit log (auditor keys)."},
    {"name": "policy", "description": "The governance policy (admin keys change it)."},
    {
        "name": "report",
        "description": "Operations figures and suggested policy changes (auditor keys).",
    },
    {"name": "webhooks", "description": "Signed event deliveries to the pack's webhooks."},
    {
        "name": "channels",
        "description": "Channel connectors (Chatwoot, Slack, Twilio, generic webhook): "
        "verified with the channel's own signature, not an API key.",
    },
    {"name": "system", "description": "Health, metrics, identity."},
]


class _Edge:
    """Pure ASGI middleware: body size limit, security headers, request metrics."""

    def __init__(self, app: ASGIApp, *, max_body: int, metrics: Metrics) -> None:
        self.app = app
        self.max_body = max_body
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            response = error_response(
                413,
                "payload_too_large",
                f"the request body is larger than {self.max_body} bytes",
                {"limit": self.max_body},
            )
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise ApiError(
                        413,
                        "payload_too_large",
                        f"the request body is larger than {self.max_body} bytes",
                        details={"limit": self.max_body},
                    )
            return message

        console = scope["path"].startswith("/console")

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                if console:
                    extra += [
                        (b"x-frame-options", b"DENY"),
                        (
                            b"content-security-policy",
                            b"default-src 'self'; img-src 'self' data:; "
                            b"frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
                        ),
                    ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_http(scope["method"], path, status, time.perf_counter() - started)


def create_app(
    settings: Settings | None = None,
    agent: Agent | None = None,
    *,
    webhook_transport: Any = None,
    span_exporter: Any = None,
    impact: ImpactReport | None = None,
    channel_transport: Any = None,
) -> FastAPI:
    """Build the API app around ``agent`` (or an Agent opened from ``settings``).

    Args:
        settings: Core settings or :class:`ServerSettings` (dev mode, expiry interval,
            OTLP endpoint, webhook retries...). Keys come from ``api_keys`` /
            ``api_keys_file``, or from local dev keys when ``dev`` is set.
        agent: An already built Agent; the app does not close it. Without one, the app
            opens ``Agent.open(settings.pack, settings)`` and closes it on shutdown.
        webhook_transport: An httpx transport for webhook deliveries (tests).
        span_exporter: An OpenTelemetry span exporter (tests); turns tracing on.
        impact: Computes the impact report of a policy proposal
            (``govcx.evals.impact.impact_report``, which ``govcx serve`` passes; the API
            layer does not import the evals). The server computes reports in the
            background (``govcx.api.impacts``). Without it proposals carry no report.
        channel_transport: An httpx transport for the Chatwoot connector and webhook
            connector callbacks (tests).

    Raises:
        ConfigError: no API keys (and not dev mode), a key for an unknown principal, a
            webhook secret variable that is not set, a channel connector that is
            misconfigured (govcx.api.channels).
    """
    server = ServerSettings.of(settings)
    owns_agent = agent is None
    if agent is None:
        agent = Agent.open(server.pack, server)
    try:
        keys = KeyRing.configured(
            api_keys=server.api_keys,
            api_keys_file=server.api_keys_file,
            principals=agent.pack.principals,
            dev_keys=dev_keys(agent.state_dir, agent.pack.principals) if server.dev else None,
            store=KeyStore(agent.db),
        )
        hooks = agent.pack.config.webhooks
        secrets = resolve_secrets(hooks)
    except Exception:
        if owns_agent:
            agent.close()
        raise
    metrics = Metrics(agent.db, agent.clock)
    bus = EventBus()
    webhooks = WebhookDispatcher(
        agent.db,
        hooks,
        secrets=secrets,
        settings=server,
        metrics=metrics,
        transport=webhook_transport,
        redact=agent.guard.redact,
    )
    bus.subscribe(webhooks.emit)
    tracing = Tracing.create(
        server.otlp_endpoint, service_name=f"govcx-{agent.pack.name}", exporter=span_exporter
    )
    runtime = ApiRuntime(
        agent, server, keys, metrics=metrics, bus=bus, webhooks=webhooks, tracing=tracing
    )
    runtime.use_impact(impact)
    try:
        channels = build_channels(runtime, agent.pack.config.channels, transport=channel_transport)
    except Exception:
        runtime.close()
        if owns_agent:
            agent.close()
        raise

    prune_age = parse_duration(server.prune_older_than).total_seconds()
    tools_endpoint = McpEndpoint(ToolGateway(agent=agent, announce=runtime.announce_turn), keys)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(runtime.policies.sync)
        await run_in_threadpool(runtime.recover)
        webhooks.start()
        if runtime.impacts is not None:  # reports left pending by a stopped server
            await run_in_threadpool(runtime.impacts.sweep)
        sweeper = (
            asyncio.create_task(_sweep(runtime, server.expiry_interval))
            if server.expiry_interval > 0
            else None
        )
        pruner = (
            asyncio.create_task(_prune(agent, server.prune_interval, prune_age))
            if server.prune_interval > 0
            else None
        )
        try:
            async with tools_endpoint.running():
                yield
        finally:
            for task in (sweeper, pruner):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await run_in_threadpool(runtime.close)
            channels.close()
            if owns_agent:
                agent.close()

    app = FastAPI(
        title="govcx",
        version=package_version(),
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.runtime = runtime
    app.state.channels = channels
    install_error_handlers(app)
    for module in (
        conversations,
        approvals,
        cases,
        audit,
        policy,
        proposals,
        report,
        system,
        console,
        docs,
    ):
        app.include_router(module.router)
    # govcx's governed tools for MCP clients (streamable HTTP; keys of role mcp).
    app.router.routes.append(
        Route("/mcp", endpoint=tools_endpoint, methods=["GET", "POST", "DELETE"])
    )
    for channel_router in channels.routers:
        app.include_router(channel_router)
    app.add_middleware(_Edge, max_body=server.max_body_bytes, metrics=metrics)
    return app


async def _sweep(runtime: ApiRuntime, interval: float) -> None:
    """Expire overdue approvals, record missed SLA deadlines of cases, pick up policy
    changes of other workers, and queue the impact reports that are due (pending, or
    claimed by a worker that died)."""
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(runtime.policies.sync)
            turns = await run_in_threadpool(runtime.expire_overdue)
            if turns:
                log.info("expired %d overdue approval(s)", len(turns))
            breaches = await run_in_threadpool(runtime.breach_sla)
            if breaches:
                log.info("%d SLA deadline(s) missed", len(breaches))
            if runtime.impacts is not None:
                await run_in_threadpool(runtime.impacts.sweep)
        except Exception:  # keep sweeping; the next round retries
            log.exception("expiry sweep failed")


async def _prune(agent: Agent, interval: float, older_than: float) -> None:
    """Retention: delete checkpoints of long-idle conversations (audit and approvals stay)."""
    while True:
        await asyncio.sleep(interval)
        try:
            pruned = await run_in_threadpool(agent.prune, older_than=older_than)
            if pruned:
                log.info("pruned checkpoints of %d conversation(s)", len(pruned))
        except Exception:  # keep going; the next round retries
            log.exception("retention run failed")


def app_from_env(impact: ImpactReport | None = None) -> FastAPI:
    """Factory for ``uvicorn --factory`` and ``govcx serve --workers N``: settings from
    the environment."""
    os.umask(0o077)  # a server entry point: owner-only files, see govcx.cli.main.main
    return create_app(ServerSettings(), impact=impact)
