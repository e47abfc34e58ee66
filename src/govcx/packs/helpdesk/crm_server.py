"""The helpdesk pack's CRM: an MCP server over SQLite, written with the official MCP SDK.

govcx starts it over stdio (govcx.yaml ``mcp_servers.crm``) and stops it when the agent
closes. Its tools only become usable once ``tools.lock`` records their reviewed schema
and policy.yaml gives them a tier. The database lives in ``HELPDESK_CRM_DB`` (default
``~/.cache/govcx-helpdesk/crm.sqlite3``) and is seeded with three demo customers.

Refunds are deduplicated by the ``idempotency_key`` govcx passes, so a retried step after
a crash never refunds twice.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

DB = Path(
    os.environ.get("HELPDESK_CRM_DB") or Path.home() / ".cache" / "govcx-helpdesk" / "crm.sqlite3"
)
OrderId = Annotated[str, Field(pattern=r"^H-\d{4}$", description="Order number, like H-2001")]

server = MCPServer(
    "helpdesk-crm", instructions="Customers, orders and refunds of the helpdesk demo."
)

_SEED = [
    ("C-2001", "Noor Haddad", "H-2001", "Trail runners", 139.00, "delivered"),
    ("C-2001", "Noor Haddad", "H-2002", "Water bottle", 19.50, "shipped"),
    ("C-2002", "Ola Berg", "H-2003", "Camp stove", 89.00, "processing"),
]


def _db() -> sqlite3.Connection:
    DB.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(DB, timeout=10, isolation_level=None)
    conn.executescript(
        """
        CREATE TABLE IF NOT EXISTS orders (order_id TEXT PRIMARY KEY, customer_id TEXT,
            customer_name TEXT, item TEXT, total REAL, status TEXT);
        CREATE TABLE IF NOT EXISTS refunds (idempotency_key TEXT PRIMARY KEY, refund_id TEXT,
            order_id TEXT, amount REAL);
        """
    )
    conn.executemany(
        "INSERT OR IGNORE INTO orders VALUES (?, ?, ?, ?, ?, ?)",
        [(o, c, n, i, t, s) for c, n, o, i, t, s in _SEED],
    )
    return conn


def _order(conn: sqlite3.Connection, order_id: str, customer_id: str) -> sqlite3.Row:
    conn.row_factory = sqlite3.Row
    row = conn.execute(
        "SELECT * FROM orders WHERE order_id = ? AND customer_id = ?", (order_id, customer_id)
    ).fetchone()
    if row is None:
        raise ToolError(f"no order {order_id} for this customer")
    return row  # type: ignore[no-any-return]


@server.tool()
def lookup_order(order_id: OrderId, customer_id: str) -> dict[str, Any]:
    """Look up one of the customer's orders: item, total and status."""
    with _db() as conn:
        row = _order(conn, order_id, customer_id)
    return {
        "order_id": order_id,
        "item": row["item"],
        "total": row["total"],
        "status": row["status"],
    }


@server.tool()
def list_orders(customer_id: str) -> dict[str, Any]:
    """List the customer's orders."""
    with _db() as conn:
        rows = conn.execute(
            "SELECT order_id, item, status FROM orders WHERE customer_id = ? ORDER BY order_id",
            (customer_id,),
        ).fetchall()
    return {"orders": [{"order_id": o, "item": i, "status": s} for o, i, s in rows]}


@server.tool()
def issue_refund(
    order_id: OrderId,
    amount: Annotated[float, Field(gt=0, le=5000, description="Amount in USD")],
    customer_id: str,
    idempotency_key: str,
) -> dict[str, Any]:
    """Refund part or all of an order to the original payment method."""
    with _db() as conn:
        row = _order(conn, order_id, customer_id)
        (done,) = conn.execute(
            "SELECT COALESCE(SUM(amount), 0) FROM refunds WHERE order_id = ?", (order_id,)
        ).fetchone()
        existing = conn.execute(
            "SELECT refund_id FROM refunds WHERE idempotency_key = ?", (idempotency_key,)
        ).fetchone()
        if existing is None:
            if done + amount > row["total"] + 1e-9:
                raise ToolError(f"only ${row['total'] - done:.2f} of {order_id} can be refunded")
            refund_id = "RF-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:6].upper()
            conn.execute(
                "INSERT INTO refunds VALUES (?, ?, ?, ?)",
                (idempotency_key, refund_id, order_id, amount),
            )
        else:
            refund_id = existing[0]
    return {"refund_id": refund_id, "order_id": order_id, "amount": amount}


if __name__ == "__main__":
    server.run()
