"""In-the-wild jailbreak prompts: recall of the injection detector on customer input, on two
halves of the dev set, with its false positives on benign customer text and its latency.

The dev set (``prompt_injection/jailbreaks_inthewild/dev.json``: 333 real jailbreak
prompts, every one an attack) is split into two halves by the first byte of the SHA-256
of each prompt's text (even: half A, odd: half B), so the split is fixed without
depending on the file's order. Half A is for development (looking at misses, tuning);
half B is the honest figure: nobody looks at its misses. The rules are written for the
shape of a jailbreak, never copied from these prompts.

False positives: the share of benign customer utterances (BANKING77 train, CLINC150
train + val in-scope and out-of-scope, Bitext customer-support instructions, and the
long messages written for govcx in ``tests/fixtures/guards/benign_long.txt``) in which
the detector finds an injection. Target: at most 1% (the whole guard's figure is
``guard_false_positives.py``).

Latency: the detector's median time per message, on the jailbreaks and on the benign
utterances (the per-turn budget of every guard together is 5 ms, ``guard_latency.py``).

    .venv/bin/python benchmarks/guard_jailbreaks.py [--data DIR] [--misses N] [--half A|B]

The last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets"
BENIGN_LONG = ROOT / "tests" / "fixtures" / "guards" / "benign_long.txt"


def half_of(text: str) -> str:
    """``"A"`` or ``"B"``: the half a prompt belongs to, from its text alone."""
    return "AB"[hashlib.sha256(text.encode("utf-8")).digest()[0] % 2]


def load_jailbreaks(data: Path) -> dict[str, list[str]]:
    path = data / "prompt_injection" / "jailbreaks_inthewild" / "dev.json"
    prompts = json.loads(path.read_text(encoding="utf-8"))
    halves: dict[str, list[str]] = {"A": [], "B": []}
    for text in prompts:
        halves[half_of(text)].append(text)
    return halves


def lines(path: Path) -> list[str]:
    return [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def load_benign(data: Path) -> dict[str, list[str]]:
    sets: dict[str, list[str]] = {}
    with (data / "banking77" / "train.csv").open(encoding="utf-8", newline="") as fh:
        sets["banking77"] = [row["text"] for row in csv.DictReader(fh)]
    raw = json.loads((data / "clinc150" / "trainval.json").read_text(encoding="utf-8"))
    sets["clinc150"] = [
        text for key in ("train", "val", "oos_train", "oos_val") for text, _ in raw[key]
    ]
    with (data / "bitext_cs" / "bitext_customer_support.csv").open(
        encoding="utf-8", newline=""
    ) as fh:
        sets["bitext"] = [row["instruction"] for row in csv.DictReader(fh)]
    sets["benign_long"] = lines(BENIGN_LONG)
    return sets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--misses", type=int, default=0, help="print N missed prompts")
    parser.add_argument("--half", default="A", choices=["A", "B"], help="whose misses to print")
    parser.add_argument("--show", type=int, default=0, help="print N flagged benign texts")
    args = parser.parse_args(argv)

    from govcx.guardrails.injection import InjectionDetector

    detector = InjectionDetector()
    attack_ms: list[float] = []
    benign_ms: list[float] = []

    def detect(text: str, times: list[float]) -> list[str]:
        t0 = time.perf_counter()
        findings = detector.detect(text, "input")
        times.append((time.perf_counter() - t0) * 1000)
        if not findings:
            return []
        return [part.split(" (")[0] for part in (findings[0].detail or "").split("; ")]

    result: dict[str, Any] = {"benchmark": "guard_jailbreaks", "data": str(args.data), "halves": {}}
    hit_total = n_total = 0
    for half, prompts in load_jailbreaks(args.data).items():
        rules: Counter[str] = Counter()
        missed = []
        hits = 0
        for text in prompts:
            fired = detect(text, attack_ms)
            if fired:
                hits += 1
                rules[fired[0]] += 1
            else:
                missed.append(text)
        result["halves"][half] = {
            "n": len(prompts),
            "detected": hits,
            "recall": round(hits / len(prompts), 4),
            "strongest_rule": dict(rules.most_common()),
        }
        hit_total += hits
        n_total += len(prompts)
        print(f"half {half}: recall {hits / len(prompts):.3f} ({hits}/{len(prompts)})")
        if half == args.half:
            for text in missed[: args.misses]:
                print(f"MISS {half} ({len(text)} chars): {text[:200]!r}")
    result["recall_all"] = round(hit_total / n_total, 4)
    result["target_recall"] = 0.90

    result["benign"] = {}
    flagged_total = benign_total = shown = 0
    for name, texts in load_benign(args.data).items():
        flagged = 0
        for text in texts:
            if detect(text, benign_ms):
                flagged += 1
                if shown < args.show:
                    shown += 1
                    print(f"FLAGGED {name}: {text[:200]!r}")
        result["benign"][name] = {
            "n": len(texts),
            "flagged": flagged,
            "rate": round(flagged / len(texts), 5),
        }
        flagged_total += flagged
        benign_total += len(texts)
        print(f"benign {name}: {flagged}/{len(texts)} flagged")
    result["benign_rate"] = round(flagged_total / benign_total, 5)
    result["target_max_benign_rate"] = 0.01
    result["detect_ms_p50_jailbreaks"] = round(statistics.median(attack_ms), 3)
    result["detect_ms_p50_benign"] = round(statistics.median(benign_ms), 3)
    result["detect_ms_p95_jailbreaks"] = round(sorted(attack_ms)[int(len(attack_ms) * 0.95) - 1], 3)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
