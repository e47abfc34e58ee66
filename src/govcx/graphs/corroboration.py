"""Does the customer's own conversation support what a model proposes?

Two checks, both deterministic and blind to everything but the customer's words:

- **The intent.** A model that has read planted instructions (in a tool result, a
  knowledge chunk, or anything it remembers) can pick a workflow the customer never asked
  for, and then propose that workflow's autonomous actions. The gate does not take the
  model's word for the intent: for engines other than the embedded one, the embedded
  classifier, trained on the same workflow examples, reads the customer's message, and a
  write the policy would let the AI run alone needs a human when the message does not
  support the intent (rule ``intent.uncorroborated``).
- **The identifiers.** A write's identifier arguments (an order, account or ticket id:
  :func:`govcx.governance.gate.identifier_args`) must be values the customer wrote in
  this conversation, or confirmed ("yes") when the agent offered them from a read tool's
  result. A model that picks one of the customer's orders by itself ("I want to return
  something") is not acting on the customer's word, even when the tool would accept it.
  Otherwise the gate answers with a question (rule ``identifier.ungrounded``): "do you
  mean order A-1002?" when a read tool returned that value, else "which order?".
  What the customer wrote and confirmed is kept in the conversation's state
  (:class:`Grounding`): never what a model, a document or a tool wrote.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from govcx.engines.agreement import classifier_for
from govcx.engines.labels import OUT_OF_SCOPE
from govcx.governance import money
from govcx.governance.gate import identifier_args
from govcx.governance.policy import Policy
from govcx.graphs.state import Grounding
from govcx.tools.registry import ToolRegistry
from govcx.tools.tool import ToolSpec

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


# -- grounded identifiers ------------------------------------------------------------------
MAX_KEPT = 200
"""How many values the conversation keeps of each kind (the oldest go first)."""
_STRIP = ".,;:!?()[]{}<>\"'`*"
_TOKEN = re.compile(r"\S+")
_ID_CHARS = re.compile(r"[\w#@.+/:-]{1,64}")
_AFFIRM = re.compile(
    r"^(?:yes|yeah|yep|yup|ya|correct|right|exactly|sure|ok|okay|confirm(?:ed)?|"
    r"that'?s (?:it|right|correct|the one|my order)|that one|this one|indeed|affirmative|"
    r"please do|go ahead|do it|absolutely|definitely|of course)\b"
)
_NEGATE = re.compile(
    r"\b(?:no|nope|nah|not|wrong|different|other|another|isn'?t|don'?t|doesn'?t|wasn'?t|"
    r"never|cancel|stop|wait)\b"
)


def normalise(value: str) -> str:
    """How values are compared: NFKC, case-folded, runs of white space as one space."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def _values(value: Any) -> list[str]:
    """The string forms of an argument's value: each element of a list, each value of an
    object (so no shape of argument carries an identifier past the check)."""
    if isinstance(value, list | tuple):
        return [v for item in value for v in _values(item)]
    if isinstance(value, dict):
        return [v for item in value.values() for v in _values(item)]
    if value is None:
        return []
    return [str(value)]


def written(value: str, text: str) -> bool:
    """Whether ``value`` occurs in ``text`` as itself: not inside a longer run of letters
    or digits ("A-1002" is not written in "A-10023")."""
    needle = normalise(value)
    if not needle:
        return False
    pattern = rf"(?<![^\W_]){re.escape(needle)}(?![^\W_])"
    return re.search(pattern, normalise(text)) is not None


def mentions(text: str, patterns: Iterable[re.Pattern[str]]) -> list[str]:
    """What ``text`` names that an identifier could be, normalised: every match of the
    identifier ``patterns``, and every word with a digit, ``_``, ``@`` or ``#`` in it."""
    found: list[str] = []
    for pattern in patterns:
        found.extend(normalise(m.group(0)) for m in pattern.finditer(text))
    for token in _TOKEN.findall(text):
        word = token.strip(_STRIP)
        if 2 <= len(word) <= 64 and any(ch.isdigit() or ch in "_@#" for ch in word):
            found.append(normalise(word))
    return [f for f in dict.fromkeys(found) if f]


