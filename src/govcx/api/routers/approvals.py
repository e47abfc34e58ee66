"""``/v1/approvals``: the approval queue, one request, decisions, live updates."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sse_starlette import EventSourceResponse

from govcx.api.deps import (
    ApprovalId,
    ApproverCaller,
    IdempotencyKey,
    ReaderCaller,
    RuntimeDep,
)
from govcx.api.errors import responses
from govcx.api.idempotency import check_key
from govcx.api.routers import StrictRoute, turn_response
from govcx.api.schemas import ID_PATTERN, RESUMED_EXAMPLE, ApprovalView, DecisionIn
from govcx.api.streaming import stream_queue
from govcx.governance.approval import CLOSED
from govcx.turn import Turn

router = APIRouter(prefix="/v1/approvals", tags=["approvals"], route_class=StrictRoute)


@router.get(
    "", response_model=list[ApprovalView], responses=responses(), summary="List approval requests"
)
def list_approvals(
    caller: ReaderCaller,
    runtime: RuntimeDep,
    status: Annotated[
        Literal[
            "pending", "approved", "rejected", "failed", "expired", "superseded", "closed", "all"
        ],
        Query(
            description="Filter by status: `closed` for every status but pending (the "
            "history), `all` for every status. `failed`: approved, but the action failed."
        ),
    ] = "pending",
    conversation_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    customer_id: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="Only requests of this customer")
    ] = None,
    approver: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            description="Only requests this principal approved, edited or rejected",
        ),
    ] = None,
    tool: Annotated[
        str | None,
        Query(min_length=1, max_length=128, description="Only requests for this tool"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """Approval requests: the pending queue oldest first; any other status (a history)
    newest first. `can_decide` says whether the caller may decide each one now (role,
    amount authority, four-eyes, policy version); `rule_conditions` gives each rule's
    condition in the policy the request was made under."""
    statuses = {"all": None, "closed": CLOSED}.get(status, status)
    return runtime.approvals(
        caller,
        status=statuses,
        conversation_id=conversation_id,
        customer_id=customer_id,
        decided_by=approver,
        tool=tool,
        newest_first=status != "pending",
        limit=limit,
    )


@router.get(
    "/stream",
    summary="Live approval queue (server-sent events)",
    response_class=EventSourceResponse,
    responses={
        **responses(),
        200: {
            "description": "A `queue` event with the pending approvals, and "
            "again whenever the queue changes",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
    },
)
async def approvals_stream(caller: ReaderCaller, runtime: RuntimeDep) -> EventSourceResponse:
    """Server-sent events for the approval console: the pending queue on connect and on
    every change (decisions through this server at once; other processes within
    `GOVCX_QUEUE_POLL_INTERVAL` seconds)."""
    return stream_queue(runtime, caller)


@router.get(
    "/{approval_id}",
    response_model=ApprovalView,
    responses=responses(),
    summary="Read an approval request",
)
def get_approval(approval_id: ApprovalId, caller: ReaderCaller, runtime: RuntimeDep) -> Any:
    return runtime.approval_view(caller, runtime.agent.approvals.get(approval_id))


@router.post(
    "/{approval_id}/decision",
    response_model=Turn,
    summary="Approve, edit or reject",
    responses={
        **responses(409),
        200: {
            "description": "The resumed Turn",
            "content": {"application/json": {"example": RESUMED_EXAMPLE}},
        },
    },
)
def decide(
    approval_id: ApprovalId,
    body: DecisionIn,
    caller: ApproverCaller,
    runtime: RuntimeDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Decide a pending approval and resume its conversation; returns the resumed Turn.

    409 when the approval is no longer pending (decided, expired, another approver won a
    race, or the policy changed since it was requested). An approver decides within its
    role's authority (403 beyond it); four-eyes approvals need two distinct approvers.
    """
    turn, replayed = runtime.decide(caller, approval_id, body, check_key(idempotency_key))
    return turn_response(turn, {"Idempotent-Replayed": "true"} if replayed else None)
