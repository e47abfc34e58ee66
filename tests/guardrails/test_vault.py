"""The PII vault: reversible per-conversation tokens."""

from __future__ import annotations

import pytest

from govcx.guardrails.engine import DefaultGuard
from govcx.guardrails.vault import Vault


def test_round_trip(guard: DefaultGuard) -> None:
    vault = guard.vault()
    text = "I'm Maria Garcia, card 4111 1111 1111 1111, mail maria@example.com"
    tokenized, used = vault.tokenize(text)
    assert "maria@example.com" not in tokenized
    assert "4111" not in tokenized
    assert "<EMAIL_ADDRESS_1>" in tokenized and "<CREDIT_CARD_1>" in tokenized
    assert vault.detokenize(tokenized) == text
    assert set(used) == {"<PERSON_1>", "<CREDIT_CARD_1>", "<EMAIL_ADDRESS_1>"}


def test_same_value_same_token_across_messages(guard: DefaultGuard) -> None:
    vault = guard.vault()
    a, _ = vault.tokenize("Email me at jo@example.com")
    b, _ = vault.tokenize("Did you write to JO@example.com? Or to ann@example.com?")
    assert "<EMAIL_ADDRESS_1>" in a
    assert b.count("<EMAIL_ADDRESS_1>") == 1 and "<EMAIL_ADDRESS_2>" in b


def test_detokenize_tool_arguments_and_unknown_tokens(guard: DefaultGuard) -> None:
    vault = guard.vault()
    vault.tokenize("Call me on +1 415 555 0132")
    args = {"phone": "<PHONE_NUMBER_1>", "notes": ["<PHONE_NUMBER_9> unknown"], "n": 3}
    assert vault.detokenize(args) == {
        "phone": "+1 415 555 0132",
        "notes": ["<PHONE_NUMBER_9> unknown"],
        "n": 3,
    }


def test_persist_and_resume(guard: DefaultGuard) -> None:
    vault = guard.vault()
    vault.tokenize("mail maria@example.com")
    resumed = Vault(guard.pii, tokens=vault.to_dict())
    text, _ = resumed.tokenize("and also bob@example.com, not maria@example.com")
    assert "<EMAIL_ADDRESS_2>" in text and "<EMAIL_ADDRESS_1>" in text
    assert "maria@example.com" not in repr(resumed)
    assert resumed.values() == ["maria@example.com", "bob@example.com"]


def test_bad_token_is_refused() -> None:
    with pytest.raises(ValueError, match="not a vault token"):
        Vault(tokens={"EMAIL": "x@example.com"})
