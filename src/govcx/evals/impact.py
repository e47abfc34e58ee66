"""The impact report of a policy proposal: what would change if the candidate decided.

The pack's eval suites and the conversations recorded in the last N days are replayed
under the active policy and under the candidate (``govcx.evals.simulate``: fresh state
per conversation, the same messages and the same human decisions), and governance
compliance is checked on every replay under the candidate. The differences are grouped
by workflow and by the rule that changed, in a risk owner's words: newly autonomous,
newly gated, newly escalated (``govcx.governance.proposals.classify``).

Example:
    >>> report = impact_report(agent, candidate)
    >>> report["by_workflow"]["refund"]["tool.issue_refund.approval_if"]
    {'newly autonomous': 12}
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from govcx.agent.agent import Agent
from govcx.evals.simulate import Conversation, recorded_in, simulate, suite_conversations
from govcx.evals.workbench import GuardFactory, RetrieverFactory
from govcx.governance.policy import Policy
from govcx.governance.proposals import classify

DEFAULT_DAYS = 30
MAX_RECORDED = 200
"""Recorded conversations replayed at most (the most recent); the report says how many
there were."""
MAX_CHANGES = 50
"""Changed steps kept in full in the stored report (all are counted)."""


def impact_report(
    agent: Agent,
    candidate: Policy,
    *,
    days: int | None = None,
    max_recorded: int = MAX_RECORDED,
    suites: bool = True,
    retriever_factory: RetrieverFactory | None = None,
    guard_factory: GuardFactory | None = None,
) -> dict[str, Any]:
    """Replay suites and recent conversations under ``agent``'s active policy and
    ``candidate``; ``days`` defaults to the active policy's
    ``governance.policy_changes.impact_days`` (else 30)."""
    active = agent.sync_policy()
    if days is None:
        changes = active.policy_changes
        days = changes.impact_days if changes is not None else DEFAULT_DAYS
    conversations: list[Conversation] = []
    if suites and agent.pack.evals_dir is not None:
        from govcx.evals.suite import load_suites

        conversations += suite_conversations(load_suites([agent.pack.evals_dir]))
    since = agent.clock() - days * 86400
    recorded = recorded_in(agent.db, agent.pack, since=since)
    conversations += recorded[-max_recorded:]
    report = simulate(
        candidate,
        conversations,
        pack_dir=agent.pack.root,
        old_policy=active,
        check=True,
        retriever_factory=retriever_factory or (lambda _pack, _folder: agent.retriever),
        guard_factory=guard_factory or _guards(agent),
    )
    by_workflow: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    totals: Counter[str] = Counter()
    for change in report["changes"]:
        if change["kind"] != "user":
            continue
        old, new = change["old"], change["new"]
        label = classify(old["route"], new["route"], old["rules"], new["rules"])
        if label is None:
            continue
        totals[label] += 1
        rules = sorted(set(old["rules"]) ^ set(new["rules"])) or ["(route)"]
        for rule in rules:
            by_workflow[change["workflow"]][rule][label] += 1
    summary = report["summary"]
    return {
        "active_version": active.version,
        "candidate_version": candidate.version,
        "days": days,
        "conversations": summary["conversations"],
        "from_suites": summary["from_suites"],
        "recorded": summary["recorded"],
        "recorded_available": len(recorded),
        "steps": summary["steps"],
        "changed_steps": summary["changed_steps"],
        "decisions": dict(sorted(totals.items())),
        "by_workflow": {
            w: {r: dict(sorted(c.items())) for r, c in sorted(rules.items())}
            for w, rules in sorted(by_workflow.items())
        },
        "by_change": summary["by_change"],
        "compliance": summary["compliance"],
        "violations": report["violations"][:MAX_CHANGES],
        "errors": report["errors"][:MAX_CHANGES],
        "changes": report["changes"][:MAX_CHANGES],
    }


def _guards(agent: Agent) -> GuardFactory:
    """The agent's own guard for the policies whose guards section it was built for."""

    def factory(policy: Policy) -> Any:
        if policy.guards == agent.pack.policy.guards:
            return agent.guard
        from govcx.guardrails import build_guard

        return build_guard(policy.guards)

    return factory
