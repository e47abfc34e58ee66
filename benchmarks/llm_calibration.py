"""Calibration of the LLM engine's intent confidence on BANKING77-OOS, before and after
combining it with the embedded classifier's agreement (:mod:`govcx.engines.agreement`).

Every request of BANKING77-OOS ``valid`` (in-scope, id-oos and ood-oos) goes through
the LLM engine's real ``classify`` (prompt, JSON-schema structured output, parsing) to an
OpenAI-compatible server. The pack is built from the data: one workflow per in-scope
intent, whose examples are that intent's ``train`` utterances (they train the embedded
classifier and the prompt shows five of each). Out of scope is the right answer for
id-oos and ood-oos requests.

The model, by default, is an overconfident stand-in behind the stub server
(:class:`govcx.testing.StubOpenAIServer`), as Qwen2.5-Coder-0.5B was: it says 0.9 on every
answer. Its intent is its own, not the classifier's: the intent of the ``train``
utterance sharing the most words with the request (Jaccard over lower-cased words,
out of scope below ``--oos-overlap``), so its errors are not the classifier's. With
``--base-url`` the requests go to a real server instead (``--sample N`` of them, drawn
evenly from the three parts).

Figures (one JSON object on the last line): accuracy of the answers, and the expected
calibration error (ECE, 10 equal-width bins: the sum over bins of the share of answers
in the bin times the gap between their accuracy and their mean confidence) of

- ``model``: the confidence the model said (before);
- ``combined``: the confidence the engine now returns (after: the model's when the
  classifier agrees, else the lower of it and the classifier's probability);
- ``classifier``: the classifier's probability of the model's answer alone, and the
  embedded engine's own answers (for reference).

    .venv/bin/python benchmarks/llm_calibration.py [--data DIR] [--sample N]
        [--labels source|shipped]
    .venv/bin/python benchmarks/llm_calibration.py --base-url http://127.0.0.1:8080/v1 \\
        --model qwen2.5-coder-0.5b-instruct-q4_k_m --sample 100
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from banking77_oos import DEFAULT_DATA, DEFAULT_SOURCE, DataError, load, relabel, source_labels

from govcx.engines import agreement
from govcx.engines.engine import TurnContext
from govcx.engines.llm import LLMEngine
from govcx.governance.policy import Policy, parse_policy
from govcx.pack import EngineConfig
from govcx.testing import ModelRequest, ModelResponse, StubOpenAIServer, classified

OOS = "oos"
STAND_IN = "overconfident-stand-in"
_WORD = re.compile(r"[a-z0-9']+")


def ece(confidences: list[float], correct: list[bool], bins: int = 10) -> float:
    """Expected calibration error over ``bins`` equal-width confidence bins."""
    conf = np.clip(np.asarray(confidences, dtype=float), 0.0, 1.0)
    hits = np.asarray(correct, dtype=float)
    index = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.mean() * abs(hits[mask].mean() - conf[mask].mean())
    return float(total)


def policy_of(texts: list[str], labels: list[str]) -> Policy:
    """A policy with one answer-only workflow per intent, trained on its utterances."""
    examples: dict[str, list[str]] = defaultdict(list)
    for text, label in zip(texts, labels, strict=True):
        examples[label].append(text)
    return parse_policy(
        {
            "version": "banking77-oos",
            "defaults": {"autonomy": "act", "min_confidence": 0.5},
            "tiers": {"read": {"approval": "never"}},
            "workflows": {
                intent: {"description": intent.replace("_", " "), "examples": items}
                for intent, items in sorted(examples.items())
            },
        }
    )


class OverlapModel:
    """The stand-in: the intent of the most word-overlapping training utterance, always
    at confidence 0.9 (out of scope when the best overlap is under ``oos_overlap``)."""

    def __init__(self, texts: list[str], labels: list[str], *, oos_overlap: float) -> None:
        self.examples = [
            (frozenset(_WORD.findall(t.lower())), lab) for t, lab in zip(texts, labels, strict=True)
        ]
        self.oos_overlap = oos_overlap

    def __call__(self, request: ModelRequest) -> ModelResponse:
        words = frozenset(_WORD.findall(request.user.lower()))
        best, label = 0.0, "out_of_scope"
        for example, intent in self.examples:
            union = len(words | example)
            score = len(words & example) / union if union else 0.0
            if score > best:
                best, label = score, intent
        return classified(label if best >= self.oos_overlap else "out_of_scope", 0.9)


def sample(items: list[tuple[str, str]], n: int | None) -> list[tuple[str, str]]:
    if n is None or n >= len(items):
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def measure(
    engine: LLMEngine, classifier: Any, items: list[tuple[str, str]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rows = []
    for i, (text, gold) in enumerate(items):
        ctx = TurnContext(conversation_id=f"b77-{i}", customer_id=None, turn_id=f"t{i}")
        result = engine.classify(text, ctx)
        said = result.model_confidence if result.model_confidence is not None else 0.0
        check = agreement.agreement(classifier, text, result.intent)
        own = classifier.predict(text)
        rows.append(
            {
                "gold": gold,
                "answer": result.intent or OOS,
                "failed": result.error is not None,
                "model": said,
                "combined": result.confidence,
                "classifier_p": check.probability,
                "agrees": check.agrees(result.intent),
                "embedded_answer": own.intent or OOS,
                "embedded_conf": own.probability,
            }
        )
    correct = [r["answer"] == r["gold"] for r in rows]
    agree = [r for r in rows if r["agrees"]]
    embedded_ok = [r["embedded_answer"] == r["gold"] for r in rows]
    figures = {
        "requests": len(rows),
        "model_failures": sum(r["failed"] for r in rows),
        "accuracy": round(float(np.mean(correct)), 4),
        "mean_model_confidence": round(float(np.mean([r["model"] for r in rows])), 4),
        "mean_combined_confidence": round(float(np.mean([r["combined"] for r in rows])), 4),
        "ece_model": round(ece([r["model"] for r in rows], correct), 4),
        "ece_combined": round(ece([r["combined"] for r in rows], correct), 4),
        "ece_classifier_probability": round(ece([r["classifier_p"] for r in rows], correct), 4),
        "agreement_rate": round(len(agree) / len(rows), 4),
        "accuracy_when_agreeing": round(
            float(np.mean([r["answer"] == r["gold"] for r in agree])) if agree else 0.0, 4
        ),
        "accuracy_when_disagreeing": round(
            float(np.mean([r["answer"] == r["gold"] for r in rows if not r["agrees"]]))
            if len(agree) < len(rows)
            else 0.0,
            4,
        ),
        "embedded_accuracy": round(float(np.mean(embedded_ok)), 4),
        "ece_embedded": round(ece([r["embedded_conf"] for r in rows], embedded_ok), 4),
    }
    return figures, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--base-url", default=None, help="a real server (default: the stub)")
    parser.add_argument("--model", default=STAND_IN)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--sample", type=int, default=None, help="requests drawn evenly")
    parser.add_argument("--oos-overlap", type=float, default=0.2)
    parser.add_argument("--rows", type=Path, default=None, help="write every answer (JSONL)")
    parser.add_argument(
        "--labels",
        choices=["shipped", "source"],
        default="source",
        help="source (default): train and valid requests get their intent in BANKING77 "
        "itself (see benchmarks/banking77_oos.py); shipped: the label files as they are",
    )
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    args = parser.parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        data = load(args.data, "valid")
        if args.labels == "source":
            relabel(data, source_labels(args.source))
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    train_texts, train_labels = data["train"]
    items = list(zip(*data["valid"], strict=True))
    items += [(t, OOS) for t in data["id_valid"][0]]
    items += [(t, OOS) for t in data["ood_valid"][0]]
    if args.sample is not None:
        parts = [
            list(zip(*data["valid"], strict=True)),
            [(t, OOS) for t in data["id_valid"][0]],
            [(t, OOS) for t in data["ood_valid"][0]],
        ]
        total = sum(len(p) for p in parts)
        items = [x for p in parts for x in sample(p, max(1, round(args.sample * len(p) / total)))]
    policy = policy_of(train_texts, train_labels)
    started = time.perf_counter()
    classifier = agreement.classifier_for(policy)
    fit_s = time.perf_counter() - started
    config = EngineConfig(
        kind="llm", model=args.model, base_url=args.base_url, timeout=args.timeout, max_retries=1
    )
    started = time.perf_counter()
    if args.base_url is None:
        stand_in = OverlapModel(train_texts, train_labels, oos_overlap=args.oos_overlap)
        with StubOpenAIServer(stand_in) as server:
            engine = LLMEngine.from_config(
                config.model_copy(update={"base_url": server.url}), policy=policy
            )
            figures, rows = measure(engine, classifier, items)
    else:
        engine = LLMEngine.from_config(config, policy=policy)
        figures, rows = measure(engine, classifier, items)
    if args.rows is not None:
        args.rows.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = {
        "benchmark": "llm_calibration",
        "data": "banking77_oos valid (in-scope + id-oos + ood-oos)",
        "labels": args.labels,
        "model": args.model,
        "server": args.base_url or "stub (overconfident stand-in, always 0.9)",
        "bins": 10,
        **figures,
        "classifier_fit_s": round(fit_s, 1),
        "duration_s": round(time.perf_counter() - started, 1),
    }
    print(
        f"ECE before {result['ece_model']:.4f} -> after {result['ece_combined']:.4f} "
        f"(accuracy {result['accuracy']:.4f}, {result['requests']} requests)",
        file=sys.stderr,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
