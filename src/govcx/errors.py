"""The govcx exception tree.

Every error a user can cause carries the fields that explain it and builds its own
message, naming the file, field or argument and what would be valid.

```
GovcxError
├── ConfigError                 a pack, policy or settings file is wrong
│   ├── PolicyError             policy.yaml: file, field path, reason
│   ├── SuiteError              an eval suite file: file, case and key
│   ├── DocumentError           one knowledge file cannot be ingested: file and reason
│   ├── EmbeddingMismatch       the knowledge store was built with other embeddings
│   └── GuardInputError         a `guard scan` line is not a JSON object with a text field
├── InvalidInput                a request argument is malformed (an id, a text, a decision)
├── InvalidAnchor               an audit anchor file that is not an anchor
├── ReportError                 an eval report file cannot be read
├── NotFound                    an id that does not exist (conversation, approval, tool)
├── Conflict                    the request contradicts what is stored (HTTP 409)
│   ├── PolicyVersionConflict   a version string that already names other content
│   ├── PolicyGoverned          a direct change of a governed policy (propose it instead)
│   ├── ProposalTampered        a stored policy proposal that no longer matches its digest
│   ├── ImpactNotReady          approving a proposal whose impact report is running or failed
│   └── CustomerMismatch        a message naming another customer than the conversation's
├── ConversationBusy            another run held the conversation past the lock timeout
├── Unauthenticated             no key, or a key that is unknown, malformed or revoked
├── ToolError                   a tool refused or failed (raised by pack tools)
│   ├── ToolArgumentError       arguments do not match the tool's schema
│   └── RemoteToolError         an MCP server or OpenAPI service failed, timed out, went away
├── GateViolation               an execution the policy does not allow (never runs)
├── ApprovalError               a decision that cannot be applied
│   ├── ApprovalStale           already decided, expired or bound to another action
│   └── NotAuthorized           the principal lacks the role or authority
│       └── DuplicateApprover   four-eyes: the same principal decided twice
├── AuditError                  the audit chain is broken
│   └── AuditBroken             ... so no anchor is signed over it
├── SchemaBehind                the database schema is older than this govcx
├── CheckpointUnreadable        a checkpoint sealed with another data key (or altered)
├── KnowledgeStoreError         the vector store cannot be opened or failed
└── CassetteMiss                replay mode found no recording for a model call
```"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar


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


class SuiteError(ConfigError):
    """A suite file is invalid: names the file, the case (when known) and the key."""

    code = "invalid_suite"

    def __init__(
        self, file: str, reason: str, *, case: str | None = None, field: str | None = None
    ) -> None:
        where = f"case {case}: " if case else ""
        super().__init__(
            file,
            where + reason if not field else reason,
            field=f"{where}{field}" if field else None,
        )
        self.case = case


class DocumentError(ConfigError):
    """A knowledge file cannot be ingested; the rest of the ingest goes on without it."""

    code = "invalid_document"


class EmbeddingMismatch(ConfigError):
    """The collection's recorded embedding configuration differs from the configured one.

    Vectors from two different embedding models are not comparable, so searching would be
    silently wrong: govcx refuses instead.
    """

    code = "embedding_mismatch"

    def __init__(self, store: str, recorded: str, configured: str) -> None:
        super().__init__(
            store,
            f"the knowledge store was built with embeddings {recorded} but the configuration "
            f"asks for {configured}; restore the original `knowledge_config.embedding` or "
            "rebuild the store with `govcx kb ingest DIR --rebuild`",
            field="knowledge_config.embedding",
        )
        self.recorded = recorded
        self.configured = configured


class GuardInputError(ConfigError):
    """A line of the scan input is not a JSON object with a text field."""


class InvalidInput(GovcxError):
    """A request argument is malformed."""

    code = "invalid_input"


class InvalidAnchor(GovcxError):
    """An anchor file that is not an anchor (bad input: exit 2 / HTTP 422)."""

    code = "invalid_anchor"


class ReportError(GovcxError):
    """A report file cannot be read."""

    code = "invalid_report"

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}", details={"file": path})


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

    def __init__(self, version: str, *, stored_digest: str, new_digest: str, source: str) -> None:
        super().__init__(
            f"{source}: policy version {version!r} already names other content "
            f"(digest {stored_digest[:12]}, this one {new_digest[:12]}); bump the version: "
            "every decision, approval and audit event records it, so one version must "
            "always mean one content",
            details={
                "version": version,
                "stored_digest": stored_digest,
                "new_digest": new_digest,
                "source": source,
            },
        )
        self.version = version


class PolicyGoverned(Conflict):
    """The active policy says changes go through reviewed proposals; a direct activation
    is refused."""

    code = "policy_governed"

    def __init__(self, version: str, approvers: int, roles: list[str]) -> None:
        super().__init__(
            f"policy {version} is governed (governance.policy_changes): a change needs "
            f"{approvers} reviewer(s) holding {', '.join(roles)}, so it cannot be "
            "activated directly; propose it instead: `govcx policy propose FILE` or "
            "POST /v1/policy/proposals",
            details={"version": version, "approvers": approvers, "roles": roles},
        )


class ProposalTampered(Conflict):
    """A stored policy proposal no longer matches the digest it was proposed (and
    reviewed) with: it can never be reviewed or rolled out."""

    code = "proposal_tampered"

    def __init__(self, proposal_id: str, reason: str) -> None:
        super().__init__(
            f"policy proposal {proposal_id} is unusable: {reason}; the database was edited "
            "outside govcx. Propose the policy again (and check `govcx audit verify`)",
            details={"proposal_id": proposal_id, "reason": reason},
        )


class ImpactNotReady(Conflict):
    """Approving a policy proposal before its impact report is there to read: the server
    still computes it, or it failed and must be re-run first."""

    code = "impact_not_ready"

    def __init__(self, proposal_id: str, impact_status: str, error: str | None = None) -> None:
        if impact_status == "failed":
            reason = (
                f"the impact report of proposal {proposal_id} failed ({error}); re-run it "
                f"with POST /v1/policy/proposals/{proposal_id}/impact or `govcx policy "
                f"impact {proposal_id}` (its author or an admin) and review it once it is done"
            )
        else:
            state = "is still running" if impact_status == "running" else "has not started yet"
            reason = (
                f"the impact report of proposal {proposal_id} {state}; a reviewer must "
                "see it before approving: try again when its impact_status is done "
                "(rejecting is allowed now)"
            )
        super().__init__(
            reason, details={"proposal_id": proposal_id, "impact_status": impact_status}
        )


class CustomerMismatch(Conflict):
    """A message names another customer than the one the conversation is fixed to."""

    code = "customer_mismatch"

    def __init__(self, conversation_id: str) -> None:
        # The stored customer is not named: the caller may not be entitled to learn it.
        super().__init__(
            f"conversation {conversation_id} belongs to another customer; a conversation "
            "has one customer, fixed by the first message that names one: start a new "
            "conversation for this customer",
            details={"conversation_id": conversation_id},
        )


class ConversationBusy(GovcxError):
    """Another run on this conversation did not finish within the lock timeout."""

    code = "conversation_busy"

    def __init__(self, conversation_id: str, timeout: float) -> None:
        super().__init__(
            f"conversation {conversation_id} is busy with another request "
            f"(waited {timeout:g}s); retry shortly",
            details={"conversation_id": conversation_id},
        )


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


class RemoteToolError(ToolError):
    """An MCP server or OpenAPI service failed a call: an error, a time-out, a disconnect.

    The message is written by govcx (a remote service's own text is untrusted: it could
    carry instructions or internals), so it can be shown to the customer; the service's
    text is in ``details["detail"]`` and the log, for staff.
    """

    code = "remote_tool_error"
    _WHAT: ClassVar[dict[str, str]] = {
        "timeout": "did not answer in time",
        "disconnected": "could not be reached (the connection was lost)",
        "closed": "is not connected",
        "changed": "changed the tool since it was reviewed",
        "error": "reported an error",
    }

    def __init__(self, source: str, kind: str, detail: str) -> None:
        what = self._WHAT.get(kind, "failed")
        super().__init__(
            f"{source} {what}, so this was not completed. Please try again later.",
            details={"source": source, "kind": kind, "detail": detail},
        )
        self.source = source
        self.kind = kind
        self.detail = detail


class GateViolation(GovcxError):
    """An execution was attempted that the policy does not allow."""

    code = "gate_violation"


class ApprovalError(GovcxError):
    """A decision that cannot be applied."""

    code = "approval_error"


class ApprovalStale(ApprovalError):
    """The approval was already decided, has expired, or is bound to another action."""

    code = "approval_stale"
    exit_code = 1

    def __init__(self, approval_id: str, reason: str) -> None:
        super().__init__(
            f"approval {approval_id} cannot be decided: {reason}",
            details={"approval_id": approval_id, "reason": reason},
        )
        self.approval_id = approval_id
        self.reason = reason


class NotAuthorized(ApprovalError):
    """The principal lacks the role or the authority for this decision."""

    code = "not_authorized"
    exit_code = 1

    def __init__(self, principal: str, reason: str) -> None:
        super().__init__(
            f"{principal} may not do this: {reason}",
            details={"principal": principal, "reason": reason},
        )
        self.principal = principal
        self.reason = reason


class DuplicateApprover(NotAuthorized):
    """Four-eyes: the same principal tried to give a second approval."""

    code = "duplicate_approver"


class AuditError(GovcxError):
    """The audit chain does not verify."""

    code = "audit_broken"
    exit_code = 1


class AuditBroken(AuditError):
    """The chain does not verify, so it is not signed (exit 1; HTTP 409)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(
            "the audit chain does not verify, so no anchor was signed; run "
            "`govcx audit verify`: " + "; ".join(problems[:3]),
            details={"problems": problems},
        )


