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

from dataclasses import dataclass

from govcx.engines.agreement import classifier_for
from govcx.engines.labels import OUT_OF_SCOPE
from govcx.governance.policy import Policy

MIN_PROBABILITY = 0.15
"""An intent the classifier does not rank first is still supported at this probability."""


@dataclass(frozen=True, kw_only=True)
class Corroboration:
    supported: bool
    probability: float
    """The classifier's probability of the intent for the customer's message."""
    top: str | None
    """What the classifier itself reads in the message (None: out of scope)."""


_classifier = classifier_for
"""One fitted classifier per policy, shared with the LLM engine's confidence check
(:mod:`govcx.engines.agreement`)."""


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
