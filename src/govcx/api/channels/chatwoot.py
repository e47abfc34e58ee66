"""Chatwoot: an agent bot's webhook in, Chatwoot's conversations API out.

Chatwoot posts every event of the bot's inbox to the bot's URL; the connector takes
``message_created`` events of incoming, public messages (outgoing ones are the bot's own
replies and the agents' messages, echoed back) and ignores the rest. Chatwoot waits five
seconds and opens the conversation to people when the bot does not answer, so the
connector answers at once and works after the response:

- the reply: ``POST /api/v1/accounts/{account}/conversations/{id}/messages``;
- the hand-off (an escalated turn, or a message while a person has the case):
  ``POST .../conversations/{id}/toggle_status`` with ``{"status": "open"}``, which moves
  the conversation from the bot (``pending``) to the inbox's agents.

Both with the bot's ``api_access_token`` header. Authenticity: Chatwoot 4.x signs bot
webhooks with the bot's secret (``X-Chatwoot-Signature: sha256=<HMAC-SHA256 of
"<X-Chatwoot-Timestamp>.<body>">``); for installations that do not sign, the operator
configures a shared token that the webhook URL carries (``?token=``). Unsigned, or
token-less, deliveries are refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx
from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from govcx.api.channels.gateway import ChannelGateway, Outcome, external_id
from govcx.api.errors import ApiError
from govcx.governance.cases import HANDED_BACK, HUMAN_REPLY, RESOLVED
from govcx.pack import ChatwootChannelConfig

MAX_AGE = 300


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-Chatwoot-Signature`` of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _int(value: Any) -> int | None:
    """Chatwoot ids are integers (its documentation shows them as strings too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


class ChatwootConnector:
    def __init__(
        self,
        gateway: ChannelGateway,
        config: ChatwootChannelConfig,
        *,
        api_token: str,
        secret: str | None,
        url_token: str | None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.gateway = gateway
        self.config = config
        self.secret = secret
        self.url_token = url_token
        self.client = httpx.Client(
            base_url=config.base_url.rstrip("/"),
            headers={"api_access_token": api_token, "User-Agent": "govcx-chatwoot/1"},
            timeout=config.timeout,
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self.client.close()

    def verify(self, request: Request, body: bytes) -> None:
        if self.secret is not None:
            timestamp = request.headers.get("x-chatwoot-timestamp", "")
            signature = request.headers.get("x-chatwoot-signature", "")
            if not timestamp or not signature:
                raise ApiError(
                    401, "unauthorized", "missing X-Chatwoot-Signature or X-Chatwoot-Timestamp"
                )
            try:
                age = abs(time.time() - int(timestamp))
            except ValueError:
                raise ApiError(
                    401, "unauthorized", "X-Chatwoot-Timestamp is not a number"
                ) from None
            if age > MAX_AGE:
                raise ApiError(
                    401,
                    "stale_request",
                    f"X-Chatwoot-Timestamp is {int(age)} s old; at most {MAX_AGE} s is accepted",
                )
            if not hmac.compare_digest(sign(self.secret, timestamp, body), signature):
                raise ApiError(401, "unauthorized", "X-Chatwoot-Signature does not match the body")
        if self.url_token is not None:
            given = request.query_params.get("token", "")
            if not hmac.compare_digest(given.encode(), self.url_token.encode()):
                raise ApiError(401, "unauthorized", "missing or wrong ?token= in the webhook URL")

    async def receive(self, request: Request, background: BackgroundTasks) -> Response:
        body = await request.body()
        self.verify(request, body)
        try:
            payload = json.loads(body)
        except ValueError:
            raise ApiError(400, "bad_request", "the body is not JSON") from None
        message = self._customer_message(payload)
        if message is None:
            return JSONResponse({"ok": True, "ignored": "not an incoming customer message"})
        message_id, conversation, contact, text = message
        if not await run_in_threadpool(self.gateway.first_delivery, "message", str(message_id), {}):
            return JSONResponse({"ok": True, "ignored": "duplicate delivery"})
        account = self.config.account_id
        background.add_task(
            self.process,
            external=f"{account}:{conversation}",
            conversation=conversation,
            customer=external_id("chatwoot", account, contact) if contact else None,
            text=text,
            message_id=str(message_id),
        )
        return JSONResponse({"ok": True})

    def _customer_message(self, payload: Any) -> tuple[Any, int, Any, str] | None:
        """(message id, conversation id, contact id, text) of an incoming public message
        of the configured account; None for anything else."""
        if not isinstance(payload, dict) or payload.get("event") != "message_created":
            return None
        if payload.get("message_type") not in ("incoming", 0) or payload.get("private"):
            return None
        account = payload.get("account") or {}
        if not isinstance(account, dict) or _int(account.get("id")) != self.config.account_id:
            return None
        conversation = payload.get("conversation") or {}
        conversation_id = (
            _int(conversation.get("display_id", conversation.get("id")))
            if isinstance(conversation, dict)
            else None
        )
        text = payload.get("content")
        if (
            conversation_id is None
            or not isinstance(text, str)
            or not text.strip()
            or payload.get("id") is None
        ):
            return None
        sender = payload.get("sender") or {}
        contact = sender.get("id") if isinstance(sender, dict) else None
        return payload["id"], conversation_id, contact, text

    def process(
        self,
        *,
        external: str,
        conversation: int,
        customer: str | None,
        text: str,
        message_id: str,
    ) -> None:
        try:
            self.gateway.remember(external, {"conversation": conversation})
            outcome = self.gateway.run(
                external, text, customer_id=customer, delivery_key=f"chatwoot:{message_id}"
            )
        except Exception as exc:
            # What Chatwoot itself does when a bot fails: the inbox's people take over.
            self.gateway.failed("message", exc, external=external)
            self.deliver(external, conversation, None)
            return
        finally:
            self.gateway.done("message", message_id)
        self.deliver(external, conversation, outcome)

    def deliver(self, external: str, conversation: int, outcome: Outcome | None) -> None:
        """The reply, then the hand-off; without an outcome (the run failed), the
        hand-off only."""
        turn_id = outcome.turn.turn_id if outcome else None
        if outcome is not None and outcome.reply is not None:
            self.say(external, conversation, outcome.reply, turn_id=turn_id)
        if outcome is None or outcome.handoff is not None:
            self.status(external, conversation, "open", turn_id=turn_id)

    def say(self, external: str, conversation: int, text: str, **context: Any) -> None:
        body = {"content": text, "message_type": "outgoing", "private": False}
        self._post(external, conversation, "messages", body, context)

    def status(self, external: str, conversation: int, status: str, **context: Any) -> None:
        self._post(external, conversation, "toggle_status", {"status": status}, context)

    def _post(
        self,
        external: str,
        conversation: int,
        action: str,
        body: dict[str, Any],
        context: dict[str, Any],
    ) -> None:
        path = f"/api/v1/accounts/{self.config.account_id}/conversations/{conversation}"
        try:
            response = self.client.post(f"{path}/{action}", json=body)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            self.gateway.failed(action, exc, external=external, **context)

    def relay(self, event_type: str, data: dict[str, Any], route: dict[str, Any]) -> None:
        """What a person does with the case in govcx, mirrored in Chatwoot: their reply
        is posted; hand-back returns the conversation to the bot (``pending``), resolving
        resolves it."""
        conversation = int(route["conversation"])
        external = f"{self.config.account_id}:{conversation}"
        if event_type == HUMAN_REPLY and data.get("text"):
            self.say(external, conversation, str(data["text"]), event=event_type)
        elif event_type == HANDED_BACK:
            self.status(external, conversation, "pending", event=event_type)
        elif event_type == RESOLVED:
            self.status(external, conversation, "resolved", event=event_type)


def router(connector: ChatwootConnector) -> APIRouter:
    api = APIRouter()

    @api.post(
        "/channels/chatwoot",
        tags=["channels"],
        summary="Chatwoot agent bot webhook",
        responses={401: {"description": "A forged, unsigned or stale delivery"}},
    )
    async def chatwoot_events(request: Request, background: BackgroundTasks) -> Response:
        """The agent bot's outgoing URL: answers at once, replies through Chatwoot's API."""
        return await connector.receive(request, background)

    return api
