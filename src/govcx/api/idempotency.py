"""Idempotency keys: a repeated request returns the first response and does nothing twice.

Keys live in the ``idempotency_keys`` table, scoped (per conversation for messages, per
principal and approval for decisions), together with a hash of the request body: the
same key with another body is refused (422), because it is a client bug that would
otherwise be silently ignored.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from govcx.api.errors import ApiError
from govcx.store.db import Database, dumps
from govcx.store.schema import idempotency_keys

MAX_KEY_LENGTH = 200


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ApiError(
            422,
            "invalid_idempotency_key",
            "Idempotency-Key must be 1-200 printable ASCII characters (a UUID is a good choice)",
            details={"field": "Idempotency-Key"},
        )
    return key


def request_hash(body: Any) -> str:
    return hashlib.sha256(dumps(body).encode("utf-8")).hexdigest()


@dataclass(frozen=True, kw_only=True)
class Claim:
    """The state of a key after :meth:`IdempotencyStore.claim`."""

    new: bool
    """This request holds the key now and must complete or release it."""
    response: dict[str, Any] | None = None
    """The stored response of an earlier, finished request."""


class IdempotencyStore:
    def __init__(self, db: Database, *, abandon_after: float = 300.0) -> None:
        self.db = db
        self.abandon_after = abandon_after
        """A claim without a response this old was left by a crashed request: take it over
        (the core refuses whatever that request already did, e.g. a decided approval)."""

    def claim(self, scope: str, key: str, body_hash: str) -> Claim:
        """Take ``key`` in ``scope`` for a request with this body hash.

        Raises ApiError 422 when the key was used with another body.
        """
        scope = scope[:200]
        for _ in range(2):
            try:
                with self.db.begin() as conn:
                    row = conn.execute(
                        select(idempotency_keys).where(
                            idempotency_keys.c.scope == scope, idempotency_keys.c.key == key
                        )
                    ).first()
                    now = time.time()
                    if row is None:
                        conn.execute(
                            insert(idempotency_keys).values(
                                scope=scope,
                                key=key,
                                request_hash=body_hash,
                                response=None,
                                created_at=now,
                            )
                        )
                        return Claim(new=True)
                    if (
                        row.response is None
                        and row.request_hash == body_hash
                        and now - row.created_at > self.abandon_after
                    ):
                        conn.execute(
                            update(idempotency_keys)
                            .where(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)
                            .values(created_at=now)
                        )
                        return Claim(new=True)
            except IntegrityError:  # a concurrent insert on PostgreSQL: read it again
                continue
            if row.request_hash != body_hash:
                raise ApiError(
                    422,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used "
                    "with a different request body; use a new key for a new request",
                    details={"field": "Idempotency-Key"},
                )
            response = json.loads(row.response) if row.response else None
            return Claim(new=False, response=response)
        raise ApiError(
            409,
            "idempotency_in_progress",
            "a request with this Idempotency-Key is being processed; retry shortly",
        )

    def complete(self, scope: str, key: str, response: dict[str, Any]) -> None:
        with self.db.begin() as conn:
            conn.execute(
                update(idempotency_keys)
                .where(idempotency_keys.c.scope == scope[:200], idempotency_keys.c.key == key)
                .values(response=dumps(response))
            )

    def release(self, scope: str, key: str) -> None:
        """Forget a claim whose request failed, so that a retry runs again."""
        with self.db.begin() as conn:
            conn.execute(
                delete(idempotency_keys).where(
                    idempotency_keys.c.scope == scope[:200], idempotency_keys.c.key == key
                )
            )
