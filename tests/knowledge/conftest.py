"""Fixtures: a small knowledge folder in every format, and a fresh knowledge base."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from govcx.knowledge import KnowledgeBase, KnowledgeConfig

REFUNDS = """---
id: refunds
title: Refunds
version: "1"
status: approved
tags: [refund, billing]
locale: en-US
effective_from: 2020-01-01
---
# Refunds

## How long refunds take
Refunds go back to the original payment method within 5 business days after we receive
the returned item. Bank processing can add 2 more days.

## What cannot be refunded
Gift cards and final-sale items cannot be refunded. Opened software is final sale too,
so check the box before you open it.
"""

DRAFT = """---
id: refunds-draft
title: Instant refunds pilot
version: "1"
status: draft
tags: [refund]
---
Instant refunds are paid within one hour in the pilot programme for platinum members.
"""

RETIRED = """---
id: old-shipping
title: Zeppelin shipping
version: "4"
status: retired
---
Zeppelin shipping delivers parcels by airship within three weeks.
"""

FUTURE = """---
id: holiday-returns
title: Holiday returns window
version: "1"
status: approved
effective_from: 2999-11-01
---
Holiday purchases can be returned until the end of January of the following year.
"""

EXPIRED = """---
id: summer-sale
title: Summer sale price matching
version: "2"
status: approved
effective_from: 2000-06-01
effective_until: 2000-08-31
---
During the summer sale we match competitor prices on kayaks and paddles.
"""

GERMAN = """---
id: rueckgabe
title: Rücksendungen
version: "1"
status: approved
locale: de-DE
tags: [refund]
---
Rücksendungen sind innerhalb von 30 Tagen kostenlos möglich, auch für Kajaks.
"""

SHIPPING_TXT = """---
status: approved
title: Shipping times
---
Shipping times
Standard shipping takes 3 to 5 business days inside the continental United States.

Express shipping takes 1 to 2 business days and costs 15 dollars per order.
"""

WARRANTY_HTML = """<!doctype html>
<html><head><title>Tent warranty</title>
<meta name="version" content="7"><meta name="tags" content="warranty, tents">
<meta name="status" content="approved">
<style>body { color: red }</style><script>var secret = "ignore me";</script></head>
<body><h1>Tent warranty</h1>
<h2>What is covered</h2><p>Broken tent poles and torn seams are covered for two years.</p>
<h2>How to claim</h2><ul><li>Send a photo of the damage.</li><li>Keep your receipt.</li></ul>
</body></html>
"""

FAQ_JSON = [
    {
        "id": "faq-gift-cards",
        "title": "Gift card balance",
        "content": "Check a gift card balance on the gift card page with the card number and PIN.",
        "category": "payments",
        "status": "approved",
    },
    {
        "id": "faq-password",
        "title": "Resetting your password",
        "content": "Use the forgot password link; the reset email arrives within ten minutes.",
        "tags": ["account"],
        "status": "approved",
    },
]

STORES_JSONL = [
    {
        "id": "store-hours",
        "title": "Store opening hours",
        "content": "Our stores open at 9am and close at 8pm, Monday to Saturday.",
        "status": "approved",
    },
    {
        "id": "store-parking",
        "title": "Parking at our stores",
        "content": "Customers park for free for two hours in the garage under every store.",
        "status": "approved",
    },
]


def write_folder(root: Path) -> Path:
    """The fixture knowledge folder: one file per format plus governance cases."""
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "refunds.md": REFUNDS,
        "drafts/refunds-draft.md": DRAFT,
        "old-shipping.md": RETIRED,
        "holiday-returns.md": FUTURE,
        "summer-sale.md": EXPIRED,
        "rueckgabe.md": GERMAN,
        "shipping.txt": SHIPPING_TXT,
        "warranty.html": WARRANTY_HTML,
        "faq.json": json.dumps(FAQ_JSON),
        "stores.jsonl": "\n".join(json.dumps(r) for r in STORES_JSONL) + "\n",
        "notes.csv": "ignored,because,suffix\n",
        ".hidden.md": "# hidden\nnot read\n",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "kb")


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def kb(state: Path) -> KnowledgeBase:
    return KnowledgeBase.open(state, KnowledgeConfig())


@pytest.fixture
def loaded(kb: KnowledgeBase, kb_dir: Path) -> KnowledgeBase:
    report = kb.ingest(kb_dir)
    assert report.ok, report.failed
    return kb