def identifier_patterns(policy: Policy, registry: ToolRegistry) -> list[re.Pattern[str]]:
    """The patterns of every write's identifier arguments in ``registry``."""
    found: list[re.Pattern[str]] = []
    for name in registry.names():
        spec = registry.get(name)
        patterns = spec.patterns()
        for arg in identifier_args(policy, name, patterns):
            if arg in patterns and patterns[arg] not in found:
                found.append(patterns[arg])
    return found


def _kept(old: Sequence[str], new: Sequence[str]) -> list[str]:
    """``old`` then ``new`` (a value seen again moves to the end), the last MAX_KEPT."""
    fresh = list(dict.fromkeys(new))
    merged = [v for v in old if v not in set(fresh)] + fresh
    return merged[-MAX_KEPT:]


def heard(
    grounding: Grounding | None,
    *,
    customer_id: str | None,
    text: str,
    patterns: Iterable[re.Pattern[str]],
) -> Grounding:
    """The grounding after the customer's message ``text``. A conversation whose customer
    changed starts again: one customer's words never ground another's action."""
    if grounding is None or grounding.customer_id != customer_id:
        grounding = Grounding(customer_id=customer_id)
    said = _kept(grounding.said, mentions(text, patterns))
    amounts = _kept(grounding.amounts, numbers(text))
    return grounding.model_copy(update={"said": said, "amounts": amounts})


def seen(grounding: Grounding, results: Iterable[Any]) -> Grounding:
    """The grounding after read tools returned ``results``: id-like values the agent may
    offer for confirmation (they never ground an identifier by themselves), and the
    numbers they returned, which may ground a write's amount."""
    results = list(results)
    values = [v for r in results for v in _strings(r) if _offerable(v)]
    read = [n for r in results for n in _numbers_in(r)]
    return grounding.model_copy(
        update={
            "shown": _kept(grounding.shown, values),
            "amounts": _kept(grounding.amounts, read),
        }
    )


# -- grounded amounts ----------------------------------------------------------------------
# A number standing alone: not the digits of an identifier ("A-1002", "#1002", "1/2").
_NUMBER = re.compile(r"(?<![\w.\-/#])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w/-])")


def amount_key(value: Any) -> str | None:
    """How amounts are compared: the number with two decimals ("80" and 80.0 are
    "80.00"); None for anything that is not a finite number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip().replace(",", "")
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return f"{number:.2f}" if math.isfinite(number) else None


def numbers(text: str) -> list[str]:
    """Every number the customer wrote in ``text`` (money amounts in any notation the
    money parser reads, and bare numbers), as :func:`amount_key` forms."""
    found: list[float | str] = [m.amount for m in money.mentions(text) if m.amount is not None]
    found += [m.group(0) for m in _NUMBER.finditer(money.normalise_text(text))]
    keys = [amount_key(v) for v in found]
    return [k for k in dict.fromkeys(keys) if k]


def _numbers_in(value: Any) -> list[str]:
    """The numbers a read tool returned: numeric values, and strings that are one number
    (never a number inside a sentence a tool result could plant)."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        key = amount_key(value)
        return [key] if key else []
    if isinstance(value, str):
        key = amount_key(value) if _NUMBER.fullmatch(value.strip()) else None
        return [key] if key else []
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers_in(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers_in(v)]
    return []


