"""What every channel connector shares: its principal, the mapping of the channel's
conversations to govcx conversations, deduplication of the channel's retries, and one
call into the runtime the HTTP API uses.

A connector is a translation and nothing else: it verifies the channel's signature,
turns a delivery into ``(external conversation, customer, text, delivery key)``, calls
:meth:`ChannelGateway.run` (which is :meth:`ApiRuntime.respond`, the same gate, ledger,
cases and audit as ``POST /v1/conversations/{id}/messages``) and renders the Turn in the
channel's terms. No connector decides anything about the conversation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from govcx.api.auth import Caller
from govcx.api.idempotency import request_hash
from govcx.api.runtime import ApiRuntime
from govcx.api.schemas import MessageIn
from govcx.errors import GovcxError, InvalidInput
from govcx.store import schema
from govcx.store.db import Database, dumps
from govcx.turn import Turn

log = logging.getLogger("govcx.api.channels")

HANDOFF_STATUSES = frozenset({"escalated", "with_human"})
"""Turns after which a person has the conversation: the channel is told to hand off."""
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")


def external_id(*parts: object) -> str:
    """A customer or conversation id from channel identifiers, valid as a govcx id
    (letters, digits, ``_.:-``; at most 64 characters; a digest keeps longer ones
    unique)."""
    raw = ":".join(_UNSAFE.sub("-", str(p)).strip("-") or "-" for p in parts).strip("-.:_")
    raw = raw or "unknown"
    if len(raw) <= 64:
        return raw
    return raw[:43] + "." + hashlib.sha256(raw.encode()).hexdigest()[:20]


def conversation_id_of(channel: str, principal: str, external: str) -> str:
    """The govcx conversation id of ``external`` in ``channel`` spoken by ``principal``."""
    digest = hashlib.sha256(f"{channel}\0{principal}\0{external}".encode())
    return f"conv_{channel}_{digest.hexdigest()[:24]}"


@dataclass(frozen=True, kw_only=True)
class Handoff:
    """Where a person takes over: the case and its team (queue)."""

    case_id: str | None
    team: str | None
    priority: str | None


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """A Turn as a channel needs it."""

    turn: Turn
    reply: str | None
    """The text to say to the customer (None: a person has the conversation and the AI
    stays silent)."""
    handoff: Handoff | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversation_id": self.turn.conversation_id,
            "turn_id": self.turn.turn_id,
            "status": self.turn.status,
            "reply": self.reply,
            "handoff": None
            if self.handoff is None
            else {
                "case_id": self.handoff.case_id,
                "team": self.handoff.team,
                "priority": self.handoff.priority,
            },
        }


class ChannelGateway:
    """One channel's way into the runtime, acting as its principal."""

    def __init__(self, runtime: ApiRuntime, channel: str, principal: str) -> None:
        self.runtime = runtime
        self.channel = channel
        self.caller = Caller(
            principal=runtime.agent.pack.principal(principal), key_id=f"channel:{channel}"
        )

    @property
    def principal(self) -> str:
        return self.caller.name

    def conversation_id(self, external: str) -> str:
        """The govcx conversation of a channel conversation: derived, so the same thread
        always lands in the same conversation, and owned by the channel's principal
        (another principal gets 404 for it, as for any conversation not its own)."""
        return conversation_id_of(self.channel, self.principal, external)

    def remember(self, external: str, route: Mapping[str, Any]) -> None:
        """Keep where the conversation of ``external`` lives in the channel (the thread,
        the chat, the callback), for relaying a person's replies there later."""
        conversation_id = self.conversation_id(external)
        now = time.time()
        values = {"channel": self.channel, "route": dumps(dict(route)), "updated_at": now}
        table = schema.channel_threads
        for _ in range(2):
            try:
                with self.runtime.agent.db.begin() as conn:
                    changed = conn.execute(
                        update(table)
                        .where(table.c.conversation_id == conversation_id)
                        .values(**values)
                    ).rowcount
                    if not changed:
                        conn.execute(
                            insert(table).values(
                                conversation_id=conversation_id, created_at=now, **values
                            )
                        )
                return
            except IntegrityError:  # a concurrent first message: update the row it wrote
                continue

    def first_delivery(self, kind: str, key: str, body: Mapping[str, Any]) -> bool:
        """True the first time the channel delivers ``key``; False for its retries (and
        for a retry while the first is still being processed). The idempotency store
        of the API keeps the keys."""
        claim = self.runtime.idempotency.claim(
            f"channel:{self.channel}:{kind}", key[:200], request_hash(dict(body))
        )
        return claim.new

    def done(self, kind: str, key: str) -> None:
        """Record that ``key`` was handled, so that its retries stay ignored even after
        the store's take-over time for abandoned claims."""
        self.runtime.idempotency.complete(f"channel:{self.channel}:{kind}", key[:200], {})

    def run(
        self,
        external: str,
        text: str,
        *,
        customer_id: str | None,
        delivery_key: str | None,
    ) -> Outcome:
        """Post the customer's message to the conversation of ``external``, exactly as
        the HTTP API does (a repeated ``delivery_key`` returns the first Turn)."""
        try:
            message = MessageIn(text=text, customer_id=customer_id)
        except ValidationError as exc:  # the API's own limits, said the API's way
            error = exc.errors()[0]
            field = ".".join(str(p) for p in error["loc"])
            raise InvalidInput(f"{field}: {error['msg']}", details={"field": field}) from None
        turn = self.runtime.respond(
            self.caller,
            self.conversation_id(external),
            message,
            delivery_key[:200] if delivery_key else None,
        )
        return self.outcome(turn)

    def outcome(self, turn: Turn) -> Outcome:
        handoff = None
        if turn.status in HANDOFF_STATUSES:
            case_id = turn.case_id or (turn.escalation.case_id if turn.escalation else None)
            team = turn.escalation.team if turn.escalation else None
            priority = turn.escalation.priority if turn.escalation else None
            if case_id and team is None:
                try:
                    case = self.runtime.agent.cases.get(case_id)
                    team, priority = case.team, case.priority
                except GovcxError:
                    pass
            handoff = Handoff(case_id=case_id, team=team, priority=priority)
        reply = turn.reply.text if turn.reply and turn.status != "with_human" else None
        return Outcome(turn=turn, reply=reply, handoff=handoff)

    def failed(
        self, stage: str, error: BaseException, *, external: str | None = None, **data: Any
    ) -> None:
        """Log and audit a failure of this channel (never shown to the channel)."""
        log.warning(
            "channel %s: %s failed: %s: %s", self.channel, stage, type(error).__name__, error
        )
        try:
            self.runtime.agent.audit.append(
                kind="channel.failed",
                actor=self.principal,
                conversation_id=self.conversation_id(external) if external else None,
                data={
                    "channel": self.channel,
                    "stage": stage,
                    "error": type(error).__name__,
                    "message": str(error)[:500],
                    **data,
                },
            )
        except Exception:  # auditing a failure must not raise into the connector
            log.exception("channel %s: could not audit a failure", self.channel)


def route_of(db: Database, conversation_id: str) -> tuple[str, dict[str, Any]] | None:
    """(channel, route) of a conversation a connector started; None for any other."""
    table = schema.channel_threads
    with db.read() as conn:
        row = conn.execute(
            select(table.c.channel, table.c.route).where(table.c.conversation_id == conversation_id)
        ).first()
    if row is None:
        return None
    route = json.loads(row.route)
    return str(row.channel), route if isinstance(route, dict) else {}
