"""Policies activated through the API: validated, then activated for the deployment.

``PUT /v1/policy`` validates the text (schema, expressions, the pack's tools, nesting) and
activates it through the Agent, which records it in the database's policy tables: the
CLI, a restarted server and every worker then decide under it (see
``govcx.governance.policy_store``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from govcx.agent.agent import Agent
from govcx.api.errors import ApiError
from govcx.api.events import EventBus
from govcx.governance.policy import Policy, parse_policy, policy_from_text
from govcx.knowledge.retriever import check_workflow_knowledge
from govcx.pack import cross_check

log = logging.getLogger("govcx.api")
MAX_POLICY_DEPTH = 32
"""Deepest nesting a policy body may have; a real policy needs 4-5 levels."""


def _depth(value: object, limit: int) -> int:
    """Nesting depth of parsed JSON/YAML, without recursion (a hostile body may nest
    deeper than Python's recursion limit)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


class PolicyActivations:
    """Activates policies on one Agent and keeps the workers in step."""

    def __init__(self, agent: Agent, bus: EventBus) -> None:
        self.agent = agent
        self.bus = bus

    def parse(self, raw: bytes, content_type: str, source: str = "PUT /v1/policy") -> Policy:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(422, "invalid_policy", "the policy must be UTF-8 text") from None
        if not text.strip():
            raise ApiError(
                422,
                "invalid_policy",
                "the body is empty; send the policy as YAML "
                "(Content-Type: application/yaml) or JSON",
            )
        try:
            if "json" in content_type:
                try:
                    data = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ApiError(
                        400,
                        "malformed_json",
                        f"the body is not valid JSON "
                        f"({exc.msg} at line {exc.lineno}, column {exc.colno})",
                    ) from None
            else:
                import yaml

                try:
                    data = yaml.safe_load(text)
                except yaml.YAMLError:
                    data = None  # policy_from_text reports where the YAML is wrong
                    policy_from_text(text, file=source)
        except RecursionError:
            data = None
        if data is None or _depth(data, MAX_POLICY_DEPTH) > MAX_POLICY_DEPTH:
            raise ApiError(
                422,
                "invalid_policy",
                f"the policy nests deeper than "
                f"{MAX_POLICY_DEPTH} levels; a policy is a mapping of version, "
                "defaults, approvals, tiers, workflows and tools",
                details={"max_depth": MAX_POLICY_DEPTH},
            )
        policy = parse_policy(data, file=source)
        cross_check(policy, Path(source), self.agent.pack.registry)
        check_workflow_knowledge(policy, self.agent.retriever, source)
        return policy

    def sync(self) -> None:
        """Pick up a policy another worker (or the CLI) activated."""
        before = self.agent.policy.digest
        if self.agent.sync_policy().digest != before:
            log.info("activated policy %s (activated elsewhere)", self.agent.policy.version)
            self.bus.queue_changed()

    @property
    def activated(self) -> tuple[str, float] | None:
        """(who, when) of the active policy's activation."""
        active = self.agent.policies.active()
        return (active.actor, active.activated_at) if active is not None else None
