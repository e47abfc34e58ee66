"""The learned trigger model (``govcx.guardrails.trigger_model``): the shipped weights load,
match what the training script recorded, fire on new phrasings, stay silent on near-misses,
and a missing or corrupt file stops start-up instead of switching the model off."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from govcx.errors import ConfigError
from govcx.guardrails import trigger_model as tm
from govcx.guardrails.triggers import TriggerDetector, shipped_model

FIXTURES = Path(__file__).parents[1] / "fixtures" / "guards"

# Written for this test, in no fixture, and missed by the patterns alone (asserted below,
# so each one exercises the model). Phrasings written alongside these that the model
# missed are listed in docs/design.md ("Escalation triggers"): it is not perfect.
NEW_PHRASINGS = [
    ("LEGAL_THREAT", "My legal guy is going to have a field day with your company"),
    ("LEGAL_THREAT", "Refund order A-1002 now, otherwise a judge will be ordering you to"),
    ("LEGAL_THREAT", "I have begun court proceedings against your firm"),
    ("SELF_HARM", "I am so tired of everything, I don't want to be here anymore"),
    ("SELF_HARM", "Honestly I have no wish to wake up tomorrow morning"),
    ("HUMAN_REQUEST", "pls can i chat w/ a real emplyee"),
    ("HUMAN_REQUEST", "Is a human being able to take over this chat?"),
    ("HUMAN_REQUEST", "I want this handled by a flesh and blood person"),
]


def _types(detector: TriggerDetector, text: str) -> set[str]:
    return {f.type for f in detector.detect(text)}


def test_the_shipped_weights_load_and_match_their_sidecar() -> None:
    model = shipped_model()
    sidecar = json.loads(tm.SIDECAR.read_text(encoding="utf-8"))
    assert tm.file_digest(tm.WEIGHTS) == sidecar["sha256"]
    assert sidecar["trained_by"] == "benchmarks/train_triggers.py --write"
    assert set(sidecar["data_licences"]) >= {"CLINC150", "Bitext"}
    assert model.triggers == tm.MODEL_TRIGGERS
    # At least 0.5, except self-harm: recall first, its floor is 0.3
    # (benchmarks/train_triggers.py FLOOR).
    assert all(0.5 <= model.threshold[t] < 1 for t in model.triggers if t != "SELF_HARM")
    assert model.threshold["SELF_HARM"] == pytest.approx(0.3, abs=0.05)
    assert tm.WEIGHTS.stat().st_size < 400_000


@pytest.mark.parametrize(("kind", "text"), NEW_PHRASINGS)
def test_the_model_finds_new_phrasings_the_patterns_miss(kind: str, text: str) -> None:
    assert kind not in _types(TriggerDetector(model=None), text)
    found = [f for f in TriggerDetector().detect(text) if f.type == kind]
    assert found, text
    assert found[0].detail.startswith("model: ")
    assert text[found[0].start : found[0].end] in text


def test_a_threat_inside_an_errand_is_scored_on_its_clause() -> None:
    text = "Please refund $40 for order A-1002 today, otherwise a judge will be ordering you to"
    best = shipped_model().score(text)["LEGAL_THREAT"]
    assert best.fires
    assert best.clause == "a judge will be ordering you to"
    assert text[best.start : best.end] == best.clause


def test_the_model_is_silent_on_every_near_miss() -> None:
    data = yaml.safe_load((FIXTURES / "triggers.yaml").read_text(encoding="utf-8"))
    extra = yaml.safe_load((FIXTURES / "trigger_training.yaml").read_text(encoding="utf-8"))
    near = [*data["near_misses"], *data["heldout"]["near_misses"], *extra["near_misses"]]
    model = shipped_model()
    fired = [(t, k) for t in near for k, s in model.score(t).items() if s.fires]
    assert fired == []


@pytest.mark.parametrize(
    "text",
    [
        "I'm not going to sue anyone, I just want the refund.",
        "Do I need to speak to an agent to close my account?",
        "Are you a real person or a bot?",
        "When can I reach your customer service team?",
        "My friend Sue sent me money, where is it?",
        "This bill is killing me, can I pay in installments?",
    ],
)
def test_exclusions_hold_for_the_model_too(text: str) -> None:
    assert not _types(TriggerDetector(), text) & set(tm.MODEL_TRIGGERS)


def test_clauses_split_on_or_otherwise_and_sentence_ends() -> None:
    clauses = [c for _, _, c in tm.split_clauses("Refund it. Or else; I call\nmy lawyer")]
    assert "Refund it." in clauses
    assert clauses[0] == "Refund it. Or else; I call\nmy lawyer"  # the whole text first
    assert tm.split_clauses("   ") == []


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    weights, sidecar = tmp_path / "w.npz", tmp_path / "w.json"
    shutil.copy(tm.WEIGHTS, weights)
    shutil.copy(tm.SIDECAR, sidecar)
    return weights, sidecar


def test_an_intact_copy_loads(tmp_path: Path) -> None:
    weights, sidecar = _copy(tmp_path)
    model = tm.TriggerModel.load(weights, sidecar)
    assert "LEGAL_THREAT" in TriggerDetector(model=model).detect("see you in court")[0].type


def test_a_corrupt_weights_file_is_a_config_error(tmp_path: Path) -> None:
    weights, sidecar = _copy(tmp_path)
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="corrupt"):
        tm.TriggerModel.load(weights, sidecar)


def test_a_missing_weights_file_is_a_config_error(tmp_path: Path) -> None:
    weights, sidecar = _copy(tmp_path)
    weights.unlink()
    with pytest.raises(ConfigError, match="cannot be read"):
        tm.TriggerModel.load(weights, sidecar)


def test_a_missing_sidecar_is_a_config_error(tmp_path: Path) -> None:
    weights, sidecar = _copy(tmp_path)
    sidecar.unlink()
    with pytest.raises(ConfigError, match="sidecar"):
        tm.TriggerModel.load(weights, sidecar)


def test_a_broken_install_stops_the_guard_from_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default guard builds the detector at start-up; with the weights gone it raises
    instead of running on the patterns alone."""
    from govcx.guardrails import triggers

    weights, sidecar = _copy(tmp_path)
    weights.unlink()
    monkeypatch.setattr(tm, "WEIGHTS", weights)
    monkeypatch.setattr(tm, "SIDECAR", sidecar)
    triggers.shipped_model.cache_clear()
    try:
        with pytest.raises(ConfigError):
            TriggerDetector()
    finally:
        triggers.shipped_model.cache_clear()


_FIXTURE = yaml.safe_load((FIXTURES / "triggers.yaml").read_text(encoding="utf-8"))
_PHRASINGS = [t for k in tm.MODEL_TRIGGERS for t in _FIXTURE[k]]


@settings(max_examples=60, deadline=None)
@given(
    phrasing=st.sampled_from(_PHRASINGS),
    before=st.text(max_size=40),
    after=st.text(max_size=40),
)
def test_the_model_never_removes_what_the_patterns_find(
    phrasing: str, before: str, after: str
) -> None:
    """The model only adds findings: whatever the patterns escalate, the detector with the
    model escalates too, wherever the phrase sits in the message."""
    text = f"{before} {phrasing} {after}"
    assert _types(TriggerDetector(model=None), text) <= _types(TriggerDetector(), text)
