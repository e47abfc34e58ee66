"""Remote tools' argument models: what validates always satisfies the published schema."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from govcx.errors import ToolArgumentError
from govcx.tools.remote import RemoteTool, SchemaProblem, args_model, make_remote_spec

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string", "pattern": "^A-\\d{4}$"},
        "amount": {"type": "number", "exclusiveMinimum": 0, "maximum": 10000},
        "reason": {"type": "string", "enum": ["damaged", "late", "other"]},
        "lines": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"sku": {"type": "string"}},
                "required": ["sku"],
            },
        },
        "idempotency_key": {"type": "string"},
        "customer_id": {"type": "string"},
    },
    "required": ["order_id", "amount", "idempotency_key"],
    "additionalProperties": False,
}
TOOL = RemoteTool(
    name="crm.refund",
    source="mcp:crm",
    remote_name="refund",
    description="Refund.",
    input_schema=SCHEMA,
)
SPEC = make_remote_spec(TOOL, lambda args: args)
AGENT_SCHEMA = {
    **SCHEMA,
    "properties": {
        k: v for k, v in SCHEMA["properties"].items() if k not in ("idempotency_key", "customer_id")
    },
    "required": ["amount", "order_id"],
}

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 20000),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.sampled_from(["A-1002", "A-12", "damaged", "80", "late"]),
    st.lists(
        st.one_of(st.text(max_size=3), st.fixed_dictionaries({"sku": st.text(max_size=3)})),
        max_size=2,
    ),
)
keys = st.sampled_from(
    ["order_id", "amount", "reason", "lines", "idempotency_key", "customer_id", "extra"]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, values, max_size=6))
def test_whatever_validates_satisfies_the_published_schema(args: dict[str, Any]) -> None:
    try:
        canonical = SPEC.validate(args)
    except ToolArgumentError:
        return
    sent = {k: v for k, v in canonical.items() if v is not None}
    jsonschema.validate(sent, AGENT_SCHEMA)  # never raises for an accepted call
    assert not {"idempotency_key", "customer_id", "extra"} & set(args)


def test_runtime_parameters_are_filled_not_proposed() -> None:
    assert SPEC.context_params == {"idempotency_key", "customer_id"}
    assert set(SPEC.params) == {"order_id", "amount", "reason", "lines"}
    assert SPEC.required == ["order_id", "amount"]
    assert SPEC.patterns()["order_id"].pattern == "A-\\d{4}"
    with pytest.raises(ToolArgumentError, match="filled by the runtime"):
        SPEC.validate({"order_id": "A-1002", "amount": 5, "idempotency_key": "x"})
    with pytest.raises(ToolArgumentError, match="sku"):
        SPEC.validate({"order_id": "A-1002", "amount": 5, "lines": [{"qty": 1}]})
    # Optional arguments left out are not sent as null.
    assert SPEC.fn(order_id="A-1002", amount=5.0, reason=None, lines=None) == {
        "order_id": "A-1002",
        "amount": 5.0,
    }


def test_schemas_govcx_cannot_enforce_keep_the_tool_disabled() -> None:
    for schema, problem in (
        ({"type": "array"}, "not a JSON object schema"),
        ({"type": "object", "properties": {"a": {"type": "strng"}}}, "not valid JSON Schema"),
        ({"type": "object", "properties": {"data_dir": {"type": "string"}}}, "never sends out"),
    ):
        tool = RemoteTool(
            name="x.y", source="mcp:x", remote_name="y", description="", input_schema=schema
        )
        with pytest.raises(SchemaProblem, match=problem):
            args_model(tool)
