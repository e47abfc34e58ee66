"""tau2-bench retail: every gold write action goes through govcx's gate, approvals and
executor, and ends in exactly the database a direct replay gives.

At run time this builds a govcx domain pack in a temporary folder: the tools are our own
implementation of every retail action of tau2's retail domain (reads:
find_user_id_by_email, find_user_id_by_name_zip, get_user_details, get_order_details,
get_product_details, get_item_details, list_all_product_types, calculate,
transfer_to_human_agents; writes: cancel_pending_order, modify_pending_order_address,
modify_pending_order_items, modify_pending_order_payment, modify_user_address,
return_delivered_order_items, exchange_delivered_order_items), over a copy of tau2's
``db.json``, following tau2's retail policy and the checks of tau2's own tool code
(``src/tau2/domains/retail/tools.py`` at the dataset's commit); and a policy in which every
write is gated by tier (``high``: one approver; ``critical`` four-eyes for
modify_pending_order_items, which can be done only once per order) and no read is.

For each task the gold actions are replayed in order:

1. the gate (:func:`govcx.governance.gate.decide`) routes the proposal;
2. a gated action is first tried without an approval (the executor must refuse it), then
   an approval request bound to the exact call is created and approved by as many
   distinct approvers as the tier needs, and the executor runs it with that approval;
3. the same step is run again (a retry), which the execution ledger must turn into a no-op.

Figures: ``gate_coverage`` (share of actions routed exactly as the policy says: writes
gated, reads not, unapproved writes refused), ``ungated_writes`` (writes that ran without
the gate routing them to approval: must be 0), ``replay_match`` (share of tasks whose
final database equals applying the gold actions directly, without govcx), ``idempotent``
(share of retried steps that changed nothing), and per-tool counts. A task file naming an
action this pack does not implement is refused (exit 2) with the names.

Our tools reproduce the database effects of tau2's tool code (its data has no tool code,
so the replay's expected database is the direct application of the gold actions to the
same tools): ``replay_match`` checks that governance adds no divergence (no lost,
repeated or altered write).

    .venv/bin/python benchmarks/tau2_retail.py [--data DIR] [--split train] [--tasks FILE]

The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from govcx import ToolError, tool

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "tau2" / "retail"
DB_FILE = "db.json"

READS = (
    "find_user_id_by_email",
    "find_user_id_by_name_zip",
    "get_user_details",
    "get_order_details",
    "get_product_details",
    "get_item_details",
    "list_all_product_types",
    "calculate",
    "transfer_to_human_agents",
)
WRITES = {
    "cancel_pending_order": "high",
    "modify_pending_order_address": "high",
    "modify_pending_order_payment": "high",
    "modify_user_address": "high",
    "return_delivered_order_items": "high",
    "exchange_delivered_order_items": "high",
    "modify_pending_order_items": "critical",
}

# -- the retail "back office": a JSON database in the pack's data dir ------------------------
_CACHE: dict[str, tuple[int, dict[str, Any]]] = {}
_LOCK = threading.Lock()


def _load(data_dir: Path) -> dict[str, Any]:
    path = Path(data_dir) / DB_FILE
    stamp = path.stat().st_mtime_ns
    cached = _CACHE.get(str(path))
    if cached is None or cached[0] != stamp:
        cached = (stamp, json.loads(path.read_text(encoding="utf-8")))
        _CACHE[str(path)] = cached
    return cached[1]


def _save(data_dir: Path, db: dict[str, Any]) -> None:
    path = Path(data_dir) / DB_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(db), encoding="utf-8")
    tmp.replace(path)
    _CACHE[str(path)] = (path.stat().st_mtime_ns, db)


def _write(data_dir: Path, key: str, change: Any) -> Any:
    """Apply ``change(db)`` once per idempotency key (a retried call returns the result)."""
    with _LOCK:
        done_path = Path(data_dir) / "idempotency.json"
        done = json.loads(done_path.read_text()) if done_path.exists() else {}
        if key and key in done:
            return done[key]
        db = copy.deepcopy(_load(data_dir))
        result = change(db)
        _save(data_dir, db)
        if key:
            done[key] = result
            done_path.write_text(json.dumps(done))
        return result


def _order(db: dict[str, Any], order_id: str) -> dict[str, Any]:
    order: dict[str, Any] | None = db["orders"].get(order_id)
    if order is None:
        raise ToolError("Order not found")
    return order


def _user(db: dict[str, Any], user_id: str) -> dict[str, Any]:
    user: dict[str, Any] | None = db["users"].get(user_id)
    if user is None:
        raise ToolError("User not found")
    return user


def _take_items(order: dict[str, Any], item_ids: list[str]) -> list[dict[str, Any]]:
    pool = list(order["items"])
    taken = []
    for item_id in item_ids:
        match = next((i for i in pool if i["item_id"] == item_id), None)
        if match is None:
            raise ToolError(f"Item {item_id} not found in the order (or listed too often)")
        pool.remove(match)
        taken.append(match)
    return taken


def _price_difference(
    db: dict[str, Any], items: list[dict[str, Any]], new_item_ids: list[str], *, modify: bool
) -> tuple[float, list[dict[str, Any]]]:
    """The price difference of swapping ``items`` for ``new_item_ids`` (same positions, same
    products, available variants), and the new variants; tau2's checks and messages."""
    if len(items) != len(new_item_ids):
        raise ToolError("The number of items to be exchanged should match")
    diff = 0.0
    variants = []
    for item, new_id in zip(items, new_item_ids, strict=True):
        if modify and item["item_id"] == new_id:
            raise ToolError("The new item id should be different from the old item id")
        product = db["products"].get(item["product_id"])
        if product is None:
            raise ToolError("Product not found")
        variant = product["variants"].get(new_id)
        if variant is None:
            raise ToolError("Variant not found")
        if not variant.get("available"):
            raise ToolError(f"New item {new_id} not found or available")
        diff += float(variant["price"]) - float(item["price"])
        variants.append(variant)
    return round(diff, 2), variants


