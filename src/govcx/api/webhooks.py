"""Signed webhooks for approval and escalation events, delivered off the request path.

Each matching (event, URL) pair becomes a row in ``webhook_deliveries`` in the request
that caused it (a cheap insert), and a background thread sends it: POST of the event's
JSON with ``X-Govcx-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` keyed with
the secret from the environment variable the pack names (``secret_env``). Failed
attempts are retried with exponential backoff and jitter up to a bounded number of
attempts; every attempt is recorded. A slow or failing receiver never blocks a turn, and
a delivery that was pending when the server stopped is sent after the next start.

Receivers verify with :func:`verify_signature`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import heapq
import hmac
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
from sqlalchemy import insert, or_, select, update

from govcx.api.events import Event
from govcx.api.settings import ServerSettings
from govcx.errors import ConfigError
from govcx.guardrails.pii import redact_values
from govcx.pack import WebhookConfig
from govcx.store.db import Database, dumps
from govcx.store.schema import webhook_deliveries

log = logging.getLogger("govcx.api.webhooks")

SIGNATURE_HEADER = "X-Govcx-Signature"
_RETRY_STATUSES = frozenset({408, 425, 429})


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance: float = 300.0, now: float | None = None
) -> bool:
    """True if ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def resolve_secrets(
    hooks: Sequence[WebhookConfig], environ: Mapping[str, str] | None = None
) -> dict[str, str | None]:
    """The signing secret of each hook URL; a named but unset variable is a config error."""
    environ = os.environ if environ is None else environ
    out: dict[str, str | None] = {}
    for hook in hooks:
        if not hook.url.startswith(("http://", "https://")):
            raise ConfigError(
                "govcx.yaml",
                f"webhook URL {hook.url!r} must start with http:// or https://",
                field="webhooks",
            )
        if hook.secret_env is None:
            log.warning("webhook %s has no secret_env: its deliveries are not signed", hook.url)
            out[hook.url] = None
            continue
        secret = environ.get(hook.secret_env)
        if not secret:
            raise ConfigError(
                "govcx.yaml",
                f"webhook {hook.url} signs with the secret in "
                f"${hook.secret_env}, which is not set; export it before "
                "starting the server",
                field="webhooks.secret_env",
            )
        out[hook.url] = secret
    return out


def _matches(hook: WebhookConfig, event_type: str) -> bool:
    return any(
        pattern == "*" or fnmatch.fnmatchcase(event_type, pattern) for pattern in hook.events
    )