class SchemaBehind(GovcxError):
    """The database schema is older than this version of govcx."""

    code = "schema_behind"

    def __init__(self, current: str | None, head: str) -> None:
        super().__init__(
            f"the database schema is at revision {current or 'none'} but this "
            f"govcx needs {head}; run `govcx db upgrade` (back up first)",
            details={"current": current, "head": head},
        )


class CheckpointUnreadable(GovcxError):
    """A checkpoint was encrypted with another data key (or altered)."""

    code = "checkpoint_unreadable"


class KnowledgeStoreError(GovcxError):
    """The vector store could not be opened or failed an operation."""

    code = "knowledge_store"
    exit_code = 1


class CassetteMiss(GovcxError):
    """Replay mode found no recording for a model call."""

    code = "cassette_miss"
    exit_code = 1

    def __init__(
        self, *, path: Path, key: str, label: str | None, prompt: str, closest: str | None = None
    ) -> None:
        where = label or "a model call"
        msg = (
            f"no recording in {path} for {where} (key {key[:16]}); prompt: {prompt!r}. "
            + (f"Closest recording: {closest}. " if closest else "")
            + "Record it again with mode 'record' against a live model."
        )
        super().__init__(
            msg, details={"cassette": str(path), "key": key, "label": label, "prompt": prompt}
        )
        self.key = key
        self.label = label
