"""The bundled acme pack: its seeded order system, its tools, its policy and its knowledge.

Tools are called directly, the way the runtime calls them after the policy gate, with
``data_dir`` set to a fresh temporary folder.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from string import Formatter
from types import ModuleType
from typing import Any

import pytest
import yaml

import govcx
from govcx import ToolArgumentError, ToolError, ToolSpec
from govcx.governance.expr import Expression
from govcx.governance.policy import AUTONOMY_LEVELS, load_policy
from govcx.tools.registry import ToolRegistry

PACK = Path(govcx.__file__).parent / "packs" / "acme"


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tools() -> ModuleType:
    return _load(PACK / "tools.py", "acme_tools_under_test")


@pytest.fixture(scope="module")
def store(tools: ModuleType) -> ModuleType:
    module: ModuleType = tools.store
    return module


def _specs(tools: ModuleType) -> dict[str, ToolSpec]:
    return {
        value.__govcx_tool__.name: value.__govcx_tool__
        for value in vars(tools).values()
        if hasattr(value, "__govcx_tool__")
    }


def _reply(tools: ModuleType, name: str, args: dict[str, Any], result: dict[str, Any]) -> str:
    template = _specs(tools)[name].reply
    assert template is not None
    return template.format(**{**args, **result})


# --------------------------------------------------------------------------- seeding


def test_seeding_is_deterministic(store: ModuleType, tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    assert store.checksum(first) == store.checksum(second)
    # Opening an already seeded store changes nothing.
    assert store.checksum(first) == store.checksum(first)


def test_seeding_never_reads_the_clock(
    store: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = store.checksum(tmp_path / "normal")

    class NoClock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> NoClock:
            raise AssertionError("seeding must not depend on the real date")

    monkeypatch.setattr(store, "datetime", NoClock)
    assert store.checksum(tmp_path / "no-clock") == expected


def test_seed_has_the_documented_shape(store: ModuleType, tmp_path: Path) -> None:
    with store.connect(tmp_path) as conn:
        customers = [
            r[0] for r in conn.execute("SELECT customer_id FROM customers ORDER BY customer_id")
        ]
        orders = [r[0] for r in conn.execute("SELECT order_id FROM orders ORDER BY order_id")]
        statuses = {r[0] for r in conn.execute("SELECT DISTINCT status FROM orders")}
        items_per_order = {
            r[0] for r in conn.execute("SELECT COUNT(*) FROM order_items GROUP BY order_id")
        }
        bad_totals = conn.execute(
            "SELECT COUNT(*) FROM orders o WHERE o.subtotal_cents != (SELECT SUM(qty * "
            "unit_price_cents) FROM order_items i WHERE i.order_id = o.order_id)"
        ).fetchone()[0]
        over_refunded = conn.execute(
            "SELECT COUNT(*) FROM orders o WHERE o.total_cents < (SELECT COALESCE(SUM("
            "amount_cents), 0) FROM refunds r WHERE r.order_id = o.order_id)"
        ).fetchone()[0]
        latest = conn.execute("SELECT MAX(placed_at) FROM orders").fetchone()[0]
        products = conn.execute("SELECT COUNT(*) FROM products").fetchone()[0]
    assert customers == [f"C-{n}" for n in range(1001, 1301)]
    assert orders == [f"A-{n}" for n in range(1001, 1901)]
    assert statuses == {
        "processing",
        "shipped",
        "in_transit",
        "delayed",
        "delivered",
        "cancelled",
        "returned",
    }
    assert items_per_order <= {1, 2, 3, 4}
    assert bad_totals == 0
    assert over_refunded == 0
    assert latest[:10] <= store.BASE_DATE.isoformat()
    assert 35 <= products <= 45


# --------------------------------------------------------------------------- fixtures


def test_fixture_a1002_delivered_and_unrefunded(
    tools: ModuleType, store: ModuleType, tmp_path: Path
) -> None:
    order = tools.lookup_order("A-1002", customer_id="C-1001", data_dir=tmp_path)
    assert order["status"] == "delivered"
    assert order["total"] == 129.99
    assert order["amount"] == 129.99
    assert order["refunded"] == 0
    assert order["detail"] == "It was delivered on 2026-11-10."
    assert store.count_refunds(tmp_path, "A-1002") == 0
    assert _reply(tools, "lookup_order", {"order_id": "A-1002"}, order) == (
        "Order A-1002 is delivered. It was delivered on 2026-11-10."
    )


def test_fixture_a1003_processing(tools: ModuleType, tmp_path: Path) -> None:
    order = tools.lookup_order("A-1003", customer_id="C-1001", data_dir=tmp_path)
    assert order["status"] == "processing"
    assert order["total"] == 249.00
    assert order["amount"] == 249.00
    assert order["tracking_number"] is None
    assert "hasn't shipped yet" in order["detail"]


def test_fixture_a1004_three_days_late(tools: ModuleType, tmp_path: Path) -> None:
    order = tools.lookup_order("A-1004", customer_id="C-1001", data_dir=tmp_path)
    assert order["status"] == "delayed"
    shipment = tools.track_shipment("A-1004", customer_id="C-1001", data_dir=tmp_path)
    assert shipment["delay_days"] == 3
    assert shipment["carrier"] == "UPS"
    assert shipment["tracking_number"].startswith("1Z")
    assert shipment["eta"] == "2026-11-21"
    assert "2026-11-21" in _reply(tools, "track_shipment", {"order_id": "A-1004"}, shipment)


def test_fixture_c1002_has_exactly_one_order(tools: ModuleType, tmp_path: Path) -> None:
    listed = tools.list_orders(customer_id="C-1002", data_dir=tmp_path)
    assert [o["order_id"] for o in listed["orders"]] == ["A-1005"]
    order = tools.lookup_order("A-1005", customer_id="C-1002", data_dir=tmp_path)
    assert (order["status"], order["total"]) == ("delivered", 45.00)


def test_list_orders_newest_first_at_most_ten(
    tools: ModuleType, store: ModuleType, tmp_path: Path
) -> None:
    mine = tools.list_orders(customer_id="C-1001", data_dir=tmp_path)["orders"]
    assert [o["order_id"] for o in mine] == ["A-1003", "A-1004", "A-1002", "A-1001"]
    with store.connect(tmp_path) as conn:
        busiest = conn.execute(
            "SELECT customer_id FROM orders GROUP BY customer_id "
            "ORDER BY COUNT(*) DESC, customer_id LIMIT 1"
        ).fetchone()[0]
    theirs = tools.list_orders(customer_id=busiest, data_dir=tmp_path)["orders"]
    assert 1 <= len(theirs) <= 10
    dates = [o["placed_at"] for o in theirs]
    assert dates == sorted(dates, reverse=True)


# --------------------------------------------------------------------------- ownership


@pytest.mark.parametrize(
    "call",
    [
        lambda t, d: t.lookup_order("A-1006", customer_id="C-1001", data_dir=d),
        lambda t, d: t.track_shipment("A-1006", customer_id="C-1001", data_dir=d),
        lambda t, d: t.issue_refund(
            "A-1006", 10, customer_id="C-1001", idempotency_key="k", data_dir=d
        ),
        lambda t, d: t.create_return(
            "A-1006", customer_id="C-1001", idempotency_key="k", data_dir=d
        ),
        lambda t, d: t.cancel_order(
            "A-1006", 178.90, customer_id="C-1001", idempotency_key="k", data_dir=d
        ),
        lambda t, d: t.update_shipping_address(
            "A-1006",
            "1 Main St, Boise, ID 83702",
            customer_id="C-1001",
            idempotency_key="k",
            data_dir=d,
        ),
        lambda t, d: t.open_billing_dispute(
            "A-1006", 10, customer_id="C-1001", idempotency_key="k", data_dir=d
        ),
    ],
    ids=["lookup", "track", "refund", "return", "cancel", "address", "dispute"],
)
def test_another_customers_order_is_not_found(
    tools: ModuleType, store: ModuleType, tmp_path: Path, call: Any
) -> None:
    before = store.checksum(tmp_path)
    with pytest.raises(ToolError, match="I couldn't find order A-1006 on your account"):
        call(tools, tmp_path)
    assert store.checksum(tmp_path) == before
    # The owner sees it.
    owner = tools.lookup_order("A-1006", customer_id="C-1003", data_dir=tmp_path)
    assert owner["order_id"] == "A-1006"


def test_missing_and_foreign_orders_look_the_same(tools: ModuleType, tmp_path: Path) -> None:
    messages = []
    for order_id in ("A-1006", "A-9999"):
        with pytest.raises(ToolError) as info:
            tools.lookup_order(order_id, customer_id="C-1001", data_dir=tmp_path)
        messages.append(str(info.value).replace(order_id, "X"))
    assert messages[0] == messages[1]


def test_no_customer_means_no_orders(tools: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(ToolError):
        tools.lookup_order("A-1002", customer_id="", data_dir=tmp_path)
    with pytest.raises(ToolError):
        tools.list_orders(customer_id="", data_dir=tmp_path)


# --------------------------------------------------------------------------- refunds


def test_refund_dedupes_on_idempotency_key(
    tools: ModuleType, store: ModuleType, tmp_path: Path
) -> None:
    first = tools.issue_refund(
        "A-1002", 80, customer_id="C-1001", idempotency_key="k-1", data_dir=tmp_path
    )
    again = tools.issue_refund(
        "A-1002", 80, customer_id="C-1001", idempotency_key="k-1", data_dir=tmp_path
    )
    assert again == first
    assert first["amount"] == 80.0
    assert first["refund_id"].startswith("RF-")
    assert store.count_refunds(tmp_path, "A-1002") == 1
    assert store.refunded_total(tmp_path, "A-1002") == 80.0
    reply = _reply(tools, "issue_refund", {"order_id": "A-1002", "amount": 80}, first)
    assert reply.startswith("I've refunded $80.00 for order A-1002")


def test_reused_key_with_other_arguments_is_refused(
    tools: ModuleType, store: ModuleType, tmp_path: Path
) -> None:
    tools.issue_refund("A-1002", 80, customer_id="C-1001", idempotency_key="k-1", data_dir=tmp_path)
    with pytest.raises(ToolError, match="already processed"):
        tools.issue_refund(
            "A-1002", 20, customer_id="C-1001", idempotency_key="k-1", data_dir=tmp_path
        )
    assert store.refunded_total(tmp_path, "A-1002") == 80.0


def test_refund_above_refundable_amount_is_refused(
    tools: ModuleType, store: ModuleType, tmp_path: Path
) -> None:
    with pytest.raises(ToolError, match=r"\$129\.99"):
        tools.issue_refund(
            "A-1002", 130, customer_id="C-1001", idempotency_key="k-1", data_dir=tmp_path
        )
    tools.issue_refund(
        "A-1002", 100, customer_id="C-1001", idempotency_key="k-2", data_dir=tmp_path
    )
    with pytest.raises(ToolError, match=r"\$29\.99"):
        tools.issue_refund(
            "A-1002", 40, customer_id="C-1001", idempotency_key="k-3", data_dir=tmp_path
        )
    last = tools.issue_refund(
        "A-1002", 29.99, customer_id="C-1001", idempotency_key="k-4", data_dir=tmp_path
    )
    assert last["remaining"] == 0
    assert store.refunded_total(tmp_path, "A-1002") == 129.99
    assert tools.lookup_order("A-1002", customer_id="C-1001", data_dir=tmp_path)["amount"] == 0


def test_refund_of_fully_refunded_order_is_refused(tools: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="already been fully refunded"):
        tools.issue_refund(
            "A-1001", 5, customer_id="C-1001", idempotency_key="k-1", data_dir=tmp_path
        )


def test_concurrent_refunds_never_exceed_refundable(
    tools: ModuleType, store: ModuleType, tmp_path: Path
) -> None:
    # A fresh folder: the four threads also race to create and seed the store.
    barrier = threading.Barrier(4)
    outcomes: list[str] = []
    lock = threading.Lock()

    def refund(n: int) -> None:
        barrier.wait()
        try:
            tools.issue_refund(
                "A-1002", 50, customer_id="C-1001", idempotency_key=f"thread-{n}", data_dir=tmp_path
            )
            outcome = "ok"
        except ToolError:
            outcome = "refused"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=refund, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["ok", "ok", "refused", "refused"]
    assert store.count_refunds(tmp_path, "A-1002") == 2
    assert store.refunded_total(tmp_path, "A-1002") == 100.0


_CHILD = """
import importlib.util, sys
from govcx import ToolError
spec = importlib.util.spec_from_file_location("acme_tools_child", sys.argv[1])
tools = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tools)
try:
    tools.issue_refund("A-1002", 50, customer_id="C-1001", idempotency_key=sys.argv[3],
                       data_dir=sys.argv[2])
    print("ok")