def _payment_method(db: dict[str, Any], order: dict[str, Any], method_id: str) -> dict[str, Any]:
    method: dict[str, Any] | None = _user(db, order["user_id"])["payment_methods"].get(method_id)
    if method is None:
        raise ToolError("Payment method not found")
    return method


def _gift_card(method: dict[str, Any]) -> bool:
    return method.get("source") == "gift_card"


def _address(
    address1: str, address2: str, city: str, state: str, country: str, zip: str
) -> dict[str, str]:
    return {
        "address1": address1,
        "address2": address2,
        "city": city,
        "country": country,
        "state": state,
        "zip": zip,
    }


@tool
def find_user_id_by_email(email: str, data_dir: Path) -> str:
    """Find a user id by email."""
    for user_id, user in _load(data_dir)["users"].items():
        if user["email"].lower() == email.lower():
            return str(user_id)
    raise ToolError("User not found")


@tool
def find_user_id_by_name_zip(first_name: str, last_name: str, zip: str, data_dir: Path) -> str:
    """Find a user id by first name, last name and zip code."""
    for user_id, user in _load(data_dir)["users"].items():
        name = user["name"]
        if (
            name["first_name"].lower() == first_name.lower()
            and name["last_name"].lower() == last_name.lower()
            and user["address"]["zip"] == zip
        ):
            return str(user_id)
    raise ToolError("User not found")


@tool
def get_user_details(user_id: str, data_dir: Path) -> dict[str, Any]:
    """The user's profile, payment methods and orders."""
    return copy.deepcopy(_user(_load(data_dir), user_id))


@tool
def get_order_details(order_id: str, data_dir: Path) -> dict[str, Any]:
    """An order: items, status, fulfilments and payments."""
    return copy.deepcopy(_order(_load(data_dir), order_id))


@tool
def get_product_details(product_id: str, data_dir: Path) -> dict[str, Any]:
    """A product type and its variants."""
    product = _load(data_dir)["products"].get(product_id)
    if product is None:
        raise ToolError("Product not found")
    return copy.deepcopy(dict(product))


