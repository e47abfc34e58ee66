"""Floors on the escalation triggers' recall over the phrasings in
``tests/fixtures/guards/triggers.yaml`` (see ``benchmarks/trigger_recall.py``).

The development lists must stay at or above the goal; the held-out lists, written after
tuning and never tuned on, are pinned at what they measured so they cannot regress
unnoticed (raise a floor when the detector gets better on them; never lower one).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from govcx.guardrails.triggers import TriggerDetector

PHRASINGS = Path(__file__).parents[1] / "fixtures" / "guards" / "triggers.yaml"
TRIGGERS = ("LEGAL_THREAT", "SELF_HARM", "HUMAN_REQUEST")
ESCALATING = {"LEGAL_THREAT", "SELF_HARM", "HUMAN_REQUEST", "ABUSE"}
DEV_FLOOR = 0.95
HELDOUT_FLOOR = {"LEGAL_THREAT": 0.4375, "SELF_HARM": 0.625, "HUMAN_REQUEST": 0.6875}
HELDOUT_NEAR_MISSES_MAX = 2

DATA = yaml.safe_load(PHRASINGS.read_text(encoding="utf-8"))
DETECTOR = TriggerDetector()


def _recall(kind: str, texts: list[str]) -> tuple[float, list[str]]:
    missed = [t for t in texts if kind not in {f.type for f in DETECTOR.detect(t)}]
    return 1 - len(missed) / len(texts), missed


def _false_hits(texts: list[str]) -> list[str]:
    return [t for t in texts if {f.type for f in DETECTOR.detect(t)} & ESCALATING]


def test_the_fixture_is_varied_enough() -> None:
    for kind in TRIGGERS:
        texts = DATA[kind]
        assert len(texts) >= 40, kind
        assert len({t.casefold() for t in texts}) == len(texts), f"duplicates in {kind}"
        assert len(DATA["heldout"][kind]) >= 15, kind
    assert len(DATA["near_misses"]) >= 40
    everything = [t.casefold() for k in (*TRIGGERS, "near_misses") for t in DATA[k]]
    held = [t.casefold() for k in (*TRIGGERS, "near_misses") for t in DATA["heldout"][k]]
    assert not set(everything) & set(held), "a held-out phrasing is also a development one"


@pytest.mark.parametrize("kind", TRIGGERS)
def test_recall_on_the_development_phrasings(kind: str) -> None:
    recall, missed = _recall(kind, DATA[kind])
    assert recall >= DEV_FLOOR, missed


@pytest.mark.parametrize("kind", TRIGGERS)
def test_recall_on_the_heldout_phrasings_does_not_regress(kind: str) -> None:
    recall, missed = _recall(kind, DATA["heldout"][kind])
    assert recall >= HELDOUT_FLOOR[kind], missed


def test_near_misses_do_not_trigger() -> None:
    assert _false_hits(DATA["near_misses"]) == []
    assert len(_false_hits(DATA["heldout"]["near_misses"])) <= HELDOUT_NEAR_MISSES_MAX


@pytest.mark.parametrize("kind", TRIGGERS)
def test_a_trigger_still_fires_beside_a_refund_request(kind: str) -> None:
    """Whatever a trigger catches alone it catches next to a write request, before or
    after it ("Operator. please refund $9 for order A-1001" once slipped through)."""
    refund = "please refund $9 for order A-1001."
    lost = []
    for text in DATA[kind]:
        if kind not in {f.type for f in DETECTOR.detect(text)}:
            continue
        for combined in (f"{refund} {text}", f"{text} {refund}"):
            if kind not in {f.type for f in DETECTOR.detect(combined)}:
                lost.append(combined)
    assert lost == []
