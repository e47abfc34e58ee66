"""A per-conversation PII vault: reversible tokens such as ``<EMAIL_ADDRESS_1>``.

Text that leaves the trust boundary (an external model, the audit log, application
logs) carries tokens instead of the customer's details; tools that need the real value
get it back with :meth:`Vault.detokenize`. The same value always gets the same token
within one vault, so a model can still tell "the same email as before".

Example:
    >>> vault = Vault()
    >>> text, mapping = vault.tokenize("Reach me at jo@example.com")
    >>> text
    'Reach me at <EMAIL_ADDRESS_1>'
    >>> vault.detokenize("Sent to <EMAIL_ADDRESS_1>.")
    'Sent to jo@example.com.'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from govcx.guardrails.pii import PiiDetector, replace_spans

_TOKEN = re.compile(r"<([A-Z][A-Z_]*?)_(\d+)>")


def _canonical(entity: str, value: str) -> str:
    value = value.strip()
    if entity in ("PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "CARD_CVV"):
        return entity + ":" + re.sub(r"\D", "", value)
    if entity in ("IBAN_CODE",):
        return entity + ":" + re.sub(r"\s", "", value).upper()
    return entity + ":" + " ".join(value.split()).casefold()


class Vault:
    """Reversible PII tokens for one conversation.

    Args:
        detector: The PII detector to use; a shared one avoids rebuilding recognizers.
        tokens: A mapping from a previous :meth:`to_dict`, to resume a conversation.
    """

    def __init__(
        self, detector: PiiDetector | None = None, *, tokens: Mapping[str, str] | None = None
    ) -> None:
        self._detector = detector
        self._by_token: dict[str, str] = {}
        self._by_value: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        for token, value in (tokens or {}).items():
            self._remember(token, value)

    @property
    def detector(self) -> PiiDetector:
        if self._detector is None:
            self._detector = PiiDetector()
        return self._detector

    def _remember(self, token: str, value: str) -> None:
        m = _TOKEN.fullmatch(token)
        if not m:
            raise ValueError(f"not a vault token: {token!r} (expected like <EMAIL_ADDRESS_1>)")
        entity, n = m.group(1), int(m.group(2))
        self._by_token[token] = value
        self._by_value[_canonical(entity, value)] = token
        self._counts[entity] = max(self._counts.get(entity, 0), n)

    def token_for(self, entity: str, value: str) -> str:
        """The token of ``value``, minting a new one the first time it is seen."""
        key = _canonical(entity, value)
        token = self._by_value.get(key)
        if token is None:
            n = self._counts.get(entity, 0) + 1
            token = f"<{entity}_{n}>"
            self._remember(token, value)
        return token

    def tokenize(self, text: str) -> tuple[str, dict[str, str]]:
        """Replace PII in ``text`` with tokens.

        Returns:
            The tokenized text and the tokens used in it, mapped to their values.
        """
        findings = [f for f in self.detector.detect(text) if f.is_pii]
        used: dict[str, str] = {}
        spans = []
        for f in findings:
            value = text[f.start : f.end]
            token = self.token_for(f.type, value)
            used[token] = self._by_token[token]
            spans.append((f.start, f.end, token))
        return replace_spans(text, spans), used

    def detokenize(self, value: Any) -> Any:
        """Put the real values back into a string, or into every string of a JSON-like value.

        Unknown tokens are left as they are (a model may invent one).
        """
        if isinstance(value, str):
            return _TOKEN.sub(lambda m: self._by_token.get(m.group(0), m.group(0)), value)
        if isinstance(value, Mapping):
            return {k: self.detokenize(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.detokenize(v) for v in value)
        return value

    def values(self) -> list[str]:
        """Every real value in the vault (the customer's own details, for the output guard)."""
        return list(self._by_token.values())

    def to_dict(self) -> dict[str, str]:
        """Token -> value, to persist with the conversation (store it encrypted)."""
        return dict(self._by_token)

    def __len__(self) -> int:
        return len(self._by_token)

    def __repr__(self) -> str:  # never print the values
        return f"Vault({len(self)} tokens)"
