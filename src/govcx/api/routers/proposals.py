"""``/v1/policy/proposals``, ``/v1/policy/rollout`` and ``/v1/policy/rollback``: the policy
lifecycle (see ``govcx.agent.lifecycle``): propose, review, shadow, roll out, activate,
roll back. Every change is audited; who may do what is decided by the core."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from govcx.api.auth import Caller
from govcx.api.deps import AdminCaller, CallerDep, RuntimeDep
from govcx.api.errors import ApiError, responses
from govcx.api.routers import StrictRoute
from govcx.api.routers.policy import _JSON_EXAMPLE, _YAML_EXAMPLE
from govcx.api.runtime import ApiRuntime
from govcx.api.schemas import (
    ID_PATTERN,
    ProposalView,
    ReviewIn,
    RollbackIn,
    RollbackView,
    RolloutIn,
    RolloutView,
    ShadowReportView,
)
from govcx.governance.proposals import Proposal, review_bar

router = APIRouter(prefix="/v1/policy", tags=["policy"], route_class=StrictRoute)


def _not_channel(caller: Caller) -> None:
    if caller.principal.is_channel:
        raise ApiError(
            403, "forbidden", f"{caller.name} is a channel; channels never see or change policy"
        )


def proposal_view(runtime: ApiRuntime, proposal: Proposal, *, full: bool = True) -> ProposalView:
    lifecycle = runtime.agent.lifecycle
    bar = review_bar(runtime.agent.policy, proposal.candidate)
    data = proposal.view()
    if not full:
        data["impact"] = None
        data["policy"] = None
    return ProposalView(
        **data,
        approvals_needed=bar.approvers,
        reviewer_roles=list(bar.roles),
        diff=lifecycle.diff(proposal),
    )


def accepted(runtime: ApiRuntime, proposal: Proposal, response: Response) -> ProposalView:
    """The answer to a new proposal (or a re-run report): 202 while the server computes
    the impact report in the background (queued here), 201 when it computes none; with
    the proposal's address in ``Location``, where ``impact_status`` shows the progress."""
    response.headers["Location"] = f"/v1/policy/proposals/{proposal.proposal_id}"
    if runtime.impacts is not None and proposal.impact_status == "pending":
        runtime.impacts.submit(proposal.proposal_id)
        response.status_code = 202
    else:
        response.status_code = 201
    return proposal_view(runtime, proposal)


CREATED: dict[int | str, dict[str, Any]] = {
    201: {
        "model": ProposalView,
        "description": "Created without an impact report: this server computes none "
        "(`impact_status` none)",
    }
}


@router.post(
    "/proposals",
    status_code=202,
    response_model=ProposalView,
    responses={**responses(409), **CREATED},
    summary="Propose a policy change (its impact report follows in the background)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The candidate policy, as for PUT /v1/policy: YAML text or JSON",
            "content": {
                "text/plain": {"schema": {"type": "string"}, "example": _YAML_EXAMPLE},
                "application/json": {"schema": {"type": "object"}, "example": _JSON_EXAMPLE},
            },
        }
    },
)
async def propose(
    caller: CallerDep,
    runtime: RuntimeDep,
    request: Request,
    response: Response,
    comment: str | None = Query(None, max_length=2000, description="Why the change"),
    days: int | None = Query(
        None, ge=1, le=366, description="Days of recorded conversations to replay"
    ),
) -> Any:
    """Validate the candidate (schema, expressions, the pack's tools) and record the
    proposal at once: 202 Accepted, with ``Location`` naming it. The impact report (the
    pack's eval suites and the recorded conversations of the last N days replayed under
    both policies, minutes on a large pack) is computed in the background:
    ``impact_status`` goes ``pending``, ``running``, then ``done`` (the report is in
    ``impact``) or ``failed`` (``impact_error``; re-run it with POST
    /v1/policy/proposals/{id}/impact). The proposal cannot be approved before its report
    is done. A server without an impact function answers 201 with ``impact_status``
    ``none``. The author is the caller: an admin or a reviewer of the active policy's
    ``governance.policy_changes``."""
    _not_channel(caller)
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    candidate = await run_in_threadpool(
        runtime.policies.parse, raw, content_type, "POST /v1/policy/proposals"
    )

    def run() -> ProposalView:
        proposal = runtime.agent.lifecycle.propose(
            candidate,
            author=caller.principal,
            comment=comment,
            impact_pending=runtime.impacts is not None,
            impact_days=days,
        )
        return accepted(runtime, proposal, response)  # its diff reads the database

    return await run_in_threadpool(run)


@router.get(
    "/proposals",
    response_model=list[ProposalView],
    responses=responses(),
    summary="Policy proposals, newest first",
)
def list_proposals(
    caller: CallerDep,
    runtime: RuntimeDep,
    status: str | None = Query(None, max_length=16, description="Only this status"),
    limit: int = Query(50, ge=1, le=500),
) -> Any:
    _not_channel(caller)
    return [
        proposal_view(runtime, p, full=False)
        for p in runtime.agent.proposals.list(status=status, limit=limit)
    ]


