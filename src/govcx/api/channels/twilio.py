"""Twilio Programmable Voice: a ``<Gather input="speech">`` loop.

Point the phone number's "A call comes in" webhook at ``POST /channels/twilio``. The
first request (no ``SpeechResult``) gets the greeting inside a ``<Gather>`` whose action is
the same URL; each ``SpeechResult`` after it is one customer message, answered with
``<Say>`` and the next ``<Gather>``. When a person takes over (an escalated turn, or a
call whose case a person has), the reply is followed by ``<Enqueue>`` into the queue
named after the case's team (a TaskRouter workflow or a ``<Dequeue>`` picks it up), or by
``<Dial>`` to a configured number. If the turn fails, the caller is told and handed
over the same way rather than left in silence.

Every request must carry a valid ``X-Twilio-Signature`` (twilio's ``RequestValidator``
over the full URL and the POST parameters). Behind a proxy the URL the server sees is not
the one Twilio signed: set ``public_url``. The call (``CallSid``) is the conversation,
the caller's number the customer (``tel:<digits>``); Twilio's
``I-Twilio-Idempotency-Token`` makes a retried request return the first answer.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from govcx.api.channels.gateway import ChannelGateway, Outcome, external_id
from govcx.api.errors import ApiError
from govcx.pack import TwilioChannelConfig

PATH = "/channels/twilio"
SORRY = "Sorry, something went wrong on our side. Let me connect you with a person."
SILENCE = "Sorry, I did not hear anything. Goodbye."


ANONYMOUS = frozenset({"+266696687", "+86282452253", "+8656696", "+7378742833", "+2562533", "+"})
"""What Twilio puts in ``From`` for blocked, restricted or unknown caller ids."""


def caller_id(number: str) -> str | None:
    """The customer of a call: ``tel:<digits>`` for a real number; None for a withheld
    one (callers who hide their number must not share one customer and its history)."""
    digits = number.removeprefix("+")
    if number in ANONYMOUS or not digits.isdigit():
        return None
    return external_id("tel", digits)


class TwilioConnector:
    def __init__(
        self, gateway: ChannelGateway, config: TwilioChannelConfig, *, auth_token: str
    ) -> None:
        from twilio.request_validator import RequestValidator

        self.gateway = gateway
        self.config = config
        self.validator = RequestValidator(auth_token)

    def signed_url(self, request: Request) -> str:
        """The URL Twilio signed: the configured public URL with this path and query."""
        if self.config.public_url is None:
            return str(request.url)
        query = f"?{request.url.query}" if request.url.query else ""
        return self.config.public_url.rstrip("/") + request.url.path + query

    def action_url(self) -> str:
        """Where the next ``<Gather>`` posts: absolute when a public URL is set (it may
        carry a path prefix the proxy strips)."""
        if self.config.public_url is None:
            return PATH
        return self.config.public_url.rstrip("/") + PATH

    async def receive(self, request: Request) -> Response:
        # Twilio posts application/x-www-form-urlencoded; parsed here rather than with
        # request.form(), which would need python-multipart.
        try:
            params = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        except UnicodeDecodeError:
            raise ApiError(400, "bad_request", "the body is not UTF-8 form data") from None
        signature = request.headers.get("x-twilio-signature", "")
        if not signature or not self.validator.validate(
            self.signed_url(request), params, signature
        ):
            raise ApiError(
                403,
                "forbidden",
                "X-Twilio-Signature is missing or does not match (behind a proxy, set "
                "channels.twilio.public_url to the URL Twilio calls)",
            )
        call = params.get("CallSid", "")
        if not call:
            raise ApiError(400, "bad_request", "CallSid is missing")
        speech = params.get("SpeechResult", "").strip()
        if not speech:
            return self.twiml(say=None, greet=True)
        token = request.headers.get("i-twilio-idempotency-token")
        try:
            outcome = await run_in_threadpool(
                self.gateway.run,
                call,
                speech,
                customer_id=caller_id(params.get("From", "")),
                delivery_key=f"twilio:{call}:{token}" if token else None,
            )
        except Exception as exc:
            self.gateway.failed("message", exc, external=call)
            return self.handoff(SORRY, team=None)
        return self.render(outcome)

    def render(self, outcome: Outcome) -> Response:
        if outcome.handoff is not None:
            return self.handoff(outcome.reply, team=outcome.handoff.team)
        return self.twiml(say=outcome.reply, greet=False)

    def _say(self, parent: Any, text: str) -> None:
        kwargs: dict[str, Any] = {"language": self.config.language}
        if self.config.voice:
            kwargs["voice"] = self.config.voice
        parent.say(text, **kwargs)

    def twiml(self, *, say: str | None, greet: bool) -> Response:
        from twilio.twiml.voice_response import Gather, VoiceResponse

        response = VoiceResponse()
        if say:
            self._say(response, say)
        gather = Gather(
            input="speech",
            action=self.action_url(),
            method="POST",
            language=self.config.language,
            speech_timeout="auto",
        )
        if greet:
            self._say(gather, self.config.greeting)
        response.append(gather)
        self._say(response, SILENCE)  # only reached when the Gather heard nothing
        response.hangup()
        return Response(str(response), media_type="application/xml")

    def handoff(self, say: str | None, *, team: str | None) -> Response:
        from twilio.twiml.voice_response import VoiceResponse

        response = VoiceResponse()
        if say:
            self._say(response, say)
        if self.config.handoff == "dial":
            response.dial(self.config.dial)
        else:
            response.enqueue(team or self._default_team())
        return Response(str(response), media_type="application/xml")

    def _default_team(self) -> str:
        """The policy's default team: the queue of a call whose turn failed."""
        default = self.gateway.runtime.agent.policy.routing.default
        return default.team if default is not None and default.team else "support"


def router(connector: TwilioConnector) -> APIRouter:
    api = APIRouter()

    @api.post(
        PATH,
        tags=["channels"],
        summary="Twilio Voice webhook (TwiML)",
        response_class=Response,
        responses={
            200: {"content": {"application/xml": {}}, "description": "TwiML"},
            403: {"description": "A missing or forged X-Twilio-Signature"},
        },
    )
    async def twilio_voice(request: Request) -> Response:
        """The voice webhook and the Gather action: speech in, TwiML out."""
        return await connector.receive(request)

    return api