@tool
def get_item_details(item_id: str, data_dir: Path) -> dict[str, Any]:
    """One variant item (its options, availability and price)."""
    for product in _load(data_dir)["products"].values():
        variant = product["variants"].get(item_id)
        if variant is not None:
            return copy.deepcopy(dict(variant))
    raise ToolError("Item not found")


@tool
def list_all_product_types(data_dir: Path) -> str:
    """The name and product id of every product type, as JSON sorted by name."""
    products = _load(data_dir)["products"].values()
    return json.dumps({p["name"]: p["product_id"] for p in products}, sort_keys=True)


@tool
def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression (numbers, + - * / and parentheses only)."""
    import ast
    import operator
    from collections.abc import Callable

    ops: dict[type[ast.AST], Callable[..., float]] = {
        ast.Add: operator.add,
        ast.Sub: operator.sub,
        ast.Mult: operator.mul,
        ast.Div: operator.truediv,
        ast.USub: operator.neg,
        ast.UAdd: operator.pos,
    }

    def value(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in ops:
            return float(ops[type(node.op)](value(node.left), value(node.right)))
        if isinstance(node, ast.UnaryOp) and type(node.op) in ops:
            return float(ops[type(node.op)](value(node.operand)))
        raise ToolError("Invalid characters in expression")

    try:
        return str(round(value(ast.parse(expression, mode="eval").body), 2))
    except (SyntaxError, ZeroDivisionError) as exc:
        raise ToolError(f"Cannot calculate: {exc}") from None


@tool
def transfer_to_human_agents(summary: str) -> str:
    """Hand the user to a human agent with a summary."""
    return "Transfer successful"


@tool
def cancel_pending_order(
    order_id: str, reason: str, idempotency_key: str, data_dir: Path
) -> dict[str, Any]:
    """Cancel a pending order; refunds go to the original payment methods."""

    def change(db: dict[str, Any]) -> dict[str, Any]:
        order = _order(db, order_id)
        if order["status"] != "pending":
            raise ToolError("Non-pending order cannot be cancelled")
        if reason not in ("no longer needed", "ordered by mistake"):
            raise ToolError("Invalid reason")
        user = _user(db, order["user_id"])
        refunds = []
        for payment in order["payment_history"]:
            method_id = payment["payment_method_id"]
            refunds.append(
                {
                    "transaction_type": "refund",
                    "amount": payment["amount"],
                    "payment_method_id": method_id,
                }
            )
            method = user["payment_methods"].get(method_id) or {}
            if method.get("source") == "gift_card":
                method["balance"] = round(float(method["balance"]) + float(payment["amount"]), 2)
        order["status"] = "cancelled"
        order["cancel_reason"] = reason
        order["payment_history"].extend(refunds)
        return copy.deepcopy(order)

    result: dict[str, Any] = _write(data_dir, idempotency_key, change)
    return result


@tool
def modify_pending_order_address(
    order_id: str,
    address1: str,
    address2: str,
    city: str,
    state: str,
    country: str,
    zip: str,
    idempotency_key: str,
    data_dir: Path,
) -> dict[str, Any]:
    """Change the shipping address of a pending order."""

    def change(db: dict[str, Any]) -> dict[str, Any]:
        order = _order(db, order_id)
        if "pending" not in order["status"]:  # tau2: "pending (item modified)" too
            raise ToolError("Non-pending order cannot be modified")
        order["address"] = _address(address1, address2, city, state, country, zip)
        return copy.deepcopy(order)

    result: dict[str, Any] = _write(data_dir, idempotency_key, change)
    return result


@tool
def modify_user_address(
    user_id: str,
    address1: str,
    address2: str,
    city: str,
    state: str,
    country: str,
    zip: str,
    idempotency_key: str,
    data_dir: Path,
) -> dict[str, Any]:
    """Change the default address of a user."""

    def change(db: dict[str, Any]) -> dict[str, Any]:
        user = _user(db, user_id)
        user["address"] = _address(address1, address2, city, state, country, zip)
        return copy.deepcopy(user)

    result: dict[str, Any] = _write(data_dir, idempotency_key, change)
    return result


@tool
def modify_pending_order_items(
    order_id: str,
    item_ids: list[str],
    new_item_ids: list[str],
    payment_method_id: str,
    idempotency_key: str,
    data_dir: Path,
) -> dict[str, Any]:
    """Swap items of a pending order for other variants of the same products (once)."""

    def change(db: dict[str, Any]) -> dict[str, Any]:
        order = _order(db, order_id)
        if order["status"] != "pending":
            raise ToolError("Non-pending order cannot be modified")
        items = _take_items(order, item_ids)
        diff, variants = _price_difference(db, items, new_item_ids, modify=True)
        method = _payment_method(db, order, payment_method_id)
        if _gift_card(method) and float(method.get("balance", 0.0)) < diff:
            raise ToolError("Insufficient gift card balance to pay for the new item")
        order["payment_history"].append(
            {
                "transaction_type": "payment" if diff > 0 else "refund",
                "amount": abs(diff),
                "payment_method_id": payment_method_id,
            }
        )
        if _gift_card(method):
            method["balance"] = round(float(method["balance"]) - diff, 2)
        # As tau2's tool does: each item takes its new id, and the price and options of
        # the last new variant (so the expected databases of tau2's tasks are reproduced).
        for item, variant in zip(items, variants, strict=True):
            item["item_id"] = variant["item_id"]
        for item in items:
            item["price"] = variants[-1]["price"]
            item["options"] = variants[-1]["options"]
        order["status"] = "pending (item modified)"
        return copy.deepcopy(order)

    result: dict[str, Any] = _write(data_dir, idempotency_key, change)
    return result


@tool
def modify_pending_order_payment(
    order_id: str, payment_method_id: str, idempotency_key: str, data_dir: Path
) -> dict[str, Any]:
    """Pay a pending order with another of the user's payment methods: the new method is
    charged the order's one payment and the old one refunded (gift cards at once)."""

    def change(db: dict[str, Any]) -> dict[str, Any]:
        order = _order(db, order_id)
        if "pending" not in order["status"]:
            raise ToolError("Non-pending order cannot be modified")
        method = _payment_method(db, order, payment_method_id)
        history = order["payment_history"]
        if len(history) != 1 or history[0]["transaction_type"] != "payment":
            raise ToolError("There should be exactly one payment for a pending order")
        old_id = history[0]["payment_method_id"]
        if old_id == payment_method_id:
            raise ToolError("The new payment method should be different from the current one")
        amount = history[0]["amount"]
        if _gift_card(method) and float(method.get("balance", 0.0)) < float(amount):
            raise ToolError("Insufficient gift card balance to pay for the order")
        history.extend(
            [
                {
                    "transaction_type": "payment",
                    "amount": amount,
                    "payment_method_id": payment_method_id,
                },
                {"transaction_type": "refund", "amount": amount, "payment_method_id": old_id},
            ]
        )
        if _gift_card(method):
            method["balance"] = round(float(method["balance"]) - float(amount), 2)
        old = _payment_method(db, order, old_id)
        if _gift_card(old):
            old["balance"] = round(float(old["balance"]) + float(amount), 2)
        return copy.deepcopy(order)

    result: dict[str, Any] = _write(data_dir, idempotency_key, change)
    return result


