"""govcx's output checks registered as guardrails-ai validators.

Hub validators cannot be installed offline, so these are our own, registered with
``@register_validator`` under the ``govcx/`` namespace. Each wraps one function of
:mod:`govcx.guardrails.checks`; the turn's :class:`OutputContext` arrives through
guardrails-ai's ``metadata`` (key ``"context"``), with the PII detector (``"detector"``),
the grounding threshold (``"min_support"``), the policy's banned phrases
(``"banned_phrases"``) and the names of the checks whose failures are fixed (``"fix"``).
Each verdict is also appended to ``metadata["verdicts"]`` so the caller can turn the
problems into findings with exact spans.

Importing anything under ``govcx.guardrails`` first runs :mod:`govcx.guardrails._offline`
(through the package ``__init__``), which switches guardrails-ai's async runner and
litellm's cost-map download off before guardrails-ai is loaded.
"""

from __future__ import annotations

from typing import Any

from guardrails.validators import (
    ErrorSpan,
    FailResult,
    PassResult,
    ValidationResult,
    Validator,
    register_validator,
)

from govcx.guardrails import checks


def _result(
    name: str, value: str, verdict: checks.Verdict, metadata: dict[str, Any]
) -> ValidationResult:
    metadata.setdefault("verdicts", []).append((name, verdict))
    if verdict.ok:
        return PassResult()
    # Only checks configured to fix change the text the next validator sees.
    fixes = metadata.get("fix", ())
    return FailResult(
        error_message="; ".join(p.message for p in verdict.problems),
        fix_value=verdict.fixed if name in fixes else value,
        error_spans=[
            ErrorSpan(start=p.start, end=p.end, reason=p.message) for p in verdict.problems
        ],
    )


@register_validator(name="govcx/no_foreign_pii", data_type="string")
class NoForeignPII(Validator):  # type: ignore[misc]
    """Fails on PII in a reply that is not the customer's own; the fix redacts it."""

    def _validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        verdict = checks.check_pii(str(value), metadata["context"], metadata["detector"])
        return _result("pii", str(value), verdict, metadata)


@register_validator(name="govcx/approved_commitments", data_type="string")
class ApprovedCommitments(Validator):  # type: ignore[misc]
    """Fails on amounts, refunds or dates nobody approved; the fix drops the sentence."""

    def _validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        verdict = checks.check_commitments(str(value), metadata["context"])
        return _result("commitments", str(value), verdict, metadata)


@register_validator(name="govcx/grounded_in_knowledge", data_type="string")
class GroundedInKnowledge(Validator):  # type: ignore[misc]
    """Fails on factual sentences no approved chunk supports; the fix drops them."""

    def _validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        verdict = checks.check_grounding(
            str(value), metadata["context"], min_support=metadata.get("min_support", 0.5)
        )
        return _result("grounding", str(value), verdict, metadata)


@register_validator(name="govcx/no_banned_phrases", data_type="string")
class NoBannedPhrases(Validator):  # type: ignore[misc]
    """Fails on sentences with a banned phrase; the fix drops them."""

    def _validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        verdict = checks.check_banned(
            str(value), metadata["context"], metadata.get("banned_phrases", ())
        )
        return _result("banned_phrases", str(value), verdict, metadata)


VALIDATORS: dict[str, type[Validator]] = {
    "pii": NoForeignPII,
    "commitments": ApprovedCommitments,
    "grounding": GroundedInKnowledge,
    "banned_phrases": NoBannedPhrases,
}
"""Validator class per check name, in the order they run."""
