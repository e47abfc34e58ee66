"""Acme Outfitters' tools: the order system as the agent sees it.

Every function here is a govcx tool. The runtime fills ``customer_id``,
``idempotency_key`` and ``data_dir``; everything else comes from the agent and is
validated from the type hints before a call. Tools only ever see the calling customer's
orders: an order of someone else is reported exactly like one that does not exist.

Tools that change something run through ``store.run_once``: the idempotency key is
recorded in the same SQLite transaction as the effect, so a retried step returns the
first result instead of refunding twice.

The runtime imports this file by path under a generated module name, so the sibling
``store.py`` is loaded by path as well (a relative import would fail).
"""

from __future__ import annotations

import importlib.util
import re
import sqlite3
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

from pydantic import Field

from govcx import ToolError, tool


def _load_store() -> ModuleType:
    path = Path(__file__).with_name("store.py")
    name = f"govcx_pack_acme_store_{abs(hash(str(path.resolve())))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - the file ships with us
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


store = _load_store()

OrderId = Annotated[str, Field(pattern=r"^A-\d{4}$", description="Order number, like A-1002")]
RefundAmount = Annotated[
    float, Field(gt=0, le=10000, description="Amount in US dollars, like 80 or 45.50")
]
CreditAmount = Annotated[
    float, Field(gt=0, le=1000, description="Store credit in US dollars, like 15")
]
Reason = Annotated[
    str, Field(min_length=1, max_length=200, description="Why the customer is returning the item")
]
Address = Annotated[
    str,
    Field(
        # "Street[, unit], City, ST 12345". A compiled pattern makes pydantic use Python's re,
        # which has look-behind: it stops "A-1003 to 55 Pine Ridge Rd, ..." from being read as an
        # address that starts at "1003" when the engine searches a message for the address.
        # The street must contain a lowercase letter, so the engine (which upper-cases values
        # that still match in capitals, for ids like a-1002) keeps the customer's spelling.
        pattern=re.compile(
            r"^(?<![\w-])\d{1,6} [^,\n]{0,60}[a-z][^,\n]{0,60}(?:, [^,\n]{1,30})?"
            r", [A-Za-z .'-]{2,40}, [A-Za-z]{2} \d{5}(?:-\d{4})?$"
        ),
        min_length=10,
        max_length=200,
        description="Full new address: street, city, state, ZIP code",
    ),
]
GOODWILL_DEFAULT = 10.0
"""Goodwill credit proposed when nobody named an amount; an approver can edit it."""

_STATUS_TEXT = {
    "processing": "being prepared",
    "shipped": "shipped",
    "in_transit": "in transit",
    "delayed": "delayed",
    "delivered": "delivered",
    "cancelled": "cancelled",
    "returned": "returned",
}
_REFUND_TIME = "5-10 business days"


# --------------------------------------------------------------------------- helpers


def _money(amount_cents: int) -> str:
    return f"${amount_cents / 100:,.2f}"


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _require_customer(conn: sqlite3.Connection, customer_id: str) -> sqlite3.Row:
    if not customer_id:
        raise ToolError("I need to know who you are first: please sign in to your Acme account.")
    customer: sqlite3.Row | None = store.get_customer(conn, customer_id)
    if customer is None:
        raise ToolError("I couldn't find your customer account.")
    return customer


def _owned_order(conn: sqlite3.Connection, order_id: str, customer_id: str) -> sqlite3.Row:
    """The order if it belongs to the customer; otherwise the same 'not found' for all."""
    order: sqlite3.Row | None = store.get_order(conn, order_id)
    if order is None or not customer_id or order["customer_id"] != customer_id:
        raise ToolError(
            f"I couldn't find order {order_id} on your account. "
            "Please check the order number (it looks like A-1002)."
        )
    return order


def _normalise(order_id: str) -> str:
    return order_id.strip().upper()


def _delay_days(order: sqlite3.Row) -> int:
    promised = _day(order["promised_by"])
    actual = _day(order["delivered_on"]) or _day(order["eta"])
    if promised is None or actual is None:
        return 0
    return max(0, (actual - promised).days)


