"""Tools: specs from signatures, runtime-filled context, the ledger, refusals."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import Field

from govcx import ToolError, tool
from govcx.errors import GateViolation, ToolArgumentError
from govcx.governance.approval import ApprovalStore
from govcx.governance.policy import parse_policy
from govcx.store.db import Database
from govcx.tools.executor import Executor, idempotency_key
from govcx.tools.registry import ToolRegistry
from govcx.tools.tool import make_spec

SEEN: list[dict[str, Any]] = []


@tool(reply="Sent to {channel}.")
def notify(
    channel: Literal["email", "sms"],
    note: str = "",
    *,
    customer_id: str,
    conversation_id: str,
    idempotency_key: str,
    data_dir: Path,
) -> dict[str, Any]:
    """Notify the customer.

    Longer text that is not part of the description.
    """
    SEEN.append(
        {
            "customer_id": customer_id,
            "conversation_id": conversation_id,
            "key": idempotency_key,
            "data_dir": data_dir,
            "channel": channel,
        }
    )
    if note == "fail":
        raise ToolError("the notification service refused")
    if note == "crash":
        raise RuntimeError("bug in the tool")
    return {"channel": channel}


POLICY = parse_policy(
    {
        "version": "1",
        "tiers": {"low": {"approval": "never"}, "high": {"approval": "always"}},
        "workflows": {"w": {"tools": ["notify"]}},
        "tools": {"notify": {"tier": "low"}},
    }
)


@pytest.fixture
def executor(tmp_path: Path) -> Executor:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    db.create_schema()
    return Executor(
        db=db,
        registry=ToolRegistry([notify.__govcx_tool__]),  # type: ignore[attr-defined]
        approvals=ApprovalStore(db),
        data_dir=tmp_path,
    )


def test_spec_from_signature_and_docstring() -> None:
    spec = notify.__govcx_tool__  # type: ignore[attr-defined]
    assert spec.description == "Notify the customer."
    assert set(spec.params) == {"channel", "note"}
    assert spec.required == ["channel"]
    assert spec.context_params == {"customer_id", "conversation_id", "idempotency_key", "data_dir"}
    assert spec.params["channel"]["enum"] == ["email", "sms"]


def test_context_is_filled_by_runtime_and_cannot_be_smuggled(executor: Executor) -> None:
    SEEN.clear()
    done = executor.run(
        policy=POLICY,
        conversation_id="c1",
        customer_id="C-9",
        tool="notify",
        args={"channel": "sms"},
        autonomy="act",
        step="t1",
    )
    assert done.status == "executed" and done.result == {"channel": "sms"}
    assert SEEN[0]["customer_id"] == "C-9" and SEEN[0]["conversation_id"] == "c1"
    assert SEEN[0]["key"] == done.key
    refused = executor.run(
        policy=POLICY,
        conversation_id="c1",
        customer_id="C-9",
        tool="notify",
        args={"channel": "sms", "customer_id": "C-1"},
        autonomy="act",
        step="t2",
    )
    assert refused.status == "refused" and "filled by the runtime" in (refused.error or "")
    assert len(SEEN) == 1


def test_invalid_arguments_never_run(executor: Executor) -> None:
    SEEN.clear()
    for args in ({"channel": "fax"}, {}, {"channel": "sms", "extra": 1}):
        result = executor.run(
            policy=POLICY,
            conversation_id="c1",
            customer_id=None,
            tool="notify",
            args=args,
            autonomy="act",
            step="t",
        )
        assert result.status == "refused"
    assert SEEN == []
    with pytest.raises(ToolArgumentError):
        notify.__govcx_tool__.validate({"channel": 3})  # type: ignore[attr-defined]


def test_ledger_makes_retry_a_noop(executor: Executor) -> None:
    SEEN.clear()
    first = executor.run(
        policy=POLICY,
        conversation_id="c1",
        customer_id=None,
        tool="notify",
        args={"channel": "email"},
        autonomy="act",
        step="t1",
    )
    second = executor.run(
        policy=POLICY,
        conversation_id="c1",
        customer_id=None,
        tool="notify",
        args={"channel": "email"},
        autonomy="act",
        step="t1",
    )
    assert len(SEEN) == 1
    assert second.replayed and second.result == first.result and second.key == first.key
    # Another step with the identical write is a duplicate (needs approval) within the
    # policy's duplicate_window; with no window it is a new call.
    with pytest.raises(GateViolation, match="duplicate"):
        executor.run(
            policy=POLICY,
            conversation_id="c1",
            customer_id=None,
            tool="notify",
            args={"channel": "email"},
            autonomy="act",
            step="t2",
        )
    no_window = POLICY.model_copy(update={"duplicate_window": timedelta(0)})
    other_step = executor.run(
        policy=no_window,
        conversation_id="c1",
        customer_id=None,
        tool="notify",
        args={"channel": "email"},
        autonomy="act",
        step="t2",
    )
    assert other_step.key != first.key and len(SEEN) == 2


def test_key_is_stable_and_specific() -> None:
    a = idempotency_key(conversation_id="c", step="s", tool="t", args={"x": 1, "y": 2})
    assert a == idempotency_key(conversation_id="c", step="s", tool="t", args={"y": 2, "x": 1})
    assert a != idempotency_key(conversation_id="c", step="s", tool="t", args={"x": 2, "y": 2})


def test_tool_failures_are_recorded_not_raised(executor: Executor) -> None:
    failed = executor.run(
        policy=POLICY,
        conversation_id="c1",
        customer_id=None,
        tool="notify",
        args={"channel": "sms", "note": "fail"},
        autonomy="act",
        step="t",
    )
    assert failed.status == "failed" and failed.error == "the notification service refused"
    crashed = executor.run(
        policy=POLICY,
        conversation_id="c1",
        customer_id=None,
        tool="notify",
        args={"channel": "sms", "note": "crash"},
        autonomy="act",
        step="t",
    )
    assert crashed.status == "failed" and "RuntimeError" in (crashed.error or "")
    assert "bug in the tool" not in (crashed.error or "")


def test_gated_tool_needs_bound_approval(executor: Executor) -> None:
    high = parse_policy({**POLICY.model_dump(mode="json"), "tools": {"notify": {"tier": "high"}}})
    with pytest.raises(GateViolation, match="needs approval"):
        executor.run(
            policy=high,
            conversation_id="c1",
            customer_id=None,
            tool="notify",
            args={"channel": "sms"},
            autonomy="act",
            step="t",
        )


def test_unknown_tool_and_bad_tool_signatures(executor: Executor) -> None:
    result = executor.run(
        policy=POLICY,
        conversation_id="c",
        customer_id=None,
        tool="nope",
        args={},
        autonomy="act",
        step="t",
    )
    assert result.status == "refused" and "known tools: notify" in (result.error or "")

    def splat(*args: Any) -> None:
        """Bad."""

    with pytest.raises(TypeError, match="not allowed"):
        make_spec(splat)


def test_registry_from_module_errors(tmp_path: Path) -> None:
    from govcx.errors import ConfigError

    broken = tmp_path / "tools.py"
    broken.write_text("import not_a_module_anywhere\n")
    with pytest.raises(ConfigError, match="ModuleNotFoundError"):
        ToolRegistry.from_module_file(broken)
    with pytest.raises(ConfigError, match="not found"):
        ToolRegistry.from_module_file(tmp_path / "missing.py")


def test_orderid_pattern_annotation() -> None:
    def lookup(order_id: Annotated[str, Field(pattern=r"^A-\d{4}$")]) -> dict[str, str]:
        """Look up."""
        return {}

    spec = make_spec(lookup)
    assert spec.patterns()["order_id"].search("about a-1234 please")