class WebhookDispatcher:
    """Records deliveries and sends them from one background thread."""

    def __init__(
        self,
        db: Database,
        hooks: Sequence[WebhookConfig],
        *,
        secrets: Mapping[str, str | None],
        settings: ServerSettings,
        metrics: Any = None,
        transport: httpx.BaseTransport | None = None,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self.db = db
        self.redact = redact
        """Applied to every string of an event body before it is stored and sent."""
        self.hooks = list(hooks)
        self.secrets = dict(secrets)
        self.settings = settings
        self.metrics = metrics
        self._transport = transport
        self._heap: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        self._busy = 0
        self._stopping = False
        self._thread: threading.Thread | None = None

    # -- recording (request path) --------------------------------------------------------
    def emit(self, event: Event) -> list[str]:
        """Record a delivery per matching hook; the worker sends them. Returns their ids."""
        hooks = [h for h in self.hooks if _matches(h, event.type)]
        if not hooks:
            return []
        data = event.as_dict()
        if self.redact is not None:
            data = redact_values(data, self.redact)
        body = dumps(data)
        now = time.time()
        created = []
        with self.db.begin() as conn:
            for hook in hooks:
                delivery_id = hashlib.sha256(f"{event.id}|{hook.url}".encode()).hexdigest()[:32]
                exists = conn.execute(
                    select(webhook_deliveries.c.delivery_id).where(
                        webhook_deliveries.c.delivery_id == delivery_id
                    )
                ).first()
                if exists:
                    continue  # the same fact, already recorded (maybe by another worker)
                conn.execute(
                    insert(webhook_deliveries).values(
                        delivery_id=delivery_id,
                        event_id=event.id,
                        event_type=event.type,
                        url=hook.url,
                        body=body,
                        status="pending",
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                        updated_at=now,
                    )
                )
                created.append(delivery_id)
        with self._cond:
            for delivery_id in created:
                heapq.heappush(self._heap, (now, delivery_id))
            self._cond.notify()
        return created

    # -- the worker ---------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None or not self.hooks:
            return
        self._stopping = False
        with self.db.read() as conn:
            rows = conn.execute(
                select(
                    webhook_deliveries.c.delivery_id, webhook_deliveries.c.next_attempt_at
                ).where(webhook_deliveries.c.status == "pending")
            ).all()
        with self._cond:
            for row in rows:
                heapq.heappush(self._heap, (row.next_attempt_at or time.time(), row.delivery_id))
        self._thread = threading.Thread(target=self._run, name="govcx-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is due or being sent (retries scheduled later do not count)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                due = any(at <= time.time() for at, _ in self._heap)
                if not due and not self._busy:
                    return True
            time.sleep(0.01)
        return False

    def _run(self) -> None:
        with httpx.Client(
            timeout=self.settings.webhook_timeout, transport=self._transport, follow_redirects=False
        ) as client:
            while True:
                with self._cond:
                    while not self._stopping:
                        now = time.time()
                        if self._heap and self._heap[0][0] <= now:
                            break
                        wait = self._heap[0][0] - now if self._heap else None
                        self._cond.wait(wait)
                    if self._stopping:
                        return
                    _, delivery_id = heapq.heappop(self._heap)
                    self._busy += 1
                try:
                    self._attempt(client, delivery_id)
                except Exception:  # keep the worker alive whatever happens
                    log.exception("webhook delivery %s failed unexpectedly", delivery_id)
                finally:
                    with self._cond:
                        self._busy -= 1

    def _claim(self, delivery_id: str) -> Any:
        now = time.time()
        lease = now + self.settings.webhook_timeout + 30
        with self.db.begin() as conn:
            result = conn.execute(
                update(webhook_deliveries)
                .where(
                    webhook_deliveries.c.delivery_id == delivery_id,
                    webhook_deliveries.c.status == "pending",
                    or_(
                        webhook_deliveries.c.next_attempt_at.is_(None),
                        webhook_deliveries.c.next_attempt_at <= now + 0.001,
                    ),
                    or_(
                        webhook_deliveries.c.claimed_until.is_(None),
                        webhook_deliveries.c.claimed_until < now,
                    ),
                )
                .values(claimed_until=lease)
            )
            if result.rowcount != 1:
                return None
            return conn.execute(
                select(webhook_deliveries).where(webhook_deliveries.c.delivery_id == delivery_id)
            ).first()

    def _attempt(self, client: httpx.Client, delivery_id: str) -> None:
        row = self._claim(delivery_id)
        if row is None:
            return  # delivered, failed, or another process is sending it
        body = row.body.encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "govcx-webhooks/1",
            "X-Govcx-Event": row.event_type,
            "X-Govcx-Delivery": row.delivery_id,
            "X-Govcx-Event-Id": row.event_id,
        }
        secret = self.secrets.get(row.url)
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, body, int(time.time()))
        status: int | None = None
        error: str | None = None
        try:
            response = client.post(row.url, content=body, headers=headers)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"receiver answered {status}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        attempts = row.attempts + 1
        now = time.time()
        if error is None:
            values: dict[str, Any]
            outcome, values = "delivered", {"status": "delivered", "next_attempt_at": None}
        elif attempts >= self.settings.webhook_max_attempts or (
            status is not None and 400 <= status < 500 and status not in _RETRY_STATUSES
        ):
            outcome, values = "failed", {"status": "failed", "next_attempt_at": None}
        else:
            delay = min(
                self.settings.webhook_backoff * 2 ** (attempts - 1),
                self.settings.webhook_backoff_max,
            )
            delay *= random.uniform(0.8, 1.2)
            outcome, values = "retry", {"next_attempt_at": now + delay}
        with self.db.begin() as conn:
            conn.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.delivery_id == delivery_id)
                .values(
                    attempts=attempts,
                    last_status=status,
                    last_error=error,
                    claimed_until=None,
                    updated_at=now,
                    **values,
                )
            )
        if outcome == "retry":
            with self._cond:
                heapq.heappush(self._heap, (float(values["next_attempt_at"]), delivery_id))
                self._cond.notify()
        if outcome != "delivered":
            log.warning(
                "webhook %s to %s: %s (attempt %d, %s)",
                row.event_type,
                row.url,
                error,
                attempts,
                outcome,
            )
        if self.metrics is not None:
            self.metrics.webhook_attempt(row.event_type, outcome)

    # -- reading ------------------------------------------------------------------------
    def deliveries(
        self, *, status: str | None = None, event_type: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        query = select(webhook_deliveries).order_by(webhook_deliveries.c.created_at.desc())
        if status:
            query = query.where(webhook_deliveries.c.status == status)
        if event_type:
            query = query.where(webhook_deliveries.c.event_type == event_type)
        with self.db.read() as conn:
            rows = conn.execute(query.limit(limit)).all()
        return [
            {k: v for k, v in row._mapping.items() if k not in ("body", "claimed_until")}
            for row in rows
        ]
