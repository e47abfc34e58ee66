"""The output guard: each check, each on_fail action, through guardrails-ai and direct."""

from __future__ import annotations

import pytest

from govcx.governance.policy import GuardPolicy
from govcx.guardrails import OutputContext, OutputGuardConfig
from govcx.guardrails.engine import DefaultGuard
from govcx.guardrails.output import OutputGuard
from govcx.guardrails.pii import PiiDetector

CHUNK = (
    "Refunds are issued to the original payment method within 5 business days of "
    "approval. Orders over $35 ship free."
)
CTX = OutputContext(
    customer_values=["Dana Smith", "dana@example.com"], chunks_text=[CHUNK], executed_amounts=[80.0]
)
GOOD = (
    "Hi Dana, refunds are issued to the original payment method within 5 business days. "
    "I have issued a refund of $80 for your order. Anything else I can help with?"
)


@pytest.fixture(params=["guardrails", "direct"])
def engine(request: pytest.FixtureRequest, guard: DefaultGuard) -> str:
    _DETECTOR.append(guard.pii)  # share the session's PII detector (building one is slow)
    return str(request.param)


_DETECTOR: list[PiiDetector] = []


def _guard(engine: str, **on_fail: str) -> OutputGuard:
    return OutputGuard(
        OutputGuardConfig(engine=engine, **on_fail),
        detector=_DETECTOR[-1],
        banned_phrases=["guaranteed approval"],
    )


def test_a_grounded_reply_passes(engine: str) -> None:
    result = _guard(engine).check(GOOD, CTX)
    assert result.action == "pass", result.problems
    assert result.text == GOOD
    assert result.findings == []


def test_foreign_pii_is_fixed_by_redaction(engine: str) -> None:
    reply = GOOD + " Your case is with bob.jones@acme-corp.com."
    result = _guard(engine, pii="fix").check(reply, CTX)
    assert result.action == "fixed"
    assert "bob.jones@acme-corp.com" not in result.text
    assert "<EMAIL_ADDRESS>" in result.text
    assert "dana" in result.text.lower()  # the customer's own name stays
    assert [f.type for f in result.findings] == ["EMAIL_ADDRESS"]
    assert result.findings[0].action == "redact"
    assert result.findings[0].source == "output"


def test_foreign_pii_can_escalate(engine: str) -> None:
    reply = GOOD + " Your case is with bob.jones@acme-corp.com."
    result = _guard(engine, pii="escalate").check(reply, CTX)
    assert result.action == "escalate"
    assert result.findings[0].action == "escalate"


def test_unapproved_amount_escalates_by_default(engine: str) -> None:
    reply = "I have issued a refund of $120 for your order."
    result = _guard(engine).check(reply, CTX)
    assert result.action == "escalate"
    assert [f.type for f in result.findings] == ["UNAPPROVED_COMMITMENT"]
    assert "$120" in result.problems[0]


def test_unapproved_commitment_fix_removes_the_sentence(engine: str) -> None:
    reply = GOOD + " We will also send you a $20 voucher by Friday."
    result = _guard(engine, commitments="fix").check(reply, CTX)
    assert result.action == "fixed"
    assert "voucher" not in result.text
    assert "refund of $80" in result.text


def test_refund_statement_without_an_executed_action(engine: str) -> None:
    ctx = OutputContext(chunks_text=[CHUNK])
    result = _guard(engine).check("Your refund has been processed.", ctx)
    assert result.action == "escalate"
    assert "no executed action" in result.problems[0]


def test_promised_date_not_in_knowledge(engine: str) -> None:
    result = _guard(engine, commitments="fix").check(
        GOOD + " Your replacement will arrive by Friday.", CTX
    )
    assert "Friday" not in result.text
    assert any("promised date" in p for p in result.problems)


def test_unsupported_claim_is_removed(engine: str) -> None:
    reply = GOOD + " Premium members also get free flights to Paris every year."
    result = _guard(engine, grounding="fix").check(reply, CTX)
    assert result.action == "fixed"
    assert "flights" not in result.text
    assert [f.type for f in result.findings] == ["UNSUPPORTED_CLAIM"]
    assert result.findings[0].action == "strip"


def test_unsupported_claim_can_escalate(engine: str) -> None:
    reply = GOOD + " Premium members also get free flights to Paris every year."
    result = _guard(engine, grounding="escalate").check(reply, CTX)
    assert result.action == "escalate"


