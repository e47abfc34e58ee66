"""The stores a read-only or admin command needs, without the Agent.

``govcx audit verify``, ``approvals list``, ``keys ...`` and ``conversations show|list``
read the database; they do not need the guard engine, the classifier, the knowledge base
or the LangGraph graph, whose imports and start-up take seconds. :func:`open_stores` opens
the pack's database as :class:`govcx.agent.agent.Agent` does (same URL resolution, same
key checks, same schema preparation) and builds each store on first use.

Everything here is imported inside functions: importing this module costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from govcx.governance.approval import ApprovalStore
    from govcx.governance.audit import AuditLog
    from govcx.governance.keys import KeyStore
    from govcx.governance.policy_store import PolicyStore
    from govcx.pack import Pack, PackConfig
    from govcx.settings import Settings
    from govcx.store.conversation import ConversationStore
    from govcx.store.db import Database
    from govcx.store.sealed import Sealer
    from govcx.tools.executor import Executor


@dataclass(eq=False)
class Stores:
    """A pack's database and the stores on it; ``pack``, ``settings`` and ``db`` as on the
    Agent, so the helpers that take an agent (``decider``) take this too.

    Only the pack's govcx.yaml is read up front (for the database URL); ``pack`` loads
    and cross-checks the policy and the tools module on first use."""

    root: Path
    config: PackConfig
    settings: Settings
    state_dir: Path
    db: Database
    audit_key: bytes
    data_key: bytes | None = None
    """The at-rest data key (None for commands opened without it)."""
    _closed: bool = field(default=False, repr=False)

    @cached_property
    def pack(self) -> Pack:
        from govcx.pack import load_pack

        return load_pack(self.root)

    @cached_property
    def audit(self) -> AuditLog:
        from govcx.governance.audit import AuditLog

        return AuditLog(self.db, key=self.audit_key)

    @cached_property
    def approvals(self) -> ApprovalStore:
        from govcx.governance.approval import ApprovalStore

        return ApprovalStore(self.db)

    @cached_property
    def conversations(self) -> ConversationStore:
        from govcx.store.conversation import ConversationStore

        return ConversationStore(self.db)

    @cached_property
    def keys(self) -> KeyStore:
        from govcx.governance.keys import KeyStore

        return KeyStore(self.db)

    @cached_property
    def policies(self) -> PolicyStore:
        from govcx.governance.policy_store import PolicyStore

        return PolicyStore(self.db)

    @cached_property
    def sealer(self) -> Sealer | None:
        """Opens the sealed parts of approval requests (None without the data key)."""
        from govcx.store.sealed import Sealer

        return Sealer(self.data_key) if self.data_key is not None else None

    @cached_property
    def executor(self) -> Executor:
        """For reading the execution ledger only: it has no tools to run."""
        from govcx.tools.executor import Executor
        from govcx.tools.registry import ToolRegistry

        return Executor(
            db=self.db,
            registry=ToolRegistry(),
            approvals=self.approvals,
            data_dir=self.state_dir / "packs" / self.config.name,
        )

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.db.dispose()

    def __enter__(self) -> Stores:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_database(pack: Path | None) -> tuple[Settings, Path, PackConfig, Path, Database]:
    """Settings, the pack folder and its govcx.yaml, the state dir and the pack's database
    (``GOVCX_DATABASE_URL`` or the pack's ``storage.url`` in the state dir), resolved as
    the Agent resolves them; the schema is not touched."""
    from govcx.pack import load_config
    from govcx.settings import Settings
    from govcx.store.db import Database, resolve_url

    settings = Settings()
    root, config = load_config(pack or settings.pack)
    state_dir = settings.state_dir()
    url = resolve_url(settings.database_url or config.storage.url, state_dir)
    return settings, root, config, state_dir, Database(url)


def open_stores(pack: Path | None, *, data_key: bool = True, load: bool = False) -> Stores:
    """The pack's database with its schema prepared, as the Agent opens it.

    The database URL is ``GOVCX_DATABASE_URL`` or the pack's ``storage.url`` in the state
    dir; the data key (unless ``data_key`` is false: commands that never touch a
    checkpoint, like ``govcx keys``, have not needed one) and the audit key are resolved
    with the same checks and errors (ConfigError, exit 2, on PostgreSQL outside dev mode
    without them); a new database is created and sealed with the audit key, an old one
    refused unless ``GOVCX_AUTO_MIGRATE``. With ``load`` the whole pack (policy, tools) is
    loaded and cross-checked first, as the Agent does, before the database is touched.
    """
    from govcx.governance.audit import audit_key
    from govcx.store import migrate

    loaded = None
    if load:
        from govcx.pack import load_pack
        from govcx.settings import Settings

        loaded = load_pack(pack or Settings().pack)
    settings, root, config, state_dir, db = open_database(pack)
    key = None
    try:
        if data_key:
            from govcx.store.sealed import data_key as resolve_data_key

            key = resolve_data_key(settings, state_dir, backend=db.backend)
        chain_key = audit_key(settings, state_dir, db.backend)
        migrate.prepare(db, auto_upgrade=settings.auto_migrate, audit_key=chain_key)
    except BaseException:
        db.dispose()
        raise
    stores = Stores(
        root=root,
        config=config,
        settings=settings,
        state_dir=state_dir,
        db=db,
        audit_key=chain_key,
        data_key=key,
    )
    if loaded is not None:
        stores.pack = loaded
    return stores


def expiry_due(stores: Stores) -> bool:
    """Would opening the Agent and applying expiry change anything?

    True when the pack's policy file is not registered yet (start-up activates it), when
    a pending approval is overdue, or when one was requested under another policy than
    the active one (it is superseded). ``approvals list`` then opens the Agent, which
    applies expiry and resumes those conversations; otherwise it only reads."""
    from govcx.errors import GovcxError

    file = stores.pack.policy
    active = stores.policies.active()
    if active is None:
        return True
    try:
        if stores.policies.load(file.version).digest != file.digest:
            return True  # the Agent refuses the file (its version must be bumped)
        policy = file if active.digest == file.digest else stores.policies.load(active.version)
    except GovcxError:
        return True  # unknown version or an edited policies table: let the Agent say so
    if next(iter(stores.approvals.overdue()), None) is not None:
        return True
    return bool(stores.approvals.stale(policy))


def conversation_view(stores: Stores, conversation_id: str) -> dict[str, Any]:
    """What ``Agent.conversation`` returns, read from the stores."""
    conv = stores.conversations.get(conversation_id)
    return {
        "conversation_id": conversation_id,
        "customer_id": conv["customer_id"],
        "status": conv["status"],
        "control": conv.get("control", "ai"),
        "turn_count": conv["turn_count"],
        "transcript": stores.conversations.transcript(conversation_id),
        "turns": stores.conversations.turn_bodies(conversation_id),
        "pending_approvals": [
            a.model_dump(mode="json")
            for a in stores.approvals.list(status="pending", conversation_id=conversation_id)
        ],
        "actions": stores.executor.ledger(conversation_id),
    }
