"""Read-only access to a state dir's stores, without building an Agent.

Simulation and readiness read what a deployment recorded (audit log, approvals); they must
not create an empty database where there is none, nor load the guard or the knowledge base.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from govcx.governance.approval import ApprovalRequest, ApprovalStore
from govcx.pack import Pack
from govcx.settings import Settings
from govcx.store.db import Database, resolve_url


@contextmanager
def state_database(pack: Pack, settings: Settings) -> Iterator[Database | None]:
    """The state dir's database, or None when a SQLite file does not exist yet."""
    state_dir = settings.home.expanduser().resolve()
    url = resolve_url(settings.database_url or pack.config.storage.url, state_dir)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and (
        not parsed.database or not Path(parsed.database).exists()
    ):
        yield None
        return
    db = Database(url)
    try:
        yield db
    finally:
        db.dispose()


def recorded_approvals(pack: Pack, settings: Settings) -> list[ApprovalRequest]:
    """Every approval request of the state dir, oldest first."""
    with state_database(pack, settings) as db:
        if db is None:
            return []
        return ApprovalStore(db).list(limit=1_000_000)
