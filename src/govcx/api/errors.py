"""JSON errors for every 4xx and 5xx: ``{"error": {"code", "message", "details"}}``.

The core raises :class:`~govcx.errors.GovcxError` subclasses; this module maps them to
HTTP statuses. ``HTTPException`` is used only inside ``govcx.api`` (as :class:`ApiError`).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from govcx.errors import (
    ApprovalStale,
    ConfigError,
    Conflict,
    ConversationBusy,
    GovcxError,
    NotAuthorized,
    NotFound,
    ToolArgumentError,
)

log = logging.getLogger("govcx.api")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class ErrorDetail(BaseModel):
    code: str = Field(examples=["approval_stale"])
    """Stable machine-readable code."""
    message: str = Field(examples=["approval apr_123 cannot be decided: it is already approved"])
    """What went wrong and what would be valid."""
    details: dict[str, Any] = Field(default_factory=dict)
    """Fields that explain the error (field name, id, limit...)."""


class ErrorBody(BaseModel):
    """Every 4xx and 5xx response has this shape."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "code": "approval_stale",
                        "message": "approval apr_e2a02600c3493466de94 "
                        "cannot be decided: it is already approved",
                        "details": {"approval_id": "apr_e2a02600c3493466de94"},
                    }
                },
                {
                    "error": {
                        "code": "unknown_query_parameter",
                        "message": "unknown query parameter "
                        "stauts on /v1/approvals; valid: conversation_id, limit, status",
                        "details": {
                            "unknown": ["stauts"],
                            "allowed": ["conversation_id", "limit", "status"],
                        },
                    }
                },
            ]
        }
    )

    error: ErrorDetail


class ApiError(HTTPException):
    """An HTTP error with a govcx error code."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=message, headers=headers)
        self.code = code
        self.message = message
        self.details = details or {}


def status_for(exc: GovcxError) -> int:
    """The HTTP status of a core error."""
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, NotAuthorized):
        return 403
    if exc.code == "unauthenticated":
        return 401
    if isinstance(exc, ApprovalStale | ConversationBusy | Conflict):
        return 409
    if isinstance(exc, ToolArgumentError | ConfigError) or exc.code == "invalid_input":
        return 422
    return 400


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_message(errors: list[dict[str, Any]]) -> tuple[int, str, str, list[dict[str, Any]]]:
    clean = []
    for err in errors[:20]:
        loc = [str(p) for p in err.get("loc", ())]
        clean.append({"loc": loc, "msg": str(err.get("msg", "")), "type": err.get("type", "")})
    if any(e["type"] == "json_invalid" for e in clean):
        return 400, "malformed_json", "the request body is not valid JSON", clean
    if not clean:
        return 422, "invalid_request", "the request is not valid", clean
    first = clean[0]
    where = ".".join(p for p in first["loc"] if p != "body") or "body"
    message = f"{where}: {first['msg']}"
    if len(clean) > 1:
        message += f" (and {len(clean) - 1} more problem{'s' if len(clean) > 2 else ''})"
    return 422, "invalid_request", message, clean


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the JSON error shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(
            exc.status_code, exc.code, exc.message, exc.details, dict(exc.headers or {})
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = str(exc.detail) if exc.detail else code.replace("_", " ")
        if exc.status_code == 404 and message == "Not Found":
            message = "no such endpoint; see /docs for the API"
        elif exc.status_code == 405:
            message = "method not allowed on this endpoint; see /docs for the API"
        return error_response(exc.status_code, code, message, {}, dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        status, code, message, errors = _validation_message(list(exc.errors()))
        return error_response(status, code, message, {"errors": errors})

    @app.exception_handler(GovcxError)
    async def _govcx(_request: Request, exc: GovcxError) -> JSONResponse:
        return error_response(status_for(exc), exc.code, exc.message, _jsonable(exc.details))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        incident = uuid.uuid4().hex[:12]
        log.error(
            "unhandled error %s on %s %s", incident, request.method, request.url.path, exc_info=exc
        )
        return error_response(
            500,
            "internal_error",
            f"the server failed to handle this request (incident {incident} in the server log)",
            {"incident": incident},
        )


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in details.items():
        out[str(key)] = (
            value if isinstance(value, str | int | float | bool | type(None)) else str(value)
        )
    return out


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (400, "Malformed request (e.g. invalid JSON)"),
        (401, "Missing or unknown API key"),
        (403, "The key's principal lacks the role or authority"),
        (404, "Unknown id"),
        (413, "Request body too large"),
        (422, "Invalid input"),
    )
}
"""Error responses every /v1 operation documents."""


def responses(*extra: int) -> dict[int | str, dict[str, Any]]:
    """The documented error responses of an operation, plus ``extra`` statuses."""
    out = dict(ERROR_RESPONSES)
    for code in extra:
        out[code] = {
            "model": ErrorBody,
            "description": {
                409: "Conflict: stale approval, busy conversation or key reuse in progress",
            }.get(code, "Error"),
        }
    return out