except ToolError:
    print("refused")
"""


def test_concurrent_refunds_across_processes(store: ModuleType, tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(PACK / "tools.py"), str(tmp_path), f"proc-{n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    finished = [p.communicate(timeout=120) for p in procs]
    errors = "".join(err for _, err in finished)
    outcomes = sorted(out.strip() for out, _ in finished)
    assert outcomes == ["ok", "ok", "refused", "refused"], errors
    assert store.refunded_total(tmp_path, "A-1002") == 100.0


# --------------------------------------------------------------------------- other tools


def test_cancel_of_shipped_order_is_refused(
    tools: ModuleType, store: ModuleType, tmp_path: Path
) -> None:
    with pytest.raises(ToolError, match="already shipped"):
        tools.cancel_order(
            "A-1004", 199.00, customer_id="C-1001", idempotency_key="k-1", data_dir=tmp_path
        )
    assert store.order_row(tmp_path, "A-1004")["status"] == "delayed"
    assert store.count_refunds(tmp_path, "A-1004") == 0


def test_cancel_refunds_the_total_once(
    tools: ModuleType, store: ModuleType, tmp_path: Path
) -> None:
    with pytest.raises(ToolError, match=r"\$249\.00"):  # the amount must be the real total
        tools.cancel_order(
            "A-1003", 20, customer_id="C-1001", idempotency_key="k-0", data_dir=tmp_path
        )
    first = tools.cancel_order(
        "A-1003", 249.00, customer_id="C-1001", idempotency_key="k-1", data_dir=tmp_path
    )
    again = tools.cancel_order(
        "A-1003", 249.00, customer_id="C-1001", idempotency_key="k-1", data_dir=tmp_path
    )
    assert again == first
    assert first["amount"] == 249.00
    assert store.order_row(tmp_path, "A-1003")["status"] == "cancelled"
    assert store.count_refunds(tmp_path, "A-1003") == 1
    with pytest.raises(ToolError, match="already cancelled"):
        tools.cancel_order(
            "A-1003", 249.00, customer_id="C-1001", idempotency_key="k-2", data_dir=tmp_path
        )


def test_return_of_delivered_order(tools: ModuleType, store: ModuleType, tmp_path: Path) -> None:
    first = tools.create_return(
        "A-1002", customer_id="C-1001", idempotency_key="k-1", data_dir=tmp_path, reason="too big"
    )
    again = tools.create_return(
        "A-1002", customer_id="C-1001", idempotency_key="k-1", data_dir=tmp_path, reason="too big"
    )
    assert again == first
    assert first["rma"].startswith("RMA-")
    assert first["label_url"].endswith(f"{first['rma']}.pdf")
    assert first["label_fee"] == 6.95  # C-1001 is not a Summit Club member
    assert store.count_rows(tmp_path, "returns", order_id="A-1002") == 1
    with pytest.raises(ToolError, match="already open"):
        tools.create_return(
            "A-1002", customer_id="C-1001", idempotency_key="k-2", data_dir=tmp_path
        )
    with pytest.raises(ToolError, match="hasn't been delivered"):
        tools.create_return(
            "A-1004", customer_id="C-1001", idempotency_key="k-3", data_dir=tmp_path
        )
    member = tools.create_return(
        "A-1005", customer_id="C-1002", idempotency_key="k-4", data_dir=tmp_path
    )
    assert member["label_fee"] == 0
    assert "fee" not in _reply(tools, "create_return", {"order_id": "A-1005"}, member)


def test_address_change_only_before_shipping(
    tools: ModuleType, store: ModuleType, tmp_path: Path
) -> None:
    new = "55 Pine Ridge Rd, Bend, OR 97701"
    with pytest.raises(ToolError, match="already shipped"):
        tools.update_shipping_address(
            "A-1004", new, customer_id="C-1001", idempotency_key="k-1", data_dir=tmp_path
        )
    done = tools.update_shipping_address(
        "A-1003", new, customer_id="C-1001", idempotency_key="k-2", data_dir=tmp_path
    )
    assert done["new_address"] == new
    assert store.order_row(tmp_path, "A-1003")["ship_to"] == new


@pytest.mark.parametrize(
    "address",
    [
        "55 Pine Ridge Rd, Bend, OR 97701",
        "88 Summit Dr Apt 4, Denver, CO 80205",
        "1903 Canyon Rd, Unit 2, Portland, OR 97205-1234",
    ],
)
def test_address_argument_accepts_us_addresses(tools: ModuleType, address: str) -> None:
    spec = _specs(tools)["update_shipping_address"]
    assert spec.validate({"order_id": "A-1003", "new_address": address})["new_address"] == address


@pytest.mark.parametrize("address", ["my parents house", "55 Pine Ridge Rd", "Bend, OR 97701"])
def test_address_argument_rejects_partial_addresses(tools: ModuleType, address: str) -> None:
    spec = _specs(tools)["update_shipping_address"]
    with pytest.raises(ToolArgumentError):
        spec.validate({"order_id": "A-1003", "new_address": address})


def test_address_and_order_are_found_in_a_message(tools: ModuleType) -> None:
    patterns = _specs(tools)["update_shipping_address"].patterns()
    text = "Change the address on A-1003 to 55 Pine Ridge Rd, Bend, OR 97701 please"
    order = patterns["order_id"].search(text)
    address = patterns["new_address"].search(text)
    assert order is not None and order.group(0) == "A-1003"
    assert address is not None and address.group(0) == "55 Pine Ridge Rd, Bend, OR 97701"
    # The engine upper-cases a found value if it still matches in capitals (for ids);
    # an address must not, so the customer's spelling is kept.
    assert not re.fullmatch(patterns["new_address"].pattern, address.group(0).upper())


def test_password_reset_goes_to_masked_email_once(
    tools: ModuleType, store: ModuleType, tmp_path: Path
) -> None:
    first = tools.send_password_reset(
        customer_id="C-1001", idempotency_key="k-1", data_dir=tmp_path
    )
    again = tools.send_password_reset(
        customer_id="C-1001", idempotency_key="k-1", data_dir=tmp_path
    )
    assert first == again
    assert first["masked_email"] == "a***@example.com"
    assert store.count_rows(tmp_path, "password_resets", customer_id="C-1001") == 1


def test_billing_dispute_is_bounded_by_the_charge(tools: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(ToolError, match=r"\$45\.00"):
        tools.open_billing_dispute(
            "A-1005", 60, customer_id="C-1002", idempotency_key="k-1", data_dir=tmp_path
        )
    opened = tools.open_billing_dispute(
        "A-1005", 45, customer_id="C-1002", idempotency_key="k-2", data_dir=tmp_path
    )
    assert opened["dispute_id"].startswith("DSP-")
    with pytest.raises(ToolError, match="already open"):
        tools.open_billing_dispute(
            "A-1005", 45, customer_id="C-1002", idempotency_key="k-3", data_dir=tmp_path
        )


def test_close_account_waits_for_open_orders(
    tools: ModuleType, store: ModuleType, tmp_path: Path
) -> None:
    with pytest.raises(ToolError, match="A-1003, A-1004"):
        tools.close_account(customer_id="C-1001", idempotency_key="k-1", data_dir=tmp_path)
    closed = tools.close_account(customer_id="C-1002", idempotency_key="k-2", data_dir=tmp_path)
    assert closed["deletion_by"] == "2026-12-20"
    assert store.customer_row(tmp_path, "C-1002")["status"] == "closed"


def test_goodwill_credit_adds_to_balance_once(
    tools: ModuleType, store: ModuleType, tmp_path: Path
) -> None:
    first = tools.apply_goodwill_credit(
        amount=15, customer_id="C-1001", idempotency_key="k-1", data_dir=tmp_path
    )
    tools.apply_goodwill_credit(
        amount=15, customer_id="C-1001", idempotency_key="k-1", data_dir=tmp_path
    )
    default = tools.apply_goodwill_credit(
        customer_id="C-1001", idempotency_key="k-2", data_dir=tmp_path
    )
    assert (first["balance"], default["amount"], default["balance"]) == (15.0, 10.0, 25.0)
    assert store.customer_row(tmp_path, "C-1001")["store_credit_cents"] == 2500


_HAPPY_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("lookup_order", {"order_id": "A-1004"}, "C-1001"),
    ("list_orders", {}, "C-1001"),
    ("track_shipment", {"order_id": "A-1004"}, "C-1001"),
    ("issue_refund", {"order_id": "A-1002", "amount": 20}, "C-1001"),
    ("create_return", {"order_id": "A-1002", "reason": "too big"}, "C-1001"),
    (
        "update_shipping_address",
        {"order_id": "A-1003", "new_address": "12 Birch Ln, Boise, ID 83702"},
        "C-1001",
    ),
    ("cancel_order", {"order_id": "A-1003", "amount": 249.0}, "C-1001"),
    ("send_password_reset", {}, "C-1001"),
    ("open_billing_dispute", {"order_id": "A-1002", "amount": 129.99}, "C-1001"),
    ("apply_goodwill_credit", {"amount": 15}, "C-1001"),
    ("close_account", {}, "C-1002"),
]


def test_every_tool_replies_from_its_own_fields(tools: ModuleType, tmp_path: Path) -> None:
    specs = _specs(tools)
    assert {name for name, _, _ in _HAPPY_CALLS} == set(specs)
    for n, (name, args, customer) in enumerate(_HAPPY_CALLS):
        spec = specs[name]
        assert spec.description and spec.reply, name
        validated = spec.validate(args)
        context: dict[str, Any] = {"customer_id": customer, "data_dir": tmp_path}
        if "idempotency_key" in spec.context_params:
            context["idempotency_key"] = f"happy-{n}"
        result = spec.fn(**validated, **context)
        fields = {
            field.split(".")[0].split("[")[0]
            for _, field, _, _ in Formatter().parse(spec.reply)
            if field
        }
        assert fields <= set(result), (name, fields - set(result))
        text = spec.reply.format(**{**validated, **result})
        assert "None" not in text, (name, text)


# --------------------------------------------------------------------------- policy


_CEL_WORDS = {
    "true",
    "false",
    "null",
    "in",
    "has",
    "size",
    "int",
    "uint",
    "double",
    "string",
    "bool",
    "matches",
    "contains",
    "startsWith",
    "endsWith",
    "exists",
    "all",
}


def _cel_names(expression: str) -> set[str]:
    """Variable names an expression reads (string literals and member accesses skipped)."""
    text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', '""', expression)
    return set(re.findall(r"(?<![\w.])([A-Za-z_]\w*)(?!\s*\()", text)) - _CEL_WORDS


def test_policy_validates_and_matches_the_tools(tools: ModuleType) -> None:
    policy = load_policy(PACK / "policy.yaml")
    specs = _specs(tools)
    assert set(policy.tools) == set(specs)
    for name, rule in policy.tools.items():
        spec = specs[name]
        if rule.approval_if:
            Expression.compile(rule.approval_if)
            assert _cel_names(rule.approval_if) <= set(spec.params), (name, rule.approval_if)
        if rule.amount_arg:
            assert rule.amount_arg in spec.params
        if policy.is_read_only(name):
            assert "idempotency_key" not in spec.context_params, name
        else:
            assert "idempotency_key" in spec.context_params, name
    # The runtime's loader finds the same tools.
    assert ToolRegistry.from_module_file(PACK / "tools.py").names() == sorted(specs)


def test_policy_covers_every_level_and_tier() -> None:
    policy = load_policy(PACK / "policy.yaml")
    assert {policy.autonomy_of(w) for w in policy.workflows} == set(AUTONOMY_LEVELS)
    assert {t.tier for t in policy.tools.values()} == set(policy.tiers)
    assert policy.tiers["critical"].approvers == 2
    required = {
        "order_status",
        "shipping_delay",
        "return_request",
        "refund",
        "cancel_order",
        "change_address",
        "password_reset",
        "billing_dispute",
        "account_closure",
        "product_question",
        "payment_methods",
        "warranty",
        "complaint",
        "legal_threat",
        "human_agent",
    }
    assert required <= set(policy.workflows)
    seen: set[str] = set()
    for name, workflow in policy.workflows.items():
        assert workflow.description, name
        assert 15 <= len(workflow.examples) <= 25, name
        lowered = {e.lower() for e in workflow.examples}
        assert len(lowered) == len(workflow.examples), f"{name} repeats an example"
        assert not lowered & seen, f"{name} shares an example with another workflow"
        seen |= lowered


@pytest.mark.parametrize(
    ("tool", "args", "needs"),
    [
        ("issue_refund", {"order_id": "A-1002", "amount": 80}, True),
        ("issue_refund", {"order_id": "A-1002", "amount": 50}, False),
        ("cancel_order", {"order_id": "A-1003", "amount": 249.0}, True),
        ("cancel_order", {"order_id": "A-1003", "amount": 120.0}, False),
        ("apply_goodwill_credit", {"amount": 25}, True),
        ("apply_goodwill_credit", {"amount": 15}, False),
    ],
)
def test_approval_conditions(tool: str, args: dict[str, Any], needs: bool) -> None:
    policy = load_policy(PACK / "policy.yaml")
    condition = policy.tools[tool].approval_if
    assert condition is not None
    assert Expression.compile(condition).evaluate(args) is needs


def test_pack_manifest() -> None:
    manifest = yaml.safe_load((PACK / "govcx.yaml").read_text(encoding="utf-8"))
    assert manifest["name"] == "acme"
    assert (PACK / manifest["policy"]).is_file()
    assert (PACK / manifest["tools"]).is_file()
    assert (PACK / manifest["knowledge"]).is_dir()
    assert manifest["principals"] == {
        "web-chat": {"roles": ["channel"]},
        "dana": {"roles": ["approver:supervisor"]},
        "lee": {"roles": ["approver:manager", "auditor"]},
        "sam": {"roles": ["approver:manager"]},
        "kim": {"roles": ["agent"], "teams": ["trust", "accounts"]},
        "raj": {"roles": ["agent"], "teams": ["billing", "accounts"]},
        "ada": {"roles": ["auditor", "admin"]},
        "ide": {"roles": ["mcp"]},
        "rita": {"roles": ["risk"]},
    }


# --------------------------------------------------------------------------- knowledge


def _articles() -> list[tuple[Path, dict[str, Any], str]]:
    found = []
    for path in sorted((PACK / "knowledge").glob("*.md")):
        _, front, body = path.read_text(encoding="utf-8").split("---\n", 2)
        found.append((path, yaml.safe_load(front), body))
    return found


def test_knowledge_articles_are_well_formed() -> None:
    articles = _articles()
    ids = [meta["id"] for _, meta, _ in articles]
    assert len(ids) == len(set(ids))
    by_status: dict[str, int] = {}
    policy = load_policy(PACK / "policy.yaml")
    banned = [p.lower() for p in policy.guards.banned_phrases]
    for path, meta, body in articles:
        assert set(meta) >= {
            "id",
            "title",
            "version",
            "status",
            "tags",
            "locale",
            "effective_from",
        }, path.name
        assert path.stem == meta["id"]
        assert isinstance(meta["version"], str)
        assert meta["status"] in {"approved", "draft", "retired"}
        assert body.lstrip().startswith(f"# {meta['title']}\n"), path.name
        assert "\n## " in body, path.name
        assert 150 <= len(body.split()) <= 400, (path.name, len(body.split()))
        by_status[meta["status"]] = by_status.get(meta["status"], 0) + 1
        if meta["status"] == "approved":
            assert not [p for p in banned if p in body.lower()], path.name
        if meta["status"] == "retired":
            assert meta["effective_until"] is not None
    assert by_status["approved"] >= 22
    assert by_status["retired"] == 2
    assert by_status["draft"] == 2
    tags = {t for _, meta, _ in articles if meta["status"] == "approved" for t in meta["tags"]}
    for name, workflow in policy.workflows.items():
        assert set(workflow.knowledge_tags) <= tags, name
