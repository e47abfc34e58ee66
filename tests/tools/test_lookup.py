"""Context lookups: declared on a tool, called with what it asks for, never able to write."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest
import yaml
from pydantic import Field

from govcx import ToolError, tool
from govcx.errors import PolicyError
from govcx.governance.policy import parse_policy
from govcx.pack import cross_check
from govcx.tools.lookup import look_up
from govcx.tools.registry import ToolRegistry
from govcx.tools.tool import make_spec

CALLS: list[dict[str, Any]] = []


def order_facts(order_id: str, customer_id: str) -> dict[str, Any]:
    CALLS.append({"order_id": order_id, "customer_id": customer_id})
    if order_id == "A-0000":
        raise ToolError("I couldn't find order A-0000 on your account.")
    if order_id == "A-9999":
        raise KeyError("orders")
    return {"customer": "Riley Chen", "order_total": 120.0, "remaining": 40.0}


@tool(reply="Refunded ${amount:.2f} on {order_id} ({refund_id}).", context=order_facts)
def refund(
    order_id: Annotated[str, Field(pattern=r"^A-\d{4}$")],
    amount: float,
    customer_id: str,
    idempotency_key: str,
) -> dict[str, Any]:
    """Refund an order."""
    return {"refund_id": "RF-1"}


def _look(order_id: str, **kw: Any) -> Any:
    spec = refund.__govcx_tool__  # type: ignore[attr-defined]
    return look_up(
        spec,
        {"order_id": order_id, "amount": 80.0},
        customer_id=kw.get("customer_id", "C-1"),
        conversation_id="c1",
        data_dir=Path("/nonexistent"),
    )


def test_a_lookup_gets_only_what_it_declares_and_keeps_its_facts_in_order() -> None:
    CALLS.clear()
    result = _look("A-1002")
    assert result.status == "ok" and result.error is None
    assert list(result.facts) == ["customer", "order_total", "remaining"]
    assert CALLS == [{"order_id": "A-1002", "customer_id": "C-1"}]


def test_a_tool_error_is_a_refusal_and_anything_else_leaves_the_context_unavailable() -> None:
    refused = _look("A-0000")
    assert refused.status == "refused"
    assert refused.error == "I couldn't find order A-0000 on your account."
    broken = _look("A-9999")
    assert broken.status == "unavailable" and broken.facts == {}
    assert broken.error == "the lookup failed unexpectedly (KeyError: 'orders')"


def test_a_lookup_that_returns_no_json_object_is_unavailable() -> None:
    def listing(order_id: str) -> list[str]:
        return [order_id]

    def odd(order_id: str) -> dict[str, Any]:
        return {"when": object()}

    for lookup, expected in ((listing, "returned list, not a JSON object"), (odd, "")):
        spec = make_spec(refund, name="r", context=lookup)
        result = look_up(
            spec, {"order_id": "A-1"}, customer_id="C-1", conversation_id="c", data_dir=Path(".")
        )
        if expected:
            assert result is not None and result.status == "unavailable"
            assert expected in str(result.error)
        else:  # anything JSON cannot hold is shown as text, not dropped
            assert result is not None and result.status == "ok"
            assert result.facts["when"].startswith("<object object")


def test_a_tool_without_a_lookup_has_no_context() -> None:
    spec = make_spec(refund, name="plain")
    assert look_up(spec, {}, customer_id="C-1", conversation_id="c", data_dir=Path(".")) is None


def test_a_lookup_cannot_ask_for_an_idempotency_key_or_unknown_parameters() -> None:
    def writes(order_id: str, idempotency_key: str) -> dict[str, Any]:
        return {}

    with pytest.raises(TypeError, match="takes 'idempotency_key', which the runtime does not"):
        make_spec(refund, name="r", context=writes)

    def wants(order_id: str, email: str) -> dict[str, Any]:
        return {}

    with pytest.raises(TypeError, match=r"takes 'email'.*it may take amount, conversation_id"):
        make_spec(refund, name="r", context=wants)

    def loose(**kwargs: Any) -> dict[str, Any]:
        return {}

    with pytest.raises(TypeError, match="named parameters only"):
        make_spec(refund, name="r", context=loose)


def test_reply_fields_are_the_template_names() -> None:
    spec = refund.__govcx_tool__  # type: ignore[attr-defined]
    assert spec.reply_fields == ("amount", "order_id", "refund_id")


POLICY = """
version: "1"
tiers:
  read: {approval: never}
  low: {approval: never}
workflows:
  refund: {tools: [refund, close]}
tools:
  refund: {tier: low}
  close: {tier: low}
"""


def test_a_lookup_that_is_a_write_tool_is_refused_at_load() -> None:
    """Read-only by construction: a pack cannot make a tool that writes its lookup."""

    @tool
    def close(customer_id: str) -> dict[str, Any]:
        """Close the account (a write that takes no idempotency key)."""
        return {}

    looked_up_by_write = make_spec(refund, name="refund", context=close)
    registry = ToolRegistry([looked_up_by_write, close.__govcx_tool__])  # type: ignore[attr-defined]
    policy = parse_policy(yaml.safe_load(POLICY), file="p.yaml")
    with pytest.raises(PolicyError, match="refund's context lookup is the tool close, which is"):
        cross_check(policy, "p.yaml", registry)
    # The same lookup on a read-only tier is fine.
    readonly = POLICY.replace("close: {tier: low}", "close: {tier: read}")
    cross_check(parse_policy(yaml.safe_load(readonly), file="p.yaml"), "p.yaml", registry)
