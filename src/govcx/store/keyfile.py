"""Secrets kept outside the database: the audit chain key and the at-rest data key.

A key comes from its environment variable (the secret itself, hex or text), else from a
key file named in the settings, else, where the caller allows it, from a file created in
the state dir (mode 0600) on first use. A key never enters the database or a log.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from govcx.errors import ConfigError

KEY_BYTES = 32


def _decode(text: str) -> bytes:
    text = text.strip()
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = text.encode("utf-8")
    return raw


def secret_key(
    *,
    name: str,
    value: str | None,
    file: Path | None,
    default_file: Path | None,
    create: bool,
    env: str,
    file_env: str,
) -> bytes:
    """The key named ``name``; see the module docstring for where it comes from.

    Raises ConfigError when no key is configured and ``create`` is false, or when a key
    is shorter than 16 bytes.
    """
    if value:
        key, source = _decode(value), env
    else:
        path = file or default_file
        if path is None:
            raise ConfigError("settings", f"no {name} is configured; set {env} or {file_env}")
        path = path.expanduser()
        if not path.exists():
            if file is not None or not create:
                raise ConfigError(
                    str(path),
                    f"the {name} file does not exist; set {env} or "
                    f"{file_env} to an existing key file (create one with "
                    "`python -c 'import secrets; print(secrets.token_hex(32))'`"
                    " and chmod 600 it)",
                    field=file_env,
                )
            write_new_key(path)
        try:
            key = _decode(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(
                str(path), f"cannot read the {name} file ({exc.strerror})", field=file_env
            ) from None
        source = str(path)
    if len(key) < 16:
        raise ConfigError(
            source,
            f"the {name} is {len(key)} bytes; use at least 16 random "
            "bytes (64 hex characters recommended)",
        )
    return key


def write_new_key(path: Path) -> None:
    """Create ``path`` holding a new random key, readable by its owner only. If another
    process created it first, keep theirs."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secrets.token_hex(KEY_BYTES) + "\n")
