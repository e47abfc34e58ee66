"""The generic webhook connector: a documented JSON contract for any other channel.

Request ``POST /channels/webhook``, signed like govcx's own webhooks:
``X-Govcx-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``
(five minutes of clock skew at most). Body::

    {"delivery_id": "d-81f2",          # unique per delivery; a repeat runs nothing twice
     "conversation": "ticket-4711",    # the channel's conversation id
     "customer_id": "C-1001",          # optional; fixed by the first message naming one
     "text": "Where is my order?",
     "callback_url": "https://..."}    # optional: answer asynchronously

Without ``callback_url`` the answer is the response (200); with it, the response is 202
and the answer is POSTed to the callback, signed the same way (``X-Govcx-Delivery``
names the delivery). The answer::

    {"delivery_id": "d-81f2", "conversation": "ticket-4711",
     "conversation_id": "conv_webhook_...", "turn_id": "turn_...",
     "status": "answered|pending_approval|escalated|blocked|with_human",
     "reply": "text to show the customer, or null while a person has it",
     "handoff": null | {"case_id": "case_...", "team": "billing", "priority": "high"}}

``handoff`` not null means a person takes over: the channel routes the customer to them.
Callback URLs must start with one of ``callback_urls`` of the configuration.
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from govcx.api.channels.gateway import ChannelGateway
from govcx.api.errors import ApiError
from govcx.api.webhooks import SIGNATURE_HEADER, sign
from govcx.errors import GovcxError
from govcx.governance.cases import ASSIGNED, HANDED_BACK, HUMAN_REPLY, RESOLVED
from govcx.pack import GenericChannelConfig

MAX_AGE = 300
RELAYED = frozenset({ASSIGNED, HUMAN_REPLY, HANDED_BACK, RESOLVED})
"""Case events sent to a conversation's callback (escalation is in the answer itself)."""


class WebhookMessage(BaseModel):
    """A delivery of the generic webhook connector."""

    model_config = ConfigDict(extra="forbid")

    delivery_id: str = Field(min_length=1, max_length=200)
    conversation: str = Field(min_length=1, max_length=200)
    customer_id: str | None = None
    text: str
    callback_url: str | None = None


def callback_allowed(url: str, prefix: str) -> bool:
    """``url`` is under ``prefix``: the same scheme and host (and port, when the prefix
    names one), and a path under the prefix's. A plain string prefix would let
    ``https://hooks.example.com.evil.net`` through for ``https://hooks.example.com``."""
    try:
        got, want = urlsplit(url), urlsplit(prefix)
        got_port, want_port = got.port, want.port
    except ValueError:
        return False
    return (
        got.scheme == want.scheme
        and got.hostname is not None
        and got.hostname == want.hostname
        and got.username is None
        and (want_port is None or got_port == want_port)
        and got.path.startswith(want.path)
    )