@tool
def return_delivered_order_items(
    order_id: str, item_ids: list[str], payment_method_id: str, idempotency_key: str, data_dir: Path
) -> dict[str, Any]:
    """Request a return of delivered items; the refund goes to the original payment method
    or an existing gift card."""

    def change(db: dict[str, Any]) -> dict[str, Any]:
        order = _order(db, order_id)
        if order["status"] != "delivered":
            raise ToolError("Non-delivered order cannot be returned")
        method = _payment_method(db, order, payment_method_id)
        original = order["payment_history"][0]["payment_method_id"]
        if not _gift_card(method) and payment_method_id != original:
            raise ToolError("Payment method should be the original payment method")
        _take_items(order, item_ids)
        order["status"] = "return requested"
        order["return_items"] = sorted(item_ids)
        order["return_payment_method_id"] = payment_method_id
        return copy.deepcopy(order)

    result: dict[str, Any] = _write(data_dir, idempotency_key, change)
    return result


@tool
def exchange_delivered_order_items(
    order_id: str,
    item_ids: list[str],
    new_item_ids: list[str],
    payment_method_id: str,
    idempotency_key: str,
    data_dir: Path,
) -> dict[str, Any]:
    """Request an exchange of delivered items for other variants of the same products."""

    def change(db: dict[str, Any]) -> dict[str, Any]:
        order = _order(db, order_id)
        if order["status"] != "delivered":
            raise ToolError("Non-delivered order cannot be exchanged")
        items = _take_items(order, item_ids)
        diff, _ = _price_difference(db, items, new_item_ids, modify=False)
        method = _payment_method(db, order, payment_method_id)
        if _gift_card(method) and float(method.get("balance", 0.0)) < diff:
            raise ToolError("Insufficient gift card balance to pay for the price difference")
        order["status"] = "exchange requested"
        order["exchange_items"] = sorted(item_ids)
        order["exchange_new_items"] = sorted(new_item_ids)
        order["exchange_payment_method_id"] = payment_method_id
        order["exchange_price_difference"] = diff
        return copy.deepcopy(order)

    result: dict[str, Any] = _write(data_dir, idempotency_key, change)
    return result