def _detail(order: sqlite3.Row, refunded: int) -> str:
    """One plain sentence on where the order stands."""
    status = order["status"]
    carrier, tracking = order["carrier"], order["tracking_number"]
    if status == "processing":
        placed = date.fromisoformat(order["placed_at"][:10])
        ship_by = max(store.add_business_days(placed, 1), store.store_today())
        return (
            f"It hasn't shipped yet; it should ship by {ship_by.isoformat()} and arrive "
            f"by {order['promised_by']}."
        )
    if status == "shipped":
        return (
            f"It shipped with {carrier} on {order['shipped_on']}, tracking {tracking}, "
            f"arriving by {order['eta']}."
        )
    if status == "in_transit":
        return f"It's on its way with {carrier}, tracking {tracking}, arriving by {order['eta']}."
    if status == "delayed":
        late = _delay_days(order)
        return (
            f"It's running late: {carrier} now expects to deliver it on {order['eta']}, "
            f"{late} day{'s' if late != 1 else ''} after the promised {order['promised_by']} "
            f"(tracking {tracking})."
        )
    if status == "delivered":
        text = f"It was delivered on {order['delivered_on']}."
        if refunded:
            text += f" {_money(refunded)} has been refunded on it so far."
        return text
    if status == "cancelled":
        return f"It was cancelled on {order['cancelled_on']} and {_money(refunded)} was refunded."
    return f"It was returned on {order['returned_on']} and {_money(refunded)} was refunded."


# --------------------------------------------------------------------------- read tools


@tool(reply="Order {order_id} is {status_text}. {detail}")
def lookup_order(order_id: OrderId, customer_id: str, data_dir: Path) -> dict[str, Any]:
    """Look up one of the customer's orders: status, items, total and delivery estimate.

    Returns the order's refundable amount as ``amount``.
    """
    order_id = _normalise(order_id)
    with store.connect(data_dir) as conn:
        order = _owned_order(conn, order_id, customer_id)
        refunded = store.refunded_cents(conn, order_id)
        items = [
            {
                "sku": i["sku"],
                "name": i["name"],
                "qty": i["qty"],
                "unit_price": store.dollars(i["unit_price_cents"]),
            }
            for i in store.order_items(conn, order_id)
        ]
    total = int(order["total_cents"])
    return {
        "order_id": order_id,
        "status": order["status"],
        "status_text": _STATUS_TEXT[order["status"]],
        "placed_at": order["placed_at"][:10],
        "items": items,
        "item_summary": ", ".join(f"{i['qty']} x {i['name']}" for i in items),
        "total": store.dollars(total),
        "refunded": store.dollars(refunded),
        "amount": store.dollars(max(0, total - refunded)),
        "payment_method": order["payment_method"],
        "service": order["service"],
        "carrier": order["carrier"],
        "tracking_number": order["tracking_number"],
        "promised_by": order["promised_by"],
        "eta": order["eta"],
        "delivered_on": order["delivered_on"],
        "detail": _detail(order, refunded),
    }


@tool(reply="{summary}")
def list_orders(customer_id: str, data_dir: Path) -> dict[str, Any]:
    """List the customer's most recent orders (up to 10), newest first."""
    with store.connect(data_dir) as conn:
        _require_customer(conn, customer_id)
        rows = store.customer_orders(conn, customer_id, limit=10)
    orders = [
        {
            "order_id": r["order_id"],
            "status": r["status"],
            "placed_at": r["placed_at"][:10],
            "total": store.dollars(r["total_cents"]),
        }
        for r in rows
    ]
    if not orders:
        summary = "I don't see any orders on your account yet."
    else:
        listed = "; ".join(
            f"{o['order_id']} ({_STATUS_TEXT[o['status']]}, placed "
            f"{o['placed_at']}, ${o['total']:.2f})"
            for o in orders
        )
        summary = f"Your recent orders: {listed}."
    return {"orders": orders, "count": len(orders), "summary": summary}


