"""Property-based checks against the app's own OpenAPI schema (ASGI transport, no network).

For every operation, positive and negative cases: no 5xx, responses conform to the
schema, every schema-violating request is refused with a 4xx, every 4xx has the JSON
error shape. Bounded: a few examples per operation and
mode (schemathesis' pytest loader does not support this pytest version, so the test
drives hypothesis itself).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Ok

from tests.api.conftest import KEYS

MAX_EXAMPLES = 12

# Which principal calls each operation (the other roles are covered in test_auth).
_CALLER = {
    ("POST", "/v1/conversations"): "web",
    ("POST", "/v1/conversations/{conversation_id}/messages"): "web",
    ("PUT", "/v1/policy"): "root",
    ("GET", "/v1/audit"): "audit",
    ("GET", "/v1/audit/verify"): "audit",
    ("POST", "/v1/audit/verify"): "audit",
    ("GET", "/v1/audit/anchor"): "audit",
    ("GET", "/v1/webhooks/deliveries"): "audit",
}


def error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx and 5xx is {"error": {"code", "message", "details"}}."""
    if response.status_code < 400:
        return None
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["message"], body
    return True


def _checker(
    operation: Any, mode: GenerationMode, headers: dict[str, str], excluded: list[Any]
) -> Any:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        send = headers
        meta = getattr(case, "meta", None)
        if meta is not None and meta.is_negative_at(ParameterLocation.HEADER):
            # The headers are the negative part (a missing or malformed Authorization):
            # sending ours instead would undo the mutation, and the now valid request
            # would count as "accepted". Send what was generated; it must be refused.
            send = {}
        case.call_and_validate(
            headers=send, additional_checks=[error_shape], excluded_checks=excluded
        )

    return check


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_schema(app: FastAPI, mode: GenerationMode) -> None:
    # Endless streams, tested over a real server.
    schema = (
        schemathesis.openapi.from_asgi("/openapi.json", app)
        .exclude(path="/v1/approvals/stream")
        .exclude(path="/v1/cases/stream")
        .exclude(path="/v1/conversations/{conversation_id}/events")
    )
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"an operation of the schema is invalid: {result.err()}"
        operations.append(result.ok())
    assert len(operations) >= 14
    # Valid input may still meet an unknown id (404) or a stale state (409): those are
    # correct answers, so positive_data_acceptance does not apply to this API as a whole.
    # negative_data_rejection does: every schema-violating request (unknown query
    # parameters included) must be refused with a 4xx, in the JSON error shape.
    excluded = [positive_data_acceptance]
    failures: list[str] = []
    for operation in operations:
        who = _CALLER.get((operation.method.upper(), operation.path), "sup")
        try:
            _checker(operation, mode, {"Authorization": f"Bearer {KEYS[who]}"}, excluded)()
        except Unsatisfiable:  # nothing to make invalid (GET /healthz has no parameters)
            assert mode == GenerationMode.NEGATIVE
        except Exception as exc:  # collect every operation's failure, then report
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
