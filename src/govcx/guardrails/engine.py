"""The default :class:`~govcx.guardrails.guard.Guard`: PII, injection, triggers, output.

Everything heavy (Presidio recognizers, name lists, the injection classifier, the
guardrails-ai ``Guard``) is built once, in :func:`govcx.guardrails.build_guard`; a scan is
then a handful of regular expressions and one small linear model.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from govcx.governance.finding import Finding, Source
from govcx.governance.policy import GuardPolicy
from govcx.guardrails.guard import OutputContext, OutputResult, ScanResult
from govcx.guardrails.injection import InjectionDetector
from govcx.guardrails.output import OutputGuard, OutputGuardConfig
from govcx.guardrails.pii import PiiDetector
from govcx.guardrails.triggers import TriggerDetector
from govcx.guardrails.vault import Vault


class DefaultGuard:
    """The offline guard for customer input, indirect content and replies.

    Args:
        policy: The policy's ``guards`` section (banned phrases are read from it).
        config: on_fail per output check; defaults to :class:`OutputGuardConfig`.
    """

    def __init__(self, policy: GuardPolicy, config: OutputGuardConfig | None = None) -> None:
        self.policy = policy
        self.pii = PiiDetector()
        self.injection = InjectionDetector()
        self.triggers = TriggerDetector()
        self.output = OutputGuard(config, detector=self.pii, banned_phrases=policy.banned_phrases)
        # The same approved chunks come back turn after turn, and a scan of a text
        # depends on nothing else: scan each one once.
        self._scan_knowledge = lru_cache(maxsize=4096)(self._scan_knowledge_uncached)

    def scan_input(self, text: str) -> ScanResult:
        """PII, injection and escalation triggers in a customer's message."""
        pii = self.pii.detect(text, source="input")
        findings: list[Finding] = [
            *pii,
            *self._safe(self.injection.detect(text, "input")),
            *self._safe(self.triggers.detect(text, "input")),
        ]
        findings.sort(key=lambda f: (f.start, f.end))
        return ScanResult(findings=findings, redacted=self.pii.redact(text, pii))

    def scan_indirect(self, text: str, source: Source) -> list[Finding]:
        """Injection in a retrieved knowledge chunk (``"knowledge"``) or a tool's output."""
        if source == "knowledge":
            return list(self._scan_knowledge(text))
        return self._safe(self.injection.detect(text, source))

    def _scan_knowledge_uncached(self, text: str) -> tuple[Finding, ...]:
        return tuple(self._safe(self.injection.detect(text, "knowledge")))

    def _safe(self, findings: list[Finding]) -> list[Finding]:
        """Redact the quoted evidence: a finding's detail goes to the audit log."""
        return [replace(f, detail=self.pii.redact(f.detail)) if f.detail else f for f in findings]

    def check_output(self, reply: str, context: OutputContext) -> OutputResult:
        """Check a reply before the customer sees it; see :class:`OutputGuard`."""
        return self.output.check(reply, context)

    def redact(self, text: str) -> str:
        """``text`` with PII replaced by ``<ENTITY_TYPE>`` (for logs and the audit trail)."""
        return self.pii.redact(text)

    def vault(self) -> Vault:
        """A new per-conversation vault sharing this guard's PII detector."""
        return Vault(self.pii)
