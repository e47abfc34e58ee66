"""False positives of the guards on benign customer utterances.

The share of BANKING77 (train.csv), CLINC150 in-scope (train + val of trainval.json) and
Bitext customer-support (instructions of every intent except ``contact_human_agent`` and
``contact_customer_service``, whose requests for a person rightly escalate) utterances that
any guard would block or escalate under the default ``GuardPolicy`` (PII findings only
redact, so they do not count). Target: at most 1%.

Also reported, apart from that figure: the indirect channels on benign content, i.e. the
share of knowledge chunks (tau2 banking_knowledge documents and the bundled acme pack's
articles, split at blank lines into chunks of up to ~800 characters) and of tool results
(tau2 retail users, orders and products as JSON) that ``scan_indirect`` would flag; under
the default policy a flagged chunk or result is stripped from the model's context.

    .venv/bin/python benchmarks/guard_false_positives.py [--data DIR] \
        [--split all|banking77|clinc150|bitext]

The last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def load(data: Path, split: str) -> dict[str, list[str]]:
    sets: dict[str, list[str]] = {}
    if split in ("all", "banking77"):
        with (data / "banking77" / "train.csv").open(encoding="utf-8", newline="") as fh:
            sets["banking77"] = [row["text"] for row in csv.DictReader(fh)]
    if split in ("all", "clinc150"):
        raw = json.loads((data / "clinc150" / "trainval.json").read_text(encoding="utf-8"))
        sets["clinc150"] = [text for key in ("train", "val") for text, _ in raw[key]]
    if split in ("all", "bitext"):
        path = data / "bitext_cs" / "bitext_customer_support.csv"
        with path.open(encoding="utf-8", newline="") as fh:
            sets["bitext"] = [
                row["instruction"]
                for row in csv.DictReader(fh)
                if row["intent"] not in ("contact_human_agent", "contact_customer_service")
            ]
    return sets


def knowledge_chunks(data: Path) -> list[str]:
    texts: list[str] = []
    docs = data / "tau2" / "banking_knowledge" / "documents"
    for path in sorted(docs.glob("*.json")):
        texts.append(json.loads(path.read_text(encoding="utf-8")).get("content", ""))
    pack = Path(__file__).resolve().parents[1] / "src" / "govcx" / "packs" / "acme" / "knowledge"
    texts.extend(p.read_text(encoding="utf-8") for p in sorted(pack.glob("*.md")))
    chunks: list[str] = []
    for text in texts:
        buf = ""
        for para in re.split(r"\n\s*\n", text):
            if buf and len(buf) + len(para) > 800:
                chunks.append(buf)
                buf = ""
            buf += para + "\n\n"
        if buf.strip():
            chunks.append(buf)
    return chunks


def tool_results(data: Path) -> list[str]:
    path = data / "tau2" / "retail" / "db.json"
    if not path.exists():
        return []
    db = json.loads(path.read_text(encoding="utf-8"))
    return [json.dumps(record) for table in db.values() for record in table.values()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--split", default="all", choices=["all", "banking77", "clinc150", "bitext"]
    )
    parser.add_argument("--show", type=int, default=0, help="print N flagged utterances")
    args = parser.parse_args(argv)

    from govcx.governance.policy import GuardPolicy
    from govcx.guardrails import Source, apply_policy, build_guard

    policy = GuardPolicy()
    guard = build_guard(policy)
    result: dict[str, Any] = {
        "benchmark": "guard_false_positives",
        "data": str(args.data),
        "split": args.split,
        "target_max_rate": 0.01,
        "sets": {},
    }
    shown = 0
    total = flagged_total = 0
    for name, texts in load(args.data, args.split).items():
        flagged = 0
        by_type: Counter[str] = Counter()
        for text in texts:
            findings = apply_policy(guard.scan_input(text).findings, policy)
            hits = [f for f in findings if f.action in ("block", "escalate")]
            if hits:
                flagged += 1
                by_type.update({f.type for f in hits})
                if shown < args.show:
                    shown += 1
                    print(f"FLAGGED {name}: {text!r} -> {[f.type for f in hits]}")
        total += len(texts)
        flagged_total += flagged
        result["sets"][name] = {
            "n": len(texts),
            "flagged": flagged,
            "rate": round(flagged / len(texts), 5),
            "by_type": dict(by_type),
        }
        print(f"{name}: {flagged}/{len(texts)} flagged ({flagged / len(texts):.3%})")
    result["n"] = total
    result["flagged"] = flagged_total
    result["rate"] = round(flagged_total / total, 5) if total else 0.0
    result["meets_target"] = result["rate"] <= 0.01
    if args.split == "all":
        indirect = {}
        channels: list[tuple[Source, list[str]]] = [
            ("knowledge", knowledge_chunks(args.data)),
            ("tool", tool_results(args.data)),
        ]
        for channel, texts in channels:
            flagged = sum(bool(guard.scan_indirect(t, channel)) for t in texts)
            indirect[channel] = {
                "n": len(texts),
                "flagged": flagged,
                "rate": round(flagged / len(texts), 5) if texts else 0.0,
            }
            print(f"indirect/{channel}: {flagged}/{len(texts)} flagged")
        result["indirect"] = indirect
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