@router.get(
    "/proposals/{proposal_id}",
    response_model=ProposalView,
    responses=responses(404, 409),
    summary="One proposal with its diff and impact report",
)
def get_proposal(caller: CallerDep, runtime: RuntimeDep, proposal_id: str) -> Any:
    _not_channel(caller)
    _check(proposal_id)
    return proposal_view(runtime, runtime.agent.proposals.get(proposal_id))


@router.post(
    "/proposals/{proposal_id}/review",
    response_model=ProposalView,
    responses=responses(403, 404, 409),
    summary="Approve or reject a proposal (a reviewer, never its author)",
)
def review(caller: CallerDep, runtime: RuntimeDep, proposal_id: str, body: ReviewIn) -> Any:
    _check(proposal_id)
    proposal = runtime.agent.lifecycle.review(
        proposal_id, who=caller.principal, decision=body.decision, comment=body.comment
    )
    return proposal_view(runtime, proposal)


@router.post(
    "/proposals/{proposal_id}/impact",
    status_code=202,
    response_model=ProposalView,
    responses=responses(403, 404, 409),
    summary="Re-run a failed impact report (its author or an admin)",
)
def rerun_impact(
    caller: CallerDep, runtime: RuntimeDep, proposal_id: str, response: Response
) -> Any:
    """Set a ``failed`` impact report back to ``pending``; the server computes it again
    in the background (202, as for a new proposal). 409 when the report is not failed or
    the proposal is no longer pending."""
    _not_channel(caller)
    _check(proposal_id)
    if runtime.impacts is None:
        raise ApiError(
            409,
            "conflict",
            "this server computes no impact reports (it was started without an impact "
            "function); run `govcx policy propose` to propose with a report",
        )
    proposal = runtime.agent.lifecycle.rerun_impact(proposal_id, who=caller.principal)
    return accepted(runtime, proposal, response)


@router.post(
    "/proposals/{proposal_id}/shadow",
    response_model=ProposalView,
    responses=responses(403, 404, 409),
    summary="Run an approved proposal in shadow beside the active policy",
)
def shadow(caller: AdminCaller, runtime: RuntimeDep, proposal_id: str) -> Any:
    _check(proposal_id)
    proposal = runtime.agent.lifecycle.shadow(proposal_id, who=caller.principal)
    runtime.bus.queue_changed()
    return proposal_view(runtime, proposal)


@router.get(
    "/proposals/{proposal_id}/shadow-report",
    response_model=ShadowReportView,
    responses=responses(404, 409),
    summary="What the candidate decided differently on live turns in shadow",
)
def shadow_report(caller: CallerDep, runtime: RuntimeDep, proposal_id: str) -> Any:
    _not_channel(caller)
    _check(proposal_id)
    return runtime.agent.lifecycle.shadow_report(proposal_id)


@router.post(
    "/proposals/{proposal_id}/rollout",
    response_model=ProposalView,
    responses=responses(403, 404, 409),
    summary="Let an approved proposal decide a share of the conversations",
)
def rollout(caller: AdminCaller, runtime: RuntimeDep, proposal_id: str, body: RolloutIn) -> Any:
    _check(proposal_id)
    proposal = runtime.agent.lifecycle.rollout(
        proposal_id, who=caller.principal, share=body.share, supersede=False
    )
    runtime.bus.queue_changed()
    runtime.supersede_stale()
    return proposal_view(runtime, proposal)


@router.post(
    "/proposals/{proposal_id}/activate",
    response_model=ProposalView,
    responses=responses(403, 404, 409),
    summary="Activate an approved proposal for every conversation",
)
def activate(caller: AdminCaller, runtime: RuntimeDep, proposal_id: str) -> Any:
    _check(proposal_id)
    proposal = runtime.agent.lifecycle.activate(proposal_id, who=caller.principal, supersede=False)
    runtime.bus.queue_changed()
    runtime.supersede_stale()
    return proposal_view(runtime, proposal)


@router.get(
    "/rollout",
    response_model=RolloutView,
    responses=responses(),
    summary="The active policy and any proposal running beside it",
)
def get_rollout(caller: CallerDep, runtime: RuntimeDep) -> Any:
    _not_channel(caller)
    agent = runtime.agent
    policy = agent.sync_policy()
    current = agent.rollout
    return RolloutView(
        active_version=policy.version,
        active_digest=policy.digest,
        proposal_id=current.proposal_id if current else None,
        mode=current.mode if current else None,
        share=current.share if current and current.mode == "rollout" else None,
        candidate_version=current.candidate.version if current else None,
    )


@router.post(
    "/rollback",
    response_model=RollbackView,
    responses=responses(403, 409),
    summary="Return to an earlier policy in one step (ends any shadow or rollout)",
)
def rollback(caller: AdminCaller, runtime: RuntimeDep, body: RollbackIn) -> Any:
    """``{}`` stops a running shadow or rollout, or else re-activates the policy active
    before the current one; ``{"version": V}`` re-activates V (it must have been active)."""
    result = runtime.agent.lifecycle.rollback(body.version, who=caller.principal, supersede=False)
    runtime.bus.queue_changed()
    runtime.supersede_stale()
    return result


def _check(proposal_id: str) -> None:
    import re

    if not re.fullmatch(ID_PATTERN, proposal_id):
        raise ApiError(
            422,
            "invalid_input",
            f"proposal id {proposal_id!r} is not valid (like prop_1a2b3c...)",
            details={"field": "proposal_id"},
        )
