"""The output guard: a reply is checked by guardrails-ai with govcx's own validators.

Four checks run in order, each with its own ``on_fail`` setting
(:class:`OutputGuardConfig`):

- ``pii``: no PII other than the customer's own values;
- ``commitments``: no amount, refund/credit statement or promised date that the turn's
  executed actions or approved knowledge do not back;
- ``grounding``: every factual sentence supported by a retrieved approved chunk (or a
  fact passed in, like a tool result), by content-word overlap;
- ``banned_phrases``: none of the policy's banned phrases.

``on_fail`` values:

- ``fix``: redact the PII or drop the offending sentence; the reply goes out fixed.
- ``escalate``: refrain from sending the reply and escalate to a human.
- ``reask``: accepted for configurations shared with an LLM engine; the embedded engine
  cannot regenerate, so it is treated as ``escalate`` (the problem notes it).
- ``log``: record the finding, send the reply unchanged.

If fixing leaves nothing factual to say, the reply escalates.

Performance: guardrails-ai's ``Guard.validate`` costs about 1 ms per call on top of the
checks. ``OutputGuardConfig.engine = "direct"`` runs the very same check functions without
the guardrails-ai runner, for a hot path that must stay within a tighter budget.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from govcx.governance.finding import Finding
from govcx.guardrails import checks
from govcx.guardrails.guard import OutputContext, OutputResult
from govcx.guardrails.pii import PiiDetector

OnFail = Literal["fix", "escalate", "reask", "log"]
CHECKS = ("pii", "commitments", "grounding", "banned_phrases")


class OutputGuardConfig(BaseModel):
    """How the output guard reacts to each kind of problem.

    Candidates for ``GuardPolicy`` (policy.yaml ``guards.output``); kept here until the
    policy model carries them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    pii: OnFail = "fix"
    """PII that is not the customer's own: redact it by default."""
    commitments: OnFail = "escalate"
    """An unapproved amount, refund or date: a human decides by default."""
    grounding: OnFail = "fix"
    """An unsupported factual sentence: drop it by default."""
    banned_phrases: OnFail = "fix"
    """A banned phrase: drop the sentence by default."""
    min_support: float = Field(0.5, ge=0.0, le=1.0)
    """Share of a sentence's content words that one approved source must contain."""
    engine: Literal["guardrails", "direct"] = "guardrails"
    """Run the checks through guardrails-ai's Guard, or call the same functions directly."""


_ACTION_FOR = {"fix": "strip", "escalate": "escalate", "reask": "escalate", "log": "log"}


class OutputGuard:
    """Checks replies before they reach the customer.

    Args:
        config: on_fail per check and the grounding threshold.
        detector: A shared PII detector.
        banned_phrases: The policy's banned phrases (added to the context's own).
    """

    def __init__(
        self,
        config: OutputGuardConfig | None = None,
        *,
        detector: PiiDetector | None = None,
        banned_phrases: Sequence[str] = (),
    ) -> None:
        self.config = config or OutputGuardConfig.model_validate({})
        self.detector = detector or PiiDetector()
        self.banned_phrases = tuple(banned_phrases)
        # guardrails-ai's Guard keeps a call history, so two checks at once never share
        # one. A pool, not one per thread: LangGraph runs each node in a fresh worker
        # thread, and building a Guard (an HTTP client, an SSL context) per turn costs
        # more than the checks.
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        if self.config.engine == "guardrails":
            self._idle.put(self._build_guard())

    @contextmanager
    def _guard(self) -> Iterator[Any]:
        """A Guard no other check is using (built when all are busy), or None."""
        if self.config.engine != "guardrails":
            yield None
            return
        try:
            guard = self._idle.get_nowait()
        except queue.Empty:
            guard = self._build_guard()
        try:
            yield guard
        finally:
            self._idle.put(guard)

    def _build_guard(self) -> Any:
        from guardrails.settings import settings as guardrails_settings

        from govcx.guardrails.validators import VALIDATORS
        from guardrails import Guard, OnFailAction

        # guardrails-ai wraps every call in OpenTelemetry spans and serialises the call
        # history into them even with metrics collection off; nothing reads those spans
        # here, and they cost more than the checks themselves.
        guardrails_settings.disable_tracing = True
        guardrails_settings.use_server = False

        # Every validator fixes (the fix value is what "fix" means for that check); whether
        # a failure escalates instead is decided from the verdicts afterwards, so one
        # escalating check does not hide the fixes of the others.
        guard = Guard(name="govcx-output").use(
            *(VALIDATORS[name](on_fail=OnFailAction.FIX) for name in CHECKS)
        )
        guard.configure(allow_metrics_collection=False)
        return guard

    def _validate(
        self, guard: Any, reply: str, context: OutputContext
    ) -> list[tuple[str, checks.Verdict]]:
        metadata: dict[str, Any] = {
            "context": context,
            "detector": self.detector,
            "min_support": self.config.min_support,
            "banned_phrases": self.banned_phrases,
            "fix": {name for name in CHECKS if getattr(self.config, name) == "fix"},
            "verdicts": [],
        }
        guard.validate(reply, metadata=metadata)
        return list(metadata["verdicts"])

    def _verdicts(self, reply: str, context: OutputContext) -> list[tuple[str, checks.Verdict]]:
        """Run the four checks; each sees the text as fixed by the checks before it."""
        cfg = self.config
        with self._guard() as guard:
            if guard is not None:
                return self._validate(guard, reply, context)
        out = []
        text = reply
        for name in CHECKS:
            if name == "pii":
                verdict = checks.check_pii(text, context, self.detector)
            elif name == "commitments":
                verdict = checks.check_commitments(text, context)
            elif name == "grounding":
                verdict = checks.check_grounding(text, context, min_support=cfg.min_support)
            else:
                verdict = checks.check_banned(text, context, self.banned_phrases)
            out.append((name, verdict))
            if getattr(cfg, name) == "fix":
                text = verdict.fixed
        return out

    def check(self, reply: str, context: OutputContext) -> OutputResult:
        """Check (and where configured, fix) one reply."""
        verdicts = self._verdicts(reply, context)
        findings: list[Finding] = []
        problems: list[str] = []
        text = reply
        escalate = False
        fixed = False
        for name, verdict in verdicts:
            on_fail: OnFail = getattr(self.config, name)
            # Spans refer to the text this check saw, i.e. after the previous fixes.
            seen = text
            for p in verdict.problems:
                action = "redact" if name == "pii" and on_fail == "fix" else _ACTION_FOR[on_fail]
                quote = self.detector.redact(seen[p.start : p.end])  # details are audited
                detail = p.message if name == "pii" else f"{p.message}: {quote[:120]!r}"
                findings.append(
                    Finding(
                        type=p.type,
                        start=p.start,
                        end=p.end,
                        score=p.score,
                        source="output",
                        action=action,
                        detail=detail,
                    )
                )
                note = " (reask needs an LLM engine; escalated)" if on_fail == "reask" else ""
                problems.append(f"{name}: {detail}{note}")
            if verdict.problems:
                if on_fail == "fix":
                    text = verdict.fixed
                    fixed = True
                elif on_fail in ("escalate", "reask"):
                    escalate = True
        if fixed and not escalate and not self._has_substance(text):
            escalate = True
            problems.append("nothing substantive is left after the fixes")
        action = "escalate" if escalate else "fixed" if fixed else "pass"
        return OutputResult(findings=findings, text=text, action=action, problems=problems)

    @staticmethod
    def _has_substance(text: str) -> bool:
        return any(
            checks.is_factual(text[s:e]) or text[s:e].rstrip().endswith("?")
            for s, e in checks.sentences(text)
        )
