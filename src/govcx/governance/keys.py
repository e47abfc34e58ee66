"""API keys kept in the database, hashed: who a key speaks for, and whether it still does.

A key looks like ``gcx_<key_id>_<secret>``. The row is found by ``key_id`` (its primary
key); the secret is checked against a scrypt hash with a per-key random salt, compared in
constant time. The key itself is printed once, at creation, and never stored.

Why scrypt: it is in the standard library (``hashlib.scrypt``, OpenSSL's implementation),
memory-hard, and its parameters are stored per row so they can be raised later without
invalidating old keys. The secrets are 256-bit random values, so the KDF is defence in
depth against a stolen database rather than the only barrier; its cost (about 0.1 s on
a busy 2-core machine) is paid once per key per process, because successful verifications
are cached in memory, keyed by the SHA-256 of the key. Revocation is checked on every use
(an indexed primary-key lookup), so a revoked key stops working at once in every process
and worker.

Example:
    >>> store = KeyStore(db)                                      # doctest: +SKIP
    >>> issued = store.create("dana", created_by="ops")           # doctest: +SKIP
    >>> store.verify(issued.key).principal                        # doctest: +SKIP
    'dana'
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update

from govcx.errors import NotFound, Unauthenticated
from govcx.store.db import Database
from govcx.store.schema import api_keys

PREFIX = "gcx_"
KEY_PATTERN = re.compile(r"^gcx_([0-9a-f]{12})_([A-Za-z0-9_-]{32,})$")
KEY_ID_PATTERN = re.compile(r"^[0-9a-f]{12}$")

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_DKLEN = 32

HOW_TO = (
    "create one with `govcx keys create NAME` and pass it as "
    "`export GOVCX_API_KEY=gcx_...` or `--key-file FILE`"
)


@dataclass(frozen=True, kw_only=True)
class IssuedKey:
    """A new key: ``key`` is shown once and never stored."""

    key_id: str
    principal: str
    key: str


@dataclass(frozen=True, kw_only=True)
class KeyRecord:
    """A stored key, without its secret."""

    key_id: str
    principal: str
    created_at: float
    created_by: str | None = None
    revoked_at: float | None = None
    revoked_by: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_dict(self) -> dict[str, object]:
        return {
            "key_id": self.key_id,
            "principal": self.principal,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "revoked_at": self.revoked_at,
            "revoked_by": self.revoked_by,
            "active": self.active,
        }


def looks_like_key(text: str) -> bool:
    """Whether ``text`` has the shape of a database key (``gcx_<key_id>_<secret>``)."""
    return KEY_PATTERN.match(text) is not None


def _kdf(secret: str, salt: bytes, params: str) -> bytes:
    values = dict(part.split("=", 1) for part in params.removeprefix("scrypt:").split(","))
    return hashlib.scrypt(
        secret.encode("utf-8"),
        salt=salt,
        n=int(values["n"]),
        r=int(values["r"]),
        p=int(values["p"]),
        dklen=int(values["dklen"]),
        maxmem=256 * 1024 * 1024,
    )


def _params() -> str:
    return f"scrypt:n={SCRYPT_N},r={SCRYPT_R},p={SCRYPT_P},dklen={SCRYPT_DKLEN}"


def _fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _record(row: Any) -> KeyRecord:
    return KeyRecord(
        key_id=row.key_id,
        principal=row.principal,
        created_at=row.created_at,
        created_by=row.created_by,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
    )


class KeyStore:
    """API keys in the ``api_keys`` table: create, list, revoke, authenticate."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self._verified: dict[str, tuple[str, str]] = {}
        """sha256(key) -> (key_id, principal) of keys whose secret already verified."""
        self._lock = threading.Lock()

    def create(self, principal: str, *, created_by: str | None = None) -> IssuedKey:
        """A new key for ``principal`` (a canonical pack name: the caller checks it)."""
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        params = _params()
        digest = _kdf(secret, salt, params)
        with self.db.begin() as conn:
            conn.execute(
                insert(api_keys).values(
                    key_id=key_id,
                    principal=principal,
                    hash=digest.hex(),
                    salt=salt.hex(),
                    kdf=params,
                    created_at=self.clock(),
                    created_by=created_by,
                )
            )
        return IssuedKey(key_id=key_id, principal=principal, key=f"{PREFIX}{key_id}_{secret}")

    def list(self, *, include_revoked: bool = True) -> list[KeyRecord]:
        query = select(
            api_keys.c.key_id,
            api_keys.c.principal,
            api_keys.c.created_at,
            api_keys.c.created_by,
            api_keys.c.revoked_at,
            api_keys.c.revoked_by,
        ).order_by(api_keys.c.created_at, api_keys.c.key_id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        with self.db.read() as conn:
            return [_record(row) for row in conn.execute(query).all()]

    def count_active(self) -> int:
        with self.db.read() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(api_keys)
                    .where(api_keys.c.revoked_at.is_(None))
                ).scalar_one()
            )

    def revoke(self, key_id: str, *, revoked_by: str | None = None) -> KeyRecord:
        """Revoke a key (a second revoke keeps the first time); NotFound for an unknown id."""
        key_id = key_id.strip()
        if key_id.startswith(PREFIX):  # a whole key was pasted: take its id only
            key_id = key_id[len(PREFIX) :].split("_", 1)[0]
        with self.db.begin() as conn:
            conn.execute(
                update(api_keys)
                .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=self.clock(), revoked_by=revoked_by)
            )
            row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
        if row is None:
            raise NotFound("API key", key_id, hint="`govcx keys list` shows the key ids")
        with self._lock:
            self._verified = {k: v for k, v in self._verified.items() if v[0] != key_id}
        return _record(row)

    def verify(self, key: str) -> KeyRecord:
        """The record of ``key``; raises Unauthenticated (malformed, unknown, revoked)."""
        key = key.strip()
        match = KEY_PATTERN.match(key)
        if match is None:
            raise Unauthenticated(
                "the API key is malformed (expected gcx_<key id>_<secret>, as printed by "
                f"`govcx keys create`); {HOW_TO}"
            )
        key_id = match.group(1)
        fingerprint = _fingerprint(key)
        with self.db.read() as conn:
            row = conn.execute(
                select(
                    api_keys.c.key_id,
                    api_keys.c.principal,
                    api_keys.c.hash,
                    api_keys.c.salt,
                    api_keys.c.kdf,
                    api_keys.c.created_at,
                    api_keys.c.created_by,
                    api_keys.c.revoked_at,
                    api_keys.c.revoked_by,
                ).where(api_keys.c.key_id == key_id)
            ).first()
        if row is None:
            raise Unauthenticated(f"unknown API key {key_id}; {HOW_TO}")
        if row.revoked_at is not None:
            with self._lock:
                self._verified.pop(fingerprint, None)
            raise Unauthenticated(f"API key {key_id} of {row.principal} was revoked; {HOW_TO}")
        with self._lock:
            cached = self._verified.get(fingerprint)
        if cached != (row.key_id, row.principal):
            computed = _kdf(match.group(2), bytes.fromhex(row.salt), row.kdf)
            if not hmac.compare_digest(computed, bytes.fromhex(row.hash)):
                raise Unauthenticated(f"unknown API key {key_id}; {HOW_TO}")
            with self._lock:
                self._verified[fingerprint] = (row.key_id, row.principal)
        return _record(row)

    def authenticate(self, key: str) -> KeyRecord | None:
        """Like :meth:`verify`, but None instead of an error."""
        try:
            return self.verify(key)
        except Unauthenticated:
            return None
