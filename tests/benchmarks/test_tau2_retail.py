"""benchmarks/tau2_retail.py: every tau2 retail action runs through the gate, including
modify_pending_order_payment, on a small database written here (no dataset needed)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from govcx.errors import ToolError
from tests.conftest import load_benchmark


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("tau2_retail")


def _db() -> dict[str, Any]:
    address = {
        "address1": "1 Main St",
        "address2": "",
        "city": "Austin",
        "country": "USA",
        "state": "TX",
        "zip": "78701",
    }
    variants = {
        "1000000001": {
            "item_id": "1000000001",
            "options": {"color": "red"},
            "available": True,
            "price": 50.0,
        },
        "1000000002": {
            "item_id": "1000000002",
            "options": {"color": "blue"},
            "available": True,
            "price": 60.0,
        },
    }
    return {
        "users": {
            "ann_lee_1": {
                "user_id": "ann_lee_1",
                "name": {"first_name": "Ann", "last_name": "Lee"},
                "address": address,
                "email": "ann@example.com",
                "payment_methods": {
                    "credit_card_1": {"source": "credit_card", "id": "credit_card_1"},
                    "gift_card_1": {"source": "gift_card", "id": "gift_card_1", "balance": 80.0},
                    "gift_card_2": {"source": "gift_card", "id": "gift_card_2", "balance": 5.0},
                },
                "orders": ["#W1"],
            }
        },
        "products": {
            "2000000001": {"product_id": "2000000001", "name": "Mug", "variants": variants}
        },
        "orders": {
            "#W1": {
                "order_id": "#W1",
                "user_id": "ann_lee_1",
                "address": address,
                "items": [
                    {
                        "name": "Mug",
                        "product_id": "2000000001",
                        "item_id": "1000000001",
                        "price": 50.0,
                        "options": {"color": "red"},
                    }
                ],
                "fulfillments": [],
                "status": "pending",
                "payment_history": [
                    {
                        "transaction_type": "payment",
                        "amount": 50.0,
                        "payment_method_id": "credit_card_1",
                    }
                ],
            }
        },
    }


def _task(task_id: str, *actions: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": task_id,
        "evaluation_criteria": {
            "actions": [{"name": n, "arguments": a} for n, a in actions],
        },
    }


def _run(
    bench: ModuleType, tmp_path: Path, tasks: list[dict[str, Any]], capsys: Any
) -> tuple[int, dict[str, Any] | None, str]:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "db.json").write_text(json.dumps(_db()))
    (tmp_path / "tasks.json").write_text(json.dumps(tasks))
    code = bench.main(["--data", str(data), "--tasks", str(tmp_path / "tasks.json")])
    captured = capsys.readouterr()
    out = captured.out.strip().splitlines()
    return code, (json.loads(out[-1]) if out else None), captured.err


def test_a_payment_change_is_gated_approved_and_replays(
    bench: ModuleType, tmp_path: Path, capsys: Any
) -> None:
    tasks = [
        _task(
            "pay",
            ("find_user_id_by_email", {"email": "ann@example.com"}),
            ("get_order_details", {"order_id": "#W1"}),
            ("list_all_product_types", {}),
            (
                "modify_pending_order_payment",
                {"order_id": "#W1", "payment_method_id": "gift_card_1"},
            ),
        )
    ]
    code, figures, _ = _run(bench, tmp_path, tasks, capsys)
    assert code == 0 and figures is not None
    assert figures["gate_coverage"] == 1.0 and figures["ungated_writes"] == 0
    assert figures["writes"] == 1 and figures["unapproved_writes_refused"] == 1.0
    assert figures["replay_match"] == 1.0 and figures["idempotent"] == 1.0
    assert figures["per_tool"]["modify_pending_order_payment"] == {
        "actions": 1,
        "gated": 1,
        "executed": 1,
        "failed": 0,
    }
    assert figures["tasks_changing_db"] == 1 and figures["tool_errors"] == 0


def test_a_task_with_an_unknown_action_is_refused_by_name(
    bench: ModuleType, tmp_path: Path, capsys: Any
) -> None:
    code, figures, err = _run(bench, tmp_path, [_task("x", ("teleport_order", {}))], capsys)
    assert code == 2 and figures is None
    assert "tasks use actions this pack does not implement: teleport_order" in err


def test_payment_change_moves_the_money_as_tau2_does(bench: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "db.json").write_text(json.dumps(_db()))
    order = bench.modify_pending_order_payment(
        order_id="#W1", payment_method_id="gift_card_1", idempotency_key="k1", data_dir=tmp_path
    )
    assert order["status"] == "pending"
    assert order["payment_history"][1:] == [
        {"transaction_type": "payment", "amount": 50.0, "payment_method_id": "gift_card_1"},
        {"transaction_type": "refund", "amount": 50.0, "payment_method_id": "credit_card_1"},
    ]
    db = json.loads((tmp_path / "db.json").read_text())
    assert db["users"]["ann_lee_1"]["payment_methods"]["gift_card_1"]["balance"] == 30.0
    # A second change: the order no longer has exactly one payment.
    with pytest.raises(ToolError, match="exactly one payment"):
        bench.modify_pending_order_payment(
            order_id="#W1",
            payment_method_id="credit_card_1",
            idempotency_key="k2",
            data_dir=tmp_path,
        )


@pytest.mark.parametrize(
    ("method", "message"),
    [
        ("credit_card_1", "different from the current one"),
        ("gift_card_2", "Insufficient gift card balance"),
        ("paypal_9", "Payment method not found"),
    ],
)
def test_payment_change_refusals(
    bench: ModuleType, tmp_path: Path, method: str, message: str
) -> None:
    before = _db()
    (tmp_path / "db.json").write_text(json.dumps(before))
    with pytest.raises(ToolError, match=message):
        bench.modify_pending_order_payment(
            order_id="#W1", payment_method_id=method, idempotency_key="k", data_dir=tmp_path
        )
    assert json.loads((tmp_path / "db.json").read_text()) == copy.deepcopy(before)


def test_a_shipped_order_cannot_change_payment(bench: ModuleType, tmp_path: Path) -> None:
    db = _db()
    db["orders"]["#W1"]["status"] = "processed"
    (tmp_path / "db.json").write_text(json.dumps(db))
    with pytest.raises(ToolError, match="Non-pending"):
        bench.modify_pending_order_payment(
            order_id="#W1", payment_method_id="gift_card_1", idempotency_key="k", data_dir=tmp_path
        )
