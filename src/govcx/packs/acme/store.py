"""Acme Outfitters' demo order system: a seeded SQLite database and the queries on it.

The database lives in the pack's ``data_dir`` (a folder under the govcx state dir). The
first :func:`open_store` on an empty folder creates and seeds it from a fixed random seed
and a fixed store date, so every fresh copy holds the same customers, orders and
refunds, whatever the real date: demos, eval suites and tests can rely on the fixtures
listed in this pack's README.

Several processes may call tools at once, so every connection uses WAL and a 30 s busy
timeout, and every write runs in ``BEGIN IMMEDIATE`` (one writer at a time, checks and
effects in one transaction). :func:`run_once` makes a write idempotent: the idempotency
key is stored in the same transaction as the effect, and a repeated key returns the
stored result of the first call.

Money is stored in integer cents; the tools speak dollars.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from govcx import ToolError

SEED = 20261101
"""Seed of the demo data; changing it changes every generated row."""
BASE_DATE = date(2026, 11, 20)
"""The store's "today". Seeding and every date rule use it, never the real clock."""
DB_FILE = "acme_store.sqlite3"
SCHEMA_VERSION = "1"

RETURN_WINDOW_DAYS = 30
"""Days after delivery during which a return can be started."""
RETURN_SHIP_WITHIN_DAYS = 14
"""Days the customer has to drop off a return after the label is issued."""
RETURN_LABEL_FEE_CENTS = 695
"""Deducted from a return's refund, unless the customer is a Summit Club member or the
item is damaged, defective or wrong."""
FREE_SHIPPING_OVER_CENTS = 7500
SHIPPING_CENTS = {"standard": 795, "expedited": 1495, "overnight": 2995}
TRANSIT_BUSINESS_DAYS = {"standard": 5, "expedited": 2, "overnight": 1}
CARRIERS = {
    "standard": ("UPS", "USPS", "FedEx"),
    "expedited": ("UPS", "FedEx"),
    "overnight": ("FedEx",),
}
OPEN_STATUSES = ("processing", "shipped", "in_transit", "delayed")
"""Orders that have not reached the customer (or been cancelled) yet."""
SHIPPED_STATUSES = ("shipped", "in_transit", "delayed")
PASSWORD_RESET_MINUTES = 60
DATA_DELETION_DAYS = 30

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS products (
    sku TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    price_cents INTEGER NOT NULL CHECK (price_cents > 0)
);
CREATE TABLE IF NOT EXISTS customers (
    customer_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    phone TEXT NOT NULL,
    address TEXT NOT NULL,
    tier TEXT NOT NULL CHECK (tier IN ('standard', 'summit')),
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed')),
    store_credit_cents INTEGER NOT NULL DEFAULT 0 CHECK (store_credit_cents >= 0),
    joined_on TEXT NOT NULL,
    closed_at TEXT
);
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (customer_id),
    status TEXT NOT NULL CHECK (status IN ('processing', 'shipped', 'in_transit', 'delayed',
                                           'delivered', 'cancelled', 'returned')),
    placed_at TEXT NOT NULL,
    service TEXT NOT NULL CHECK (service IN ('standard', 'expedited', 'overnight')),
    promised_by TEXT NOT NULL,
    shipped_on TEXT,
    eta TEXT,
    delivered_on TEXT,
    cancelled_on TEXT,
    returned_on TEXT,
    carrier TEXT,
    tracking_number TEXT,
    ship_to TEXT NOT NULL,
    payment_method TEXT NOT NULL,
    subtotal_cents INTEGER NOT NULL,
    shipping_cents INTEGER NOT NULL,
    total_cents INTEGER NOT NULL CHECK (total_cents = subtotal_cents + shipping_cents)
);
CREATE INDEX IF NOT EXISTS orders_by_customer ON orders (customer_id, placed_at);
CREATE TABLE IF NOT EXISTS order_items (
    order_id TEXT NOT NULL REFERENCES orders (order_id),
    line INTEGER NOT NULL,
    sku TEXT NOT NULL REFERENCES products (sku),
    name TEXT NOT NULL,
    qty INTEGER NOT NULL CHECK (qty > 0),
    unit_price_cents INTEGER NOT NULL,
    PRIMARY KEY (order_id, line)
);
CREATE TABLE IF NOT EXISTS refunds (
    seq INTEGER PRIMARY KEY,
    refund_id TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL REFERENCES orders (order_id),
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS refunds_by_order ON refunds (order_id);
CREATE TABLE IF NOT EXISTS returns (
    seq INTEGER PRIMARY KEY,
    rma TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL REFERENCES orders (order_id),
    reason TEXT NOT NULL,
    label_url TEXT NOT NULL,
    label_fee_cents INTEGER NOT NULL,
    ship_by TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'received', 'refunded')),
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS address_changes (
    seq INTEGER PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (order_id),
    old_address TEXT NOT NULL,
    new_address TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS password_resets (
    seq INTEGER PRIMARY KEY,
    reset_id TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL REFERENCES customers (customer_id),
    sent_to TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS disputes (
    seq INTEGER PRIMARY KEY,
    dispute_id TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL REFERENCES orders (order_id),
    customer_id TEXT NOT NULL REFERENCES customers (customer_id),
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    status TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS credits (
    seq INTEGER PRIMARY KEY,
    credit_id TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL REFERENCES customers (customer_id),
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS processed_keys (
    tool TEXT NOT NULL,
    key TEXT NOT NULL,
    request TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tool, key)
);
"""

# --------------------------------------------------------------------------- connection


def db_path(data_dir: Path | str) -> Path:
    """Where the store's SQLite file lives inside ``data_dir``."""
    return Path(data_dir) / DB_FILE


def open_store(data_dir: Path | str) -> sqlite3.Connection:
    """Open the store in ``data_dir``, creating and seeding it on first use.

    The connection is in autocommit mode (``isolation_level=None``): callers open their
    own ``BEGIN IMMEDIATE`` transaction for writes. Close the connection when done.
    """
    path = db_path(data_dir)
    if not path.exists():
        _create(path)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def _create(path: Path) -> None:
    """Build the seeded database in a private file, then link it into place atomically.

    Nobody ever opens a half-seeded store, and the switch to WAL happens before any other
    connection exists: changing the journal mode while other connections race on the file
    is where SQLite reports "database is locked" without waiting. When several processes
    or threads create the store at once, each builds the same copy and the first link wins.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.unlink(missing_ok=True)  # left by a crashed process that had the same id
    try:
        with closing(sqlite3.connect(tmp, isolation_level=None)) as conn:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("BEGIN")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            _seed(conn, random.Random(SEED))
            conn.execute("INSERT INTO meta (key, value) VALUES ('seeded', ?)", (SCHEMA_VERSION,))
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode = WAL")  # persistent: stored in the file header
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # someone else finished first; their copy is identical
        except OSError:  # a file system without hard links
            if not path.exists():
                os.replace(tmp, path)
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
            leftover.unlink(missing_ok=True)


@contextmanager
def connect(data_dir: Path | str) -> Iterator[sqlite3.Connection]:
    """``open_store`` as a context manager that closes the connection."""
    with closing(open_store(data_dir)) as conn:
        yield conn


@contextmanager
def read_only(data_dir: Path | str) -> Iterator[sqlite3.Connection]:
    """A connection that cannot write (SQLite ``mode=ro``): for context lookups, which
    must only read. The store is created first if it does not exist yet."""
    path = db_path(data_dir)
    if not path.exists():
        open_store(data_dir).close()
    conn = sqlite3.connect(
        f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    with closing(conn):
        yield conn


def run_once(
    data_dir: Path | str,
    *,
    tool: str,
    key: str,
    request: Mapping[str, Any],
    effect: Callable[[sqlite3.Connection], dict[str, Any]],
) -> dict[str, Any]:
    """Run ``effect`` in one write transaction, at most once per ``(tool, key)``.

    If the key was processed before, nothing runs and the stored result of the first
    call is returned. The key, the request and the result are written in the same
    transaction as the effect, so a crash leaves either both or neither. A ToolError
    raised by ``effect`` rolls everything back and records nothing, so a retry is
    checked afresh. Reusing a key for a different request is refused.
    """
    if not key:
        raise ToolError("This action is missing its idempotency key, so it was not run.")
    canonical = json.dumps(dict(request), sort_keys=True, separators=(",", ":"))
    with connect(data_dir) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                "SELECT request, result FROM processed_keys WHERE tool = ? AND key = ?",
                (tool, key),
            ).fetchone()
            if row is not None:
                conn.execute("ROLLBACK")
                if row["request"] != canonical:
                    raise ToolError(
                        "This request was already processed with different "
                        "details, so I did not run it again.",
                        details={"tool": tool, "idempotency_key": key},
                    )
                stored: dict[str, Any] = json.loads(row["result"])
                return stored
            result = effect(conn)
            conn.execute(
                "INSERT INTO processed_keys (tool, key, request, result, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (tool, key, canonical, json.dumps(result, sort_keys=True), now_stamp()),
            )
            conn.execute("COMMIT")
            return result
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


# --------------------------------------------------------------------------- helpers


def cents(amount: float) -> int:
    """Dollars to integer cents, rounding half away from zero."""
    return round(float(amount) * 100 + (1e-9 if amount >= 0 else -1e-9))


def dollars(amount_cents: int) -> float:
    """Integer cents to dollars."""
    return round(amount_cents / 100, 2)


def now_stamp() -> str:
    """The real UTC time, for recording when an action happened (not for business rules)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def store_today() -> date:
    """The store's business date. Fixed, so fixtures (delivery dates, return windows) hold."""
    return BASE_DATE


def add_business_days(start: date, days: int) -> date:
    """``start`` plus ``days`` working days (Monday to Friday)."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            remaining -= 1
    return current


def next_id(conn: sqlite3.Connection, table: str, prefix: str) -> str:
    """The next readable id of ``table`` (``RF-000123``). Call inside the write transaction."""
    if table not in {"refunds", "returns", "password_resets", "disputes", "credits"}:
        raise ValueError(f"no id sequence for table {table!r}")
    row = conn.execute(f"SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM {table}").fetchone()
    return f"{prefix}-{int(row['n']):06d}"


def get_customer(conn: sqlite3.Connection, customer_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM customers WHERE customer_id = ?", (customer_id,)
    ).fetchone()
    return row


def get_order(conn: sqlite3.Connection, order_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM orders WHERE order_id = ?", (order_id,)
    ).fetchone()
    return row


def order_items(conn: sqlite3.Connection, order_id: str) -> list[sqlite3.Row]:
    return list(
        conn.execute("SELECT * FROM order_items WHERE order_id = ? ORDER BY line", (order_id,))
    )


def customer_orders(
    conn: sqlite3.Connection, customer_id: str, limit: int | None = None
) -> list[sqlite3.Row]:
    """A customer's orders, most recent first."""
    sql = "SELECT * FROM orders WHERE customer_id = ? ORDER BY placed_at DESC, order_id DESC"
    params: tuple[Any, ...] = (customer_id,)
    if limit is not None:
        sql += " LIMIT ?"
        params += (limit,)
    return list(conn.execute(sql, params))


def refunded_cents(conn: sqlite3.Connection, order_id: str) -> int:
    row = conn.execute(
        "SELECT COALESCE(SUM(amount_cents), 0) AS s FROM refunds WHERE order_id = ?", (order_id,)
    ).fetchone()
    return int(row["s"])


def customer_refunds(
    conn: sqlite3.Connection, customer_id: str, limit: int = 10
) -> list[sqlite3.Row]:
    """A customer's refunds on any of their orders, newest first."""
    return list(
        conn.execute(
            "SELECT r.refund_id, r.order_id, r.amount_cents, r.reason, r.created_at "
            "FROM refunds r JOIN orders o ON o.order_id = r.order_id "
            "WHERE o.customer_id = ? ORDER BY r.created_at DESC, r.seq DESC LIMIT ?",
            (customer_id, limit),
        )
    )


def refundable_cents(conn: sqlite3.Connection, order: sqlite3.Row) -> int:
    """What can still be refunded on an order: its total minus every refund so far."""
    return max(0, int(order["total_cents"]) - refunded_cents(conn, order["order_id"]))


def open_return(conn: sqlite3.Connection, order_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM returns WHERE order_id = ? AND status = 'open'", (order_id,)
    ).fetchone()
    return row


def mask_email(email: str) -> str:
    """``alex.rivera@example.com`` → ``a***@example.com``."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


# Query helpers for tests, evals and the README (each opens its own connection).


def count_refunds(data_dir: Path | str, order_id: str) -> int:
    """Number of refund rows of an order."""
    with connect(data_dir) as conn:
        row = conn.execute(
            "SELECT COUNT(*) AS n FROM refunds WHERE order_id = ?", (order_id,)
        ).fetchone()
        return int(row["n"])


def refunded_total(data_dir: Path | str, order_id: str) -> float:
    """Dollars refunded on an order so far (refunds, cancellations and returns)."""
    with connect(data_dir) as conn:
        return dollars(refunded_cents(conn, order_id))


def order_row(data_dir: Path | str, order_id: str) -> dict[str, Any] | None:
    """One order as a plain dict, or None."""
    with connect(data_dir) as conn:
        row = get_order(conn, order_id)
        return dict(row) if row is not None else None


def customer_row(data_dir: Path | str, customer_id: str) -> dict[str, Any] | None:
    """One customer as a plain dict, or None."""
    with connect(data_dir) as conn:
        row = get_customer(conn, customer_id)
        return dict(row) if row is not None else None


def count_rows(data_dir: Path | str, table: str, **where: Any) -> int:
    """Rows of ``table`` matching column=value filters, e.g. ``count_rows(d, "returns",
    order_id="A-1002")``."""
    with connect(data_dir) as conn:
        tables = _tables(conn)
        if table not in tables:
            raise ValueError(f"unknown table {table!r}; tables: {', '.join(tables)}")
        columns = {r["name"] for r in conn.execute(f"PRAGMA table_info({table})")}
        unknown = sorted(set(where) - columns)
        if unknown:
            raise ValueError(f"unknown column(s) {unknown} of table {table}")
        clause = " AND ".join(f"{c} = ?" for c in where) or "1 = 1"
        row = conn.execute(
            f"SELECT COUNT(*) AS n FROM {table} WHERE {clause}", tuple(where.values())
        ).fetchone()
        return int(row["n"])


def checksum(data_dir: Path | str) -> str:
    """SHA-256 over every row of every table, in a stable order."""
    digest = hashlib.sha256()
    with connect(data_dir) as conn:
        for table in _tables(conn):
            digest.update(table.encode())
            ncols = len(list(conn.execute(f"PRAGMA table_info({table})")))
            order = ", ".join(str(i) for i in range(1, ncols + 1))
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY {order}"):
                digest.update(json.dumps(list(row), default=str).encode())
    return digest.hexdigest()


def _tables(conn: sqlite3.Connection) -> list[str]:
    return [
        r["name"]
        for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    ]


# --------------------------------------------------------------------------- seed data

CATALOG: tuple[tuple[str, str, str, int], ...] = (
    # sku, name, category, price in cents
    ("TNT-201", "Summit 2 Backpacking Tent", "tents", 24900),
    ("TNT-401", "Basecamp 4 Family Tent", "tents", 38900),
    ("TNT-101", "Ridgeline 1 Ultralight Tent", "tents", 32900),
    ("TNT-FP2", "Tent Footprint (2-person)", "tents", 3900),
    ("SLP-020", "Alpine 20°F Down Sleeping Bag", "sleep", 27900),
    ("SLP-040", "Meadow 40°F Synthetic Sleeping Bag", "sleep", 11900),
    ("SLP-PAD", "Insulated Sleeping Pad", "sleep", 12900),
    ("SLP-PIL", "Inflatable Camp Pillow", "sleep", 3495),
    ("PCK-028", "Trailhead 28L Daypack", "packs", 8900),
    ("PCK-055", "Sierra 55L Backpacking Pack", "packs", 22900),
    ("PCK-H2O", "Hydration Reservoir 2L", "packs", 3400),
    ("PCK-HIP", "Summit Hip Pack", "packs", 3995),
    ("APP-RJK", "Ridgeline Rain Jacket", "apparel", 12999),
    ("APP-DJK", "Cascade Down Jacket", "apparel", 21900),
    ("APP-FLC", "Polar Fleece Pullover", "apparel", 6900),
    ("APP-MBT", "Merino Base Layer Top", "apparel", 7900),
    ("APP-MBB", "Merino Base Layer Bottom", "apparel", 7400),
    ("APP-HPN", "Trail Hiking Pants", "apparel", 8400),
    ("APP-HSH", "Trail Hiking Shorts", "apparel", 5400),
    ("APP-HAT", "Packable Sun Hat", "apparel", 2900),
    ("APP-BNE", "Fleece Beanie", "apparel", 2400),
    ("APP-GLV", "Softshell Gloves", "apparel", 3900),
    ("APP-SOX", "Trail Crew Socks (3-pack)", "apparel", 3000),
    ("FTW-GPB", "Granite Peak Hiking Boots", "footwear", 16900),
    ("FTW-TRS", "Trail Runner Shoes", "footwear", 13900),
    ("FTW-SND", "Camp Sandals", "footwear", 5900),
    ("FTW-GTR", "Waterproof Gaiters", "footwear", 4400),
    ("FTW-WAX", "Boot Wax", "footwear", 1200),
    ("KIT-STV", "Backpacking Stove", "kitchen", 6495),
    ("KIT-CKS", "Titanium Cookset", "kitchen", 7900),
    ("KIT-MUG", "Enamel Camp Mug", "kitchen", 1500),
    ("KIT-FLT", "Squeeze Water Filter", "kitchen", 4995),
    ("KIT-BTL", "Insulated Bottle 32 oz", "kitchen", 3600),
    ("GEA-TPL", "Trekking Poles (pair)", "gear", 11900),
    ("GEA-HLP", "Ultralight Headlamp", "gear", 4495),
    ("GEA-CHR", "Camp Chair", "gear", 6900),
    ("GEA-LAN", "Rechargeable Lantern", "gear", 3900),
    ("GEA-FAK", "Trail First Aid Kit", "gear", 2995),
    ("GEA-BCN", "Bear Canister", "gear", 8495),
    ("GEA-MTL", "Multi-tool", "gear", 5900),
)

_FIRST = (
    "Alex",
    "Priya",
    "Morgan",
    "Jordan",
    "Taylor",
    "Sam",
    "Riley",
    "Casey",
    "Jamie",
    "Avery",
    "Quinn",
    "Harper",
    "Rowan",
    "Elena",
    "Marcus",
    "Wei",
    "Aisha",
    "Diego",
    "Hannah",
    "Noah",
    "Olivia",
    "Liam",
    "Sofia",
    "Mateo",
    "Chloe",
    "Ethan",
    "Maya",
    "Lucas",
    "Zoe",
    "Omar",
    "Grace",
    "Kenji",
    "Nadia",
    "Tomas",
    "Ingrid",
    "Ravi",
    "Leah",
    "Felix",
    "Amara",
    "Connor",
)
_LAST = (
    "Rivera",
    "Shah",
    "Blake",
    "Nguyen",
    "Patel",
    "Johnson",
    "Garcia",
    "Kim",
    "Chen",
    "Okafor",
    "Müller",
    "Rossi",
    "Lindqvist",
    "Brooks",
    "Santos",
    "Tanaka",
    "Walsh",
    "Haddad",
    "Novak",
    "Fischer",
    "Bennett",
    "Ortiz",
    "Hughes",
    "Kowalski",
    "Larsen",
    "Mendes",
    "Reyes",
    "Sato",
    "Turner",
    "Wright",
    "Ahmed",
    "Dubois",
    "Ibarra",
    "Jensen",
    "Moreau",
    "Price",
    "Quinlan",
    "Singh",
    "Vargas",
    "Young",
)
_STREETS = (
    "Alder St",
    "Pine Ridge Rd",
    "Cedar Ave",
    "Summit Dr",
    "Lakeview Blvd",
    "Aspen Ct",
    "Birch Ln",
    "Canyon Rd",
    "Granite Way",
    "Willow St",
    "Meadow Ln",
    "Ridgecrest Dr",
    "Trailhead Ave",
    "Juniper St",
    "Spruce Ct",
    "Harbor Rd",
)
_CITIES = (
    ("Portland", "OR", "97205", "503"),
    ("Seattle", "WA", "98103", "206"),
    ("Denver", "CO", "80205", "303"),
    ("Boulder", "CO", "80302", "303"),
    ("Salt Lake City", "UT", "84102", "801"),
    ("Bend", "OR", "97701", "541"),
    ("Missoula", "MT", "59801", "406"),
    ("Boise", "ID", "83702", "208"),
    ("Asheville", "NC", "28801", "828"),
    ("Burlington", "VT", "05401", "802"),
    ("Flagstaff", "AZ", "86001", "928"),
    ("Sacramento", "CA", "95814", "916"),
    ("Austin", "TX", "78704", "512"),
    ("Minneapolis", "MN", "55408", "612"),
    ("Duluth", "MN", "55802", "218"),
    ("Anchorage", "AK", "99501", "907"),
    ("Madison", "WI", "53703", "608"),
    ("Chattanooga", "TN", "37402", "423"),
)
_DOMAINS = ("example.com", "example.net", "example.org")
_PAYMENTS = (
    "Visa card",
    "Visa card",
    "Mastercard",
    "American Express card",
    "Discover card",
    "PayPal account",
    "Apple Pay",
    "Google Pay",
    "Acme gift card",
)


def _stamp(day: date, hour: int, minute: int) -> str:
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00Z"


def _tracking(rng: random.Random, carrier: str) -> str:
    if carrier == "UPS":
        alnum = "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(6))
        return "1Z" + alnum + "".join(rng.choice("0123456789") for _ in range(10))
    if carrier == "USPS":
        return "9400" + "".join(rng.choice("0123456789") for _ in range(18))
    return "".join(rng.choice("0123456789") for _ in range(12))


def _address(rng: random.Random) -> tuple[str, str]:
    city, state, zipcode, area = rng.choice(_CITIES)
    street = f"{rng.randint(10, 9899)} {rng.choice(_STREETS)}"
    if rng.random() < 0.2:
        street += f" Apt {rng.randint(1, 40)}"
    return f"{street}, {city}, {state} {zipcode}", area


def _seed(conn: sqlite3.Connection, rng: random.Random) -> None:
    conn.executemany(
        "INSERT INTO products (sku, name, category, price_cents) VALUES (?,?,?,?)", CATALOG
    )
    customers = _seed_customers(conn, rng)
    _seed_fixture_orders(conn)
    _seed_random_orders(conn, rng, customers)


def _seed_customers(conn: sqlite3.Connection, rng: random.Random) -> list[tuple[str, str, str]]:
    """300 customers; C-1001..C-1003 are fixed. Returns (id, address, tier) of each."""
    fixed = {
        "C-1001": (
            "Alex Rivera",
            "alex.rivera@example.com",
            "+1-503-555-0142",
            "412 Alder St, Portland, OR 97205",
            "standard",
            "2023-04-18",
        ),
        "C-1002": (
            "Priya Shah",
            "priya.shah@example.net",
            "+1-303-555-0117",
            "88 Summit Dr Apt 4, Denver, CO 80205",
            "summit",
            "2024-09-02",
        ),
        "C-1003": (
            "Morgan Blake",
            "morgan.blake@example.org",
            "+1-206-555-0163",
            "2710 Cedar Ave, Seattle, WA 98103",
            "standard",
            "2022-11-30",
        ),
    }
    seen_emails = {row[1] for row in fixed.values()}
    out: list[tuple[str, str, str]] = []
    for n in range(1001, 1301):
        customer_id = f"C-{n}"
        if customer_id in fixed:
            name, email, phone, address, tier, joined = fixed[customer_id]
        else:
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            name = f"{first} {last}"
            local = f"{first}.{last}".lower().replace("ü", "u")
            email = f"{local}@{rng.choice(_DOMAINS)}"
            if email in seen_emails:
                email = f"{local}{n % 1000}@{rng.choice(_DOMAINS)}"
            address, area = _address(rng)
            phone = f"+1-{area}-555-01{rng.randint(0, 99):02d}"
            tier = "summit" if rng.random() < 0.25 else "standard"
            joined = (BASE_DATE - timedelta(days=rng.randint(200, 2400))).isoformat()
        seen_emails.add(email)
        conn.execute(
            "INSERT INTO customers (customer_id, name, email, phone, address, tier, joined_on) "
            "VALUES (?,?,?,?,?,?,?)",
            (customer_id, name, email, phone, address, tier, joined),
        )
        out.append((customer_id, address, tier))
    return out


_PRICES = {sku: price for sku, _, _, price in CATALOG}
_NAMES = {sku: name for sku, name, _, _ in CATALOG}


def _insert_order(
    conn: sqlite3.Connection, order: dict[str, Any], items: list[tuple[str, int]]
) -> None:
    subtotal = sum(_PRICES[sku] * qty for sku, qty in items)
    order = dict(order, subtotal_cents=subtotal, total_cents=subtotal + order["shipping_cents"])
    columns = ", ".join(order)
    marks = ", ".join("?" for _ in order)
    conn.execute(f"INSERT INTO orders ({columns}) VALUES ({marks})", tuple(order.values()))
    conn.executemany(
        "INSERT INTO order_items (order_id, line, sku, name, qty, unit_price_cents) "
        "VALUES (?,?,?,?,?,?)",
        [
            (order["order_id"], line, sku, _NAMES[sku], qty, _PRICES[sku])
            for line, (sku, qty) in enumerate(items, start=1)
        ],
    )


def _insert_refund(
    conn: sqlite3.Connection, order_id: str, amount_cents: int, reason: str, created_at: str
) -> None:
    refund_id = next_id(conn, "refunds", "RF")
    conn.execute(
        "INSERT INTO refunds (refund_id, order_id, amount_cents, reason, created_at) "
        "VALUES (?,?,?,?,?)",
        (refund_id, order_id, amount_cents, reason, created_at),
    )


def _insert_return(
    conn: sqlite3.Connection, order_id: str, reason: str, fee_cents: int, created: date, status: str
) -> None:
    rma = next_id(conn, "returns", "RMA")
    conn.execute(
        "INSERT INTO returns (rma, order_id, reason, label_url, label_fee_cents, ship_by, "
        "status, created_at) VALUES (?,?,?,?,?,?,?,?)",
        (
            rma,
            order_id,
            reason,
            label_url(rma),
            fee_cents,
            (created + timedelta(days=RETURN_SHIP_WITHIN_DAYS)).isoformat(),
            status,
            _stamp(created, 15, 0),
        ),
    )


def label_url(rma: str) -> str:
    return f"https://returns.acmeoutfitters.example/labels/{rma}.pdf"


def tracking_url(order_id: str) -> str:
    return f"https://www.acmeoutfitters.example/track/{order_id}"


def _seed_fixture_orders(conn: sqlite3.Connection) -> None:
    """The orders the README's Fixtures section documents. Change both together."""
    alex = "412 Alder St, Portland, OR 97205"
    # A-1001: an older order, returned as defective and fully refunded.
    _insert_order(
        conn,
        {
            "order_id": "A-1001",
            "customer_id": "C-1001",
            "status": "returned",
            "placed_at": "2026-09-01T18:12:00Z",
            "service": "standard",
            "promised_by": "2026-09-09",
            "shipped_on": "2026-09-02",
            "eta": "2026-09-08",
            "delivered_on": "2026-09-08",
            "returned_on": "2026-09-21",
            "carrier": "USPS",
            "tracking_number": "9400111899223344556677",
            "ship_to": alex,
            "payment_method": "Visa card",
            "shipping_cents": 0,
        },
        [("APP-MBT", 1)],
    )
    _insert_return(
        conn, "A-1001", "defective: seam split at the shoulder", 0, date(2026, 9, 12), "refunded"
    )
    _insert_refund(conn, "A-1001", 7900, "return", "2026-09-23T10:30:00Z")
    # A-1002: delivered 2026-11-10, 129.99, nothing refunded, inside the return window.
    _insert_order(
        conn,
        {
            "order_id": "A-1002",
            "customer_id": "C-1001",
            "status": "delivered",
            "placed_at": "2026-11-03T09:41:00Z",
            "service": "standard",
            "promised_by": "2026-11-11",
            "shipped_on": "2026-11-04",
            "eta": "2026-11-10",
            "delivered_on": "2026-11-10",
            "carrier": "UPS",
            "tracking_number": "1Z8V41X20312345678",
            "ship_to": alex,
            "payment_method": "Visa card",
            "shipping_cents": 0,
        },
        [("APP-RJK", 1)],
    )
    # A-1003: placed yesterday, not shipped; 249.00, so cancelling it needs approval.
    _insert_order(
        conn,
        {
            "order_id": "A-1003",
            "customer_id": "C-1001",
            "status": "processing",
            "placed_at": "2026-11-19T16:05:00Z",
            "service": "standard",
            "promised_by": "2026-11-27",
            "ship_to": alex,
            "payment_method": "Visa card",
            "shipping_cents": 0,
        },
        [("TNT-201", 1)],
    )
    # A-1004: in transit with UPS, promised 2026-11-18, now expected 2026-11-21 (3 days late).
    _insert_order(
        conn,
        {
            "order_id": "A-1004",
            "customer_id": "C-1001",
            "status": "delayed",
            "placed_at": "2026-11-10T20:27:00Z",
            "service": "standard",
            "promised_by": "2026-11-18",
            "shipped_on": "2026-11-11",
            "eta": "2026-11-21",
            "carrier": "UPS",
            "tracking_number": "1Z8V41X20398765432",
            "ship_to": alex,
            "payment_method": "Visa card",
            "shipping_cents": 0,
        },
        [("FTW-GPB", 1), ("APP-SOX", 1)],
    )
    # A-1005: Priya's only order; delivered, 45.00 (Summit members ship free).
    _insert_order(
        conn,
        {
            "order_id": "A-1005",
            "customer_id": "C-1002",
            "status": "delivered",
            "placed_at": "2026-11-06T12:00:00Z",
            "service": "standard",
            "promised_by": "2026-11-14",
            "shipped_on": "2026-11-09",
            "eta": "2026-11-13",
            "delivered_on": "2026-11-13",
            "carrier": "USPS",
            "tracking_number": "9400111899220011223344",
            "ship_to": "88 Summit Dr Apt 4, Denver, CO 80205",
            "payment_method": "PayPal account",
            "shipping_cents": 0,
        },
        [("APP-SOX", 1), ("KIT-MUG", 1)],
    )
    # A-1006: belongs to C-1003, so it is invisible to everyone else.
    _insert_order(
        conn,
        {
            "order_id": "A-1006",
            "customer_id": "C-1003",
            "status": "delivered",
            "placed_at": "2026-11-02T07:55:00Z",
            "service": "expedited",
            "promised_by": "2026-11-05",
            "shipped_on": "2026-11-03",
            "eta": "2026-11-05",
            "delivered_on": "2026-11-05",
            "carrier": "FedEx",
            "tracking_number": "771234567890",
            "ship_to": "2710 Cedar Ave, Seattle, WA 98103",
            "payment_method": "Mastercard",
            "shipping_cents": 1495,
        },
        [("GEA-TPL", 1), ("GEA-HLP", 1)],
    )


def _seed_random_orders(
    conn: sqlite3.Connection, rng: random.Random, customers: list[tuple[str, str, str]]
) -> None:
    """A-1007..A-1900 over C-1003..C-1300, numbered in the order they were placed."""
    pool = [c for c in customers if c[0] not in {"C-1001", "C-1002"}]
    placed: list[tuple[date, int, int]] = []
    for _ in range(1007, 1901):
        bucket = rng.random()
        if bucket < 0.05:
            age = rng.randint(0, 1)
        elif bucket < 0.20:
            age = rng.randint(2, 10)
        else:
            age = rng.randint(11, 200)
        placed.append((BASE_DATE - timedelta(days=age), rng.randint(6, 22), rng.randint(0, 59)))
    placed.sort()
    skus = [sku for sku, _, _, _ in CATALOG]
    for n, (day, hour, minute) in zip(range(1007, 1901), placed, strict=True):
        order_id = f"A-{n}"
        customer_id, address, tier = rng.choice(pool)
        picks = rng.sample(skus, rng.choices((1, 2, 3, 4), weights=(50, 28, 15, 7))[0])
        items = [
            (sku, 2 if sku in {"APP-SOX", "KIT-MUG", "FTW-WAX"} and rng.random() < 0.3 else 1)
            for sku in picks
        ]
        subtotal = sum(_PRICES[sku] * qty for sku, qty in items)
        service = rng.choices(("standard", "expedited", "overnight"), weights=(82, 15, 3))[0]
        shipping = SHIPPING_CENTS[service]
        if service == "standard" and (tier == "summit" or subtotal >= FREE_SHIPPING_OVER_CENTS):
            shipping = 0
        ship_day = add_business_days(day, 1)
        promised = add_business_days(ship_day, TRANSIT_BUSINESS_DAYS[service])
        carrier = rng.choice(CARRIERS[service])
        late = rng.randint(1, 5) if rng.random() < 0.12 else 0
        early = 0 if late else rng.randint(0, 1)
        arrival = promised + timedelta(days=late - early)
        order: dict[str, Any] = {
            "order_id": order_id,
            "customer_id": customer_id,
            "placed_at": _stamp(day, hour, minute),
            "service": service,
            "promised_by": promised.isoformat(),
            "ship_to": address,
            "payment_method": rng.choice(_PAYMENTS),
            "shipping_cents": shipping,
        }
        roll = rng.random()
        total = subtotal + shipping
        refund: tuple[int, str, date] | None = None
        pending_return: tuple[str, int, date] | None = None
        if roll < 0.04:
            cancelled = day if hour < 20 else day + timedelta(days=1)
            order.update(status="cancelled", cancelled_on=cancelled.isoformat())
            refund = (total, "cancellation", cancelled)
        elif ship_day > BASE_DATE:
            order.update(status="processing")
        else:
            order.update(
                shipped_on=ship_day.isoformat(),
                carrier=carrier,
                tracking_number=_tracking(rng, carrier),
                eta=arrival.isoformat(),
            )
            if arrival <= BASE_DATE:
                order.update(status="delivered", delivered_on=arrival.isoformat())
                since = (BASE_DATE - arrival).days
                extra = rng.random()
                if since > 10 and extra < 0.07:
                    returned = arrival + timedelta(days=rng.randint(5, min(25, since - 3)))
                    defective = rng.random() < 0.3
                    fee = 0 if defective or tier == "summit" else RETURN_LABEL_FEE_CENTS
                    reason = (
                        rng.choice(
                            (
                                "defective: zipper failed",
                                "defective: sole separated",
                                "damaged in shipping",
                            )
                        )
                        if defective
                        else rng.choice(
                            (
                                "too small",
                                "too large",
                                "changed my mind",
                                "not as pictured",
                                "ordered the wrong color",
                            )
                        )
                    )
                    rma_on = returned - timedelta(days=rng.randint(3, 6))
                    pending_return = (reason, fee, rma_on)
                    order.update(status="returned", returned_on=returned.isoformat())
                    refund = (subtotal - fee, "return", returned + timedelta(days=2))
                elif extra < 0.10:
                    share = rng.choice((10, 15, 20, 25))
                    refund = (
                        max(100, total * share // 100),
                        "price adjustment",
                        arrival + timedelta(days=rng.randint(1, 9)),
                    )
            elif arrival > promised:
                order.update(status="delayed")
            elif (BASE_DATE - ship_day).days <= 1:
                order.update(status="shipped")
            else:
                order.update(status="in_transit")
        _insert_order(conn, order, items)
        if pending_return is not None:
            _insert_return(conn, order_id, *pending_return, "refunded")
        if refund is not None and refund[0] > 0:
            when = min(refund[2], BASE_DATE)
            _insert_refund(conn, order_id, refund[0], refund[1], _stamp(when, 11, 15))
