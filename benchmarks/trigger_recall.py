"""Recall of the escalation triggers (legal threat, self-harm, asking for a human) on varied
phrasings, and their false positives on near-misses and on benign customer text.

Phrasings and near-misses: ``tests/fixtures/guards/triggers.yaml`` (written for govcx;
see its header). Its development lists were tuned on; its ``heldout`` lists were written
after tuning and are reported apart, as the honest figure. Recall per trigger is the
share of its phrasings in which :class:`~govcx.guardrails.triggers.TriggerDetector`
finds that trigger; a near-miss is a false positive when any escalation trigger fires on
it.

Benign customer text: BANKING77 (train), CLINC150 (train + val, in scope) and the Bitext
customer-support instructions except the intents that ask for a person
(``contact_human_agent``, ``contact_customer_service``); a false positive is any
escalation trigger (self-harm, legal threat, abuse, human request). Bitext's
``contact_human_agent`` instructions, written by people nobody here knows, are a second
recall figure for ``HUMAN_REQUEST``.

The detector is the shipped one: the patterns, then the learned model
(``govcx.guardrails.trigger_model``) for what they miss.

    .venv/bin/python benchmarks/trigger_recall.py [--data DIR] [--misses N]

With ``--data FILE`` (YAML or JSON) the benchmark measures that file instead, of the shape
``{LEGAL_THREAT: [...], SELF_HARM: [...], HUMAN_REQUEST: [...], mixed: [{trigger, text}],
near_misses: [...]}`` (every key optional): recall per trigger for the patterns alone, the
model alone and both; recall on ``mixed`` (a trigger inside another request); and the
near-misses on which any escalation trigger fires.

The last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets"
PHRASINGS = ROOT / "tests" / "fixtures" / "guards" / "triggers.yaml"
TRIGGERS = ("LEGAL_THREAT", "SELF_HARM", "HUMAN_REQUEST")
ESCALATING = frozenset({"LEGAL_THREAT", "SELF_HARM", "HUMAN_REQUEST", "ABUSE"})
PERSON_INTENTS = frozenset({"contact_human_agent", "contact_customer_service"})


def load_phrasings(path: Path = PHRASINGS) -> dict[str, Any]:
    """The fixture: one list of texts per trigger, ``near_misses``, and ``heldout`` (the
    same lists, written after tuning and never tuned on)."""
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def load_benign(data: Path) -> tuple[dict[str, list[str]], list[str]]:
    """Benign sets by name, and Bitext's requests for a person."""
    sets: dict[str, list[str]] = {}
    with (data / "banking77" / "train.csv").open(encoding="utf-8", newline="") as fh:
        sets["banking77"] = [row["text"] for row in csv.DictReader(fh)]
    raw = json.loads((data / "clinc150" / "trainval.json").read_text(encoding="utf-8"))
    sets["clinc150"] = [text for key in ("train", "val") for text, _ in raw[key]]
    with (data / "bitext_cs" / "bitext_customer_support.csv").open(
        encoding="utf-8", newline=""
    ) as fh:
        rows = list(csv.DictReader(fh))
    sets["bitext"] = [r["instruction"] for r in rows if r["intent"] not in PERSON_INTENTS]
    human = [r["instruction"] for r in rows if r["intent"] == "contact_human_agent"]
    return sets, human


def measure_file(path: Path, misses: int = 0) -> dict[str, Any]:
    """The figures for one phrasings file (see the module docstring)."""
    from govcx.guardrails.triggers import TriggerDetector

    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: expected a mapping of trigger -> phrasings, got {type(data)}")
    both = TriggerDetector()
    regex = TriggerDetector(model=None)
    model = both.model
    assert model is not None

    def fires(kind: str, t: str) -> dict[str, bool]:
        m = kind in model.triggers and _model_alone(model, kind, t)
        r = kind in {f.type for f in regex.detect(t)}
        c = kind in {f.type for f in both.detect(t)}
        return {"regex": r, "model": bool(m), "combined": c}

    result: dict[str, Any] = {"benchmark": "trigger_recall", "phrasings": str(path), "recall": {}}
    for kind in TRIGGERS:
        texts = data.get(kind) or []
        if not texts:
            continue
        rows = [fires(kind, t) for t in texts]
        result["recall"][kind] = {
            "n": len(texts),
            **{
                k: round(sum(r[k] for r in rows) / len(rows), 4)
                for k in ("regex", "model", "combined")
            },
        }
        print(f"{kind}: {result['recall'][kind]}")
        for t, r in zip(texts, rows, strict=True):
            if not r["combined"] and misses:
                print(f"  MISS {t!r}")
    mixed = data.get("mixed") or []
    if mixed:
        rows = [fires(str(m["trigger"]), str(m["text"])) for m in mixed]
        result["mixed"] = {
            "n": len(mixed),
            **{
                k: round(sum(r[k] for r in rows) / len(rows), 4)
                for k in ("regex", "model", "combined")
            },
        }
        print(f"mixed: {result['mixed']}")
    near = data.get("near_misses") or []
    if near:
        fp_regex = [t for t in near if {f.type for f in regex.detect(t)} & ESCALATING]
        fp_both = [t for t in near if {f.type for f in both.detect(t)} & ESCALATING]
        result["near_misses"] = {
            "n": len(near),
            "false_positives_regex": len(fp_regex),
            "false_positives": len(fp_both),
            "rate": round(len(fp_both) / len(near), 4),
        }
        print(f"near-misses: {len(fp_both)}/{len(near)} trigger ({len(fp_regex)} by the patterns)")
        for t in fp_both[:misses]:
            print(f"  FALSE {t!r}")
    return result


