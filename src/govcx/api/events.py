"""Domain events of the server: approvals requested, decided and expired, escalations,
and the hand-off of conversations to people (``conversation.*``, govcx.governance.cases).

The :class:`EventBus` hands each event once to its subscribers (the webhook dispatcher)
and wakes the approval-queue streams of the console.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from govcx.governance.cases import CASE_EVENT_TYPES

log = logging.getLogger("govcx.api")

APPROVAL_REQUESTED = "approval.requested"
APPROVAL_DECIDED = "approval.decided"
APPROVAL_EXPIRED = "approval.expired"
ESCALATION_CREATED = "escalation.created"
EVENT_TYPES = (
    APPROVAL_REQUESTED,
    APPROVAL_DECIDED,
    APPROVAL_EXPIRED,
    ESCALATION_CREATED,
    *CASE_EVENT_TYPES,
)


@dataclass(frozen=True, kw_only=True)
class Event:
    id: str
    """Stable id: the same fact always has the same id (receivers can drop duplicates)."""
    type: str
    data: dict[str, Any]
    created_at: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "created_at": self.created_at, "data": self.data}


class EventBus:
    """Publishes events to subscribers; wakes waiting queue streams."""

    def __init__(self, *, remember: int = 10_000) -> None:
        self._subscribers: list[Callable[[Event], object]] = []
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remember = remember
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self.queue_version = 0

    def subscribe(self, callback: Callable[[Event], object]) -> None:
        self._subscribers.append(callback)

    def publish(self, event: Event) -> bool:
        """Hand ``event`` to the subscribers unless it was published before."""
        with self._lock:
            if event.id in self._seen:
                return False
            self._seen[event.id] = None
            if len(self._seen) > self._remember:
                self._seen.popitem(last=False)
        for callback in tuple(self._subscribers):
            try:
                callback(event)
            except Exception:  # a subscriber must never fail the request that published
                log.exception("event subscriber failed on %s", event.id)
        if event.type.startswith(("approval.", "conversation.")):
            self.queue_changed()
        return True

    # -- approval-queue streams ---------------------------------------------------------
    def queue_changed(self) -> None:
        with self._lock:
            self.queue_version += 1
            waiters = tuple(self._waiters)
        for loop, flag in waiters:
            try:
                loop.call_soon_threadsafe(flag.set)
            except RuntimeError:  # the loop is closed: the stream is gone
                pass

    def waiter(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Event]:
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.add(entry)
        return entry

    def drop_waiter(self, entry: tuple[asyncio.AbstractEventLoop, asyncio.Event]) -> None:
        with self._lock:
            self._waiters.discard(entry)
