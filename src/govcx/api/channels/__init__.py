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
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter

from govcx.api.auth import ROLE_CHANNEL
from govcx.api.channels.gateway import ChannelGateway
from govcx.api.runtime import ApiRuntime
from govcx.errors import ConfigError, GovcxError
from govcx.pack import ChannelsConfig

__all__ = ["Channels", "build_channels"]

_PACKAGES = {"slack": ("slack_sdk", "slack-sdk"), "twilio": ("twilio", "twilio")}


@dataclass
class Channels:
    """The configured connectors: their routers, and what to close on shutdown."""

    routers: list[APIRouter] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
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
    out = Channels()
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
        out.closers.append(webhook_connector.close)
    return out
