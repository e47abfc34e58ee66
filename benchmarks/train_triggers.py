"""Train the learned trigger model (``govcx.guardrails.trigger_model``) and measure it.

Positives per trigger: every list in ``tests/fixtures/guards/triggers.yaml`` (development
and ``heldout``), the extra phrasings in ``tests/fixtures/guards/trigger_training.yaml``,
and for HUMAN_REQUEST half of Bitext's ``contact_human_agent`` instructions (split by a
hash of the text; the other half is only ever measured). Negatives: the near-misses of
both fixtures, the other triggers' phrasings, and benign customer utterances from the
TRAIN splits only: BANKING77-OOS ``train`` (in-scope and ``id-oos``), CLINC150 ``train``
and the even-hash half of Bitext (without its two intents that ask for a person). Each
benign utterance counts whole and by clause, as the model is run on clauses.

Threshold per trigger: above every near-miss's score and above the ``--quantile`` of the
benign training scores, and at least ``FLOOR`` (0.5; 0.3 for self-harm). The figures,
all printed as one JSON object on the last line:

- ``cv``: 5-fold cross-validation over the fixture phrasings and near-misses (each fold's
  phrasings are left out of training, thresholds chosen again without them): recall of
  the model alone and of patterns OR model, for the development and the held-out lists
  apart; near-miss false positives of the left-out near-misses.
- ``benign_eval``: false positives on text never trained on: BANKING77-OOS ``valid``
  (in-scope, id-oos, ood-oos), CLINC150 ``val`` and the odd-hash half of Bitext, minus
  any text also in a training set; patterns alone, model alone and combined.
- ``bitext_contact_human_agent_eval``: recall on the half of those requests not trained on.

    .venv/bin/python benchmarks/train_triggers.py [--data DIR] [--write] [--seed 0]

``--write`` stores ``src/govcx/guardrails/trigger_model.npz`` and its sidecar
``trigger_model.json`` (SHA-256, figures, data licences). Same data and seed, same
weights: the solver is deterministic (liblinear is seeded).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets"
FIXTURES = ROOT / "tests" / "fixtures" / "guards"
PERSON_INTENTS = frozenset({"contact_human_agent", "contact_customer_service"})
POSITIVE_WEIGHT = 5.0
FLOOR = {"LEGAL_THREAT": 0.5, "HUMAN_REQUEST": 0.5, "SELF_HARM": 0.3}
"""The least threshold per trigger, before the near-miss and benign bounds. Self-harm's is
lower: a missed disclosure costs far more than a crisis text nobody needed. At 0.5 the
model found 25 of 40 and 23 of 30 self-harm phrasings it never saw
(tests/fixtures/guards/blind, sets A and B). The floor is the lowest round value at which
at most 1 in 1,000 benign customer messages gets the crisis text (benchmarks/trigger_recall.py's
BANKING77, CLINC150 and Bitext). With the first training phrasings that was 0.25 (0.065%;
0.10% at 0.2, 0.21% at the 0.13 the near-miss and benign-clause bounds alone give). With
the goodbyes said inside an errand added, 0.25 let 0.121% through and 0.3 lets 0.081%, so
it is 0.3; the blind sets did not choose it (their model recall is the same at both)."""
NEAR_MISS_WEIGHT = 10.0
C = 10.0
FOLDS = 5
LICENCES = {
    "tests/fixtures/guards/*.yaml": "written for govcx (Apache-2.0, as the project)",
    "BANKING77 / BANKING77-OOS": (
        "Casanueva et al. 2020, PolyAI (github.com/PolyAI-LDN/task-specific-datasets) and "
        "Zhang et al. 2021 (BANKING77-OOS): CC-BY-4.0"
    ),
    "CLINC150": "Larson et al. 2019, github.com/clinc/oos-eval: CC-BY-3.0",
    "Bitext": (
        "Bitext customer-support LLM chatbot training dataset, "
        "github.com/bitext/customer-support-llm-chatbot-training-dataset: CDLA-Sharing-1.0 "
        "(the weights are Results of computational use, CDLA-Sharing 1.0 s.3.2/4.2 puts no "
        "obligation on Results)"
    ),
}


def half(text: str) -> int:
    """0 (train) or 1 (eval): a stable split by the text's hash."""
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16) % 2


