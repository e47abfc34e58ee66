"""Conversations, their transcript and their turns.

The transcript lives here, append-only, not in the graph state: LangGraph stores full
channel values at every step, so a growing message list in state would cost quadratic
storage. The graph state holds only the current turn.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from govcx.errors import CustomerMismatch, NotFound
from govcx.store.db import Database, dumps
from govcx.store.schema import conversations, escalations, messages, turns
from govcx.turn import Turn

# The statements of every turn, built once: constructing a statement costs several times
# executing a built one.
_CONVERSATION = select(conversations).where(
    conversations.c.conversation_id == bindparam("conversation_id")
)
_START = (
    update(conversations)
    .where(conversations.c.conversation_id == bindparam("conv"))
    .values(status="running", updated_at=bindparam("now"))
)
_END_TURN = (
    update(conversations)
    .where(conversations.c.conversation_id == bindparam("conv"))
    .values(
        status=bindparam("new_status"),
        last_turn_status=bindparam("turn_status"),
        turn_count=conversations.c.turn_count + 1,
        updated_at=bindparam("now"),
    )
)
_MESSAGE_OF = select(messages.c.message_id).where(
    messages.c.turn_id == bindparam("turn_id"), messages.c.role == bindparam("role")
)
_ADD_MESSAGE = insert(messages)
_TURN_EXISTS = select(turns.c.turn_id).where(turns.c.turn_id == bindparam("turn_id"))
_ADD_TURN = insert(turns)


LOCAL_OWNER = "local"
"""Owner of conversations started by trusted Python code without naming one."""


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class ConversationStore:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    @contextmanager
    def _tx(self, conn: Connection | None) -> Iterator[Connection]:
        """The caller's transaction if it passes one, else a new one."""
        if conn is not None:
            yield conn
            return
        with self.db.begin() as own:
            yield own

    def ensure(
        self,
        conversation_id: str,
        customer_id: str | None,
        *,
        start: bool = False,
        owner: str | None = None,
    ) -> dict[str, Any]:
        """The conversation as it was (created idle on first use, owned by ``owner``).
        With ``start``, mark it running in the same transaction unless it waits for an
        approval or a person has it (``control`` waiting or human).

        Raises NotFound when ``owner`` is given and the conversation belongs to another
        (the same error as for an id that does not exist: no existence leak), and
        CustomerMismatch when ``customer_id`` differs from the customer the conversation
        is fixed to; nothing is changed then.
        """
        now = self.clock()
        with self.db.begin() as conn:
            row = conn.execute(_CONVERSATION, {"conversation_id": conversation_id}).first()
            if row is None:
                conn.execute(
                    insert(conversations).values(
                        conversation_id=conversation_id,
                        customer_id=customer_id,
                        owner=owner or LOCAL_OWNER,
                        status="running" if start else "idle",
                        turn_count=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
                return {
                    "conversation_id": conversation_id,
                    "customer_id": customer_id,
                    "owner": owner or LOCAL_OWNER,
                    "status": "idle",
                    "control": "ai",
                    "turn_count": 0,
                    "created_at": now,
                }
            if owner is not None and row.owner != owner:
                raise NotFound("conversation", conversation_id)
            if customer_id and row.customer_id and customer_id != row.customer_id:
                raise CustomerMismatch(conversation_id)
            data = dict(row._mapping)
            if customer_id and not row.customer_id:
                conn.execute(
                    update(conversations)
                    .where(conversations.c.conversation_id == conversation_id)
                    .values(customer_id=customer_id, updated_at=now)
                )
                data["customer_id"] = customer_id
            # Nothing runs on a conversation that waits for an approval or that a person has.
            if start and row.status != "pending_approval" and row.control in ("ai", "resolved"):
                conn.execute(_START, {"conv": conversation_id, "now": now})
            return data

    def owned_by(self, conversation_id: str, owner: str) -> bool:
        """Does the conversation exist and belong to ``owner``?"""
        return self.exists_for(conversation_id, owner) is True

    def exists_for(self, conversation_id: str, owner: str) -> bool | None:
        """One read: True if the conversation belongs to ``owner``, False if it belongs to
        someone else, None if it does not exist (yet)."""
        with self.db.read() as conn:
            row = conn.execute(
                select(conversations.c.owner).where(
                    conversations.c.conversation_id == conversation_id
                )
            ).first()
        return None if row is None else row.owner == owner

    def check_owner(self, conversation_id: str, owner: str) -> None:
        """NotFound unless the conversation exists and belongs to ``owner``."""
        if not self.owned_by(conversation_id, owner):
            raise NotFound("conversation", conversation_id)

    def get(self, conversation_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = conn.execute(
                select(conversations).where(conversations.c.conversation_id == conversation_id)
            ).first()
        if row is None:
            raise NotFound("conversation", conversation_id)
        return dict(row._mapping)

    def set_status(
        self,
        conversation_id: str,
        status: str,
        *,
        last_turn_status: str | None = None,
        count_turn: bool = False,
        conn: Connection | None = None,
    ) -> None:
        if last_turn_status and count_turn:
            with self._tx(conn) as tx:
                tx.execute(
                    _END_TURN,
                    {
                        "conv": conversation_id,
                        "new_status": status,
                        "turn_status": last_turn_status,
                        "now": self.clock(),
                    },
                )
            return
        values: dict[str, Any] = {"status": status, "updated_at": self.clock()}
        if last_turn_status:
            values["last_turn_status"] = last_turn_status
        if count_turn:
            values["turn_count"] = conversations.c.turn_count + 1
        with self._tx(conn) as tx:
            tx.execute(
                update(conversations)
                .where(conversations.c.conversation_id == conversation_id)
                .values(**values)
            )

    def set_control(self, conversation_id: str, control: str) -> None:
        """Who answers the customer (see govcx.governance.cases); cases change it with
        their transitions, this is for the AI taking a resolved conversation back."""
        with self.db.begin() as conn:
            conn.execute(
                update(conversations)
                .where(conversations.c.conversation_id == conversation_id)
                .values(control=control, updated_at=self.clock())
            )

    def recent(
        self, *, limit: int = 50, status: str | None = None, owner: str | None = None
    ) -> list[dict[str, Any]]:
        """Conversations, the most recently updated first: each row of the conversations
        table (id, customer, owner, status, last turn's status, turn count, times)."""
        query = select(conversations).order_by(
            conversations.c.updated_at.desc(), conversations.c.conversation_id
        )
        if status is not None:
            query = query.where(conversations.c.status == status)
        if owner is not None:
            query = query.where(conversations.c.owner == owner)
        with self.db.read() as conn:
            rows = conn.execute(query.limit(limit)).all()
        return [dict(r._mapping) for r in rows]

    def with_status(self, status: str) -> list[str]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(conversations.c.conversation_id).where(conversations.c.status == status)
            ).all()
        return [r.conversation_id for r in rows]

    def idle_before(self, cutoff: float) -> list[str]:
        """Conversations not running or waiting for approval, untouched since ``cutoff``."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(conversations.c.conversation_id).where(
                    conversations.c.status == "idle", conversations.c.updated_at < cutoff
                )
            ).all()
        return [r.conversation_id for r in rows]

    def add_message(
        self,
        conversation_id: str,
        turn_id: str,
        role: str,
        text: str,
        *,
        conn: Connection | None = None,
    ) -> None:
        """Append to the transcript; a step replayed after a crash replaces its own line."""
        with self._tx(conn) as tx:
            exists = tx.execute(_MESSAGE_OF, {"turn_id": turn_id, "role": role}).first()
            if exists:
                tx.execute(
                    update(messages)
                    .where(messages.c.message_id == exists.message_id)
                    .values(text=text)
                )
                return
            tx.execute(
                _ADD_MESSAGE,
                {
                    "conversation_id": conversation_id,
                    "turn_id": turn_id,
                    "role": role,
                    "text": text,
                    "created_at": self.clock(),
                },
            )

    def transcript(self, conversation_id: str, *, after: int = 0) -> list[dict[str, Any]]:
        """The conversation's lines, oldest first; ``after`` a message_id, only newer ones."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(messages)
                .where(messages.c.conversation_id == conversation_id, messages.c.message_id > after)
                .order_by(messages.c.message_id)
            ).all()
        return [
            {
                "turn_id": r.turn_id,
                "role": r.role,
                "text": r.text,
                "at": r.created_at,
                **({"author": r.author} if r.author else {}),
                "message_id": r.message_id,
            }
            for r in rows
        ]

    def save_turn(self, turn: Turn, *, conn: Connection | None = None) -> None:
        now = self.clock()
        body = turn.model_dump_json()
        with self._tx(conn) as tx:
            exists = tx.execute(_TURN_EXISTS, {"turn_id": turn.turn_id}).first()
            if exists:
                tx.execute(
                    update(turns)
                    .where(turns.c.turn_id == turn.turn_id)
                    .values(status=turn.status, body=body, updated_at=now)
                )
            else:
                tx.execute(
                    _ADD_TURN,
                    {
                        "turn_id": turn.turn_id,
                        "conversation_id": turn.conversation_id,
                        "status": turn.status,
                        "body": body,
                        "created_at": now,
                        "updated_at": now,
                    },
                )

    def get_turn(self, turn_id: str) -> Turn | None:
        with self.db.read() as conn:
            row = conn.execute(select(turns.c.body).where(turns.c.turn_id == turn_id)).first()
        return Turn.model_validate_json(row.body) if row else None

    def turns(self, conversation_id: str) -> list[Turn]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(turns.c.body)
                .where(turns.c.conversation_id == conversation_id)
                .order_by(turns.c.created_at)
            ).all()
        return [Turn.model_validate_json(r.body) for r in rows]

    def turn_bodies(self, conversation_id: str) -> list[dict[str, Any]]:
        """The stored Turns as JSON objects, oldest first (no model parsing: for display)."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(turns.c.body)
                .where(turns.c.conversation_id == conversation_id)
                .order_by(turns.c.created_at)
            ).all()
        return [json.loads(r.body) for r in rows]

    def add_escalation(
        self,
        *,
        conversation_id: str,
        turn_id: str,
        reason: str,
        body: dict[str, Any],
        conn: Connection | None = None,
    ) -> str:
        escalation_id = "esc_" + turn_id.split("_", 1)[-1]
        with self._tx(conn) as conn:
            exists = conn.execute(
                select(escalations.c.escalation_id).where(
                    escalations.c.escalation_id == escalation_id
                )
            ).first()
            if not exists:
                conn.execute(
                    insert(escalations).values(
                        escalation_id=escalation_id,
                        conversation_id=conversation_id,
                        turn_id=turn_id,
                        reason=reason,
                        body=dumps(body),
                        status="open",
                        created_at=self.clock(),
                    )
                )
        return escalation_id

    def escalations(self, *, status: str | None = "open") -> list[dict[str, Any]]:
        query = select(escalations).order_by(escalations.c.created_at)
        if status:
            query = query.where(escalations.c.status == status)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [
            {**{k: v for k, v in r._mapping.items() if k != "body"}, **json.loads(r.body)}
            for r in rows
        ]
