"""``/v1/audit``: the hash-chained audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from govcx.api.deps import AuditorCaller, RuntimeDep
from govcx.api.errors import responses
from govcx.api.routers import StrictRoute
from govcx.api.schemas import ID_PATTERN, AuditEventView, AuditVerifyView

router = APIRouter(prefix="/v1/audit", tags=["audit"], route_class=StrictRoute)


@router.get("", response_model=list[AuditEventView], responses=responses(),
            summary="Read audit events")
def audit_events(caller: AuditorCaller, runtime: RuntimeDep,
                 conversation_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
                 after_seq: Annotated[int, Query(ge=0, description="Page: events after this "
                                                 "sequence number")] = 0,
                 limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> Any:
    """Events in chain order (who, what, why, policy version, rule ids; inputs redacted)."""
    return [e.as_dict() for e in runtime.agent.audit.events(
        conversation_id=conversation_id, after_seq=after_seq, limit=limit)]


@router.get("/verify", response_model=AuditVerifyView, responses=responses(),
            summary="Verify the audit chain")
def audit_verify(caller: AuditorCaller, runtime: RuntimeDep) -> Any:
    """Walk the whole chain; `problems` names every edit, deletion or reordering."""
    result = runtime.agent.audit.verify()
    return AuditVerifyView(ok=result.ok, events=result.events, problems=result.problems)
