"""Health, metrics, the caller's identity, webhook deliveries and escalations."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from govcx.api.deps import AuditorCaller, CallerDep, ReaderCaller, RuntimeDep
from govcx.api.errors import responses
from govcx.api.metrics import CONTENT_TYPE
from govcx.api.routers import StrictRoute
from govcx.api.schemas import (
    ESCALATION_EXAMPLE,
    Health,
    Me,
    WebhookDeliveryView,
    package_version,
)

router = APIRouter(tags=["system"], route_class=StrictRoute)


@router.get("/healthz", response_model=Health, summary="Liveness")
def healthz(runtime: RuntimeDep) -> Any:
    return Health(
        status="ok",
        pack=runtime.agent.pack.name,
        policy_version=runtime.agent.policy.version,
        version=package_version(),
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def metrics(runtime: RuntimeDep) -> Response:
    body = await run_in_threadpool(runtime.metrics.render)
    return Response(body, media_type=CONTENT_TYPE)


@router.get("/v1/me", response_model=Me, responses=responses(), summary="Who am I")
async def me(caller: CallerDep) -> Any:
    """The principal and roles of the API key (the console uses it after sign-in)."""
    return Me(principal=caller.name, roles=sorted(caller.principal.roles))


@router.get(
    "/v1/webhooks/deliveries",
    response_model=list[WebhookDeliveryView],
    responses=responses(),
    summary="Webhook deliveries",
    tags=["webhooks"],
)
def deliveries(
    caller: AuditorCaller,
    runtime: RuntimeDep,
    status: Annotated[Literal["pending", "delivered", "failed"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """Recent deliveries, newest first, with attempts and the last error."""
    return runtime.webhooks.deliveries(status=status, limit=limit)


@router.get(
    "/v1/escalations",
    response_model=list[dict[str, Any]],
    summary="Escalations",
    tags=["conversations"],
    responses={
        **responses(),
        200: {
            "description": "Escalations, oldest first",
            "content": {"application/json": {"example": [ESCALATION_EXAMPLE]}},
        },
    },
)
def escalations(
    caller: ReaderCaller,
    runtime: RuntimeDep,
    status: Annotated[Literal["open", "resolved", "all"], Query()] = "open",
) -> Any:
    """Conversations handed to a human, with the summary and the rules that fired."""
    return runtime.agent.conversations.escalations(status=None if status == "all" else status)