def test_reask_is_treated_as_escalate_by_the_embedded_engine(engine: str) -> None:
    reply = GOOD + " Premium members also get free flights to Paris every year."
    result = _guard(engine, grounding="reask").check(reply, CTX)
    assert result.action == "escalate"
    assert "reask needs an LLM engine" in result.problems[0]


def test_log_records_but_sends_unchanged(engine: str) -> None:
    reply = GOOD + " Premium members also get free flights to Paris every year."
    result = _guard(engine, grounding="log").check(reply, CTX)
    assert result.action == "pass"
    assert result.text == reply
    assert result.findings[0].action == "log"


def test_banned_phrase_from_policy_and_context(engine: str) -> None:
    ctx = OutputContext(
        chunks_text=[CHUNK, "We offer guaranteed approval on small loans."],
        banned_phrases=["no questions asked"],
    )
    reply = (
        "Refunds are issued to the original payment method within 5 business days. "
        "We offer guaranteed approval on small loans. Returns are accepted, no questions "
        "asked."
    )
    result = _guard(engine, grounding="log").check(reply, ctx)
    banned = [f for f in result.findings if f.type == "BANNED_PHRASE"]
    assert len(banned) == 2
    assert "guaranteed approval" not in result.text.lower()
    assert "no questions asked" not in result.text.lower()
    assert result.action == "fixed"


def test_nothing_left_after_fixes_escalates(engine: str) -> None:
    result = _guard(engine).check("Premium members get free flights to Mars every year.", CTX)
    assert result.action == "escalate"
    assert "nothing substantive" in result.problems[-1]


def test_build_guard_reads_banned_phrases_from_policy(guard: DefaultGuard) -> None:
    result = guard.check_output("Refunds come with guaranteed approval.", CTX)
    assert any(f.type == "BANNED_PHRASE" for f in result.findings)


def test_the_validators_are_registered_with_guardrails_ai() -> None:
    from guardrails.hub.validator_package_service import ValidatorPackageService  # noqa: F401
    from guardrails.validator_base import validators_registry

    import govcx.guardrails.validators  # noqa: F401

    for name in (
        "govcx/no_foreign_pii",
        "govcx/approved_commitments",
        "govcx/grounded_in_knowledge",
        "govcx/no_banned_phrases",
    ):
        assert name in validators_registry


def test_guardrails_and_direct_engines_agree(
    guard: DefaultGuard, direct_guard: DefaultGuard
) -> None:
    replies = [
        GOOD,
        GOOD + " Contact bob@acme-corp.com.",
        "I refunded $500.",
        "Premium members get free flights. " + GOOD,
    ]
    for reply in replies:
        a = guard.check_output(reply, CTX)
        b = direct_guard.check_output(reply, CTX)
        assert (a.action, a.text, a.problems) == (b.action, b.text, b.problems)


def test_config_rejects_unknown_on_fail() -> None:
    with pytest.raises(ValueError):
        OutputGuardConfig(pii="ignore")


def test_policy_default_is_used_when_no_config(policy: GuardPolicy, guard: DefaultGuard) -> None:
    assert guard.output.config == OutputGuardConfig()
    assert "guaranteed approval" in guard.output.banned_phrases


def test_guards_are_reused_across_threads_and_never_shared_at_once(
    guard: DefaultGuard, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LangGraph runs every node in a fresh thread: a Guard must not be rebuilt per turn,
    and two checks at the same time must not share one (it keeps a call history)."""
    import threading

    _DETECTOR.append(guard.pii)
    output = _guard("guardrails")
    built: list[object] = []
    in_use: set[int] = set()
    overlaps: list[int] = []
    real_build, real_validate = output._build_guard, output._validate

    def build() -> object:
        built.append(object())
        return real_build()

    def validate(g: object, reply: str, context: OutputContext) -> object:
        if id(g) in in_use:
            overlaps.append(id(g))
        in_use.add(id(g))
        try:
            return real_validate(g, reply, context)
        finally:
            in_use.discard(id(g))

    monkeypatch.setattr(output, "_build_guard", build)
    monkeypatch.setattr(output, "_validate", validate)
    for _ in range(5):  # one after another, each on a new thread
        t = threading.Thread(target=output.check, args=(GOOD, CTX))
        t.start()
        t.join()
    assert built == []  # the Guard built at start-up served them all
    threads = [threading.Thread(target=output.check, args=(GOOD, CTX)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == []
    assert len(built) <= 5