@tool(reply="{detail}")
def track_shipment(order_id: OrderId, customer_id: str, data_dir: Path) -> dict[str, Any]:
    """Track the shipment of one of the customer's orders: carrier, tracking number, status,
    delivery estimate and how many days it is late.

    Returns the order's refundable amount as ``amount``.
    """
    order_id = _normalise(order_id)
    with store.connect(data_dir) as conn:
        order = _owned_order(conn, order_id, customer_id)
        refunded = store.refunded_cents(conn, order_id)
    status = order["status"]
    delay = _delay_days(order)
    tracking = order["tracking_number"]
    if status == "processing":
        detail = (
            f"Order {order_id} hasn't shipped yet, so there is no tracking number yet. "
            + _detail(order, refunded)
        )
    elif status == "cancelled":
        detail = f"Order {order_id} was cancelled on {order['cancelled_on']}, so it won't ship."
    elif status == "delivered":
        detail = (
            f"Order {order_id} was delivered by {order['carrier']} on "
            f"{order['delivered_on']} (tracking {tracking})."
        )
    elif status == "returned":
        detail = (
            f"Order {order_id} was delivered on {order['delivered_on']} and returned on "
            f"{order['returned_on']}."
        )
    else:
        detail = f"Order {order_id}: " + _detail(order, refunded)
        detail += f" Live tracking: {store.tracking_url(order_id)}"
    return {
        "order_id": order_id,
        "status": status,
        "carrier": order["carrier"],
        "service": order["service"],
        "tracking_number": tracking,
        "tracking_url": store.tracking_url(order_id) if tracking else None,
        "shipped_on": order["shipped_on"],
        "promised_by": order["promised_by"],
        "eta": order["eta"],
        "delivered_on": order["delivered_on"],
        "delay_days": delay,
        "amount": store.dollars(max(0, int(order["total_cents"]) - refunded)),
        "detail": detail,
    }


# --------------------------------------------------------------------------- approval context


def _refundable(conn: sqlite3.Connection, order: sqlite3.Row, amount_cents: int) -> int:
    """What is left to refund on ``order``; ToolError when ``amount_cents`` cannot be
    refunded (the same words whether the tool or its context lookup finds it)."""
    order_id = order["order_id"]
    if order["status"] == "processing":
        raise ToolError(
            f"Order {order_id} hasn't shipped yet, so there's nothing to refund "
            "separately. I can cancel it instead for a full refund."
        )
    refundable: int = store.refundable_cents(conn, order)
    if refundable == 0:
        raise ToolError(f"Order {order_id} has already been fully refunded.")
    if amount_cents <= 0:
        raise ToolError("A refund has to be at least $0.01.")
    if amount_cents > refundable:
        raise ToolError(
            f"The most I can refund on order {order_id} is {_money(refundable)}; "
            f"{_money(amount_cents)} is more than that."
        )
    return refundable


def refund_context(
    order_id: str, amount: float, customer_id: str, data_dir: Path
) -> dict[str, Any]:
    """What a supervisor needs beside a refund request: who asks, the order's total, what
    was refunded on it already and what remains, and the customer's earlier refunds.

    Reads through a read-only connection. Raises ToolError, and the request is never
    queued, when the refund cannot succeed: an order that is not the customer's, one
    that has not shipped, or more than what remains."""
    order_id = _normalise(order_id)
    with store.read_only(data_dir) as conn:
        customer = _require_customer(conn, customer_id)
        order = _owned_order(conn, order_id, customer_id)
        remaining = _refundable(conn, order, store.cents(amount))
        earlier = store.customer_refunds(conn, customer_id, limit=10)
    total = int(order["total_cents"])
    return {
        "customer": customer["name"],
        "customer_tier": customer["tier"],
        "order_status": _STATUS_TEXT[order["status"]],
        "order_total": store.dollars(total),
        "refunded": store.dollars(total - remaining),
        "remaining": store.dollars(remaining),
        "payment_method": order["payment_method"],
        "earlier_refunds": [
            {
                "refund_id": r["refund_id"],
                "order_id": r["order_id"],
                "amount": store.dollars(int(r["amount_cents"])),
                "reason": r["reason"],
                "on": r["created_at"][:10],
            }
            for r in earlier
        ],
    }