TOOLS = [
    find_user_id_by_email,
    find_user_id_by_name_zip,
    get_user_details,
    get_order_details,
    get_product_details,
    get_item_details,
    list_all_product_types,
    calculate,
    transfer_to_human_agents,
    cancel_pending_order,
    modify_pending_order_address,
    modify_user_address,
    modify_pending_order_items,
    modify_pending_order_payment,
    return_delivered_order_items,
    exchange_delivered_order_items,
]


# -- the pack ----------------------------------------------------------------------------------
def write_pack(folder: Path) -> Path:
    """A govcx pack for tau2 retail in ``folder``; its tools module imports this file's."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "govcx.yaml").write_text(
        "name: tau2retail\npolicy: policy.yaml\nknowledge: null\ntools: tools.py\n"
        "evals: null\nprincipals:\n"
        "  chat: {roles: [channel]}\n"
        '  sup1: {roles: ["approver:supervisor"]}\n'
        '  mgr1: {roles: ["approver:manager"]}\n'
        '  mgr2: {roles: ["approver:manager"]}\n',
        encoding="utf-8",
    )
    tools = {name: {"tier": "read"} for name in READS}
    tools.update({name: {"tier": tier} for name, tier in WRITES.items()})
    policy = {
        "version": "tau2-retail-1",
        "defaults": {"autonomy": "act", "min_confidence": 0.5},
        "approvals": {
            "expiry": "24h",
            "on_expiry": "reject",
            "roles": {"supervisor": {"max_amount": 500}, "manager": {"max_amount": 5000}},
        },
        "tiers": {
            "read": {"approval": "never", "read_only": True},
            "high": {"approval": "always"},
            "critical": {"approval": "always", "approvers": 2, "roles": ["manager"]},
        },
        "workflows": {
            "retail": {
                "autonomy": "act",
                "tools": [*READS, *WRITES],
                "examples": ["help with my order"],
            }
        },
        "tools": tools,
    }
    (folder / "policy.yaml").write_text(json.dumps(policy, indent=1), encoding="utf-8")
    (folder / "tools.py").write_text(
        '"""tau2 retail tools: the implementations live in benchmarks/tau2_retail.py."""\n'
        "import importlib.util\nimport sys\n\n"
        f"_PATH = {str(Path(__file__).resolve())!r}\n"
        "_spec = importlib.util.spec_from_file_location('govcx_bench_tau2_retail', _PATH)\n"
        "_module = importlib.util.module_from_spec(_spec)\n"
        "sys.modules['govcx_bench_tau2_retail'] = _module\n"
        "_spec.loader.exec_module(_module)\n"
        "globals().update({f.__name__: f for f in _module.TOOLS})\n",
        encoding="utf-8",
    )
    return folder


# -- replay ------------------------------------------------------------------------------------
def _direct(registry: Any, actions: list[dict[str, Any]], data_dir: Path) -> list[str]:
    """Apply the gold actions straight to the tools (no govcx); returns tool errors."""
    errors = []
    for n, action in enumerate(actions):
        spec = registry.get(action["name"])
        kwargs = dict(spec.validate(action["arguments"]))
        if "data_dir" in spec.context_params:
            kwargs["data_dir"] = data_dir
        if "idempotency_key" in spec.context_params:
            kwargs["idempotency_key"] = f"direct-{n}"
        try:
            spec.fn(**kwargs)
        except ToolError as exc:
            errors.append(f"{action['name']}: {exc.message}")
    return errors


def replay_task(pack: Any, task: dict[str, Any], db_source: Path, root: Path) -> dict[str, Any]:
    from govcx.errors import GateViolation, GovcxError
    from govcx.governance import gate
    from govcx.governance.approval import ApprovalRequest, ApprovalStore, action_token
    from govcx.store.db import Database
    from govcx.tools.executor import Executor

    policy = pack.policy
    actions = list((task.get("evaluation_criteria") or {}).get("actions") or [])
    work = Path(tempfile.mkdtemp(prefix=f"task-{task['id']}-", dir=root))
    governed_dir, direct_dir = work / "governed", work / "direct"
    for folder in (governed_dir, direct_dir):
        folder.mkdir()
        shutil.copyfile(db_source, folder / DB_FILE)
    db = Database(f"sqlite:///{work / 'govcx.db'}")
    db.create_schema()
    approvals = ApprovalStore(db)
    executor = Executor(db=db, registry=pack.registry, approvals=approvals, data_dir=governed_dir)
    cid = f"tau2-{task['id']}"
    rows = []
    for n, action in enumerate(actions):
        name, args = action["name"], dict(action["arguments"])
        write = name in WRITES
        decision = gate.decide(
            policy,
            gate.GateInput(
                intent="retail", confidence=1.0, proposal=gate.Proposal(tool=name, args=args)
            ),
        )
        gated = decision.route == "await_approval"
        row: dict[str, Any] = {
            "tool": name,
            "write": write,
            "gated": gated,
            "route": decision.route,
            "refused_unapproved": None,
            "status": None,
            "idempotent": None,
        }
        step = f"step-{n}"
        approval_id = None
        if gated:
            try:
                executor.run(
                    policy=policy,
                    conversation_id=cid,
                    customer_id=None,
                    tool=name,
                    args=args,
                    autonomy="act",
                    step=step,
                )
                row["refused_unapproved"] = False
            except GateViolation:
                row["refused_unapproved"] = True
            canonical = pack.registry.get(name).validate(args)
            approval_id = f"apr-{task['id']}-{n}"
            approvals.create(
                ApprovalRequest(
                    approval_id=approval_id,
                    conversation_id=cid,
                    turn_id=step,
                    kind="action",
                    intent="retail",
                    tool=name,
                    args=canonical,
                    tier=decision.tier or "high",
                    rules=list(decision.rules),
                    rationale=decision.reason,
                    requested_at=time.time(),
                    expires_at=time.time() + 3600,
                    approvals_needed=decision.approvers,
                    policy_version=policy.version,
                    policy_digest=policy.digest,
                    token=action_token(
                        conversation_id=cid,
                        kind="action",
                        tool=name,
                        args=canonical,
                        policy_version=policy.version,
                        policy_digest=policy.digest,
                    ),
                )
            )
            people = ["mgr1", "mgr2"] if decision.approvers > 1 else ["sup1"]
            for who in people:
                approvals.decide(
                    approval_id, principal=pack.principal(who), decision="approve", policy=policy
                )
        try:
            first = executor.run(
                policy=policy,
                conversation_id=cid,
                customer_id=None,
                tool=name,
                args=args,
                autonomy="act",
                step=step,
                approval_id=approval_id,
            )
            before = (governed_dir / DB_FILE).read_bytes()
            again = executor.run(
                policy=policy,
                conversation_id=cid,
                customer_id=None,
                tool=name,
                args=args,
                autonomy="act",
                step=step,
                approval_id=approval_id,
            )
            row["status"] = first.status
            row["error"] = first.error
            row["idempotent"] = again.replayed and (governed_dir / DB_FILE).read_bytes() == before
        except GovcxError as exc:
            row["status"], row["error"] = "refused", exc.message
        row["as_policy_says"] = (gated == write) and (row["refused_unapproved"] is not False)
        rows.append(row)
    direct_errors = _direct(pack.registry, actions, direct_dir)
    governed = json.loads((governed_dir / DB_FILE).read_text())
    direct = json.loads((direct_dir / DB_FILE).read_text())
    db.dispose()
    shutil.rmtree(work, ignore_errors=True)
    return {
        "task": task["id"],
        "actions": rows,
        "match": governed == direct,
        "direct_errors": direct_errors,
        "changed": governed != json.loads(db_source.read_text()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", default="train", help="reads tasks_<split>.json")
    parser.add_argument("--tasks", type=Path, help="another task file (JSON list)")
    args = parser.parse_args(argv)
    db_source = args.data / DB_FILE
    tasks_file = args.tasks or args.data / f"tasks_{args.split}.json"
    missing = [str(p) for p in (db_source, tasks_file) if not p.is_file()]
    if missing:
        print(f"error: missing {', '.join(missing)}", file=sys.stderr)
        return 2
    tasks = json.loads(tasks_file.read_text(encoding="utf-8"))
    if isinstance(tasks, dict):
        tasks = tasks.get("tasks") or list(tasks.values())

    from govcx.pack import load_pack

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="govcx-tau2-") as tmp:
        pack = load_pack(write_pack(Path(tmp) / "pack"))
        unknown = sorted(
            {
                a["name"]
                for t in tasks
                for a in (t.get("evaluation_criteria") or {}).get("actions") or []
                if a["name"] not in pack.registry
            }
        )
        if unknown:
            print(
                f"error: tasks use actions this pack does not implement: {', '.join(unknown)}",
                file=sys.stderr,
            )
            return 2
        results = [replay_task(pack, task, db_source, Path(tmp)) for task in tasks]
    rows = [r for res in results for r in res["actions"]]
    per_tool: dict[str, Counter[str]] = {}
    for row in rows:
        counts = per_tool.setdefault(row["tool"], Counter())
        counts["actions"] += 1
        counts["gated"] += int(row["gated"])
        counts["executed"] += int(row["status"] == "executed")
        counts["failed"] += int(row["status"] == "failed")
    writes = [r for r in rows if r["write"]]
    figures = {
        "benchmark": "tau2_retail",
        "tasks_file": str(tasks_file),
        "tasks": len(results),
        "actions": len(rows),
        "writes": len(writes),
        "reads": len(rows) - len(writes),
        "gate_coverage": round(sum(r["as_policy_says"] for r in rows) / max(1, len(rows)), 4),
        "ungated_writes": sum(
            1 for r in writes if not r["gated"] and r["status"] not in (None, "refused")
        ),
        "writes_gated": round(sum(r["gated"] for r in writes) / max(1, len(writes)), 4),
        "reads_gated": sum(r["gated"] for r in rows if not r["write"]),
        "unapproved_writes_refused": round(
            sum(bool(r["refused_unapproved"]) for r in writes) / max(1, len(writes)), 4
        ),
        "replay_match": round(sum(r["match"] for r in results) / max(1, len(results)), 4),
        "idempotent": round(sum(bool(r["idempotent"]) for r in rows) / max(1, len(rows)), 4),
        "tasks_changing_db": sum(r["changed"] for r in results),
        "tool_errors": sum(len(r["direct_errors"]) for r in results),
        "write_errors": [
            e for r in results for e in r["direct_errors"] if e.split(":")[0] in WRITES
        ],
        "read_error_examples": [
            e for r in results for e in r["direct_errors"] if e.split(":")[0] not in WRITES
        ][:5],
        "mismatched_tasks": [r["task"] for r in results if not r["match"]],
        "per_tool": {k: dict(v) for k, v in sorted(per_tool.items())},
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(
        f"{figures['tasks']} tasks, {figures['actions']} actions ({figures['writes']} writes):"
        f" gate coverage {figures['gate_coverage']:.1%}, replay match "
        f"{figures['replay_match']:.1%}, idempotent retries {figures['idempotent']:.1%}",
        file=sys.stderr,
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
