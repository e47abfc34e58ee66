"""PII detection and redaction on Presidio's synthetic PII set.

Per entity type: precision, recall and F1 with overlap matching (a gold span counts as
found when a detection of the same type overlaps it; a detection is correct when it
overlaps a gold span of its type), and leakage: the share of gold values of that type
still present verbatim in the redacted text.

    .venv/bin/python benchmarks/guard_pii.py [--data DIR] [--split dev] [--errors N]

The last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "pii"

# Gold label -> our entity type. Labels not listed are not scored (ORGANIZATION, GPE,
# DATE_TIME, TITLE, AGE, NRP, ZIP_CODE, DOMAIN_NAME, US_DRIVER_LICENSE).
LABEL_MAP = {
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN_CODE",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
    "PERSON": "PERSON",
    "STREET_ADDRESS": "STREET_ADDRESS",
}
TARGETS = {
    "EMAIL_ADDRESS": (0.90, 0.95),
    "PHONE_NUMBER": (0.90, 0.95),
    "CREDIT_CARD": (0.90, 0.95),
    "IBAN_CODE": (0.90, 0.95),
    "US_SSN": (0.90, 0.95),
    "IP_ADDRESS": (0.90, 0.95),
    "PERSON": (None, 0.80),
    "STREET_ADDRESS": (None, 0.80),
}


def load(data: Path, split: str) -> list[dict]:
    files = sorted(data.glob(f"*{split}*.json")) or sorted(data.glob("*.json"))
    if not files:
        raise SystemExit(f"no PII data (*.json) in {data}")
    records: list[dict] = []
    for f in files:
        records.extend(json.loads(f.read_text(encoding="utf-8")))
    return records


def evaluate(records: list[dict], detector, errors: int = 0) -> dict:
    tp_gold: dict[str, int] = defaultdict(int)
    n_gold: dict[str, int] = defaultdict(int)
    tp_pred: dict[str, int] = defaultdict(int)
    n_pred: dict[str, int] = defaultdict(int)
    leaked: dict[str, int] = defaultdict(int)
    shown: dict[str, int] = defaultdict(int)
    times = []
    for rec in records:
        text = rec["full_text"]
        gold = [
            (LABEL_MAP[s["entity_type"]], s["start_position"], s["end_position"])
            for s in rec["spans"]
            if s["entity_type"] in LABEL_MAP
        ]
        t0 = time.perf_counter()
        found = detector.detect(text)
        times.append(time.perf_counter() - t0)
        redacted = detector.redact(text, found)
        preds = [(f.type, f.start, f.end) for f in found if f.type in TARGETS]
        for typ, a, b in gold:
            n_gold[typ] += 1
            hit = any(t == typ and a < e and s < b for t, s, e in preds)
            tp_gold[typ] += hit
            if text[a:b].strip() and text[a:b].strip() in redacted:
                leaked[typ] += 1
            if not hit and shown[("fn", typ)] < errors:
                shown[("fn", typ)] += 1
                print(f"MISS {typ}: {text[a:b]!r} in {text[:160]!r}", file=sys.stderr)
        for typ, s, e in preds:
            n_pred[typ] += 1
            ok = any(t == typ and a < e and s < b for t, a, b in gold)
            tp_pred[typ] += ok
            if not ok and shown[("fp", typ)] < errors:
                shown[("fp", typ)] += 1
                print(f"FALSE {typ}: {text[s:e]!r} in {text[:160]!r}", file=sys.stderr)
    per_type = {}
    for typ in TARGETS:
        p = tp_pred[typ] / n_pred[typ] if n_pred[typ] else 1.0
        r = tp_gold[typ] / n_gold[typ] if n_gold[typ] else 1.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        min_p, min_r = TARGETS[typ]
        per_type[typ] = {
            "precision": round(p, 4),
            "recall": round(r, 4),
            "f1": round(f1, 4),
            "leakage": round(leaked[typ] / n_gold[typ], 4) if n_gold[typ] else 0.0,
            "gold": n_gold[typ],
            "predicted": n_pred[typ],
            "meets_target": (min_p is None or p >= min_p) and r >= min_r,
        }
    return {
        "per_type": per_type,
        "texts": len(records),
        "all_targets_met": all(v["meets_target"] for v in per_type.values()),
        "detect_ms_p50": round(statistics.median(times) * 1000, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", default="dev", help="file name part to select (dev)")
    parser.add_argument("--errors", type=int, default=0, help="print N misses per type")
    args = parser.parse_args(argv)

    from govcx.guardrails.pii import PiiDetector

    records = load(args.data, args.split)
    detector = PiiDetector()
    result = evaluate(records, detector, errors=args.errors)
    from govcx.guardrails.names import gazetteer

    result = {
        "benchmark": "guard_pii",
        "data": str(args.data),
        "split": args.split,
        **result,
        # PERSON recall depends on pyspellchecker's English word list being installed.
        "english_vocabulary": bool(gazetteer().english),
    }
    for typ, row in result["per_type"].items():
        print(
            f"{typ:16} P={row['precision']:.3f} R={row['recall']:.3f} F1={row['f1']:.3f} "
            f"leak={row['leakage']:.3f} n={row['gold']}"
        )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
