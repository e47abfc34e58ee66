"""Per-conversation locks: runs on one LangGraph thread must not interleave.

Two layers: a threading lock per conversation inside the process, and an ``flock`` on a
file per conversation across processes sharing the state dir (SQLite deployments).
PostgreSQL deployments use advisory locks instead (see ``govcx.store``).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from govcx.errors import ConversationBusy


class ProcessLocks:
    """The in-process layer: one threading lock per conversation, dropped when unused.
    Subclasses add the cross-process layer in :meth:`_cross_process`."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, conversation_id: str, *, timeout: float = 30.0) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(conversation_id, (threading.Lock(), 0))
            self._locks[conversation_id] = (lock, users + 1)
        try:
            if not lock.acquire(timeout=timeout):
                raise ConversationBusy(conversation_id, timeout)
            try:
                with self._cross_process(conversation_id, timeout):
                    yield
            finally:
                lock.release()
        finally:
            with self._guard:
                lock, users = self._locks[conversation_id]
                if users <= 1:
                    del self._locks[conversation_id]
                else:
                    self._locks[conversation_id] = (lock, users - 1)

    def _cross_process(self, conversation_id: str, timeout: float) -> AbstractContextManager[None]:
        raise NotImplementedError

    def is_held_elsewhere(self, conversation_id: str) -> bool:
        raise NotImplementedError


class ConversationLocks(ProcessLocks):
    """SQLite deployments: an ``flock`` per conversation in the state dir."""

    def __init__(self, lock_dir: Path) -> None:
        super().__init__()
        self.lock_dir = lock_dir
        lock_dir.mkdir(parents=True, exist_ok=True)

    def _path(self, conversation_id: str) -> Path:
        digest = hashlib.sha1(conversation_id.encode("utf-8")).hexdigest()[:20]
        return self.lock_dir / f"{digest}.lock"

    @contextmanager
    def _cross_process(self, conversation_id: str, timeout: float) -> Iterator[None]:
        fd = os.open(self._path(conversation_id), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + timeout
            delay = 0.001
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise ConversationBusy(conversation_id, timeout) from None
                    time.sleep(delay)
                    delay = min(delay * 2, 0.05)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def is_held_elsewhere(self, conversation_id: str) -> bool:
        """True if another process holds this conversation's lock right now."""
        fd = os.open(self._path(conversation_id), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)