# --------------------------------------------------------------------------- write tools


@tool(
    reply="I've refunded ${amount:.2f} for order {order_id} to your {payment_method} "
    "(refund {refund_id}). It usually shows up within 5-10 business days.",
    context=refund_context,
)
def issue_refund(
    order_id: OrderId, amount: RefundAmount, customer_id: str, idempotency_key: str, data_dir: Path
) -> dict[str, Any]:
    """Refund money on one of the customer's orders to the original payment method, up to
    what has not been refunded yet."""
    order_id = _normalise(order_id)
    amount_cents = store.cents(amount)

    def effect(conn: sqlite3.Connection) -> dict[str, Any]:
        order = _owned_order(conn, order_id, customer_id)
        refundable = _refundable(conn, order, amount_cents)
        refund_id = store.next_id(conn, "refunds", "RF")
        conn.execute(
            "INSERT INTO refunds (refund_id, order_id, amount_cents, reason, created_at) "
            "VALUES (?,?,?,?,?)",
            (refund_id, order_id, amount_cents, "refund", store.now_stamp()),
        )
        return {
            "refund_id": refund_id,
            "order_id": order_id,
            "amount": store.dollars(amount_cents),
            "refunded_total": store.dollars(int(order["total_cents"]) - refundable + amount_cents),
            "remaining": store.dollars(refundable - amount_cents),
            "payment_method": order["payment_method"],
            "arrives_within": _REFUND_TIME,
        }

    result: dict[str, Any] = store.run_once(
        data_dir,
        tool="issue_refund",
        key=idempotency_key,
        request={"customer_id": customer_id, "order_id": order_id, "amount_cents": amount_cents},
        effect=effect,
    )
    return result


@tool(
    reply="Return {rma} is open for order {order_id}. Print your prepaid label at "
    "{label_url} and drop the package off by {ship_by}; your refund is issued within "
    "5-10 business days after we receive it.{fee_note}"
)
def create_return(
    order_id: OrderId,
    customer_id: str,
    idempotency_key: str,
    data_dir: Path,
    reason: Reason = "not specified",
) -> dict[str, Any]:
    """Start a return of a delivered order (within 30 days of delivery) and issue a prepaid
    return label."""
    order_id = _normalise(order_id)
    reason = reason.strip() or "not specified"

    def effect(conn: sqlite3.Connection) -> dict[str, Any]:
        order = _owned_order(conn, order_id, customer_id)
        customer = _require_customer(conn, customer_id)
        status = order["status"]
        if status == "processing":
            raise ToolError(
                f"Order {order_id} hasn't shipped yet, so there's nothing to send "
                "back. I can cancel it instead for a full refund."
            )
        if status in store.SHIPPED_STATUSES:
            raise ToolError(
                f"Order {order_id} hasn't been delivered yet. You can start a return "
                "once it arrives."
            )
        if status == "cancelled":
            raise ToolError(f"Order {order_id} was cancelled, so there's nothing to return.")
        if status == "returned":
            raise ToolError(f"Order {order_id} has already been returned.")
        existing = store.open_return(conn, order_id)
        if existing is not None:
            raise ToolError(
                f"Return {existing['rma']} is already open for order {order_id}. "
                f"Your label is at {existing['label_url']}."
            )
        delivered = date.fromisoformat(order["delivered_on"])
        closes = delivered + timedelta(days=store.RETURN_WINDOW_DAYS)
        if store.store_today() > closes:
            raise ToolError(
                f"The {store.RETURN_WINDOW_DAYS}-day return window for order "
                f"{order_id} closed on {closes.isoformat()}. If the item is "
                "defective, our warranty may still cover it."
            )
        waived = customer["tier"] == "summit" or any(
            word in reason.lower() for word in ("damage", "defect", "broken", "faulty", "wrong")
        )
        fee = 0 if waived else store.RETURN_LABEL_FEE_CENTS
        rma = store.next_id(conn, "returns", "RMA")
        ship_by = store.store_today() + timedelta(days=store.RETURN_SHIP_WITHIN_DAYS)
        conn.execute(
            "INSERT INTO returns (rma, order_id, reason, label_url, label_fee_cents, ship_by, "
            "status, created_at) VALUES (?,?,?,?,?,?,'open',?)",
            (
                rma,
                order_id,
                reason,
                store.label_url(rma),
                fee,
                ship_by.isoformat(),
                store.now_stamp(),
            ),
        )
        estimate = max(0, store.refundable_cents(conn, order) - fee)
        return {
            "rma": rma,
            "order_id": order_id,
            "reason": reason,
            "label_url": store.label_url(rma),
            "label_fee": store.dollars(fee),
            "ship_by": ship_by.isoformat(),
            "refund_estimate": store.dollars(estimate),
            "fee_note": (
                f" A {_money(fee)} return label fee will be deducted from your refund."
                if fee
                else ""
            ),
        }

    result: dict[str, Any] = store.run_once(
        data_dir,
        tool="create_return",
        key=idempotency_key,
        request={"customer_id": customer_id, "order_id": order_id, "reason": reason},
        effect=effect,
    )
    return result


