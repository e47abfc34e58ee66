"""Policies activated through the API: validated, versioned, persisted and shared.

``PUT /v1/policy`` validates the text (schema, expressions, the pack's tools), activates
it on the Agent and records it in ``api_policy_activations``, so that a restarted server
and the other workers pick it up (unless the pack's policy file changed since: then the
file wins).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from sqlalchemy import insert, select

from govcx.agent.agent import Agent
from govcx.agent.pack import _cross_check
from govcx.api.auth import Caller
from govcx.api.errors import ApiError
from govcx.api.events import EventBus
from govcx.api.store import policy_activations
from govcx.governance.policy import Policy, parse_policy, policy_from_text
from govcx.governance.principal import SYSTEM
from govcx.store.db import dumps

log = logging.getLogger("govcx.api")


class PolicyActivations:
    """Activates policies on one Agent and keeps the workers in step."""

    def __init__(self, agent: Agent, bus: EventBus) -> None:
        self.agent = agent
        self.bus = bus
        self._seq = 0
        self.activated: tuple[str, float] | None = None
        """(who, when) of the active policy's activation through the API, if it was."""

    def parse(self, raw: bytes, content_type: str) -> Policy:
        source = "PUT /v1/policy"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(422, "invalid_policy", "the policy must be UTF-8 text") from None
        if not text.strip():
            raise ApiError(422, "invalid_policy", "the body is empty; send the policy as YAML "
                           "(Content-Type: application/yaml) or JSON")
        if "json" in content_type:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ApiError(400, "malformed_json", f"the body is not valid JSON ({exc.msg} "
                               f"at line {exc.lineno}, column {exc.colno})") from None
            policy = parse_policy(data, file=source)
        else:
            policy = policy_from_text(text, file=source)
        _cross_check(policy, Path(source), self.agent.pack.registry)
        return policy

    def activate(self, caller: Caller, policy: Policy) -> bool:
        """Activate ``policy``; False when it is the active policy already."""
        active = self.agent.policy
        if policy.version == active.version:
            if policy == active:
                return False
            raise ApiError(409, "policy_version_unchanged", f"the policy differs from the "
                           f"active one but keeps its version {policy.version!r}; give a "
                           "changed policy a new version (it is recorded on every decision)",
                           details={"version": policy.version})
        self.agent.set_policy(policy, actor=caller.name)
        now = time.time()
        with self.agent.db.begin() as conn:
            result = conn.execute(insert(policy_activations).values(
                version=policy.version, base_version=self.agent.pack.policy.version,
                body=dumps(policy.model_dump(mode="json")), actor=caller.name,
                activated_at=now))
            key = result.inserted_primary_key
            if key is not None:
                self._seq = max(self._seq, int(key[0]))
        self.activated = (caller.name, now)
        self.bus.queue_changed()  # pending approvals of the old version are now stale
        return True

    def sync(self) -> None:
        """Apply a policy activated through the API by another worker or before a restart
        (unless the pack's policy file changed since: then the file wins)."""
        with self.agent.db.read() as conn:
            row = conn.execute(select(policy_activations).order_by(
                policy_activations.c.seq.desc()).limit(1)).first()
        if row is None or row.seq <= self._seq:
            return
        self._seq = row.seq
        if row.base_version != self.agent.pack.policy.version:
            log.warning("ignoring policy %s activated by %s through the API: the pack's policy "
                        "file changed since (now %s)", row.version, row.actor,
                        self.agent.pack.policy.version)
            return
        if row.version != self.agent.policy.version:
            policy = parse_policy(json.loads(row.body), file="api_policy_activations")
            self.agent.set_policy(policy, actor=SYSTEM.name)
            log.info("activated policy %s (set by %s through the API)", row.version, row.actor)
            self.bus.queue_changed()
        self.activated = (row.actor, row.activated_at)
