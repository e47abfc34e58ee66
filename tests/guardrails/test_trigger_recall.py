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


# -- self-harm phrasings the model never trained on (tests/fixtures/guards/blind) ----------
BLIND = Path(__file__).parents[1] / "fixtures" / "guards" / "blind"
BLIND_FLOOR = {
    ("self_harm_a", "SELF_HARM"): 0.8,
    ("self_harm_b", "SELF_HARM"): 0.85,
    ("self_harm_c", "SELF_HARM"): 0.9,
    ("self_harm_d", "SELF_HARM"): 0.8,
    ("self_harm_e", "SELF_HARM"): 0.85,
    ("legal_human_a", "LEGAL_THREAT"): 0.95,
    ("legal_human_a", "HUMAN_REQUEST"): 0.95,
}
"""Measured 2026-12-06 with the retrained model (self-harm before: a 0.45, b 0.633; c was
written after the training phrasings, so it has no before; legal_human_a was written to
check the other two triggers and measured once). Then goodbyes said inside an errand were
trained on (set D measured before, 0.55; set E written after the training phrasings and
measured once, 0.667 -> 0.867): a 0.75 -> 0.825, d 0.55 -> 0.80, and b 0.90 -> 0.867 (one
phrasing, "I have the bottle of pills next to me right now", fell from 0.28 to 0.14: b's
floor was lowered once, for E's gain, and said so). Raise a floor when the detector
improves; lower one only with the trade written here."""
BLIND_NEAR_MISSES_MAX = 0.15
NEAR_MISSES_CEILING = {"self_harm_d": 0.4}
"""Set D's near-misses are minimal pairs of its phrasings ("I'm not going to be around this
week"): 5 of 20 fired before the errand phrasings were trained, 8 after. Its ceiling is
what was measured, so it may not grow."""


@pytest.mark.parametrize(("name", "kind"), sorted(BLIND_FLOOR))
def test_recall_on_phrasings_never_trained_on(name: str, kind: str) -> None:
    data = yaml.safe_load((BLIND / f"{name}.yaml").read_text(encoding="utf-8"))
    recall, missed = _recall(kind, data[kind])
    assert recall >= BLIND_FLOOR[name, kind], missed
    hits = _false_hits(data["near_misses"])
    ceiling = NEAR_MISSES_CEILING.get(name, BLIND_NEAR_MISSES_MAX)
    assert len(hits) / len(data["near_misses"]) <= ceiling, hits


def test_the_blind_sets_are_never_trained_on() -> None:
    """benchmarks/train_triggers.py reads triggers.yaml and trigger_training.yaml only; a
    blind phrasing (these sets, and the independent triggers_heldout2.yaml) copied into
    either would make its figure a training figure."""
    fixtures = PHRASINGS.parent
    trained = {
        t.casefold()
        for name in ("triggers.yaml", "trigger_training.yaml")
        for t in _texts(yaml.safe_load((fixtures / name).read_text(encoding="utf-8")))
    }

    def texts(path: Path) -> set[str]:
        return {t.casefold() for t in _texts(yaml.safe_load(path.read_text(encoding="utf-8")))}

    for path in sorted(BLIND.glob("*.yaml")):
        assert not texts(path) & trained, (path.name, sorted(texts(path) & trained))
    # The independent set shared 11 common phrasings ("human pls") with the training
    # lists when it was written; none may be added.
    shared = texts(fixtures / "triggers_heldout2.yaml") & trained
    assert len(shared) <= 11, sorted(shared)


def _texts(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [t for v in node.values() for t in _texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in _texts(v)]
    return []
