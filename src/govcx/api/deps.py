"""Dependencies of the routers, as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from govcx.api.auth import (
    ROLE_ADMIN,
    ROLE_AGENT,
    ROLE_APPROVER,
    ROLE_AUDITOR,
    ROLE_CHANNEL,
    Caller,
)
from govcx.api.errors import ApiError
from govcx.api.runtime import ApiRuntime
from govcx.api.schemas import ID_PATTERN

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key mapped to a principal of the pack "
    "(GOVCX_API_KEYS; `govcx serve --dev` prints local keys).",
)


async def get_runtime(request: Request) -> ApiRuntime:
    runtime: ApiRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ApiRuntime, Depends(get_runtime)]


async def get_caller(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise ApiError(
            401,
            "unauthorized",
            "missing API key; send the header 'Authorization: Bearer <key>'",
            headers=challenge,
        )
    caller = runtime.keys.authenticate(credentials.credentials)
    if caller is None:
        raise ApiError(401, "unauthorized", "unknown API key", headers=challenge)
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


def require(*roles: str) -> Callable[[Caller], Awaitable[Caller]]:
    """A dependency that lets through callers holding any of ``roles``."""
    wanted = " or ".join(roles)

    async def check(caller: CallerDep) -> Caller:
        if not any(caller.has(role) for role in roles):
            held = ", ".join(sorted(caller.principal.roles)) or "no roles"
            raise ApiError(
                403,
                "forbidden",
                f"{caller.name} may not do this: it needs the role {wanted} and has {held}",
                details={"principal": caller.name, "needs": list(roles)},
            )
        return caller

    return check


ChannelCaller = Annotated[Caller, Depends(require(ROLE_CHANNEL))]
"""Converses on behalf of customers."""
ApproverCaller = Annotated[Caller, Depends(require(ROLE_APPROVER))]
"""Decides approvals (within its role's authority, which the core enforces)."""
ReaderCaller = Annotated[Caller, Depends(require(ROLE_APPROVER, ROLE_AUDITOR, ROLE_ADMIN))]
"""Reads approvals and any conversation."""
AgentCaller = Annotated[Caller, Depends(require(ROLE_AGENT, ROLE_ADMIN))]
"""Works cases: claims, replies to customers, notes, hands back, resolves (in its teams)."""
CaseReader = Annotated[
    Caller, Depends(require(ROLE_AGENT, ROLE_ADMIN, ROLE_AUDITOR, ROLE_APPROVER))
]
"""Reads cases (an agent, those of its teams). Never a channel: notes are internal."""
AuditorCaller = Annotated[Caller, Depends(require(ROLE_AUDITOR, ROLE_ADMIN))]


async def _governance_reader(caller: CallerDep, runtime: RuntimeDep) -> Caller:
    """An auditor, an admin, or a reviewer of the active policy's policy changes (a risk
    owner reads the figures the changes are judged by)."""
    changes = runtime.agent.policy.policy_changes
    reviewers = list(changes.roles) if changes is not None else []
    wanted = [ROLE_AUDITOR, ROLE_ADMIN, *reviewers]
    return await require(*wanted)(caller)


GovernanceReader = Annotated[Caller, Depends(_governance_reader)]
"""Reads the operations report: auditors, admins, and the policy's change reviewers."""
AdminCaller = Annotated[Caller, Depends(require(ROLE_ADMIN))]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="A unique key per logical request (a UUID): a repeat returns the first "
        "response and processes nothing twice.",
    ),
]
ConversationId = Annotated[str, Path(pattern=ID_PATTERN, examples=["conv_3f2a9c0d1e4b5a6f7c8d"])]
CaseId = Annotated[str, Path(pattern=ID_PATTERN, examples=["case_e2a02600c3493466de94"])]
ApprovalId = Annotated[str, Path(pattern=ID_PATTERN, examples=["apr_e2a02600c3493466de94"])]
