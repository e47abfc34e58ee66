"""Server settings: the core :class:`Settings` plus what only the HTTP server needs."""

from __future__ import annotations

from pydantic import Field, field_validator

from govcx.settings import Settings


class ServerSettings(Settings):
    """Settings of ``govcx serve`` (environment prefix ``GOVCX_``)."""

    expiry_interval: float = Field(default=30.0, ge=0)
    """Seconds between sweeps that apply ``on_expiry`` to overdue approvals; 0 disables."""
    prune_interval: float = Field(default=0.0, ge=0)
    """Seconds between retention runs (``govcx db prune`` in the server); 0 disables."""
    prune_older_than: str = "30d"
    """Checkpoints of conversations idle this long are pruned (30m, 24h, 30d...)."""

    @field_validator("prune_older_than")
    @classmethod
    def _duration(cls, value: str) -> str:
        from govcx.governance.policy import parse_duration

        parse_duration(value)  # raises a ValueError naming the valid forms
        return value

    otlp_endpoint: str | None = None
    """OTLP/HTTP traces endpoint (``http://collector:4318/v1/traces``); off when unset."""
    webhook_timeout: float = Field(default=5.0, gt=0)
    """Seconds to wait for a webhook receiver."""
    webhook_max_attempts: int = Field(default=6, ge=1, le=50)
    """Attempts per delivery before it is recorded as failed."""
    webhook_backoff: float = Field(default=1.0, ge=0)
    """Delay before the first retry; doubles on each attempt (with jitter)."""
    webhook_backoff_max: float = Field(default=300.0, ge=0)
    """Longest delay between two attempts."""
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    """Largest request body accepted; larger requests get 413."""
    impact_lease: float = Field(default=900.0, gt=0)
    """Seconds a server worker holds the claim on a proposal's impact report; a report
    still ``running`` after that is taken over by another worker (its worker died). Keep
    it well above the longest report (a few minutes on a large pack): a report that
    outlives its lease is computed twice, and the late result is dropped."""
    queue_poll_interval: float = Field(default=1.0, gt=0)
    """How often the approval-queue stream checks the database for changes made by
    other processes (changes made through this server are pushed at once)."""

    @classmethod
    def of(cls, settings: Settings | None) -> ServerSettings:
        """``settings`` as ServerSettings (server fields from the environment)."""
        if isinstance(settings, ServerSettings):
            return settings
        if settings is None:
            return cls()
        return cls(**{name: getattr(settings, name) for name in Settings.model_fields})