def verify(secret: str, header: str, body: bytes, *, now: float | None = None) -> None:
    """Raise 401 unless ``header`` signs ``body`` with ``secret`` recently."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        raise ApiError(
            401,
            "unauthorized",
            f"missing or malformed {SIGNATURE_HEADER} (expected t=<unix>,v1=<hex>)",
        ) from None
    age = abs((time.time() if now is None else now) - timestamp)
    if age > MAX_AGE:
        raise ApiError(
            401, "stale_request", f"the signature is {int(age)} s old; at most {MAX_AGE} s"
        )
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, parts.get("v1", "")):
        raise ApiError(401, "unauthorized", f"{SIGNATURE_HEADER} does not match the body")


class WebhookConnector:
    def __init__(
        self,
        gateway: ChannelGateway,
        config: GenericChannelConfig,
        *,
        secret: str,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.gateway = gateway
        self.config = config
        self.secret = secret
        self.client = httpx.Client(
            timeout=config.timeout, transport=transport, follow_redirects=False
        )

    def close(self) -> None:
        self.client.close()

    async def receive(self, request: Request, background: BackgroundTasks) -> Response:
        body = await request.body()
        verify(self.secret, request.headers.get(SIGNATURE_HEADER, ""), body)
        try:
            message = WebhookMessage.model_validate(json.loads(body))
        except ValueError as exc:
            details: dict[str, Any] = {}
            if isinstance(exc, ValidationError):
                first = exc.errors()[0]
                details = {"field": ".".join(str(p) for p in first["loc"])}
                reason = f"{details['field']}: {first['msg']}"
            else:
                reason = "the body is not JSON"
            raise ApiError(
                422,
                "invalid_request",
                f"{reason}; expected {{delivery_id, conversation, text, customer_id?, "
                "callback_url?}",
                details=details,
            ) from None
        if message.callback_url is None:
            outcome = await run_in_threadpool(self._run, message)
            return JSONResponse(outcome)
        allowed = self.config.callback_urls
        if not any(callback_allowed(message.callback_url, p) for p in allowed):
            raise ApiError(
                422,
                "callback_not_allowed",
                f"callback_url {message.callback_url!r} is not allowed; allowed prefixes: "
                f"{', '.join(allowed) or 'none (set channels.webhook.callback_urls)'}",
                details={"field": "callback_url"},
            )
        accepted = {
            "delivery_id": message.delivery_id,
            "conversation": message.conversation,
            "conversation_id": self.gateway.conversation_id(message.conversation),
        }
        if not await run_in_threadpool(
            self.gateway.first_delivery,
            "delivery",
            message.delivery_id,
            message.model_dump(mode="json"),
        ):
            return JSONResponse({**accepted, "accepted": False, "duplicate": True}, 202)
        await run_in_threadpool(
            self.gateway.remember,
            message.conversation,
            {"conversation": message.conversation, "callback_url": message.callback_url},
        )
        background.add_task(self._callback, message)
        return JSONResponse({**accepted, "accepted": True}, 202)

    def _run(self, message: WebhookMessage) -> dict[str, Any]:
        outcome = self.gateway.run(
            message.conversation,
            message.text,
            customer_id=message.customer_id,
            delivery_key=f"webhook:{message.delivery_id}",
        )
        return {
            "delivery_id": message.delivery_id,
            "conversation": message.conversation,
            **outcome.as_dict(),
        }

    def _callback(self, message: WebhookMessage) -> None:
        try:
            answer = self._run(message)
        except Exception as exc:
            self.gateway.failed("message", exc, external=message.conversation)
            error = (
                {"code": exc.code, "message": str(exc)}
                if isinstance(exc, GovcxError)
                else {"code": "internal_error", "message": "the message could not be processed"}
            )
            answer = {
                "delivery_id": message.delivery_id,
                "conversation": message.conversation,
                "error": error,
            }
        finally:
            self.gateway.done("delivery", message.delivery_id)
        assert message.callback_url is not None
        self._send(
            message.callback_url,
            answer,
            {"X-Govcx-Delivery": message.delivery_id},
            external=message.conversation,
        )

    def _send(
        self, url: str, payload: dict[str, Any], headers: dict[str, str], *, external: str
    ) -> None:
        body = json.dumps(payload).encode()
        signed = {
            "Content-Type": "application/json",
            "User-Agent": "govcx-channels/1",
            SIGNATURE_HEADER: sign(self.secret, body, int(time.time())),
            **headers,
        }
        try:
            response = self.client.post(url, content=body, headers=signed)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            self.gateway.failed("callback", exc, external=external)

    def relay(self, event_type: str, data: dict[str, Any], route: dict[str, Any]) -> None:
        """What happens to a handed-off conversation, POSTed to its last callback URL:
        ``{"event": "conversation.human_reply", "conversation", "conversation_id",
        "case": {...}, "text"?, "author"?}``."""
        url, external = route.get("callback_url"), str(route.get("conversation") or "")
        if not url or event_type not in RELAYED:
            return
        payload: dict[str, Any] = {
            "event": event_type,
            "conversation": external,
            "conversation_id": data.get("conversation_id"),
            "case": data.get("case"),
        }
        if event_type == HUMAN_REPLY:
            payload |= {"text": data.get("text"), "author": data.get("author")}
        self._send(str(url), payload, {"X-Govcx-Event": event_type}, external=external)


def router(connector: WebhookConnector) -> APIRouter:
    api = APIRouter()

    @api.post(
        "/channels/webhook",
        tags=["channels"],
        summary="Generic channel webhook",
        responses={
            202: {"description": "Accepted; the answer goes to callback_url"},
            401: {"description": "A forged, unsigned or stale request"},
        },
    )
    async def generic_webhook(request: Request, background: BackgroundTasks) -> Response:
        """A signed message from any channel; the answer in the response or a callback."""
        return await connector.receive(request, background)

    return api
