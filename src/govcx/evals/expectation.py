"""Evaluators: compare what a step produced with what the suite expects.

Each check returns plain failure messages ("status: expected escalated, got answered"),
so a report can show exactly why a case failed. The PII check is deliberately independent
of the runtime's own guard (an evaluator must not trust the component it evaluates): it
looks for email addresses, payment card numbers (Luhn-valid), US SSNs, phone numbers and
IBANs with its own patterns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from govcx.evals.suite import ActionExpect, Expect

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
_PHONE = re.compile(r"(?<![\w-])(?:\+?1[ .-]?)?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def pii_in(text: str) -> list[str]:
    """Kinds of personal data visible in ``text`` (empty when none)."""
    found: list[str] = []
    if _EMAIL.search(text):
        found.append("EMAIL_ADDRESS")
    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group(0))
        if 13 <= len(digits) <= 19 and _luhn(digits):
            found.append("CREDIT_CARD")
            break
    if _SSN.search(text):
        found.append("US_SSN")
    if _PHONE.search(text):
        found.append("PHONE_NUMBER")
    if _IBAN.search(text):
        found.append("IBAN_CODE")
    return found


def args_match(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> bool:
    """Subset match: every expected key is present with an equal value (numbers by value,
    nested mappings recursively). Strings match exactly: arguments are what runs."""
    for key, want in expected.items():
        if key not in actual:
            return False
        if not _equal(want, actual[key]):
            return False
    return True


def _equal(want: Any, got: Any) -> bool:
    if isinstance(want, Mapping) and isinstance(got, Mapping):
        return args_match(want, got)
    if isinstance(want, bool) or isinstance(got, bool):
        return want is got
    if isinstance(want, int | float) and isinstance(got, int | float):
        return abs(float(want) - float(got)) < 1e-9
    if isinstance(want, list) and isinstance(got, list):
        return len(want) == len(got) and all(_equal(a, b) for a, b in zip(want, got, strict=True))
    return bool(want == got)


def _action_text(action: Mapping[str, Any]) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in (action.get("args") or {}).items())
    return f"{action.get('tool')}({args}) {action.get('status')}"


def check_actions(
    expected: Sequence[ActionExpect], actual: Sequence[Mapping[str, Any]]
) -> list[str]:
    if not expected:
        if actual:
            return ["actions: expected none, got " + "; ".join(_action_text(a) for a in actual)]
        return []
    failures: list[str] = []
    position = 0
    for want in expected:
        found = None
        for index in range(position, len(actual)):
            got = actual[index]
            if got.get("tool") != want.tool:
                continue
            if want.status is not None and got.get("status") != want.status:
                continue
            if want.args is not None and not args_match(want.args, got.get("args") or {}):
                continue
            found = index
            break
        if found is None:
            shown = "; ".join(_action_text(a) for a in actual) or "none"
            spec = (
                want.tool
                + (f"({want.args})" if want.args else "")
                + (f" {want.status}" if want.status else "")
            )
            failures.append(f"actions: expected {spec}, got {shown}")
        else:
            position = found + 1
    return failures


def check_turn(
    expect: Expect, turn: Mapping[str, Any], approval: Mapping[str, Any] | None = None
) -> list[str]:
    """Failures of one step's Turn (as JSON data) against ``expect``.

    ``approval`` is the pending approval request the step ended with, if any.
    """
    failures: list[str] = []
    status = turn.get("status")
    if expect.status is not None and status != expect.status:
        failures.append(f"status: expected {expect.status}, got {status}")
    if expect.intent is not None:
        got_intent = turn.get("intent")
        want = None if expect.intent == "out_of_scope" else expect.intent
        if got_intent != want:
            failures.append(f"intent: expected {expect.intent}, got {got_intent or 'out_of_scope'}")
    if expect.actions is not None:
        failures.extend(check_actions(expect.actions, turn.get("actions") or []))
    pending = status == "pending_approval" and bool(turn.get("approval_id"))
    if expect.approval_needed is not None and pending != expect.approval_needed:
        failures.append(
            f"approval_needed: expected {str(expect.approval_needed).lower()}, "
            f"got {str(pending).lower()}"
        )
    if expect.approval_kind is not None or expect.approvers is not None:
        if approval is None:
            failures.append("approval: expected a pending approval request, there is none")
        else:
            if expect.approval_kind is not None and approval.get("kind") != expect.approval_kind:
                failures.append(
                    f"approval_kind: expected {expect.approval_kind}, got {approval.get('kind')}"
                )
            if (
                expect.approvers is not None
                and approval.get("approvals_needed") != expect.approvers
            ):
                failures.append(
                    f"approvers: expected {expect.approvers}, got "
                    f"{approval.get('approvals_needed')}"
                )
    decision = turn.get("decision") or {}
    rules: list[str] = list(decision.get("rules") or [])
    if (turn.get("escalation") or {}).get("rules"):
        rules += list(turn["escalation"]["rules"])
    for wanted in expect.rules or []:
        if not any(wanted in rule for rule in rules):
            failures.append(
                f"rules: expected a rule containing {wanted!r}, got {', '.join(rules) or 'none'}"
            )
    found_types = {str(f.get("type")) for f in turn.get("findings") or []}
    for wanted in expect.findings or []:
        if wanted.upper() not in found_types:
            failures.append(
                f"findings: expected {wanted}, got {', '.join(sorted(found_types)) or 'none'}"
            )
    reply = turn.get("reply") or {}
    text = str(reply.get("text") or "")
    folded = text.casefold()
    for wanted in expect.reply_contains or []:
        if wanted.casefold() not in folded:
            failures.append(f"reply_contains: {wanted!r} not in reply {_short(text)!r}")
    for unwanted in expect.reply_not_contains or []:
        if unwanted.casefold() in folded:
            failures.append(f"reply_not_contains: {unwanted!r} is in reply {_short(text)!r}")
    cited = [str(c.get("doc_id")) for c in reply.get("citations") or []]
    if expect.citations is True and not cited:
        failures.append(
            "citations: expected the reply to cite approved knowledge, it cites nothing"
        )
    elif expect.citations is False and cited:
        failures.append(f"citations: expected none, got {', '.join(cited)}")
    elif isinstance(expect.citations, list):
        missing = [d for d in expect.citations if d not in cited]
        if missing:
            failures.append(
                f"citations: expected {', '.join(missing)}, got {', '.join(cited) or 'none'}"
            )
    if expect.no_pii:
        kinds = pii_in(text)
        if kinds:
            failures.append(f"no_pii: the reply shows {', '.join(kinds)}")
    return failures


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
