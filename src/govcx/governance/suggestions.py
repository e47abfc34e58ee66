"""Findings that become policy proposals: changes the measured record supports.

govcx reads what people decided and what the AI could not handle, and suggests a change
with its evidence. It never applies one: a suggestion becomes a candidate policy that goes
through review like any other proposal (``govcx policy propose``). Two kinds:

- ``raise_threshold``: a tool whose ``approval_if`` is a plain ``amount > N`` (or ``>=``),
  whose requests between N and a higher amount T were all approved unchanged by people
  (none edited, none rejected, none expired), at least ``min_evidence`` of them, and whose
  conversations saw no escalation after the approval. T is the highest such amount,
  rounded down to a round figure. The candidate changes ``approval_if`` to ``amount > T``.
  Cumulative limits are untouched: they still send a split refund to a person.
- ``add_examples``: a workflow whose turns escalate on low confidence at least
  ``min_share`` of the time (rule ``confidence.below_minimum``). This needs examples a
  person writes (customer text is never copied into the policy), so it has no candidate.

A suggestion's id is a digest of what it changes and of the policy it was measured under,
so the same finding keeps its id while the evidence grows, and a stale one (the policy
changed since) no longer matches.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from govcx.errors import InvalidInput, NotFound
from govcx.governance.policy import Policy, parse_policy
from govcx.governance.report import approval_outcome
from govcx.store.db import Database
from govcx.store.schema import approvals, turns

MIN_EVIDENCE = 20
"""Fewest unchanged approvals a threshold suggestion needs."""
MIN_TURNS = 20
"""Fewest turns of a workflow before its low-confidence share means anything."""
MIN_SHARE = 0.30
LOW_CONFIDENCE = "confidence.below_minimum"
_THRESHOLD = re.compile(r"^\s*(?P<arg>[A-Za-z_]\w*)\s*(?P<op>>=?)\s*(?P<n>\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True, kw_only=True)
class Suggestion:
    suggestion_id: str
    kind: str
    subject: str
    """The tool or workflow it is about."""
    text: str
    """The finding and the change, in one sentence a risk owner reads."""
    evidence: dict[str, Any]
    change: dict[str, Any] | None = None
    """``{"path": [...], "from": ..., "to": ...}`` in the policy, or None when a person must
    write the change."""
    policy_version: str
    policy_digest: str
    candidate: dict[str, Any] | None = field(default=None, repr=False)
    """The candidate policy (the active one with ``change`` applied and a new version)."""

    def as_dict(self, *, with_candidate: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "suggestion_id": self.suggestion_id,
            "kind": self.kind,
            "subject": self.subject,
            "text": self.text,
            "evidence": self.evidence,
            "change": self.change,
            "policy_version": self.policy_version,
            "policy_digest": self.policy_digest,
            "proposable": self.candidate is not None,
        }
        if with_candidate:
            out["candidate"] = self.candidate
        return out


def _id(kind: str, subject: str, change: Any, policy: Policy) -> str:
    material = json.dumps([kind, subject, change, policy.digest], sort_keys=True)
    return "sug_" + hashlib.sha256(material.encode("utf-8")).hexdigest()[:12]


def round_down(value: float, floor: float) -> float:
    """``value`` rounded down to a round figure above ``floor``: a multiple of 10 (of 5,
    then 1, when no multiple of 10 lies above the floor)."""
    for step in (100.0, 50.0, 10.0, 5.0, 1.0):
        rounded = math.floor(value / step) * step
        if rounded > floor:
            return rounded
    return value


def _money(value: float) -> str:
    return f"${value:,.0f}" if value == int(value) else f"${value:,.2f}"


def suggest(
    db: Database,
    policy: Policy,
    *,
    since: float,
    until: float,
    min_evidence: int = MIN_EVIDENCE,
    min_turns: int = MIN_TURNS,
    min_share: float = MIN_SHARE,
) -> list[Suggestion]:
    """What the record of ``[since, until)`` supports changing in ``policy``."""
    with db.read() as conn:
        approval_rows = conn.execute(
            select(approvals.c.body)
            .where(approvals.c.requested_at >= since, approvals.c.requested_at < until)
            .order_by(approvals.c.requested_at)
        ).all()
        turn_rows = conn.execute(
            select(turns.c.conversation_id, turns.c.body, turns.c.created_at)
            .where(turns.c.created_at >= since, turns.c.created_at < until)
            .order_by(turns.c.created_at)
        ).all()
    requests = [json.loads(r.body) for r in approval_rows]
    turn_bodies = [(r.conversation_id, r.created_at, json.loads(r.body)) for r in turn_rows]
    escalated_at: dict[str, list[float]] = defaultdict(list)
    for conversation_id, created_at, body in turn_bodies:
        if body.get("status") == "escalated":
            escalated_at[conversation_id].append(created_at)
    out = [
        *_thresholds(policy, requests, escalated_at, min_evidence),
        *_low_confidence(policy, [b for _, _, b in turn_bodies], min_turns, min_share),
    ]
    return out


def _thresholds(
    policy: Policy,
    requests: list[dict[str, Any]],
    escalated_at: Mapping[str, list[float]],
    min_evidence: int,
) -> list[Suggestion]:
    found: list[Suggestion] = []
    for tool, rules in sorted(policy.tools.items()):
        match = _THRESHOLD.match(rules.approval_if or "")
        if match is None or match["arg"] != rules.amount_key:
            continue
        current = float(match["n"])
        rule = f"tool.{tool}.approval_if"
        points: list[tuple[float, str, dict[str, Any]]] = []
        for request in requests:
            if request.get("tool") != tool or rule not in (request.get("rules") or []):
                continue
            outcome = approval_outcome(request)
            if outcome in ("pending", "superseded"):
                continue
            amount = (request.get("args") or {}).get(rules.amount_key)
            if isinstance(amount, bool) or not isinstance(amount, int | float):
                continue
            points.append((float(amount), outcome, request))
        # At equal amounts a refusal sorts first: it stops the walk before an approval of
        # the same amount could be counted under the new threshold.
        points.sort(key=lambda p: (p[0], p[1] == "approved"))
        clean: list[tuple[float, dict[str, Any]]] = []
        stopped_by: str | None = None
        for amount, outcome, request in points:
            if outcome != "approved":
                stopped_by = f"{outcome} at {_money(amount)}"
                break
            clean.append((amount, request))
        if not clean:
            continue
        later = sum(
            1
            for _, request in clean
            if any(
                at > max(float(d["at"]) for d in request.get("decisions") or [{"at": 0}])
                for at in escalated_at.get(str(request.get("conversation_id")), [])
            )
        )
        top = clean[-1][0]
        proposed = round_down(top, current)
        covered = [a for a, _ in clean if a <= proposed]
        if len(covered) < min_evidence or proposed <= current or later:
            continue
        new_rule = f"{match['arg']} > {proposed:g}"
        change = {"path": ["tools", tool, "approval_if"], "from": rules.approval_if, "to": new_rule}
        suggestion_id = _id("raise_threshold", tool, change, policy)
        candidate = _candidate(policy, change, suggestion_id)
        text = (
            f"{tool} between {_money(current)} and {_money(proposed)}: {len(covered)} "
            f"approvals, all approved unchanged, no escalation after them: raise the "
            f"threshold to {_money(proposed)}?"
        )
        found.append(
            Suggestion(
                suggestion_id=suggestion_id,
                kind="raise_threshold",
                subject=tool,
                text=text,
                evidence={
                    "rule": rule,
                    "approvals": len(covered),
                    "approved_unchanged": len(covered),
                    "decided_in_window": len(points),
                    "later_escalations": later,
                    "lowest_amount": covered[0],
                    "highest_amount": covered[-1],
                    "stopped_by": stopped_by,
                },
                change=change,
                policy_version=policy.version,
                policy_digest=policy.digest,
                candidate=candidate,
            )
        )
    return found


def _low_confidence(
    policy: Policy, bodies: list[dict[str, Any]], min_turns: int, min_share: float
) -> list[Suggestion]:
    total: dict[str, int] = defaultdict(int)
    low: dict[str, int] = defaultdict(int)
    for body in bodies:
        intent = body.get("intent")
        if not intent or intent not in policy.workflows:
            continue
        total[intent] += 1
        rules = (body.get("decision") or {}).get("rules") or []
        if body.get("status") == "escalated" and LOW_CONFIDENCE in rules:
            low[intent] += 1
    found: list[Suggestion] = []
    for workflow in sorted(total):
        n, k = total[workflow], low[workflow]
        if n < min_turns or k / n < min_share:
            continue
        share = k / n
        found.append(
            Suggestion(
                suggestion_id=_id("add_examples", workflow, round(share, 2), policy),
                kind="add_examples",
                subject=workflow,
                text=(
                    f"workflow {workflow} escalates {share:.0%} of its turns ({k} of {n}) on "
                    f"low confidence: add examples of how customers ask for it"
                ),
                evidence={"turns": n, "low_confidence_escalations": k, "share": round(share, 4)},
                change=None,
                policy_version=policy.version,
                policy_digest=policy.digest,
            )
        )
    return found


def _candidate(policy: Policy, change: Mapping[str, Any], suggestion_id: str) -> dict[str, Any]:
    data: dict[str, Any] = policy.model_dump(mode="json")
    node: Any = data
    *parents, leaf = change["path"]
    for key in parents:
        node = node[key]
    node[leaf] = change["to"]
    data["version"] = f"{policy.version}+{suggestion_id.removeprefix('sug_')[:6]}"
    parse_policy(data, file=f"suggestion {suggestion_id}")  # it must be a valid policy
    return data


def find(suggestions: list[Suggestion], suggestion_id: str) -> Suggestion:
    """The suggestion with this id, or NotFound naming the current ones."""
    for item in suggestions:
        if item.suggestion_id == suggestion_id:
            return item
    current = ", ".join(s.suggestion_id for s in suggestions) or "none"
    raise NotFound(
        "suggestion",
        suggestion_id,
        hint=f"current suggestions: {current} (an id changes when the policy does)",
    )


def proposable(
    db: Database, policy: Policy, suggestion_id: str, *, since: float, until: float
) -> tuple[Suggestion, Policy]:
    """The suggestion ``suggestion_id`` of ``[since, until)`` under ``policy`` and its
    candidate policy, ready to be proposed (``govcx policy propose --suggestion``,
    ``POST /v1/report/suggestions/{id}/propose``). NotFound when the record of the window
    no longer supports it (or the policy changed since); InvalidInput for a suggestion a
    person must write."""
    item = find(suggest(db, policy, since=since, until=until), suggestion_id)
    if item.candidate is None:
        raise InvalidInput(
            f"suggestion {suggestion_id} ({item.kind}: {item.subject}) has no candidate "
            "policy: a person writes that change and proposes the file"
        )
    return item, parse_policy(item.candidate, file=f"suggestion {suggestion_id}")