def _model_alone(model: Any, kind: str, text: str) -> bool:
    """Whether the model by itself fires (with the detector's exclusions) on ``text``."""
    from govcx.guardrails.triggers import TriggerDetector

    return any(f.type == kind for f in TriggerDetector._detect_model(model, text, "input", set()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--misses", type=int, default=0, help="print N misses and N false hits")
    args = parser.parse_args(argv)
    if args.data.is_file():
        print(json.dumps(measure_file(args.data, args.misses)))
        return 0

    from govcx.guardrails.triggers import TriggerDetector

    detector = TriggerDetector()
    times: list[float] = []

    def kinds(text: str) -> set[str]:
        t0 = time.perf_counter()
        found = {f.type for f in detector.detect(text)}
        times.append((time.perf_counter() - t0) * 1000)
        return found

    phrasings = load_phrasings()
    result: dict[str, Any] = {
        "benchmark": "trigger_recall",
        "phrasings": str(PHRASINGS),
        "recall": {},
    }
    for trigger in TRIGGERS:
        texts = phrasings[trigger]
        missed = [t for t in texts if trigger not in kinds(t)]
        recall = 1 - len(missed) / len(texts)
        result["recall"][trigger] = {"n": len(texts), "recall": round(recall, 4)}
        print(f"{trigger}: recall {recall:.3f} ({len(texts) - len(missed)}/{len(texts)})")
        for text in missed[: args.misses]:
            print(f"  MISS {text!r}")
    heldout = phrasings.get("heldout") or {}
    if heldout:
        result["heldout_recall"] = {}
        for trigger in TRIGGERS:
            texts = heldout[trigger]
            missed = [t for t in texts if trigger not in kinds(t)]
            recall = 1 - len(missed) / len(texts)
            result["heldout_recall"][trigger] = {"n": len(texts), "recall": round(recall, 4)}
            print(
                f"held-out {trigger}: recall {recall:.3f} ({len(texts) - len(missed)}/{len(texts)})"
            )
        near_held = heldout["near_misses"]
        false_held = [t for t in near_held if kinds(t) & ESCALATING]
        result["heldout_near_misses"] = {
            "n": len(near_held),
            "false_positives": len(false_held),
            "rate": round(len(false_held) / len(near_held), 4),
        }
        print(f"held-out near-misses: {len(false_held)}/{len(near_held)} trigger")
    near = phrasings["near_misses"]
    false_hits = [(t, k) for t in near if (k := kinds(t) & ESCALATING)]
    result["near_misses"] = {
        "n": len(near),
        "false_positives": len(false_hits),
        "rate": round(len(false_hits) / len(near), 4),
    }
    print(f"near-misses: {len(false_hits)}/{len(near)} trigger")
    for text, found in false_hits[: args.misses]:
        print(f"  FALSE {sorted(found)} {text!r}")

    benign, human = load_benign(args.data)
    result["benign"] = {}
    total = flagged_total = 0
    for name, texts in benign.items():
        flagged = [t for t in texts if kinds(t) & ESCALATING]
        result["benign"][name] = {
            "n": len(texts),
            "flagged": len(flagged),
            "rate": round(len(flagged) / len(texts), 5),
        }
        total += len(texts)
        flagged_total += len(flagged)
        print(f"benign {name}: {len(flagged)}/{len(texts)} trigger")
        for text in flagged[: args.misses]:
            print(f"  FALSE {sorted(kinds(text) & ESCALATING)} {text!r}")
    result["benign_rate"] = round(flagged_total / total, 5)
    human_missed = [t for t in human if "HUMAN_REQUEST" not in kinds(t)]
    result["bitext_contact_human_agent"] = {
        "n": len(human),
        "recall": round(1 - len(human_missed) / len(human), 4),
    }
    print(f"bitext contact_human_agent: {len(human) - len(human_missed)}/{len(human)}")
    for text in human_missed[: args.misses]:
        print(f"  MISS {text!r}")
    result["goal_recall"] = 0.95
    result["detect_ms_p50"] = round(statistics.median(times), 4)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
