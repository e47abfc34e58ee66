"""Slack: the Events API in, ``chat.postMessage`` in the message's thread out.

Every request is verified with the app's signing secret (v0 HMAC over
``v0:<timestamp>:<body>``, slack-sdk's ``SignatureVerifier``) and refused when its
``X-Slack-Request-Timestamp`` is more than five minutes off. Slack wants an answer within
three seconds and retries otherwise (``X-Slack-Retry-Num``), so the connector answers 200
at once and runs the message after the response; a retried event (same ``event_id``) or
the same message delivered twice (``message`` and ``app_mention``) runs once.

A thread (channel + ``thread_ts``, or the message's own ``ts`` for a new one) is one govcx
conversation, and a direct message (``channel_type: im``) outside a thread is the whole DM:
replies go to the DM itself, not into a thread per message. The Slack user is the customer
(``slack:<team>:<user>``). Messages of bots (this one included) and edits are ignored. On
hand-off the bot posts the hand-off reply in the thread and stays silent while a person
has the conversation.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from govcx.api.channels.gateway import ChannelGateway, external_id
from govcx.api.errors import ApiError
from govcx.governance.cases import HUMAN_REPLY
from govcx.pack import SlackChannelConfig

MAX_AGE = 300
"""Seconds a request's timestamp may be off (Slack's recommendation)."""
_MENTION = re.compile(r"<@[A-Z0-9]+>\s*")


class SlackConnector:
    def __init__(
        self,
        gateway: ChannelGateway,
        config: SlackChannelConfig,
        *,
        signing_secret: str,
        bot_token: str,
    ) -> None:
        from slack_sdk import WebClient
        from slack_sdk.signature import SignatureVerifier

        self.gateway = gateway
        self.config = config
        self.verifier = SignatureVerifier(signing_secret)
        self.client = WebClient(
            token=bot_token, base_url=config.base_url, timeout=int(max(1, config.timeout))
        )

    def verify(self, body: bytes, headers: Any) -> None:
        timestamp = headers.get("x-slack-request-timestamp", "")
        signature = headers.get("x-slack-signature", "")
        if not timestamp or not signature:
            raise ApiError(
                401,
                "unauthorized",
                "missing X-Slack-Signature or X-Slack-Request-Timestamp",
            )
        try:
            age = abs(time.time() - int(timestamp))
        except ValueError:
            raise ApiError(
                401, "unauthorized", "X-Slack-Request-Timestamp is not a number"
            ) from None
        if age > MAX_AGE:
            raise ApiError(
                401,
                "stale_request",
                f"X-Slack-Request-Timestamp is {int(age)} s old; at most {MAX_AGE} s is "
                "accepted (a replayed request, or the server's clock is off)",
            )
        if not self.verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
            raise ApiError(401, "unauthorized", "X-Slack-Signature does not match the body")

    async def receive(self, request: Request, background: BackgroundTasks) -> Response:
        body = await request.body()
        self.verify(body, request.headers)
        try:
            payload = json.loads(body)
        except ValueError:
            raise ApiError(400, "bad_request", "the body is not JSON") from None
        if not isinstance(payload, dict):
            raise ApiError(400, "bad_request", "the body is not a JSON object")
        if payload.get("type") == "url_verification":
            return JSONResponse({"challenge": str(payload.get("challenge", ""))})
        if payload.get("type") != "event_callback":
            return JSONResponse({"ok": True, "ignored": "not an event_callback"})
        event = payload.get("event")
        if not isinstance(event, dict) or not self._is_customer_message(event):
            return JSONResponse({"ok": True, "ignored": "not a customer message"})
        event_id = str(payload.get("event_id") or "")
        channel, ts = str(event["channel"]), str(event["ts"])
        direct = event.get("channel_type") == "im" and not event.get("thread_ts")
        thread = "" if direct else str(event.get("thread_ts") or ts)
        text = _MENTION.sub("", str(event.get("text") or "")).strip()
        if not text:
            return JSONResponse({"ok": True, "ignored": "empty message"})
        team = str(payload.get("team_id") or event.get("team") or "")
        # Retries carry the same event_id; the same message can also come as `message`
        # and as `app_mention`: both keys must be new for the message to run.
        keys = {"event": event_id or f"{channel}:{ts}", "message": f"{channel}:{ts}"}
        if not await run_in_threadpool(self._first, keys):
            return JSONResponse({"ok": True, "ignored": "duplicate delivery"})
        background.add_task(
            self.process,
            external=f"{channel}:{thread or 'im'}",
            customer=external_id("slack", team, event["user"]),
            text=text,
            keys=keys,
            channel=channel,
            thread=thread,
        )
        return JSONResponse({"ok": True})

    def _first(self, keys: dict[str, str]) -> bool:
        """Both keys are new (a new event of a new message): claim them."""
        if not self.gateway.first_delivery("event", keys["event"], {}):
            return False
        if not self.gateway.first_delivery("message", keys["message"], {}):
            self.gateway.done("event", keys["event"])
            return False
        return True

    @staticmethod
    def _is_customer_message(event: dict[str, Any]) -> bool:
        if event.get("type") not in ("message", "app_mention"):
            return False
        if event.get("bot_id") or event.get("subtype") or not event.get("user"):
            return False  # bots (ourselves included), edits, joins, deletions
        return bool(event.get("channel")) and bool(event.get("ts"))

    def process(
        self,
        *,
        external: str,
        customer: str,
        text: str,
        keys: dict[str, str],
        channel: str,
        thread: str,
    ) -> None:
        """Run the message and reply in the thread (after the 200 went out)."""
        try:
            self.gateway.remember(external, {"channel": channel, "thread_ts": thread})
            outcome = self.gateway.run(
                external, text, customer_id=customer, delivery_key=f"slack:{keys['message']}"
            )
        except Exception as exc:
            self.gateway.failed("message", exc, external=external)
            return
        finally:
            for kind, key in keys.items():
                self.gateway.done(kind, key)
        if outcome.reply is not None:
            self.post(external, channel, thread, outcome.reply, turn_id=outcome.turn.turn_id)

    def post(self, external: str, channel: str, thread: str, text: str, **context: Any) -> None:
        """``text`` in ``thread`` of ``channel`` (no thread: the DM itself)."""
        try:
            self.client.chat_postMessage(channel=channel, thread_ts=thread or None, text=text)
        except Exception as exc:
            self.gateway.failed("chat.postMessage", exc, external=external, **context)

    def relay(self, event_type: str, data: dict[str, Any], route: dict[str, Any]) -> None:
        """A person's reply to the handed-off conversation, posted in its thread."""
        if event_type != HUMAN_REPLY or not data.get("text"):
            return
        channel, thread = str(route["channel"]), str(route["thread_ts"])
        external = f"{channel}:{thread or 'im'}"
        self.post(external, channel, thread, str(data["text"]), event=event_type)


def router(connector: SlackConnector) -> APIRouter:
    api = APIRouter()

    @api.post(
        "/channels/slack",
        tags=["channels"],
        summary="Slack Events API",
        responses={401: {"description": "A forged, unsigned or stale request"}},
    )
    async def slack_events(request: Request, background: BackgroundTasks) -> Response:
        """Slack's Events API request URL: answers at once, replies in the thread."""
        return await connector.receive(request, background)

    return api
