"""Policy simulation: what would change if a new policy were activated?

Every conversation (the cases of some suites, and the conversations recorded in a state
dir's audit log) is replayed twice on fresh state, under the active policy and under the
new one, with the same messages and the same human decisions. Each step's decision is
compared, and every difference is reported with its workflow and risk tier: newly gated,
no longer gated, newly escalated, approvers changed, a decision now refused... This is
what a governance owner runs before activating a policy change.

Recorded customer messages are replayed as the audit log holds them, that is redacted
(``<CREDIT_CARD>`` instead of the number): the audit never stores raw customer text.

Example:
    >>> report = simulate(load_policy("new-policy.yaml"), suite_conversations(suites))
    >>> report["summary"]["changed_steps"]
    3
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from govcx.errors import GovcxError
from govcx.evals.suite import Decide, Step, Suite, merge
from govcx.evals.workbench import GuardFactory, Played, RetrieverFactory, Script, Workbench
from govcx.governance.policy import Policy, diff_policies, parse_policy
from govcx.pack import Pack, load_pack
from govcx.settings import Settings
from govcx.store.db import Database

MAX_EXAMPLES = 3
"""Examples kept per (workflow, change)."""


@dataclass(frozen=True, kw_only=True)
class Conversation:
    """A conversation to replay, from a suite case or from the audit log."""

    source: str
    """``suite:<name>`` or ``recorded``."""
    conversation_id: str
    customer: str | None = None
    steps: list[Step] = field(default_factory=list)
    policy: dict[str, Any] | None = None
    """A case's policy override, applied on top of both policies."""


def suite_conversations(suites: Sequence[Suite]) -> list[Conversation]:
    return [
        Conversation(
            source=f"suite:{s.name}",
            conversation_id=c.id,
            customer=c.customer,
            steps=[t.model_copy(update={"expect": None}) for t in c.turns],
            policy=c.policy,
        )
        for s in suites
        for c in s.cases
    ]


def recorded_conversations(
    pack: Pack, settings: Settings, *, limit: int | None = None, since: float | None = None
) -> list[Conversation]:
    """Conversations in the audit log of ``settings``' state dir, oldest first.

    Customer messages come from ``guard_input`` and ``message.while_pending`` events,
    decisions from ``approval.*`` events, expiries become a step that lets time pass.
    With ``since``, only conversations with an event at or after it (a timestamp).
    """
    from govcx.evals.state import state_database

    with state_database(pack, settings) as db:
        if db is None:
            return []
        return recorded_in(db, pack, limit=limit, since=since)


def recorded_in(
    db: Database, pack: Pack, *, limit: int | None = None, since: float | None = None
) -> list[Conversation]:
    """:func:`recorded_conversations` of an open database (a running Agent's)."""
    from govcx.governance.audit import AuditLog
    from govcx.store.conversation import ConversationStore

    out: list[Conversation] = []
    recent: set[str] = set()
    audit = AuditLog(db, key=None)  # reads events only
    store = ConversationStore(db)
    expiry = int(pack.policy.approvals.expiry.total_seconds()) + 60
    steps: dict[str, list[Step]] = {}
    seen_turns: set[str] = set()
    for event in audit.events():
        cid = event.conversation_id
        if cid is None:
            continue
        if since is None or event.ts >= since:
            recent.add(cid)
        step = None
        if event.kind in ("guard_input", "message.while_pending"):
            key = f"{event.turn_id}|{event.kind}"
            text = str(event.data.get("text") or "").strip()
            if key in seen_turns or not text:
                continue
            seen_turns.add(key)
            step = Step(user=text[:8000])
        elif event.kind in ("approval.approve", "approval.reject", "approval.edit"):
            decision = event.kind.split(".", 1)[1]
            args = event.data.get("args") if decision == "edit" else None
            step = Step(
                decide=Decide.model_validate(
                    {
                        "as": event.actor,
                        "decision": decision,
                        "args": args,
                        "authenticated": event.data.get("authenticated", True) is not False,
                    }
                )
            )
        elif event.kind == "approval.expired":
            step = Step(advance=f"{expiry}s")
        if step is not None:
            steps.setdefault(cid, []).append(step)
    for cid, items in steps.items():
        if cid not in recent or not any(s.user is not None for s in items):
            continue
        try:
            customer = store.get(cid).get("customer_id")
        except GovcxError:
            customer = None
        out.append(
            Conversation(source="recorded", conversation_id=cid, customer=customer, steps=items)
        )
    return out[-limit:] if limit else out


