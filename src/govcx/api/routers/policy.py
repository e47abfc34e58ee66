"""``/v1/policy``: the active governance policy."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from govcx.api.deps import AdminCaller, CallerDep, RuntimeDep
from govcx.api.errors import responses
from govcx.api.routers import StrictRoute
from govcx.api.runtime import ApiRuntime
from govcx.api.schemas import PolicyView

router = APIRouter(prefix="/v1/policy", tags=["policy"], route_class=StrictRoute)

_YAML_EXAMPLE = """version: "2026.11.2"
defaults: {autonomy: draft, min_confidence: 0.6}
approvals:
  expiry: 24h
  on_expiry: escalate
  roles:
    supervisor: {max_amount: 500}
tiers:
  read: {approval: never}
  low: {approval: never}
workflows:
  order_status: {autonomy: act, tools: [lookup_order]}
tools:
  lookup_order: {tier: read}
"""

_JSON_EXAMPLE = {
    "version": "2026.11.2",
    "defaults": {"autonomy": "draft", "min_confidence": 0.6},
    "approvals": {
        "expiry": "24h",
        "on_expiry": "escalate",
        "roles": {"supervisor": {"max_amount": 500}},
    },
    "tiers": {"read": {"approval": "never"}, "low": {"approval": "never"}},
    "workflows": {"order_status": {"autonomy": "act", "tools": ["lookup_order"]}},
    "tools": {"lookup_order": {"tier": "read"}},
}


def _view(runtime: ApiRuntime) -> PolicyView:
    policy = runtime.agent.policy
    by, at = runtime.policies.activated or (None, None)
    return PolicyView(
        version=policy.version,
        digest=policy.digest,
        policy=policy.model_dump(mode="json"),
        activated_by=by,
        activated_at=at,
    )


@router.get("", response_model=PolicyView, responses=responses(), summary="The active policy")
def get_policy(caller: CallerDep, runtime: RuntimeDep) -> Any:
    return _view(runtime)


@router.put(
    "",
    response_model=PolicyView,
    responses=responses(409),
    summary="Activate a new policy (not when the active policy is governed)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The policy as YAML text (Content-Type "
            "application/yaml, text/yaml or text/plain) or as a JSON object",
            "content": {
                "text/plain": {"schema": {"type": "string"}, "example": _YAML_EXAMPLE},
                "application/json": {"schema": {"type": "object"}, "example": _JSON_EXAMPLE},
            },
        }
    },
)
async def put_policy(caller: AdminCaller, runtime: RuntimeDep, request: Request) -> Any:
    """Validate the policy (schema, expressions, the pack's tools) and activate it.

    A version names one content forever: other content under a known version is 409
    `policy_version_conflict` (bump the version); sending the active policy again changes
    nothing; an earlier version with its own content may be activated again (a rollback).
    Pending approvals requested under another policy are superseded: their conversations
    are escalated to a person and the customer is told.

    When the active policy has a ``governance.policy_changes`` section this is 409
    `policy_governed`: changes go through ``POST /v1/policy/proposals`` and their reviews.
    """
    await run_in_threadpool(runtime.agent.lifecycle.check_direct_change)
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    policy = await run_in_threadpool(runtime.policies.parse, raw, content_type)
    await run_in_threadpool(runtime.activate_policy, caller, policy)
    return _view(runtime)
