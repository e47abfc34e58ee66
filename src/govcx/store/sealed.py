"""Customer data at rest: encrypted checkpoints and owner-only state files.

The graph's checkpoints hold the customer's raw message for as long as a run needs it
(the engine reads it; everything else govcx stores gets the redacted text). They are
encrypted with AES-256-GCM (``cryptography``) through LangGraph's
:class:`~langgraph.checkpoint.serde.encrypted.EncryptedSerializer`, with a data key kept
outside the database (:func:`data_key`). Checkpoints written before encryption was turned
on carry no cipher name in their type tag and still load.

Small values that must be kept in a row but not in clear (the customer's name among the
facts shown to an approver) are sealed with the same key (:class:`Sealer`, its own
derived key), and opened only for the people who may read them.

Files and folders govcx creates in the state dir are readable by their owner only
(:mod:`govcx.paths`).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from govcx.errors import CheckpointUnreadable, ConfigError
from govcx.store.keyfile import secret_key

if TYPE_CHECKING:
    from langgraph.checkpoint.serde.encrypted import EncryptedSerializer

    from govcx.settings import Settings

CIPHER_NAME = "aesgcm"
DATA_KEY_FILE = "data.key"
_NONCE = 12


class AesGcmCipher:
    """LangGraph's ``CipherProtocol`` over AES-256-GCM: a random 96-bit nonce per value,
    stored before the ciphertext; the tag authenticates it (a changed byte fails)."""

    def __init__(self, key: bytes, *, info: bytes = b"govcx checkpoints v1") -> None:
        # The configured key may be any length >= 16 bytes: derive the AES key from it.
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)
        self._aead = AESGCM(derived)

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(_NONCE)
        return CIPHER_NAME, nonce + self._aead.encrypt(nonce, plaintext, None)

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
        if ciphername != CIPHER_NAME:
            raise CheckpointUnreadable(
                f"a checkpoint is encrypted with {ciphername!r}; "
                f"this version of govcx reads {CIPHER_NAME!r}"
            )
        try:
            return self._aead.decrypt(ciphertext[:_NONCE], ciphertext[_NONCE:], None)
        except InvalidTag:
            raise CheckpointUnreadable(
                "a checkpoint cannot be decrypted with the configured data key "
                "(GOVCX_DATA_KEY / GOVCX_DATA_KEY_FILE): the key changed or the row was "
                "altered"
            ) from None


class Sealer:
    """JSON values sealed for a database row (AES-256-GCM under a key derived from the
    data key for this use only), as base64 text.

    Example:
        >>> sealer = Sealer(key)
        >>> sealer.open(sealer.seal({"customer": "Riley Chen"}))
        {'customer': 'Riley Chen'}
    """

    def __init__(self, key: bytes) -> None:
        self._cipher = AesGcmCipher(key, info=b"govcx sealed values v1")

    def seal(self, value: Any) -> str:
        _, blob = self._cipher.encrypt(json.dumps(value, ensure_ascii=False).encode("utf-8"))
        return base64.b64encode(blob).decode("ascii")

    def open(self, sealed: str) -> Any:
        """The value, or None when it cannot be opened (another data key, an altered row):
        the caller shows what it stored in clear instead."""
        try:
            blob = base64.b64decode(sealed.encode("ascii"), validate=True)
            return json.loads(self._cipher.decrypt(CIPHER_NAME, blob))
        except (CheckpointUnreadable, binascii.Error, UnicodeError, ValueError):
            return None


def checkpoint_serde(key: bytes) -> EncryptedSerializer:
    """The serializer for SqliteSaver/PostgresSaver ``serde=``: JSON+ then AES-GCM."""
    # Imported here: reading a data key (``govcx audit verify``) needs no LangGraph.
    from langgraph.checkpoint.serde.encrypted import EncryptedSerializer

    return EncryptedSerializer(AesGcmCipher(key))


def data_key(settings: Settings, state_dir: Path, *, backend: str) -> bytes:
    """The at-rest data key: ``GOVCX_DATA_KEY``, else ``GOVCX_DATA_KEY_FILE``, else
    ``<state_dir>/data.key`` (created 0600 on SQLite, whose data lives in the same
    directory anyway, or in dev mode). PostgreSQL outside dev mode needs one configured:
    a key created beside a server's database would be lost with the host."""
    value = settings.data_key.get_secret_value() if settings.data_key else None
    create = backend == "sqlite" or settings.dev
    if not value and settings.data_key_file is None and not create:
        raise ConfigError(
            "settings",
            "no data key is configured for PostgreSQL; set "
            "GOVCX_DATA_KEY (64 hex characters) or GOVCX_DATA_KEY_FILE (a 0600 "
            "file holding one) so that checkpoints can be encrypted at rest "
            "(dev mode, GOVCX_DEV=1, creates one in the state dir)",
            field="data_key",
        )
    return secret_key(
        name="data key",
        value=value,
        file=settings.data_key_file,
        default_file=state_dir / DATA_KEY_FILE,
        create=create,
        env="GOVCX_DATA_KEY",
        file_env="GOVCX_DATA_KEY_FILE",
    )


def sqlite_secure(conn: Any) -> None:
    """PRAGMA secure_delete on a DB-API SQLite connection: deleted and overwritten
    content is zeroed in the file instead of lingering in free pages."""
    conn.execute("PRAGMA secure_delete=ON")