def _lines(path: Path) -> list[str]:
    return [t for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]


def load_data(data: Path) -> dict[str, Any]:
    fixture = yaml.safe_load((FIXTURES / "triggers.yaml").read_text(encoding="utf-8"))
    extra = yaml.safe_load((FIXTURES / "trigger_training.yaml").read_text(encoding="utf-8"))
    b77 = data / "banking77_oos"
    clinc = json.loads((data / "clinc150" / "trainval.json").read_text(encoding="utf-8"))
    with (data / "bitext_cs" / "bitext_customer_support.csv").open(
        encoding="utf-8", newline=""
    ) as fh:
        rows = list(csv.DictReader(fh))
    bitext = [r["instruction"] for r in rows if r["intent"] not in PERSON_INTENTS]
    human = [r["instruction"] for r in rows if r["intent"] == "contact_human_agent"]
    train = {
        "banking77_oos": _lines(b77 / "train" / "seq.in")
        + _lines(b77 / "id-oos" / "train" / "seq.in"),
        "clinc150": [t for t, _ in clinc["train"]],
        "bitext": [t for t in bitext if half(t) == 0],
    }
    seen = {t.casefold() for texts in train.values() for t in texts}
    evaluation = {
        "banking77_oos": _lines(b77 / "valid" / "seq.in")
        + _lines(b77 / "id-oos" / "valid" / "seq.in")
        + _lines(b77 / "ood-oos" / "valid" / "seq.in"),
        "clinc150": [t for t, _ in clinc["val"]],
        "bitext": [t for t in bitext if half(t) == 1],
    }
    evaluation = {k: [t for t in v if t.casefold() not in seen] for k, v in evaluation.items()}
    return {
        "fixture": fixture,
        "extra": extra,
        "benign_train": train,
        "benign_eval": evaluation,
        "human_train": [t for t in human if half(t) == 0],
        "human_eval": [t for t in human if half(t) == 1],
    }


def expand(texts: list[str]) -> list[str]:
    """Each text and its clauses (what the model is run on)."""
    from govcx.guardrails.trigger_model import split_clauses

    out: list[str] = []
    for t in texts:
        out.extend(s[2] for s in split_clauses(t) or [(0, len(t), t)])
    return out