# -- replay ----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class _Pair:
    conversation: Conversation
    old: Policy
    new: Policy
    check: bool = False


def _with_override(policy: Policy, override: dict[str, Any] | None, cid: str) -> Policy:
    if not override:
        return policy
    data = merge(policy.model_dump(mode="json"), override)
    if "version" not in override:
        data["version"] = f"{policy.version}+{cid}"
    return parse_policy(data, file=f"policy override of {cid}")


def _replay(bench: Workbench, pair: _Pair) -> dict[str, Any]:
    conv = pair.conversation
    script = Script(
        conversation_id=conv.conversation_id[:64], customer=conv.customer, steps=conv.steps
    )
    old = bench.play(script, pair.old, check=False)
    new = bench.play(script, pair.new, check=pair.check)
    changes = []
    for a, b in zip(old.steps, new.steps, strict=False):
        change = compare_steps(a, b, pair.old, pair.new)
        if change is not None:
            changes.append(
                {
                    "source": conv.source,
                    "conversation": conv.conversation_id,
                    "customer": conv.customer,
                    **change,
                }
            )
    return {
        "conversation": conv.conversation_id,
        "source": conv.source,
        "steps": len(conv.steps),
        "changes": changes,
        "errors": [e for e in (old.error, new.error) if e],
        "violations": [v.as_dict() for v in new.violations],
    }


def _outcome(step: Played, policy: Policy) -> dict[str, Any]:
    turn = step.turn or {}
    decision = turn.get("decision") or {}
    approval = step.approval or {}
    gate = step.gate or {}
    proposal = gate.get("proposal") or {}
    tool = approval.get("tool") or proposal.get("tool")
    tier = approval.get("tier")
    if tier is None and tool and tool in policy.tools:
        tier = policy.tools[tool].tier
    return {
        "status": turn.get("status") if step.error_code is None else "error",
        "route": decision.get("route") if step.kind == "user" else None,
        "rules": list(decision.get("rules") or []) if step.kind == "user" else [],
        "intent": turn.get("intent"),
        "tool": tool,
        "args": approval.get("args") or proposal.get("args"),
        "tier": tier,
        "approval_kind": approval.get("kind"),
        "approvers": approval.get("approvals_needed"),
        "actions": [(a.get("tool"), a.get("status")) for a in turn.get("actions") or []],
        "error": f"{step.error_code}: {step.error}" if step.error_code else None,
    }


def _label(old: dict[str, Any], new: dict[str, Any], step: Played) -> str | None:
    if (old["error"] or "") != (new["error"] or ""):
        if new["error"] and new["error"].startswith("not_authorized"):
            return "decision refused"
        if new["error"] and new["error"].startswith("no_pending_approval"):
            return "nothing to decide"
        if old["error"] and old["error"].startswith("not_authorized"):
            return "decision now allowed"
        return "outcome changed"
    if step.kind != "user":
        if old["status"] != new["status"]:
            if new["status"] == "pending_approval":
                return "still waiting after the decision"
            if new["status"] == "escalated":
                return "newly escalated"
            return "outcome changed"
        return "actions changed" if old["actions"] != new["actions"] else None
    if old["route"] != new["route"]:
        a, b = old["route"], new["route"]
        if b == "await_approval":
            return "newly gated"
        if a == "await_approval":
            return "no longer gated"
        if b == "escalate":
            return "newly escalated"
        if a == "escalate":
            return "no longer escalated"
        if b == "block":
            return "newly blocked"
        if a == "block":
            return "no longer blocked"
        return "route changed"
    if old["approvers"] != new["approvers"]:
        return "approvers changed"
    if old["approval_kind"] != new["approval_kind"]:
        return "approval kind changed"
    if old["tier"] != new["tier"] and old["route"] == "await_approval":
        return "tier changed"
    if set(old["rules"]) != set(new["rules"]):
        return "rules changed"
    if old["status"] != new["status"]:
        if new["status"] == "escalated":
            return "newly escalated"
        if old["status"] == "escalated":
            return "no longer escalated"
        return "outcome changed"
    if old["actions"] != new["actions"]:
        return "actions changed"
    return None


