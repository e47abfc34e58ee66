"""The govcx exception tree.

Every error a user can cause carries the fields that explain it and builds its own
message, naming the file, field or argument and what would be valid.

```
GovcxError
├── ConfigError                 a pack, policy or settings file is wrong
│   └── PolicyError             policy.yaml: file, field path, reason
├── NotFound                    an id that does not exist (conversation, approval, tool)
├── Conflict                    the request contradicts what is stored (HTTP 409)
│   ├── PolicyVersionConflict   a version string that already names other content
│   └── CustomerMismatch        a message naming another customer than the conversation's
├── Unauthenticated             no key, or a key that is unknown, malformed or revoked
├── ToolError                   a tool refused or failed (raised by pack tools)
│   └── ToolArgumentError       arguments do not match the tool's schema
├── ApprovalError               a decision that cannot be applied
│   ├── ApprovalStale           already decided, expired or bound to another action
│   ├── NotAuthorized           the principal lacks the role or authority
│   └── DuplicateApprover       four-eyes: the same principal decided twice
└── AuditError                  the audit chain is broken
```
"""

from __future__ import annotations

from typing import Any


class GovcxError(Exception):
    """Base class of every error govcx raises on purpose."""

    code: str = "error"
    exit_code: int = 2

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


class ConfigError(GovcxError):
    """A pack, settings or data file is invalid."""

    code = "invalid_config"

    def __init__(self, file: str, reason: str, *, field: str | None = None) -> None:
        where = f"{file}: {field}: " if field else f"{file}: "
        super().__init__(where + reason, details={"file": file, "field": field})
        self.file = file
        self.field = field
        self.reason = reason


class PolicyError(ConfigError):
    """policy.yaml is invalid: names the file, the field path and what would be valid."""

    code = "invalid_policy"


class NotFound(GovcxError):
    """An id that does not exist."""

    code = "not_found"

    def __init__(self, kind: str, ident: str, *, hint: str = "") -> None:
        msg = f"no {kind} with id {ident!r}" + (f"; {hint}" if hint else "")
        super().__init__(msg, details={"kind": kind, "id": ident})
        self.kind = kind
        self.ident = ident


class Conflict(GovcxError):
    """The request contradicts what is already stored; nothing was changed."""

    code = "conflict"


class PolicyVersionConflict(Conflict):
    """A policy's content changed but its version string did not."""

    code = "policy_version_conflict"

    def __init__(self, version: str, *, stored_digest: str, new_digest: str,
                 source: str) -> None:
        super().__init__(
            f"{source}: policy version {version!r} already names other content "
            f"(digest {stored_digest[:12]}, this one {new_digest[:12]}); bump the version: "
            "every decision, approval and audit event records it, so one version must "
            "always mean one content",
            details={"version": version, "stored_digest": stored_digest,
                     "new_digest": new_digest, "source": source})
        self.version = version


class CustomerMismatch(Conflict):
    """A message names another customer than the one the conversation is fixed to."""

    code = "customer_mismatch"

    def __init__(self, conversation_id: str) -> None:
        # The stored customer is not named: the caller may not be entitled to learn it.
        super().__init__(
            f"conversation {conversation_id} belongs to another customer; a conversation "
            "has one customer, fixed by the first message that names one: start a new "
            "conversation for this customer",
            details={"conversation_id": conversation_id})


class Unauthenticated(GovcxError):
    """A command that needs an API key got none, or one that is unknown, malformed or
    revoked. The message says how to create and pass a key."""

    code = "unauthenticated"


class ToolError(GovcxError):
    """Raised by a tool when the business system refuses or fails the call.

    The message is shown to the customer, so write it for them.
    """

    code = "tool_error"


class ToolArgumentError(ToolError):
    """Arguments do not validate against the tool's schema; the call never runs."""

    code = "invalid_tool_arguments"


class ApprovalError(GovcxError):
    """A decision that cannot be applied."""

    code = "approval_error"


class ApprovalStale(ApprovalError):
    """The approval was already decided, has expired, or is bound to another action."""

    code = "approval_stale"
    exit_code = 1

    def __init__(self, approval_id: str, reason: str) -> None:
        super().__init__(f"approval {approval_id} cannot be decided: {reason}",
                         details={"approval_id": approval_id, "reason": reason})
        self.approval_id = approval_id
        self.reason = reason


class NotAuthorized(ApprovalError):
    """The principal lacks the role or the authority for this decision."""

    code = "not_authorized"
    exit_code = 1

    def __init__(self, principal: str, reason: str) -> None:
        super().__init__(f"{principal} may not do this: {reason}",
                         details={"principal": principal, "reason": reason})
        self.principal = principal
        self.reason = reason


class DuplicateApprover(NotAuthorized):
    """Four-eyes: the same principal tried to give a second approval."""

    code = "duplicate_approver"


class AuditError(GovcxError):
    """The audit chain does not verify."""

    code = "audit_broken"
    exit_code = 1