class Trainer:
    """Fits one trigger's model on given positives/negatives and picks its threshold."""

    def __init__(self, seed: int, quantile: float) -> None:
        self.seed = seed
        self.quantile = quantile
        self._cache: dict[str, Any] = {}

    def x(self, texts: list[str]) -> Any:
        from scipy.sparse import vstack

        from govcx.guardrails.trigger_model import features

        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            m = features(missing)
            for i, t in enumerate(missing):
                self._cache[t] = m[i]
        return vstack([self._cache[t] for t in texts]).tocsr()

    def fit(
        self, pos: list[str], neg: list[str], near: list[str], benign: list[str], floor: float
    ) -> tuple[np.ndarray[Any, Any], float, float]:
        """(coef, intercept, threshold on the probability)."""
        from scipy.sparse import vstack
        from sklearn.linear_model import LogisticRegression

        near = expand(near)  # trained, like the benign texts, whole and by clause
        xs = [self.x(pos), self.x(neg), self.x(near), self.x(benign)]
        x = vstack(xs).tocsr()
        y = np.r_[np.ones(len(pos)), np.zeros(len(neg) + len(near) + len(benign))]
        w = np.r_[
            np.full(len(pos), POSITIVE_WEIGHT),
            np.ones(len(neg)),
            np.full(len(near), NEAR_MISS_WEIGHT),
            np.ones(len(benign)),
        ]
        model = LogisticRegression(C=C, solver="liblinear", random_state=self.seed, max_iter=5000)
        model.fit(x, y, sample_weight=w)
        # Rounded as shipped (float16), so thresholds and figures are the shipped model's.
        coef = model.coef_[0].astype(np.float16).astype(np.float32)
        b = float(model.intercept_[0])

        def prob(m: Any) -> np.ndarray[Any, Any]:
            return np.asarray(1 / (1 + np.exp(-(m @ coef + b))))

        # A near-miss is run clause by clause too: its threshold is over its best clause.
        near_max = float(prob(xs[2]).max()) if near else 0.0
        benign_q = float(np.quantile(prob(xs[3]), self.quantile))
        threshold = max(near_max + 1e-3, benign_q, floor)
        return coef, b, threshold


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quantile",
        type=float,
        default=0.9995,
        help="threshold above this quantile of benign training clause scores",
    )
    parser.add_argument("--write", action="store_true", help="store the weights and sidecar")
    args = parser.parse_args(argv)

    from govcx.guardrails import trigger_model as tm
    from govcx.guardrails.triggers import TriggerDetector

    t0 = time.perf_counter()
    d = load_data(args.data)
    fx, extra = d["fixture"], d["extra"]
    benign_train = expand([t for v in d["benign_train"].values() for t in v])
    near_all = (
        list(fx["near_misses"]) + list(fx["heldout"]["near_misses"]) + list(extra["near_misses"])
    )
    trainer = Trainer(args.seed, args.quantile)
    regex = TriggerDetector(model=None)
    rng = np.random.default_rng(args.seed)

    def positives(trig: str, exclude: set[str]) -> list[str]:
        texts = [*fx[trig], *fx["heldout"][trig], *extra[trig]]
        if trig == "HUMAN_REQUEST":
            texts += d["human_train"]
        return [t for t in texts if t not in exclude]

    def others(trig: str, exclude: set[str]) -> list[str]:
        return [t for k in tm.MODEL_TRIGGERS if k != trig for t in positives(k, exclude)]

    # --- cross-validation over the fixture's phrasings and near-misses ---------------------
    fold_of: dict[str, int] = {}
    for key in [*tm.MODEL_TRIGGERS, "near_misses"]:
        for lst in (fx[key], fx["heldout"][key]):
            order = rng.permutation(len(lst))
            for rank, i in enumerate(order):
                fold_of[lst[i]] = rank % FOLDS
    cv: dict[str, Any] = {}
    hits: dict[tuple[str, str], list[tuple[bool, bool]]] = {}
    near_fp: list[tuple[str, bool, bool]] = []
    for fold in range(FOLDS):
        out = {t for t, f in fold_of.items() if f == fold}
        near_in = [t for t in near_all if t not in out]
        models = {}
        for trig in tm.MODEL_TRIGGERS:
            models[trig] = trainer.fit(
                positives(trig, out), others(trig, out), near_in, benign_train, FLOOR[trig]
            )
        for trig in tm.MODEL_TRIGGERS:
            coef, b, thr = models[trig]
            for split, lst in (("dev", fx[trig]), ("heldout", fx["heldout"][trig])):
                left = [t for t in lst if fold_of[t] == fold]
                if not left:
                    continue
                fired = _fires(trainer, left, coef, b, thr)
                rx = [trig in {f.type for f in regex.detect(t)} for t in left]
                hits.setdefault((trig, split), []).extend(zip(fired, rx, strict=True))
        for split, lst in (("dev", fx["near_misses"]), ("heldout", fx["heldout"]["near_misses"])):
            left = [t for t in lst if fold_of[t] == fold]
            if not left:
                continue
            any_model = np.zeros(len(left), dtype=bool)
            for trig in tm.MODEL_TRIGGERS:
                coef, b, thr = models[trig]
                any_model |= np.array(_fires(trainer, left, coef, b, thr))
            for t, m in zip(left, any_model, strict=True):
                near_fp.append((split, bool(m), bool(regex.detect(t))))
    for (trig, split), pairs in sorted(hits.items()):
        n = len(pairs)
        cv.setdefault(trig, {})[split] = {
            "n": n,
            "model": round(sum(m for m, _ in pairs) / n, 4),
            "regex": round(sum(r for _, r in pairs) / n, 4),
            "combined": round(sum(m or r for m, r in pairs) / n, 4),
        }
    cv["near_misses"] = {
        split: {
            "n": sum(1 for s, _, _ in near_fp if s == split),
            "model_fp": sum(1 for s, m, _ in near_fp if s == split and m),
            "combined_fp": sum(1 for s, m, r in near_fp if s == split and (m or r)),
        }
        for split in ("dev", "heldout")
    }

    # --- the shipped model: everything but the eval splits ----------------------------------
    final = {
        trig: trainer.fit(
            positives(trig, set()), others(trig, set()), near_all, benign_train, FLOOR[trig]
        )
        for trig in tm.MODEL_TRIGGERS
    }
    model = tm.TriggerModel(
        {t: v[0] for t, v in final.items()},
        {t: v[1] for t, v in final.items()},
        {t: v[2] for t, v in final.items()},
    )
    combined = TriggerDetector(model=model)
    benign_eval: dict[str, Any] = {}
    totals = {"n": 0, "regex": 0, "model": 0, "combined": 0}
    examples: list[str] = []
    for name, texts in d["benign_eval"].items():
        r, m, c = 0, 0, 0
        for t in texts:
            r_hit = bool(regex.detect(t))
            found = combined.detect(t)
            m_hit = any(f.detail.startswith("model:") for f in found)
            r += r_hit
            m += m_hit
            c += bool(found)
            if m_hit and len(examples) < 20:
                examples.append(f"{sorted(f.type for f in found)} {t!r}")
        benign_eval[name] = {"n": len(texts), "regex": r, "model": m, "combined": c}
        for k, v in (("n", len(texts)), ("regex", r), ("model", m), ("combined", c)):
            totals[k] += v
    benign_eval["total"] = {
        **totals,
        "combined_rate": round(totals["combined"] / totals["n"], 5),
    }
    near_final = [t for t in near_all if combined.detect(t)]
    near_model = [t for t in near_all if any(s.fires for s in model.score(t).values())]
    human_eval = d["human_eval"]
    human_hits = sum("HUMAN_REQUEST" in {f.type for f in combined.detect(t)} for t in human_eval)
    human_model = sum(model.score(t)["HUMAN_REQUEST"].fires for t in human_eval)
    result: dict[str, Any] = {
        "benchmark": "train_triggers",
        "seed": args.seed,
        "quantile": args.quantile,
        "thresholds": {t: round(v[2], 4) for t, v in final.items()},
        "cv": cv,
        "benign_eval": benign_eval,
        "near_misses_all": {
            "n": len(near_all),
            "model_fp": len(near_model),
            "combined_fp": len(near_final),
        },
        "bitext_contact_human_agent_eval": {
            "n": len(human_eval),
            "combined": round(human_hits / len(human_eval), 4),
            "model": round(human_model / len(human_eval), 4),
        },
        "seconds": round(time.perf_counter() - t0, 1),
    }
    for line in examples:
        print("  MODEL FP", line)
    for t in near_final:
        print("  NEAR MISS FIRES", "(model)" if t in near_model else "(patterns)", repr(t))
    if args.write:
        buf = io.BytesIO()
        arrays: dict[str, Any] = {"feature_version": np.array(tm.FEATURE_VERSION)}
        for t, (coef, b, thr) in final.items():
            arrays[f"{t}.coef"] = coef.astype(np.float16)
            arrays[f"{t}.intercept"] = np.array(b, dtype=np.float32)
            arrays[f"{t}.threshold"] = np.array(thr, dtype=np.float32)
        np.savez_compressed(buf, **arrays)
        tm.WEIGHTS.write_bytes(buf.getvalue())
        sidecar = {
            "sha256": tm.file_digest(tm.WEIGHTS),
            "feature_version": tm.FEATURE_VERSION,
            "trained_by": "benchmarks/train_triggers.py --write",
            "seed": args.seed,
            "quantile": args.quantile,
            "figures": {k: v for k, v in result.items() if k not in ("benchmark", "seconds")},
            "data_licences": LICENCES,
        }
        tm.SIDECAR.write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {tm.WEIGHTS} ({tm.WEIGHTS.stat().st_size} bytes) and {tm.SIDECAR}")
    print(json.dumps(result))
    return 0


def _fires(trainer: Trainer, texts: list[str], coef: Any, b: float, thr: float) -> list[bool]:
    """Whether the model (alone) fires on each text: its best clause above the threshold."""
    from govcx.guardrails.trigger_model import split_clauses

    out = []
    for t in texts:
        clauses = [s[2] for s in split_clauses(t)] or [t]
        p = 1 / (1 + np.exp(-(trainer.x(clauses) @ coef + b)))
        out.append(bool(np.max(p) > thr))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