@tool(
    reply="Order {order_id} is cancelled. ${amount:.2f} goes back to your {payment_method} "
    "within 5-10 business days."
)
def cancel_order(
    order_id: OrderId, amount: RefundAmount, customer_id: str, idempotency_key: str, data_dir: Path
) -> dict[str, Any]:
    """Cancel one of the customer's orders that has not shipped yet and refund its full total.

    ``amount`` is the order's total (``lookup_order`` returns it as ``amount``); it is there
    so the policy can require approval for large cancellations, and the call is refused if
    it does not match the order.
    """
    order_id = _normalise(order_id)
    amount_cents = store.cents(amount)

    def effect(conn: sqlite3.Connection) -> dict[str, Any]:
        order = _owned_order(conn, order_id, customer_id)
        status = order["status"]
        if status in store.SHIPPED_STATUSES:
            raise ToolError(
                f"Order {order_id} has already shipped, so it can't be cancelled. "
                f"Once it arrives you can return it within "
                f"{store.RETURN_WINDOW_DAYS} days for a refund."
            )
        if status in ("delivered", "returned"):
            raise ToolError(
                f"Order {order_id} was already delivered, so it can't be cancelled. "
                "You can start a return instead."
            )
        if status == "cancelled":
            raise ToolError(f"Order {order_id} is already cancelled.")
        refundable = store.refundable_cents(conn, order)
        if amount_cents != refundable:
            raise ToolError(
                f"Cancelling order {order_id} refunds its full total of "
                f"{_money(refundable)}, not {_money(amount_cents)}; nothing was "
                "changed."
            )
        conn.execute(
            "UPDATE orders SET status = 'cancelled', cancelled_on = ? WHERE order_id = ?",
            (store.store_today().isoformat(), order_id),
        )
        refund_id = None
        if refundable:
            refund_id = store.next_id(conn, "refunds", "RF")
            conn.execute(
                "INSERT INTO refunds (refund_id, order_id, amount_cents, reason, created_at) "
                "VALUES (?,?,?,?,?)",
                (refund_id, order_id, refundable, "cancellation", store.now_stamp()),
            )
        return {
            "order_id": order_id,
            "status": "cancelled",
            "amount": store.dollars(refundable),
            "refund_id": refund_id,
            "payment_method": order["payment_method"],
            "arrives_within": _REFUND_TIME,
        }

    result: dict[str, Any] = store.run_once(
        data_dir,
        tool="cancel_order",
        key=idempotency_key,
        request={"customer_id": customer_id, "order_id": order_id, "amount_cents": amount_cents},
        effect=effect,
    )
    return result


