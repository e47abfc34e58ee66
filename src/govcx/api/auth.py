"""API keys: bearer tokens mapped to the pack's principals.

Keys come from the database (``govcx keys create``: hashed with scrypt, revocable, see
:mod:`govcx.governance.keys`), and for bootstrapping from ``GOVCX_API_KEYS``
(``key1:principal1,key2:principal2``), from a keys file (``GOVCX_API_KEYS_FILE``: one
``key:principal`` per line, ``#`` comments), and in dev mode from local keys that
``govcx serve --dev`` creates once per principal and keeps in the state dir. Static keys
are held in memory only as SHA-256 digests. With no keys at all (database keys counted)
and no dev mode the server refuses to start: an API without keys would be open to anyone.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from govcx.errors import ConfigError
from govcx.governance.keys import KeyStore, looks_like_key
from govcx.governance.principal import Principal, canonical_name

MIN_KEY_LENGTH = 16
DEV_KEYS_FILE = "dev-api-keys"
"""File in the state dir holding the dev keys, in the keys-file format."""

ROLE_CHANNEL = "channel"
ROLE_APPROVER = "approver"
ROLE_AUDITOR = "auditor"
ROLE_ADMIN = "admin"
ROLE_AGENT = "agent"


@dataclass(frozen=True, kw_only=True)
class Caller:
    """The authenticated principal of a request."""

    principal: Principal
    key_id: str
    """A short fingerprint of the key (never the key), for logs."""

    @property
    def name(self) -> str:
        return self.principal.name

    def has(self, role: str) -> bool:
        """``role`` is channel, auditor, admin, or ``approver`` (any approver role)."""
        if role == ROLE_APPROVER:
            return bool(self.principal.approver_roles)
        return self.principal.has(role)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_keys(text: str, *, source: str, separator: str = ",") -> list[tuple[str, str]]:
    """``key:principal`` entries separated by ``separator`` (commas or newlines)."""
    pairs = []
    for number, raw in enumerate(text.split(separator), start=1):
        entry = raw.split("#", 1)[0].strip() if separator == "\n" else raw.strip()
        if not entry:
            continue
        key, sep, name = entry.rpartition(":")
        key, name = key.strip(), name.strip()
        where = f"line {number}" if separator == "\n" else f"entry {number}"
        if not sep or not key or not name:
            raise ConfigError(source, f"{where}: expected key:principal")
        pairs.append((key, name))
    return pairs


class KeyRing:
    """Looks up the principal of a bearer key."""

    def __init__(
        self,
        pairs: Iterable[tuple[str, str]],
        principals: Mapping[str, Principal],
        *,
        source: str = "api keys",
        store: KeyStore | None = None,
    ) -> None:
        self._by_digest: dict[str, Principal] = {}
        self._store = store
        self._principals = {canonical_name(p.name): p for p in principals.values()}
        for key, given in pairs:
            found = self._principals.get(canonical_name(given))
            if found is None:
                raise ConfigError(
                    source,
                    f"unknown principal {given!r}; the pack's principals "
                    f"are {', '.join(sorted(principals)) or '(none)'}",
                )
            name = found.name
            if len(key) < MIN_KEY_LENGTH:
                raise ConfigError(
                    source,
                    f"the key of {name} is {len(key)} characters; use at "
                    f"least {MIN_KEY_LENGTH} random characters (for example "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(24))'`)",
                )
            digest = _digest(key)
            if digest in self._by_digest and self._by_digest[digest].name != name:
                raise ConfigError(
                    source, f"the same key is given to {name} and {self._by_digest[digest].name}"
                )
            self._by_digest[digest] = principals[name]

    def __len__(self) -> int:
        return len(self._by_digest)

    def authenticate(self, key: str) -> Caller | None:
        """The caller of ``key``: a static key, else a database key (revocation is
        checked on every use); None for an unknown, revoked or malformed key."""
        digest = _digest(key)
        principal = self._by_digest.get(digest)
        if principal is not None:
            return Caller(principal=principal, key_id=digest[:8])
        if self._store is None or not looks_like_key(key):
            return None
        record = self._store.authenticate(key)
        if record is None:
            return None
        principal = self._principals.get(canonical_name(record.principal))
        if principal is None:  # a key of someone the pack no longer names
            return None
        return Caller(principal=principal, key_id=record.key_id)

    @classmethod
    def configured(
        cls,
        *,
        api_keys: str | None,
        api_keys_file: Path | None,
        principals: Mapping[str, Principal],
        dev_keys: Mapping[str, str] | None = None,
        store: KeyStore | None = None,
    ) -> KeyRing:
        """Keys from the settings, dev keys and the database (``store``); refuses to
        build a key ring that accepts no key at all."""
        pairs: list[tuple[str, str]] = []
        if api_keys:
            pairs += parse_keys(api_keys, source="GOVCX_API_KEYS")
        if api_keys_file is not None:
            path = Path(api_keys_file).expanduser()
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(
                    str(path),
                    f"cannot read the API keys file ({exc.strerror})",
                    field="GOVCX_API_KEYS_FILE",
                ) from None
            pairs += parse_keys(text, source=str(path), separator="\n")
        if dev_keys:
            pairs += [(key, name) for name, key in dev_keys.items()]
        if not pairs and (store is None or store.count_active() == 0):
            raise ConfigError(
                "settings",
                "no API keys are configured, so the API would be "
                "open to anyone; create one with `govcx keys create NAME`, or "
                'set GOVCX_API_KEYS="key:principal,..." or '
                "GOVCX_API_KEYS_FILE, or run `govcx serve --dev` to create "
                "local keys",
            )
        source = "GOVCX_API_KEYS" if api_keys else str(api_keys_file or "dev keys")
        return cls(pairs, principals, source=source, store=store)


def dev_keys(state_dir: Path, principals: Iterable[str]) -> dict[str, str]:
    """Local keys, one per principal, created once and kept in the state dir (mode 600)."""
    path = state_dir / DEV_KEYS_FILE
    existing: dict[str, str] = {}
    if path.exists():
        existing = {
            name: key
            for key, name in parse_keys(
                path.read_text(encoding="utf-8"), source=str(path), separator="\n"
            )
        }
    wanted = sorted(principals)
    missing = [name for name in wanted if name not in existing]
    if missing:
        for name in missing:
            existing[name] = "gcx_dev_" + secrets.token_urlsafe(24)
        lines = ["# govcx dev API keys (key:principal); delete this file to rotate them"]
        lines += [f"{existing[name]}:{name}" for name in sorted(existing)]
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
    return {name: existing[name] for name in wanted}
