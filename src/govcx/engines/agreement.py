"""A chat model's confidence is never taken alone: it counts only as far as the embedded
classifier, which reads the same customer message, agrees.

Small models say 0.9 for nearly everything ("What is the capital of France?" was
``order_status`` at 0.9 from Qwen2.5-Coder-0.5B). The embedded engine's classifier is
trained on the very workflow examples the model is shown, is deterministic, and reads only
the customer's words, so its probabilities are an independent second opinion. The rule
(:func:`combined_confidence`):

- the classifier's best label is the model's (a workflow, or out of scope): the model's
  confidence stands;
- it is not: the lower of the model's confidence and the classifier's probability of the
  model's label.

``benchmarks/llm_calibration.py`` measures what this does to calibration (expected
calibration error, 10 bins) on BANKING77-OOS valid, with an overconfident model (0.9 on
every answer) behind the OpenAI-compatible stub server; docs/llm.md has the figures.

The fitted classifier is shared per policy (:func:`classifier_for`) with the graph's
corroboration check (:mod:`govcx.graphs.corroboration`), so it is trained once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from govcx.engines.classifier import IntentClassifier
from govcx.engines.labels import OUT_OF_SCOPE
from govcx.governance.policy import Policy

_lock = threading.Lock()
_cache: dict[int, tuple[Policy, IntentClassifier]] = {}


def classifier_for(policy: Policy) -> IntentClassifier:
    """The embedded engine's classifier for ``policy`` (trained once, then cached)."""
    with _lock:
        cached = _cache.get(id(policy))
        if cached is not None and cached[0] is policy:
            return cached[1]
    from govcx.engines.embedded import EmbeddedEngine

    classifier = EmbeddedEngine.from_policy(policy).classifier
    with _lock:
        if len(_cache) > 8:
            _cache.clear()
        _cache[id(policy)] = (policy, classifier)
    return classifier


@dataclass(frozen=True, kw_only=True)
class Agreement:
    """What the embedded classifier says about the model's answer."""

    top: str | None
    """The classifier's own best workflow (None: out of scope)."""
    probability: float
    """The classifier's probability of the model's label (its out-of-scope class for an
    out-of-scope answer)."""

    def agrees(self, intent: str | None) -> bool:
        return self.top == intent


def agreement(classifier: IntentClassifier, text: str, intent: str | None) -> Agreement:
    """The classifier's reading of ``text`` against the model's ``intent`` (None: the
    model said out of scope)."""
    row = classifier.probabilities([text])[0]
    best = classifier.classes[int(row.argmax())]
    label = OUT_OF_SCOPE if intent is None else intent
    probability = (
        float(row[classifier.classes.index(label)]) if label in classifier.classes else 0.0
    )
    return Agreement(top=None if best == OUT_OF_SCOPE else best, probability=probability)


def combined_confidence(model: float, intent: str | None, check: Agreement) -> float:
    """The confidence the runtime uses for the model's ``intent``: its own ``model``
    confidence when the classifier agrees, else the lower of it and the classifier's
    probability of that intent."""
    model = min(1.0, max(0.0, float(model)))
    if check.agrees(intent):
        return model
    return min(model, check.probability)
