"""The deployment's policies in the database: every version by content, and the active one.

One active policy per deployment lives here, and it is what the API, the CLI and every
worker decide under. A version string names exactly one content (its digest), forever:
registering other content under a known version raises PolicyVersionConflict, so an
approval bound to (version, digest) can never be revived by an edited file that kept
its version.

Example:
    >>> store = PolicyStore(db)
    >>> store.activate(policy, actor="lee", source="PUT /v1/policy").version
    '2026.11.2'
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select, text

from govcx.errors import PolicyVersionConflict
from govcx.governance.policy import Policy, parse_policy
from govcx.store.db import Database, dumps
from govcx.store.schema import policies, policy_activations


@dataclass(frozen=True, kw_only=True)
class Activation:
    """One activation: which content became active, when, by whom."""

    seq: int
    version: str
    digest: str
    actor: str
    source: str
    activated_at: float


class PolicyStore:
    """Registers policy contents and activates them."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def register(
        self, policy: Policy, *, actor: str, source: str, conn: Connection | None = None
    ) -> bool:
        """Record ``policy`` under its version; False if that exact content was known.

        Raises PolicyVersionConflict when the version already names other content.
        """
        if conn is None:
            with self.db.begin() as own:
                return self.register(policy, actor=actor, source=source, conn=own)
        if conn.dialect.name == "postgresql":
            # Processes starting together on a new database (or two admins) would both
            # find the version unknown and insert it; one at a time instead.
            conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended('govcx-policies', 0))")
            )
        row = conn.execute(
            select(policies.c.digest).where(policies.c.version == policy.version)
        ).first()
        if row is not None:
            if row.digest != policy.digest:
                raise PolicyVersionConflict(
                    policy.version,
                    stored_digest=row.digest,
                    new_digest=policy.digest,
                    source=source,
                )
            return False
        conn.execute(
            insert(policies).values(
                version=policy.version,
                digest=policy.digest,
                body=dumps(policy.model_dump(mode="json")),
                source=source[:300],
                registered_by=actor,
                registered_at=time.time(),
            )
        )
        return True

    def check_version(self, policy: Policy, *, source: str) -> None:
        """Raise PolicyVersionConflict when ``policy``'s version names other content."""
        with self.db.read() as conn:
            row = conn.execute(
                select(policies.c.digest).where(policies.c.version == policy.version)
            ).first()
        if row is not None and row.digest != policy.digest:
            raise PolicyVersionConflict(
                policy.version, stored_digest=row.digest, new_digest=policy.digest, source=source
            )

    def activate(
        self, policy: Policy, *, actor: str, source: str, conn: Connection | None = None
    ) -> Activation:
        """Register ``policy`` and make it the active one (one transaction)."""
        if conn is None:
            with self.db.begin() as own:
                return self.activate(policy, actor=actor, source=source, conn=own)
        self.register(policy, actor=actor, source=source, conn=conn)
        now = time.time()
        result = conn.execute(
            insert(policy_activations).values(
                version=policy.version,
                digest=policy.digest,
                actor=actor,
                source=source[:300],
                activated_at=now,
            )
        )
        key = result.inserted_primary_key
        seq = int(key[0]) if key is not None and key[0] is not None else 0
        return Activation(
            seq=seq,
            version=policy.version,
            digest=policy.digest,
            actor=actor,
            source=source,
            activated_at=now,
        )

    def active(self, conn: Connection | None = None) -> Activation | None:
        """The newest activation, or None on a database that never had a policy."""
        if conn is None:
            with self.db.read() as own:
                return self.active(own)
        newest = select(func.max(policy_activations.c.seq)).scalar_subquery()
        row = conn.execute(
            select(policy_activations).where(policy_activations.c.seq == newest)
        ).first()
        if row is None:
            return None
        return Activation(
            seq=row.seq,
            version=row.version,
            digest=row.digest,
            actor=row.actor,
            source=row.source,
            activated_at=row.activated_at,
        )

    def active_seq(self) -> int:
        """The newest activation's number (0 if none): a cheap check for a change."""
        with self.db.read() as conn:
            value = conn.execute(select(func.max(policy_activations.c.seq))).scalar()
        return int(value or 0)

    def load(self, version: str, conn: Connection | None = None) -> Policy:
        """The registered content of ``version``, checked against its digest."""
        if conn is None:
            with self.db.read() as own:
                return self.load(version, own)
        row = conn.execute(
            select(policies.c.body, policies.c.digest).where(policies.c.version == version)
        ).first()
        if row is None:
            from govcx.errors import NotFound

            raise NotFound("policy version", version)
        policy = parse_policy(json.loads(row.body), file=f"policies[{version}]")
        if policy.digest != row.digest:
            from govcx.errors import PolicyError

            raise PolicyError(
                f"policies[{version}]",
                "the stored body does not match its digest (the policies table was edited)",
            )
        return policy

    def history(self, limit: int = 100) -> list[Activation]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(policy_activations).order_by(policy_activations.c.seq.desc()).limit(limit)
            ).all()
        return [
            Activation(
                seq=r.seq,
                version=r.version,
                digest=r.digest,
                actor=r.actor,
                source=r.source,
                activated_at=r.activated_at,
            )
            for r in rows
        ]