@tool(reply="Done: order {order_id} will now ship to {new_address}.")
def update_shipping_address(
    order_id: OrderId, new_address: Address, customer_id: str, idempotency_key: str, data_dir: Path
) -> dict[str, Any]:
    """Change the shipping address of one of the customer's orders that has not shipped."""
    order_id = _normalise(order_id)
    new_address = " ".join(new_address.split())

    def effect(conn: sqlite3.Connection) -> dict[str, Any]:
        order = _owned_order(conn, order_id, customer_id)
        status = order["status"]
        if status in store.SHIPPED_STATUSES:
            raise ToolError(
                f"Order {order_id} has already shipped with {order['carrier']}, so "
                "I can't change its address. You can ask the carrier to redirect it "
                f"with tracking number {order['tracking_number']}."
            )
        if status != "processing":
            raise ToolError(
                f"Order {order_id} is {_STATUS_TEXT[status]}, so its address can't be changed."
            )
        conn.execute("UPDATE orders SET ship_to = ? WHERE order_id = ?", (new_address, order_id))
        conn.execute(
            "INSERT INTO address_changes (order_id, old_address, new_address, "
            "created_at) VALUES (?,?,?,?)",
            (order_id, order["ship_to"], new_address, store.now_stamp()),
        )
        return {"order_id": order_id, "new_address": new_address, "old_address": order["ship_to"]}

    result: dict[str, Any] = store.run_once(
        data_dir,
        tool="update_shipping_address",
        key=idempotency_key,
        request={"customer_id": customer_id, "order_id": order_id, "new_address": new_address},
        effect=effect,
    )
    return result


@tool(
    reply="I've sent a password reset link to {masked_email}. It expires in "
    "{expires_in_minutes} minutes."
)
def send_password_reset(customer_id: str, idempotency_key: str, data_dir: Path) -> dict[str, Any]:
    """Email the customer a password reset link, to the address on file only."""

    def effect(conn: sqlite3.Connection) -> dict[str, Any]:
        customer = _require_customer(conn, customer_id)
        if customer["status"] == "closed":
            raise ToolError("This account is closed, so its password can't be reset.")
        reset_id = store.next_id(conn, "password_resets", "PR")
        sent_at = datetime.fromisoformat(store.now_stamp().replace("Z", "+00:00"))
        expires = sent_at + timedelta(minutes=store.PASSWORD_RESET_MINUTES)
        conn.execute(
            "INSERT INTO password_resets (reset_id, customer_id, sent_to, created_at, "
            "expires_at) VALUES (?,?,?,?,?)",
            (
                reset_id,
                customer_id,
                customer["email"],
                store.now_stamp(),
                expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            ),
        )
        return {
            "reset_id": reset_id,
            "masked_email": store.mask_email(customer["email"]),
            "expires_in_minutes": store.PASSWORD_RESET_MINUTES,
        }

    result: dict[str, Any] = store.run_once(
        data_dir,
        tool="send_password_reset",
        key=idempotency_key,
        request={"customer_id": customer_id},
        effect=effect,
    )
    return result


@tool(
    reply="I've opened billing dispute {dispute_id} for ${amount:.2f} on order {order_id}. "
    "Our billing team will reply within 3 business days."
)
def open_billing_dispute(
    order_id: OrderId, amount: RefundAmount, customer_id: str, idempotency_key: str, data_dir: Path
) -> dict[str, Any]:
    """Open a billing dispute for a charge on one of the customer's orders, for the billing
    team to investigate (duplicate, wrong or unrecognised charges)."""
    order_id = _normalise(order_id)
    amount_cents = store.cents(amount)

    def effect(conn: sqlite3.Connection) -> dict[str, Any]:
        order = _owned_order(conn, order_id, customer_id)
        total = int(order["total_cents"])
        if amount_cents > total:
            raise ToolError(
                f"Order {order_id} was charged {_money(total)}, so a dispute on it "
                f"can't be for more than that."
            )
        existing = conn.execute(
            "SELECT dispute_id FROM disputes WHERE order_id = ? AND status = 'open'", (order_id,)
        ).fetchone()
        if existing is not None:
            raise ToolError(
                f"Billing dispute {existing['dispute_id']} is already open for order "
                f"{order_id}; our billing team will reply within 3 business days."
            )
        dispute_id = store.next_id(conn, "disputes", "DSP")
        conn.execute(
            "INSERT INTO disputes (dispute_id, order_id, customer_id, amount_cents, "
            "status, created_at) VALUES (?,?,?,?,'open',?)",
            (dispute_id, order_id, customer_id, amount_cents, store.now_stamp()),
        )
        return {
            "dispute_id": dispute_id,
            "order_id": order_id,
            "amount": store.dollars(amount_cents),
            "reply_within_business_days": 3,
        }

    result: dict[str, Any] = store.run_once(
        data_dir,
        tool="open_billing_dispute",
        key=idempotency_key,
        request={"customer_id": customer_id, "order_id": order_id, "amount_cents": amount_cents},
        effect=effect,
    )
    return result


