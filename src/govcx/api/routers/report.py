"""``/v1/report``: the operations report and the policy changes the record supports.

The figures are :func:`govcx.governance.report.build_report` (the same as ``govcx
report`` and the console's dashboard); the suggestions are
:func:`govcx.governance.suggestions.suggest` over the active policy. Auditors and admins
read them, and the reviewers the active policy names for policy changes (a risk owner):
they are figures and rule ids, no customer text.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from govcx.api.deps import GovernanceReader, RuntimeDep
from govcx.api.errors import responses
from govcx.api.routers import StrictRoute
from govcx.api.routers.proposals import CREATED, accepted
from govcx.api.runtime import ApiRuntime
from govcx.api.schemas import ProposalView

router = APIRouter(prefix="/v1/report", tags=["report"], route_class=StrictRoute)

_REPORT_EXAMPLE: dict[str, Any] = {
    "window": {"since": 1796400000.0, "until": 1797004800.0},
    "workflow": None,
    "workflows": ["order_status", "refund", "unclassified"],
    "turns": {
        "turns": 412,
        "contained": 301,
        "containment": 0.7306,
        "escalated": 37,
        "escalation_rate": 0.0898,
        "with_approval": 58,
        "pending_approval": 3,
        "by_status": {"answered": 359, "blocked": 13, "escalated": 37, "pending_approval": 3},
    },
    "escalations": {
        "total": 37,
        "rate": 0.0898,
        "top_reasons": [{"rule": "guard.legal_threat", "count": 11}],
    },
    "approvals": {
        "requested": 58,
        "approved": 49,
        "edited": 3,
        "rejected": 4,
        "expired": 1,
        "failed_after_approval": 0,
        "pending": 1,
        "approve_rate": 0.875,
        "edit_rate": 0.0536,
        "reject_rate": 0.0714,
        "minutes_to_decision_median": 6.5,
        "minutes_to_decision_p90": 41.0,
        "by_rule": {},
        "by_tool": {},
    },
    "sla": {
        "cases": 37,
        "by_status": {"resolved": 30, "waiting": 7},
        "first_response": {"met": 33, "missed": 2, "open": 2, "attainment": 0.9429},
        "resolution": {"met": 28, "missed": 2, "open": 7, "attainment": 0.9333},
        "by_team": {},
    },
    "guard_findings": {"PROMPT_INJECTION": 9, "LEGAL_THREAT": 11},
    "by_workflow": {},
    "by_day": [],
    "by_policy_version": {},
    "activations": [
        {"version": "2026.12.2", "digest": "9e41…", "actor": "ada", "at": 1796700000.0}
    ],
    "policy_version": "2026.12.2",
    "suggestions": [
        {
            "suggestion_id": "sug_7295c601f166",
            "kind": "raise_threshold",
            "subject": "issue_refund",
            "text": "issue_refund between $50 and $80: 23 approvals, all approved unchanged, "
            "no escalation after them: raise the threshold to $80?",
            "evidence": {"rule": "tool.issue_refund.approval_if", "approvals": 23},
            "change": {
                "path": ["tools", "issue_refund", "approval_if"],
                "from": "amount > 50",
                "to": "amount > 80",
            },
            "policy_version": "2026.12.2",
            "policy_digest": "9e41…",
            "proposable": True,
        }
    ],
}

SinceQuery = Annotated[
    str,
    Query(
        max_length=40,
        description="Start of the window: a duration back from now (7d, 12h, 30m) or a UTC "
        "date or time (2026-12-01, 2026-12-01T09:00)",
    ),
]
UntilQuery = Annotated[
    str | None, Query(max_length=40, description="End of the window (default now); same forms")
]


WorkflowQuery = Annotated[
    str | None,
    Query(max_length=64, description="Only this workflow's turns, approvals and cases"),
]


def _report(
    runtime: ApiRuntime, since: str, until: str | None, workflow: str | None
) -> dict[str, Any]:
    from govcx.governance.report import build_report, window
    from govcx.governance.suggestions import suggest

    agent = runtime.agent
    now = agent.clock()  # the agent's clock: the one its turns were stamped with
    start, end = window(since, until, now=now, prefix="")
    figures = build_report(agent.db, since=start, until=end, now=now, workflow=workflow)
    figures["policy_version"] = agent.policy.version
    figures["suggestions"] = [
        s.as_dict() for s in suggest(agent.db, agent.policy, since=start, until=end)
    ]
    return figures


@router.get(
    "",
    responses={
        **responses(),
        200: {"content": {"application/json": {"example": _REPORT_EXAMPLE}}},
    },
    summary="The operations report",
)
async def get_report(
    caller: GovernanceReader,
    runtime: RuntimeDep,
    since: SinceQuery = "7d",
    until: UntilQuery = None,
    workflow: WorkflowQuery = None,
) -> Any:
    """Containment, escalations and their reasons by rule, approvals by rule (approve,
    edit and reject rates, time to decision), SLA attainment, guard findings; per
    workflow, per UTC day and per policy version, with the policy activations of the
    window; and `suggestions`, the policy changes the record supports with their evidence.
    A bad `since`/`until` is 422 `invalid_input` naming the valid forms."""
    return await run_in_threadpool(_report, runtime, since, until, workflow)


@router.post(
    "/suggestions/{suggestion_id}/propose",
    status_code=202,
    response_model=ProposalView,
    responses={**responses(404, 409), **CREATED},
    summary="Propose a suggestion's candidate policy",
)
async def propose_suggestion(
    caller: GovernanceReader,
    runtime: RuntimeDep,
    response: Response,
    suggestion_id: Annotated[str, Path(pattern=r"^sug_[0-9a-f]{12}$")],
    since: SinceQuery = "7d",
    until: UntilQuery = None,
) -> Any:
    """Turn a suggestion of the report of this window into a policy proposal: its
    candidate (the active policy with that one change and a new version) is validated
    and recorded at once (202, its impact report computed in the background as for POST
    /v1/policy/proposals) and waits for its reviewers like any proposal. The
    author is the caller, who must be an admin or a reviewer of the active policy's
    `governance.policy_changes`. 404 when the window's record no longer supports the
    suggestion (or the policy changed since); 422 for a suggestion a person must write."""
    from govcx.governance.report import window
    from govcx.governance.suggestions import proposable

    def run() -> Any:
        agent = runtime.agent
        policy = agent.sync_policy()
        start, end = window(since, until, now=agent.clock(), prefix="")
        item, candidate = proposable(agent.db, policy, suggestion_id, since=start, until=end)
        proposal = agent.lifecycle.propose(
            candidate,
            author=caller.principal,
            comment=f"{item.text} (suggestion {item.suggestion_id})",
            impact_pending=runtime.impacts is not None,
        )
        return accepted(runtime, proposal, response)

    return await run_in_threadpool(run)
