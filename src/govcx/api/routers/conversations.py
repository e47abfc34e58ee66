"""``/v1/conversations``: start conversations, post customer messages, read them."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from govcx.api.deps import (
    CallerDep,
    ChannelCaller,
    ConversationId,
    IdempotencyKey,
    RuntimeDep,
)
from govcx.api.errors import responses
from govcx.api.idempotency import check_key
from govcx.api.routers import StrictRoute, turn_response
from govcx.api.schemas import (
    TURN_EXAMPLE,
    ConversationCreate,
    ConversationCreated,
    ConversationView,
    MessageIn,
)
from govcx.api.streaming import stream_conversation, stream_turn
from govcx.turn import Turn

router = APIRouter(prefix="/v1/conversations", tags=["conversations"], route_class=StrictRoute)

_SSE_EXAMPLE = (
    'event: progress\ndata: {"node": "accepted", "conversation_id": "conv_...", '
    '"duration_ms": 0.0, "elapsed_ms": 1.2}\n\n'
    'event: progress\ndata: {"node": "classify", "duration_ms": 2.1, "elapsed_ms": 9.8, '
    '"intent": "refund", "confidence": 0.95}\n\n'
    'event: reply\ndata: {"text": "I\'ve passed your request to a member of our team...", '
    '"citations": []}\n\n'
    'event: turn\ndata: {"turn_id": "turn_...", "status": "pending_approval", ...}\n\n'
)


@router.post(
    "",
    status_code=201,
    response_model=ConversationCreated,
    responses=responses(),
    summary="Start a conversation",
)
async def create_conversation(
    caller: ChannelCaller,
    runtime: RuntimeDep,
    body: Annotated[
        ConversationCreate | None,
        Body(
            openapi_examples={
                "customer": {
                    "summary": "With the customer's id",
                    "value": {"customer_id": "C-1001"},
                },
                "anonymous": {"summary": "No body: customer unknown", "value": {}},
            }
        ),
    ] = None,
) -> ConversationCreated:
    """Start a conversation owned by the calling channel. Posting to a new id also starts
    one; this endpoint picks a fresh id for you."""
    customer_id = body.customer_id if body else None
    conversation_id = await run_in_threadpool(runtime.create_conversation, caller, customer_id)
    return ConversationCreated(conversation_id=conversation_id)


@router.post(
    "/{conversation_id}/messages",
    response_model=Turn,
    summary="Post a customer message",
    responses={
        **responses(409),
        200: {
            "description": "The Turn; with `Accept: text/event-stream`, a stream of `progress` "
            "events (`accepted` at once, then one per graph node), a `reply` "
            "event and a `turn` event (or an `error` event)",
            "content": {
                "application/json": {"example": TURN_EXAMPLE},
                "text/event-stream": {"schema": {"type": "string"}, "example": _SSE_EXAMPLE},
            },
        },
    },
)
async def post_message(
    conversation_id: ConversationId,
    body: MessageIn,
    caller: ChannelCaller,
    runtime: RuntimeDep,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Run one customer message through the governed graph and return the Turn.

    Runs on one conversation are serialised. With an `Idempotency-Key`, a repeat returns
    the first Turn and processes nothing twice; the same key with another body is 422.
    """
    key = check_key(idempotency_key)
    if "text/event-stream" in request.headers.get("accept", ""):
        started = time.perf_counter()
        prepared = await run_in_threadpool(
            runtime.prepare_message, caller, conversation_id, body, key
        )
        return stream_turn(runtime, prepared, started)
    turn = await run_in_threadpool(runtime.respond, caller, conversation_id, body, key)
    return turn_response(turn)


@router.get(
    "/{conversation_id}",
    response_model=ConversationView,
    responses=responses(),
    summary="Read a conversation",
)
def get_conversation(
    conversation_id: ConversationId, caller: CallerDep, runtime: RuntimeDep
) -> Any:
    """Transcript, status, turns, pending approvals and executed actions. Channels read
    their own conversations; approvers, auditors and admins read any."""
    return runtime.conversation(caller, conversation_id)


@router.get(
    "/{conversation_id}/events",
    summary="Follow a conversation (server-sent events)",
    response_class=EventSourceResponse,
    responses={
        **responses(),
        200: {
            "description": "`control` (who answers: ai, waiting, human, resolved) at once "
            "and on every change; `message` for each new line that is not the customer's, "
            "a person's replies (role `agent`) included",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
    },
)
async def conversation_events(
    conversation_id: ConversationId,
    caller: CallerDep,
    runtime: RuntimeDep,
    after: Annotated[int, Query(ge=0, description="Only lines after this message_id")] = 0,
) -> EventSourceResponse:
    """How a channel hears what a person says to its customer after a hand-off. Checks
    ownership first (404 for another channel's conversation)."""
    await run_in_threadpool(runtime.conversation_updates, caller, conversation_id, after)
    return stream_conversation(runtime, caller, conversation_id, after)