@tool(
    reply="Your Acme account is closed. We'll delete your personal data by {deletion_by}; "
    "order records we must keep for tax purposes are kept for 7 years."
)
def close_account(customer_id: str, idempotency_key: str, data_dir: Path) -> dict[str, Any]:
    """Close the customer's account permanently and schedule deletion of their personal data.
    Refused while an order is still on its way."""

    def effect(conn: sqlite3.Connection) -> dict[str, Any]:
        customer = _require_customer(conn, customer_id)
        if customer["status"] == "closed":
            raise ToolError("This account is already closed.")
        marks = ", ".join("?" for _ in store.OPEN_STATUSES)
        open_orders = [
            r["order_id"]
            for r in conn.execute(
                f"SELECT order_id FROM orders WHERE customer_id = ? AND status IN ({marks}) "
                "ORDER BY order_id",
                (customer_id, *store.OPEN_STATUSES),
            )
        ]
        if open_orders:
            raise ToolError(
                "I can't close your account while orders are still open "
                f"({', '.join(open_orders)}). Once they are delivered or "
                "cancelled, we can close it."
            )
        today = store.store_today()
        forfeited = int(customer["store_credit_cents"])
        conn.execute(
            "UPDATE customers SET status = 'closed', closed_at = ?, "
            "store_credit_cents = 0 WHERE customer_id = ?",
            (store.now_stamp(), customer_id),
        )
        return {
            "customer_id": customer_id,
            "closed_on": today.isoformat(),
            "deletion_by": (today + timedelta(days=store.DATA_DELETION_DAYS)).isoformat(),
            "store_credit_forfeited": store.dollars(forfeited),
        }

    result: dict[str, Any] = store.run_once(
        data_dir,
        tool="close_account",
        key=idempotency_key,
        request={"customer_id": customer_id},
        effect=effect,
    )
    return result


@tool(
    reply="I've added ${amount:.2f} in store credit to your account; your balance is now "
    "${balance:.2f}. It never expires and is applied automatically at checkout."
)
def apply_goodwill_credit(
    customer_id: str, idempotency_key: str, data_dir: Path, amount: CreditAmount = GOODWILL_DEFAULT
) -> dict[str, Any]:
    """Add goodwill store credit to the customer's account, as an apology for a poor
    experience ($10 unless an amount is given)."""
    amount_cents = store.cents(amount)

    def effect(conn: sqlite3.Connection) -> dict[str, Any]:
        customer = _require_customer(conn, customer_id)
        if customer["status"] == "closed":
            raise ToolError("This account is closed, so it can't receive store credit.")
        if amount_cents <= 0:
            raise ToolError("Store credit has to be at least $0.01.")
        credit_id = store.next_id(conn, "credits", "GC")
        conn.execute(
            "INSERT INTO credits (credit_id, customer_id, amount_cents, reason, "
            "created_at) VALUES (?,?,?,'goodwill',?)",
            (credit_id, customer_id, amount_cents, store.now_stamp()),
        )
        balance = int(customer["store_credit_cents"]) + amount_cents
        conn.execute(
            "UPDATE customers SET store_credit_cents = ? WHERE customer_id = ?",
            (balance, customer_id),
        )
        return {
            "credit_id": credit_id,
            "amount": store.dollars(amount_cents),
            "balance": store.dollars(balance),
        }

    result: dict[str, Any] = store.run_once(
        data_dir,
        tool="apply_goodwill_credit",
        key=idempotency_key,
        request={"customer_id": customer_id, "amount_cents": amount_cents},
        effect=effect,
    )
    return result
