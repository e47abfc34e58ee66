"""Does the customer's own message support the intent a model chose?

A model that has read planted instructions (in a tool result, a knowledge chunk, or
anything it remembers) can pick a workflow the customer never asked for, and then
propose that workflow's autonomous actions. The gate does not take the model's word for
the intent: for engines other than the embedded one, the embedded classifier, trained
on the same workflow examples, reads the customer's message, and a write the policy
would let the AI run alone needs a human when the message does not support the intent
(rule ``intent.uncorroborated``). Deterministic, and blind to everything but the
customer's words.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from govcx.engines.classifier import IntentClassifier
from govcx.engines.labels import OUT_OF_SCOPE
from govcx.governance.policy import Policy

MIN_PROBABILITY = 0.15
"""An intent the classifier does not rank first is still supported at this probability."""

_lock = threading.Lock()
_cache: dict[int, tuple[Policy, IntentClassifier]] = {}


@dataclass(frozen=True, kw_only=True)
class Corroboration:
    supported: bool
    probability: float
    """The classifier's probability of the intent for the customer's message."""
    top: str | None
    """What the classifier itself reads in the message (None: out of scope)."""


def _classifier(policy: Policy) -> IntentClassifier:
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


def corroborate(policy: Policy, text: str, intent: str) -> Corroboration:
    """Whether ``text`` (the customer's message) supports ``intent``."""
    classifier = _classifier(policy)
    row = classifier.probabilities([text])[0]
    best = classifier.classes[int(row.argmax())]
    top = None if best == OUT_OF_SCOPE else best
    probability = (
        float(row[classifier.classes.index(intent)]) if intent in classifier.classes else 0.0
    )
    supported = top == intent or probability >= MIN_PROBABILITY
    return Corroboration(supported=supported, probability=round(probability, 4), top=top)