def compare_steps(
    old: Played, new: Played, old_policy: Policy, new_policy: Policy
) -> dict[str, Any] | None:
    """The change between one step's outcome under two policies, or None."""
    a, b = _outcome(old, old_policy), _outcome(new, new_policy)
    label = _label(a, b, new)
    if label is None:
        return None
    return {
        "step": old.index + 1,
        "kind": old.kind,
        "input": old.input,
        "change": label,
        "workflow": b["intent"] or a["intent"] or "(none)",
        "tier": b["tier"] or a["tier"] or "-",
        "old": a,
        "new": b,
    }


def simulate(
    new_policy: Policy,
    conversations: Sequence[Conversation],
    *,
    pack_dir: str | Path | None = None,
    workers: int = 1,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    retriever_factory: RetrieverFactory | None = None,
    guard_factory: GuardFactory | None = None,
    old_policy: Policy | None = None,
    check: bool = False,
) -> dict[str, Any]:
    """Replay ``conversations`` under the pack's policy (or ``old_policy``, like the
    deployment's active one) and ``new_policy``; report changes. With ``check``, the
    governance compliance of every replay under ``new_policy`` is checked too
    (``summary.compliance``)."""
    from govcx.evals.runner import parallel_map

    if old_policy is None:
        old_policy = load_pack(pack_dir).policy
    pairs = [
        _Pair(
            conversation=c,
            old=_with_override(old_policy, c.policy, c.conversation_id),
            new=_with_override(new_policy, c.policy, c.conversation_id),
            check=check,
        )
        for c in conversations
    ]
    results = parallel_map(
        _replay,
        pairs,
        pack_dir=pack_dir,
        workers=workers,
        on_result=on_result,
        retriever_factory=retriever_factory,
        guard_factory=guard_factory,
    )
    changes = [c for r in results for c in r["changes"]]
    by_change: Counter[str] = Counter(c["change"] for c in changes)
    by_workflow: dict[str, Counter[str]] = defaultdict(Counter)
    by_tier: dict[str, Counter[str]] = defaultdict(Counter)
    examples: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for change in changes:
        by_workflow[change["workflow"]][change["change"]] += 1
        by_tier[change["tier"]][change["change"]] += 1
        bucket = examples[change["workflow"]][change["change"]]
        if len(bucket) < MAX_EXAMPLES:
            bucket.append(change)
    return {
        "old_policy": old_policy.version,
        "new_policy": new_policy.version,
        "policy_diff": diff_policies(old_policy, new_policy),
        "summary": {
            "conversations": len(results),
            "from_suites": sum(1 for r in results if r["source"] != "recorded"),
            "recorded": sum(1 for r in results if r["source"] == "recorded"),
            "steps": sum(r["steps"] for r in results),
            "changed_steps": len(changes),
            "changed_conversations": sum(1 for r in results if r["changes"]),
            "by_change": dict(sorted(by_change.items())),
            "compliance": {
                "checked": check,
                "violations": sum(len(r["violations"]) for r in results),
                "compliant_conversations": sum(1 for r in results if not r["violations"]),
            },
        },
        "by_workflow": {w: dict(sorted(c.items())) for w, c in sorted(by_workflow.items())},
        "by_tier": {t: dict(sorted(c.items())) for t, c in sorted(by_tier.items())},
        "examples": {w: dict(e) for w, e in sorted(examples.items())},
        "changes": changes,
        "errors": [
            {"conversation": r["conversation"], "error": e} for r in results for e in r["errors"]
        ],
        "violations": [
            {"conversation": r["conversation"], **v} for r in results for v in r["violations"]
        ],
    }


def load_new_policy(path: Path, pack: Pack) -> Policy:
    """Load and cross-check a policy file against the pack's tools."""
    from govcx.governance.policy import load_policy
    from govcx.pack import cross_check

    policy = load_policy(path)
    cross_check(policy, path, pack.registry)
    return policy


__all__ = [
    "Conversation",
    "compare_steps",
    "recorded_conversations",
    "simulate",
    "suite_conversations",
]
