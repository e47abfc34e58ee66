"""``/v1/audit``: the keyed, anchored audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from govcx.api.deps import AuditorCaller, RuntimeDep
from govcx.api.errors import ApiError, responses
from govcx.api.routers import StrictRoute
from govcx.api.schemas import (
    ID_PATTERN,
    AuditAnchorView,
    AuditEventView,
    AuditVerifyRequest,
    AuditVerifyView,
)
from govcx.errors import AuditBroken
from govcx.governance.audit import Anchor, VerifyResult

router = APIRouter(prefix="/v1/audit", tags=["audit"], route_class=StrictRoute)

MAX_SEQ = 2**31 - 1
"""Sequence numbers are 32-bit INTEGER columns (PostgreSQL); SQLite binds at most 64 bits."""


@router.get(
    "", response_model=list[AuditEventView], responses=responses(), summary="Read audit events"
)
def audit_events(
    caller: AuditorCaller,
    runtime: RuntimeDep,
    conversation_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    after_seq: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_SEQ,
            description=(f"Page: events after this sequence number (0 to {MAX_SEQ})"),
        ),
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Any:
    """Events in chain order (who, what, why, policy version and digest, rule ids; inputs
    redacted)."""
    return [
        e.as_dict()
        for e in runtime.agent.audit.events(
            conversation_id=conversation_id, after_seq=after_seq, limit=limit
        )
    ]


def _view(result: VerifyResult) -> AuditVerifyView:
    return AuditVerifyView.model_validate(result.as_dict())


@router.get(
    "/verify",
    response_model=AuditVerifyView,
    responses=responses(),
    summary="Verify the audit chain",
)
def audit_verify(caller: AuditorCaller, runtime: RuntimeDep) -> Any:
    """Walk the whole chain (keyed HMAC, key boundary seal) and check that every approval
    decision, ledger execution and turn has its audit event; `problems` names every edit,
    deletion, reordering, and record without its event. `POST` also checks an anchor."""
    return _view(runtime.agent.audit.verify())


@router.post(
    "/verify",
    response_model=AuditVerifyView,
    responses=responses(),
    summary="Verify the audit chain against an anchor",
)
def audit_verify_anchor(
    body: AuditVerifyRequest, caller: AuditorCaller, runtime: RuntimeDep
) -> Any:
    """As `GET /v1/audit/verify`, and fails (`ok: false`) when the chain no longer extends
    the anchor: its event is missing or has another hash, or its signature does not verify
    with this deployment's audit key."""
    anchor = Anchor(**body.anchor.model_dump())
    return _view(runtime.agent.audit.verify(anchor=anchor))


@router.get(
    "/anchor",
    response_model=AuditAnchorView,
    responses=responses(409),
    summary="Sign the chain's head, for safekeeping outside the database",
)
def audit_anchor(caller: AuditorCaller, runtime: RuntimeDep) -> Any:
    """The head's seq and hash with the time, signed with the audit key. Keep it outside
    the database; a later verify against it detects truncation, wiping and rewriting.
    409 when the chain does not verify (a broken chain is not signed)."""
    try:
        anchor = runtime.agent.audit.anchor()
    except AuditBroken as exc:
        raise ApiError(
            409, exc.code, exc.message, details={"problems": exc.details.get("problems", [])}
        ) from None
    return AuditAnchorView.model_validate(anchor.as_dict())
