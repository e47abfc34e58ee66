"""``/v1/cases``: the queue of escalated conversations and what people do with them.

An escalation opens a case in a team's queue (the policy's ``routing``); a person with
the role ``agent`` in that team claims it, answers the customer, writes internal notes,
hands the conversation back to the AI or resolves it. While a person has it the AI does
not reply. Channels never read cases (notes are internal); they follow the conversation
on ``GET /v1/conversations/{id}/events`` and the ``conversation.*`` webhooks.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from govcx.api.deps import AgentCaller, CaseId, CaseReader, RuntimeDep
from govcx.api.errors import responses
from govcx.api.routers import StrictRoute
from govcx.api.schemas import (
    ID_PATTERN,
    CaseAssignIn,
    CaseCloseIn,
    CaseDetail,
    CaseSuggestion,
    CaseTextIn,
    CaseView,
)
from govcx.api.streaming import stream_cases

CloseBody = Annotated[
    CaseCloseIn | None,
    Body(
        openapi_examples={
            "note": {"summary": "With an internal note", "value": {"note": "Refunded by phone."}},
            "none": {"summary": "No body", "value": {}},
        }
    ),
]

router = APIRouter(prefix="/v1/cases", tags=["cases"], route_class=StrictRoute)


@router.get("", response_model=list[CaseView], responses=responses(), summary="List cases")
def list_cases(
    caller: CaseReader,
    runtime: RuntimeDep,
    status: Annotated[
        Literal["open", "waiting", "human", "closed", "handed_back", "resolved", "all"],
        Query(description="`open` (waiting or human, the default), `closed`, one status, `all`"),
    ] = "open",
    team: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    priority: Annotated[Literal["urgent", "high", "normal", "low"] | None, Query()] = None,
    assignee: Annotated[str | None, Query(max_length=128)] = None,
    customer_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """Open cases by urgency: the nearest SLA deadline first, then priority and age;
    closed cases (the history) most recently closed first. An agent sees its teams'."""
    return runtime.cases(
        caller,
        status=None if status == "all" else status,
        team=team,
        priority=priority,
        assignee=assignee,
        customer_id=customer_id,
        limit=limit,
    )


@router.get(
    "/stream",
    summary="Live case inbox (server-sent events)",
    response_class=EventSourceResponse,
    responses={
        **responses(),
        200: {
            "description": "A `cases` event with the cases `GET /v1/cases` lists (and the "
            "server's clock, `at`), and again whenever a case changes or the customer of "
            "an open case writes",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
    },
)
async def cases_stream(
    caller: CaseReader,
    runtime: RuntimeDep,
    status: Annotated[
        Literal["open", "waiting", "human", "closed", "handed_back", "resolved", "all"],
        Query(description="As for `GET /v1/cases`"),
    ] = "open",
    team: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> EventSourceResponse:
    """Server-sent events for the console's inbox: an agent's teams' cases (every team's
    for admins, auditors and approvers), by urgency, on connect and on every change
    (through this server at once; other processes within `GOVCX_QUEUE_POLL_INTERVAL`
    seconds). Never for a channel: cases carry what the AI concluded and internal state."""
    return stream_cases(runtime, caller, status=None if status == "all" else status, team=team)


@router.get("/{case_id}", response_model=CaseDetail, responses=responses(), summary="Read a case")
def get_case(case_id: CaseId, caller: CaseReader, runtime: RuntimeDep) -> Any:
    """The case, its hand-off summary, the conversation's transcript, what people did on
    it (internal notes included) and the conversation's pending approvals."""
    return runtime.case_detail(caller, case_id)


def _action(runtime: Any, caller: Any, case_id: str, action: str, **kwargs: Any) -> Any:
    return run_in_threadpool(runtime.case_action, caller, case_id, action, **kwargs)


@router.post(
    "/{case_id}/claim",
    response_model=CaseView,
    responses=responses(409),
    summary="Take a case",
)
async def claim(case_id: CaseId, caller: AgentCaller, runtime: RuntimeDep) -> Any:
    """The caller takes the case; from now on the AI does not reply in the conversation.
    409 when someone else has claimed it (two people racing: one wins)."""
    return await _action(runtime, caller, case_id, "claim")


@router.post(
    "/{case_id}/assign",
    response_model=CaseView,
    responses=responses(409),
    summary="Give a case to someone",
)
async def assign(
    case_id: CaseId, body: CaseAssignIn, caller: AgentCaller, runtime: RuntimeDep
) -> Any:
    """Give the case to an agent of its team (taking it over from whoever has it)."""
    return await _action(runtime, caller, case_id, "assign", agent=body.agent)


@router.post(
    "/{case_id}/reply",
    response_model=CaseView,
    responses=responses(409),
    summary="Answer the customer",
)
async def reply(case_id: CaseId, body: CaseTextIn, caller: AgentCaller, runtime: RuntimeDep) -> Any:
    """A reply to the customer from the person who has the case: in the transcript,
    on the channel's event stream and in a `conversation.human_reply` webhook. The first
    one meets the first-response SLA. 409 unless the caller has claimed the case."""
    return await _action(runtime, caller, case_id, "reply", text=body.text)


@router.post(
    "/{case_id}/suggestion",
    response_model=CaseSuggestion,
    responses=responses(),
    summary="Ask the AI for a suggested reply",
)
async def suggestion(case_id: CaseId, caller: AgentCaller, runtime: RuntimeDep) -> Any:
    """A reply the AI drafts for the customer's latest message, from approved knowledge,
    checked by the output guard; no tool runs. It is recorded in the audit trail and never
    sent: the person edits it and sends it with `/reply`, or not."""
    return await run_in_threadpool(runtime.case_suggestion, caller, case_id)


@router.post(
    "/{case_id}/notes",
    response_model=CaseView,
    responses=responses(),
    summary="Add an internal note",
)
async def note(case_id: CaseId, body: CaseTextIn, caller: AgentCaller, runtime: RuntimeDep) -> Any:
    """A note for the people on the case. Never shown to the customer or a channel."""
    return await _action(runtime, caller, case_id, "note", text=body.text)


@router.post(
    "/{case_id}/handback",
    response_model=CaseView,
    responses=responses(409),
    summary="Hand the conversation back to the AI",
)
async def hand_back(
    case_id: CaseId, caller: AgentCaller, runtime: RuntimeDep, body: CloseBody = None
) -> Any:
    """Close the case and give the conversation back: the AI answers the next message."""
    return await _action(runtime, caller, case_id, "hand_back", text=body.note if body else None)


@router.post(
    "/{case_id}/resolve",
    response_model=CaseView,
    responses=responses(409),
    summary="Resolve a case",
)
async def resolve(
    case_id: CaseId, caller: AgentCaller, runtime: RuntimeDep, body: CloseBody = None
) -> Any:
    """Close the case as resolved (a later message from the customer starts with the AI)."""
    return await _action(runtime, caller, case_id, "resolve", text=body.note if body else None)
