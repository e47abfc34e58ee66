"""Channel connectors mounted in the API server: ``/channels/chatwoot``, ``/channels/slack``,
``/channels/twilio`` and ``/channels/webhook``.

Each is configured under ``channels:`` in govcx.yaml (:class:`govcx.pack.ChannelsConfig`)
and acts as one of the pack's principals with the role ``channel``; its secrets come from
environment variables the configuration names. :func:`build_channels` checks all of it
when the server starts and refuses to start with a clear error otherwise. slack-sdk and
twilio are imported only when their channel is configured (``pip install govcx[channels]``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter

from govcx.api.auth import ROLE_CHANNEL
from govcx.api.channels.gateway import ChannelGateway, route_of
from govcx.api.events import Event
from govcx.api.runtime import ApiRuntime
from govcx.errors import ConfigError, GovcxError
from govcx.pack import ChannelsConfig
from govcx.store.db import Database

log = logging.getLogger("govcx.api.channels")

__all__ = ["Channels", "build_channels"]

_PACKAGES = {"slack": ("slack_sdk", "slack-sdk"), "twilio": ("twilio", "twilio")}


Relay = Callable[[str, dict[str, Any], dict[str, Any]], None]
"""A connector's ``relay(event_type, data, route)``: a case event, to the channel."""


class _Relays:
    """Event-bus subscriber: case events of conversations a connector started go back to
    that connector's channel, from one worker thread (a person's request never waits on a
    channel's API, and two quick replies arrive in the order they were written)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.by_channel: dict[str, Relay] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        if not self.by_channel or not event.type.startswith("conversation."):
            return
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="govcx-channels")
            future = self._pool.submit(self._deliver, event)
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def _deliver(self, event: Event) -> None:
        try:
            found = route_of(self.db, str(event.data.get("conversation_id") or ""))
            if found is not None and found[0] in self.by_channel:
                self.by_channel[found[0]](event.type, event.data, found[1])
        except Exception:  # a relay never fails the server; connectors audit their own
            log.exception("relaying %s to its channel failed", event.id)

    def idle(self, timeout: float = 10.0) -> bool:
        """Wait for the relays under way (tests)."""
        with self._lock:
            pending = tuple(self._pending)
        _, running = wait(pending, timeout=timeout)
        return not running

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)


@dataclass
class Channels:
    """The configured connectors: their routers, relays, and what to close on shutdown."""

    relays: _Relays
    routers: list[APIRouter] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        self.relays.close()
        for close in self.closers:
            close()


class _Resolver:
    """Reads the channel's settings and secrets, naming the field of any problem."""

    def __init__(self, runtime: ApiRuntime, environ: Mapping[str, str], where: str) -> None:
        self.runtime = runtime
        self.environ = environ
        self.where = where

    def gateway(self, channel: str, principal: str) -> ChannelGateway:
        field_name = f"channels.{channel}.principal"
        try:
            found = self.runtime.agent.pack.principal(principal)
        except GovcxError:
            channels = sorted(
                n for n, p in self.runtime.agent.pack.principals.items() if p.has(ROLE_CHANNEL)
            )
            raise ConfigError(
                self.where,
                f"unknown principal {principal!r}; principals with the role channel: "
                f"{', '.join(channels) or 'none (add one under principals:)'}",
                field=field_name,
            ) from None
        if not found.has(ROLE_CHANNEL):
            raise ConfigError(
                self.where,
                f"{found.name} does not have the role channel (it has "
                f"{', '.join(sorted(found.roles)) or 'none'}); a connector speaks for "
                "customers and must act as a channel principal",
                field=field_name,
            )
        return ChannelGateway(self.runtime, channel, found.name)

    def secret(self, channel: str, name: str, variable: str | None) -> str | None:
        if variable is None:
            return None
        value = self.environ.get(variable)
        if not value:
            raise ConfigError(
                self.where,
                f"the {channel} channel reads its secret from ${variable}, which is not "
                "set; export it before starting the server",
                field=f"channels.{channel}.{name}",
            )
        return value

    def package(self, channel: str) -> None:
        module, dist = _PACKAGES[channel]
        if importlib.util.find_spec(module) is None:
            raise ConfigError(
                self.where,
                f"the {channel} channel needs the {dist} package: pip install 'govcx[channels]'",
                field=f"channels.{channel}",
            )


def build_channels(
    runtime: ApiRuntime,
    config: ChannelsConfig,
    *,
    environ: Mapping[str, str] | None = None,
    transport: Any = None,
) -> Channels:
    """The connectors ``config`` asks for, checked and ready to mount.

    Args:
        runtime: The server's runtime: every message goes through it.
        config: ``channels:`` of govcx.yaml.
        environ: Where secrets are read (the process environment by default).
        transport: An httpx transport for Chatwoot and webhook callbacks (tests).

    Raises:
        ConfigError: an unknown principal, one without the role channel, a secret
            variable that is not set, a channel whose package is not installed.
    """
    environ = os.environ if environ is None else environ
    where = str(runtime.agent.pack.root / "govcx.yaml")
    resolve = _Resolver(runtime, environ, where)
    out = Channels(relays=_Relays(runtime.agent.db))
    relays = out.relays.by_channel
    if (cw := config.chatwoot) is not None:
        from govcx.api.channels import chatwoot

        chatwoot_connector = chatwoot.ChatwootConnector(
            resolve.gateway("chatwoot", cw.principal),
            cw,
            api_token=str(resolve.secret("chatwoot", "api_token_env", cw.api_token_env)),
            secret=resolve.secret("chatwoot", "secret_env", cw.secret_env),
            url_token=resolve.secret("chatwoot", "token_env", cw.token_env),
            transport=transport,
        )
        out.routers.append(chatwoot.router(chatwoot_connector))
        relays["chatwoot"] = chatwoot_connector.relay
        out.closers.append(chatwoot_connector.close)
    if (sl := config.slack) is not None:
        resolve.package("slack")
        from govcx.api.channels import slack

        slack_connector = slack.SlackConnector(
            resolve.gateway("slack", sl.principal),
            sl,
            signing_secret=str(
                resolve.secret("slack", "signing_secret_env", sl.signing_secret_env)
            ),
            bot_token=str(resolve.secret("slack", "bot_token_env", sl.bot_token_env)),
        )
        out.routers.append(slack.router(slack_connector))
        relays["slack"] = slack_connector.relay
    if (tw := config.twilio) is not None:
        resolve.package("twilio")
        from govcx.api.channels import twilio

        twilio_connector = twilio.TwilioConnector(
            resolve.gateway("twilio", tw.principal),
            tw,
            auth_token=str(resolve.secret("twilio", "auth_token_env", tw.auth_token_env)),
        )
        out.routers.append(twilio.router(twilio_connector))
    if (wh := config.webhook) is not None:
        from govcx.api.channels import webhook

        webhook_connector = webhook.WebhookConnector(
            resolve.gateway("webhook", wh.principal),
            wh,
            secret=str(resolve.secret("webhook", "secret_env", wh.secret_env)),
            transport=transport,
        )
        out.routers.append(webhook.router(webhook_connector))
        relays["webhook"] = webhook_connector.relay
        out.closers.append(webhook_connector.close)
    if relays:
        runtime.bus.subscribe(out.relays)
    return out