def amount_ungrounded(
    policy: Policy,
    tool: str,
    proposed: Mapping[str, Any],
    *,
    text: str,
    grounding: Grounding | None,
) -> str | None:
    """The amount argument of the write ``tool(proposed)`` when its value is neither a
    number the customer wrote in this conversation nor one a read tool returned in it
    (a model's own figure); None otherwise. ``proposed`` are the arguments as the engine
    proposed them: an amount left to the tool's default was set by the tool's author."""
    tool_policy = policy.tools.get(tool)
    if tool_policy is None or policy.is_read_only(tool):
        return None
    name = tool_policy.amount_key
    if proposed.get(name) is None:
        return None
    key = amount_key(proposed[name])
    if key is None:
        return None  # not a number: the gate's amount check refuses it (slot.invalid)
    known = set(grounding.amounts) if grounding else set()
    return None if key in known or key in numbers(text) else name


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, int) and not isinstance(value, bool):
        return [str(value)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _offerable(value: str) -> bool:
    """A value the runtime may quote back to the customer in its question: one short word
    of identifier characters (never a sentence a tool result could plant)."""
    return _ID_CHARS.fullmatch(value) is not None


def ungrounded(
    policy: Policy,
    spec: ToolSpec,
    args: Mapping[str, Any],
    *,
    text: str,
    grounding: Grounding | None,
) -> tuple[str, ...]:
    """The identifier arguments of ``spec(args)`` whose values the customer neither wrote
    (in ``text``, this turn's message, or an earlier message) nor confirmed."""
    names = identifier_args(policy, spec.name, spec.patterns())
    known = set(grounding.said) | set(grounding.confirmed) if grounding else set()
    out = []
    for name in names:
        for value in _values(args.get(name)):
            if not (normalise(value) in known or written(value, text)):
                out.append(name)
                break
    return tuple(out)


def affirms(text: str) -> bool:
    """Whether ``text`` says yes to a question ("yes", "yes, that one", "correct")
    without any no in it."""
    said = normalise(text).strip(_STRIP + " ")
    return len(said) <= 80 and _AFFIRM.match(said) is not None and _NEGATE.search(said) is None


def confirm(grounding: Grounding, text: str) -> tuple[Grounding, dict[str, Any]]:
    """The customer's answer to the agent's offer: on a plain yes, the offered values are
    confirmed (and returned by argument, to carry into the action); the offer is spent
    either way."""
    offered = dict(grounding.offered)
    yes = bool(offered) and affirms(text)
    confirmed = _kept(grounding.confirmed, [normalise(v) for v in offered.values()] if yes else [])
    updated = grounding.model_copy(update={"confirmed": confirmed, "offered": {}})
    return updated, (offered if yes else {})


def question(
    spec: ToolSpec, missing: Sequence[str], args: Mapping[str, Any], grounding: Grounding
) -> tuple[str, dict[str, str]]:
    """The clarifying question for ``missing`` identifiers, and what it offers: when every
    proposed value is one a read tool returned in this conversation, "do you mean ...?",
    else "which ... do you mean?" with up to five values read tools returned that fit."""
    shown = {normalise(v): v for v in grounding.shown}
    offered: dict[str, str] = {}
    for name in missing:
        values = _values(args.get(name))
        if len(values) == 1 and normalise(values[0]) in shown and _offerable(values[0]):
            offered[name] = values[0]
    if len(offered) == len(missing):
        named = " and ".join(f"{_label(spec, n)} {v}" for n, v in offered.items())
        return (
            f"Just to be sure before I go ahead: do you mean {named}? Please reply yes, "
            "or tell me the right one.",
            offered,
        )
    asks = []
    patterns = spec.patterns()
    for name in missing:
        ask = f"which {_label(spec, name)} you mean"
        if name in patterns:
            options = [v for v in shown.values() if patterns[name].fullmatch(v)][-5:]
            if options:
                ask += f" (for example one of: {', '.join(options)})"
        asks.append(ask)
    return "Could you tell me " + " and ".join(asks) + "?", {}


def _label(spec: ToolSpec, name: str) -> str:
    """An argument as a customer would say it: its description up to the first comma
    ("Order number, like A-1002" is "order number"), else its name in words."""
    description = str(spec.params.get(name, {}).get("description") or "").split(",")[0]
    description = description.strip().rstrip(".")
    if not description or len(description) > 40:
        return name.replace("_", " ")
    return description[0].lower() + description[1:]
