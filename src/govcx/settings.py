"""Runtime settings from the environment (prefix ``GOVCX_``), built at the edges."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where state lives and how the runtime behaves. Core code receives this object."""

    model_config = SettingsConfigDict(env_prefix="GOVCX_", extra="ignore")

    home: Path = Path(".govcx")
    """The state dir: database, checkpoints, knowledge index, pack data."""
    pack: Path | None = None
    """Pack folder; None uses the bundled acme pack."""
    database_url: str | None = None
    """Overrides the pack's ``storage.url``."""
    api_keys: str | None = None
    """``key1:principal1,key2:principal2`` for the HTTP API."""
    api_keys_file: Path | None = None
    durability: Literal["sync", "async", "exit"] = "sync"
    """LangGraph checkpoint durability. ``sync`` survives a crash at any step."""
    engine_mode: Literal["live", "record", "replay"] | None = None
    """LLM engine only: record model calls to the pack's cassette, or replay them offline."""
    auto_migrate: bool = False
    """Upgrade an existing database's schema at start-up instead of refusing to start."""
    dev: bool = False
    """Dev mode (``GOVCX_DEV=1``; ``make serve``, ``make chat`` and ``serve --dev`` set it):
    local keys are created in the state dir, and the CLI may decide as ``--as NAME``
    without a key (audited as unauthenticated). Never in production."""
    data_key: SecretStr | None = None
    """The key that encrypts checkpoints at rest (``GOVCX_DATA_KEY``, hex or text, at
    least 16 bytes). Without it or ``data_key_file``: ``<state dir>/data.key``, created
    0600 on SQLite or in dev mode; PostgreSQL outside dev mode refuses to start."""
    data_key_file: Path | None = None
    """A file holding the data key (``GOVCX_DATA_KEY_FILE``)."""
    audit_key: SecretStr | None = None
    """The audit chain's HMAC key itself (``GOVCX_AUDIT_KEY``, hex or text, >= 16 bytes).
    Required (or ``audit_key_file``) on PostgreSQL outside dev mode; every worker shares it."""
    audit_key_file: Path | None = None
    """A file holding the audit key (``GOVCX_AUDIT_KEY_FILE``). Without either, SQLite and
    dev mode use ``<state dir>/audit.key``, created 0600 on first use."""
    lock_timeout: float = 30.0
    """Seconds a turn waits for another turn on the same conversation to finish."""

    def state_dir(self) -> Path:
        """The state dir, created 0700 (group and other bits are taken off an existing one:
        it holds the database, checkpoints and keys)."""
        from govcx.paths import private_dir

        return private_dir(self.home.expanduser().resolve())
