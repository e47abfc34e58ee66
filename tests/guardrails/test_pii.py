"""PII: every entity type is found and redacted; cards must pass Luhn."""

from __future__ import annotations

import pytest

from govcx.guardrails.engine import DefaultGuard
from govcx.guardrails.pii import PiiDetector, luhn_valid

CASES = [
    ("EMAIL_ADDRESS", "Please write to dana.smith@example.com today.", "dana.smith@example.com"),
    ("PHONE_NUMBER", "Call me on +1 415 555 0132 after six.", "+1 415 555 0132"),
    ("PHONE_NUMBER", "My mobile: 07700 900123", "07700 900123"),
    ("PHONE_NUMBER", "Reach me at (212) 555-0187 please", "(212) 555-0187"),
    ("CREDIT_CARD", "My card is 4111 1111 1111 1111, expiring soon.", "4111 1111 1111 1111"),
    ("CREDIT_CARD", "Charge 5555555555554444 instead.", "5555555555554444"),
    ("IBAN_CODE", "Send it to GB82 WEST 1234 5698 7654 32 please.", "GB82 WEST 1234 5698 7654 32"),
    ("IBAN_CODE", "my iban is de89370400440532013000", "de89370400440532013000"),
    ("US_SSN", "My SSN is 536-22-8712.", "536-22-8712"),
    ("IP_ADDRESS", "I log in from 203.0.113.45 usually.", "203.0.113.45"),
    (
        "STREET_ADDRESS",
        "Ship it to 1600 Pennsylvania Avenue, Washington, DC 20500.",
        "1600 Pennsylvania Avenue",
    ),
    ("STREET_ADDRESS", "I moved to Bahnhofstraße 12, 10115 Berlin.", "Bahnhofstraße 12"),
    ("STREET_ADDRESS", "Deliver to Apt. 4B, 221 Baker Street, London", "221 Baker Street"),
    ("PERSON", "Hi, my name is Maria Garcia and I need help.", "Maria Garcia"),
    ("PERSON", "This is Dr. Kevin O'Brien speaking.", "Kevin O'Brien"),
    ("PERSON", "I spoke with Jennifer Lopez yesterday about it.", "Jennifer Lopez"),
]


@pytest.mark.parametrize(("entity", "text", "value"), CASES)
def test_each_entity_is_detected_and_redacted(
    guard: DefaultGuard, entity: str, text: str, value: str
) -> None:
    result = guard.scan_input(text)
    start = text.index(value)
    hits = [f for f in result.findings if f.type == entity]
    assert hits, f"{entity} not found in {text!r}: {result.findings}"
    assert any(f.start < start + len(value) and start < f.end for f in hits)
    assert value not in result.redacted
    assert f"<{entity}>" in result.redacted
    assert guard.redact(text) == result.redacted


def test_card_numbers_failing_luhn_are_not_cards(guard: DefaultGuard) -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    result = guard.scan_input("Is 4111 1111 1111 1112 a valid card number?")
    assert not [f for f in result.findings if f.type == "CREDIT_CARD"]


def test_ordinary_text_has_no_pii(guard: DefaultGuard) -> None:
    for text in (
        "Where is my order? It was due on Monday.",
        "I want to transfer 200 pounds to my savings account.",
        "Will the new card arrive before May?",
        "The app crashed after the 3.2.1 update.",
        "Thanks, Grant Street branch was helpful.",  # a street word, but no number
    ):
        pii = [f for f in guard.scan_input(text).findings if f.is_pii and f.type != "PERSON"]
        assert pii == [], (text, pii)


def test_order_ids_and_dates_are_not_phone_numbers(guard: DefaultGuard) -> None:
    for text in ("Order placed on 2024-03-15 10:30", "my driver's license number is 2270-66-1551"):
        assert not [f for f in guard.scan_input(text).findings if f.type == "PHONE_NUMBER"]


def test_multiline_address_block_is_one_span() -> None:
    text = "Billing address:\n1987 74 Diakou Street\n Suite 680\n Kissousa\n Cyprus 36903"
    found = [f for f in PiiDetector().detect(text) if f.type == "STREET_ADDRESS"]
    assert len(found) == 1
    assert text[found[0].start : found[0].end].endswith("36903")


def test_unknown_entity_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown PII entities"):
        PiiDetector(entities=["EMAIL_ADDRESS", "FAVOURITE_COLOUR"])
