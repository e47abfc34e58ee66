"""Conversations, their transcript and their turns.

The transcript lives here, append-only, not in the graph state: LangGraph stores full
channel values at every step, so a growing message list in state would cost quadratic
storage. The graph state holds only the current turn.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import insert, select, update

from govcx.agent.turn import Turn
from govcx.errors import NotFound
from govcx.store.db import Database, dumps
from govcx.store.schema import conversations, escalations, messages, turns


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class ConversationStore:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def ensure(self, conversation_id: str, customer_id: str | None) -> dict[str, Any]:
        now = self.clock()
        with self.db.begin() as conn:
            row = conn.execute(select(conversations).where(
                conversations.c.conversation_id == conversation_id)).first()
            if row is None:
                conn.execute(insert(conversations).values(
                    conversation_id=conversation_id, customer_id=customer_id, status="idle",
                    turn_count=0, created_at=now, updated_at=now))
                return {"conversation_id": conversation_id, "customer_id": customer_id,
                        "status": "idle", "turn_count": 0}
            data = dict(row._mapping)
            if customer_id and not row.customer_id:
                conn.execute(update(conversations).where(
                    conversations.c.conversation_id == conversation_id
                ).values(customer_id=customer_id, updated_at=now))
                data["customer_id"] = customer_id
            return data

    def get(self, conversation_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = conn.execute(select(conversations).where(
                conversations.c.conversation_id == conversation_id)).first()
        if row is None:
            raise NotFound("conversation", conversation_id)
        return dict(row._mapping)

    def set_status(self, conversation_id: str, status: str, *,
                   last_turn_status: str | None = None, count_turn: bool = False) -> None:
        values: dict[str, Any] = {"status": status, "updated_at": self.clock()}
        if last_turn_status:
            values["last_turn_status"] = last_turn_status
        if count_turn:
            values["turn_count"] = conversations.c.turn_count + 1
        with self.db.begin() as conn:
            conn.execute(update(conversations).where(
                conversations.c.conversation_id == conversation_id).values(**values))

    def with_status(self, status: str) -> list[str]:
        with self.db.read() as conn:
            rows = conn.execute(select(conversations.c.conversation_id).where(
                conversations.c.status == status)).all()
        return [r.conversation_id for r in rows]

    def idle_before(self, cutoff: float) -> list[str]:
        """Conversations not running or waiting for approval, untouched since ``cutoff``."""
        with self.db.read() as conn:
            rows = conn.execute(select(conversations.c.conversation_id).where(
                conversations.c.status == "idle", conversations.c.updated_at < cutoff)).all()
        return [r.conversation_id for r in rows]

    def add_message(self, conversation_id: str, turn_id: str, role: str, text: str) -> None:
        with self.db.begin() as conn:
            exists = conn.execute(select(messages.c.message_id).where(
                messages.c.turn_id == turn_id, messages.c.role == role)).first()
            if exists:
                conn.execute(update(messages).where(messages.c.message_id == exists.message_id)
                             .values(text=text))
                return
            conn.execute(insert(messages).values(conversation_id=conversation_id,
                                                 turn_id=turn_id, role=role, text=text,
                                                 created_at=self.clock()))

    def transcript(self, conversation_id: str) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(select(messages).where(
                messages.c.conversation_id == conversation_id
            ).order_by(messages.c.message_id)).all()
        return [{"turn_id": r.turn_id, "role": r.role, "text": r.text, "at": r.created_at}
                for r in rows]

    def save_turn(self, turn: Turn) -> None:
        now = self.clock()
        body = turn.model_dump_json()
        with self.db.begin() as conn:
            exists = conn.execute(select(turns.c.turn_id).where(
                turns.c.turn_id == turn.turn_id)).first()
            if exists:
                conn.execute(update(turns).where(turns.c.turn_id == turn.turn_id)
                             .values(status=turn.status, body=body, updated_at=now))
            else:
                conn.execute(insert(turns).values(turn_id=turn.turn_id,
                                                  conversation_id=turn.conversation_id,
                                                  status=turn.status, body=body,
                                                  created_at=now, updated_at=now))

    def get_turn(self, turn_id: str) -> Turn | None:
        with self.db.read() as conn:
            row = conn.execute(select(turns.c.body).where(turns.c.turn_id == turn_id)).first()
        return Turn.model_validate_json(row.body) if row else None

    def turns(self, conversation_id: str) -> list[Turn]:
        with self.db.read() as conn:
            rows = conn.execute(select(turns.c.body).where(
                turns.c.conversation_id == conversation_id).order_by(turns.c.created_at)).all()
        return [Turn.model_validate_json(r.body) for r in rows]

    def add_escalation(self, *, conversation_id: str, turn_id: str, reason: str,
                       body: dict[str, Any]) -> str:
        escalation_id = "esc_" + turn_id.split("_", 1)[-1]
        with self.db.begin() as conn:
            exists = conn.execute(select(escalations.c.escalation_id).where(
                escalations.c.escalation_id == escalation_id)).first()
            if not exists:
                conn.execute(insert(escalations).values(
                    escalation_id=escalation_id, conversation_id=conversation_id,
                    turn_id=turn_id, reason=reason, body=dumps(body), status="open",
                    created_at=self.clock()))
        return escalation_id

    def escalations(self, *, status: str | None = "open") -> list[dict[str, Any]]:
        query = select(escalations).order_by(escalations.c.created_at)
        if status:
            query = query.where(escalations.c.status == status)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [{**{k: v for k, v in r._mapping.items() if k != "body"},
                 **json.loads(r.body)} for r in rows]
