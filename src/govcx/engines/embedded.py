"""The embedded engine: offline, no keys, no downloads, no torch.

- classify: :class:`IntentClassifier` trained on the workflows' examples.
- plan: picks the workflow's action tool and fills its arguments from the conversation
  context, typed entities in the text (money amounts, values matching an argument's
  declared pattern, enum values) and read-only tools; asks a clarifying question for
  anything still missing.
- draft: extractive, cited replies from approved knowledge chunks.
- compose: the reply after tools ran, from each tool's reply template.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from govcx.engines.classifier import ClassifierConfig, IntentClassifier, builtin_out_of_scope
from govcx.engines.engine import (
    SENTENCE_BREAK,
    Classification,
    Draft,
    Plan,
    ReadFn,
    TurnContext,
    compose_reply,
)
from govcx.governance import money
from govcx.governance.expr import private_cache_dir
from govcx.governance.gate import Proposal
from govcx.governance.policy import Policy
from govcx.knowledge.retriever import Chunk
from govcx.tools.executor import Execution
from govcx.tools.registry import ToolRegistry
from govcx.tools.tool import ToolSpec

_WORD = re.compile(r"[a-z0-9][a-z0-9'-]*")
_STOP = frozenset(
    """a an the i me my we our you your it its is are was were be been am do does did
to of in on at for with and or but so if this that these those there here what when where who why
how can could would should will may might please hi hello hey thanks thank just want need get got
would like know tell let have has had not no yes any some about from by as all out up""".split()
)


def money_amounts(text: str) -> list[float]:
    """Valid money amounts mentioned in ``text``, in order (``$80``, ``80 dollars``,
    ``€12.50``), read from the normalised text; malformed ones ("$1e308") are left out
    (the gate refuses to act on them: see :mod:`govcx.governance.money`)."""
    return money.amounts(text)


def terms(text: str) -> set[str]:
    """Content words, crudely stemmed. Identifiers (anything with a digit) are left out:
    an order number says nothing about which policy sentence is relevant."""
    out = set()
    for word in _WORD.findall(text.lower()):
        if word in _STOP or len(word) < 3 or any(ch.isdigit() for ch in word):
            continue
        out.add(_stem(word))
    return out


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def training_examples(
    policy: Policy, extra_out_of_scope: Sequence[str] = ()
) -> tuple[list[str], list[str], list[str]]:
    """The classifier's training data: each workflow's examples (or its description) and
    its name, labelled with the workflow; and the out-of-scope examples."""
    texts: list[str] = []
    labels: list[str] = []
    for name, wf in policy.workflows.items():
        examples = list(wf.examples) or ([wf.description] if wf.description else [])
        examples.append(name.replace("_", " "))
        for example in examples:
            texts.append(example)
            labels.append(name)
    return texts, labels, [*builtin_out_of_scope(), *extra_out_of_scope]


class EmbeddedEngine:
    """The default engine. Construct with :meth:`from_policy`."""

    name = "embedded"

    def __init__(self, classifier: IntentClassifier) -> None:
        self.classifier = classifier

    @classmethod
    def from_policy(
        cls,
        policy: Policy,
        *,
        extra_out_of_scope: Sequence[str] = (),
        classifier: ClassifierConfig | None = None,
        cache: bool = True,
    ) -> EmbeddedEngine:
        """Train the classifier on the workflows' examples (``classifier`` overrides its
        defaults: word and character TF-IDF plus the WordLlama view). With ``cache``, the
        fitted classifier is kept in the state dir's cache (:func:`private_cache_dir`) and
        loaded from there while the examples, settings and library versions are the same."""
        texts, labels, oos = training_examples(policy, extra_out_of_scope)
        return cls(
            IntentClassifier.fit(
                texts,
                labels,
                oos,
                config=classifier,
                cache_dir=private_cache_dir() if cache else None,
            )
        )

    # -- classify -----------------------------------------------------------------------
    def classify(self, text: str, ctx: TurnContext) -> Classification:
        prediction = self.classifier.predict(text)
        entities: dict[str, list[Any]] = {"money": money_amounts(text)}
        return Classification(
            intent=prediction.intent,
            confidence=prediction.confidence,
            alternatives=prediction.alternatives,
            entities=entities,
        )

    # -- plan ---------------------------------------------------------------------------
    def plan(
        self,
        text: str,
        ctx: TurnContext,
        *,
        intent: str,
        classification: Classification,
        policy: Policy,
        registry: ToolRegistry,
        read: ReadFn,
    ) -> Plan:
        workflow = policy.workflows.get(intent)
        if workflow is None or not workflow.tools:
            return Plan()
        specs = [registry.get(t) for t in workflow.tools if t in registry]
        if not specs:
            return Plan()
        amounts = list(classification.entities.get("money") or money_amounts(text))
        primary = _primary_tool(specs, policy, text, amounts)
        pending = ctx.pending if ctx.pending and ctx.pending.get("tool") == primary.name else None
        args: dict[str, Any] = dict(pending.get("args", {})) if pending else {}
        awaiting = list(pending.get("awaiting", [])) if pending else []
        evidence: list[dict[str, Any]] = []
        patterns = primary.patterns()
        params = primary.params
        fill_from_text(primary, args, awaiting, amounts, text)
        missing = [p for p in primary.required if p not in args]
        candidates: dict[str, list[str]] = {}
        if missing:
            others = [s for s in specs if s is not primary and policy.is_read_only(s.name)]
            if policy.is_read_only(primary.name) and primary not in others:
                others = [s for s in others if s is not primary]
            for spec in others:
                call_args = {p: args[p] for p in spec.params if p in args}
                if any(p not in call_args for p in spec.required):
                    continue
                execution = read(spec.name, call_args)
                if execution.status != "executed" or execution.result is None:
                    if execution.error:
                        evidence.append(
                            {"tool": spec.name, "args": call_args, "error": execution.error}
                        )
                    continue
                evidence.append({"tool": spec.name, "args": call_args, "result": execution.result})
                for param in list(missing):
                    value, options = _from_result(param, execution.result)
                    if value is not None:
                        args[param] = value
                        missing.remove(param)
                    elif options:
                        candidates[param] = options
                if not missing:
                    break
        if missing:
            # Ask for identifiers first: the rest often follows from a lookup next turn.
            ask = [p for p in missing if p in patterns] or missing
            question = _question(primary, ask, candidates)
            return Plan(
                proposal=Proposal(tool=primary.name, args=args, missing=tuple(missing)),
                question=question,
                evidence=evidence,
                pending={"intent": intent, "tool": primary.name, "args": args, "awaiting": missing},
            )
        # Fill optional arguments from earlier lookups when they are unambiguous.
        for param in params:
            if param in args:
                continue
            for item in evidence:
                value, _ = _from_result(param, item.get("result") or {})
                if value is not None and param in ("amount",):
                    args[param] = value
                    break
        return Plan(proposal=Proposal(tool=primary.name, args=args), evidence=evidence)

    # -- draft --------------------------------------------------------------------------
    def draft(
        self, text: str, ctx: TurnContext, *, intent: str | None, chunks: Sequence[Chunk]
    ) -> Draft:
        asked = terms(text)
        query = set(asked)
        if intent:
            query |= terms(intent.replace("_", " "))
        if not chunks:
            return Draft(text="", citations=[], support=0.0)
        # The reply comes from ONE document, never a mix: a sentence of another article
        # that happens to share words answers another question (an outage-credit
        # sentence in a reply about 5G coverage). Passages arrive grouped by document,
        # best first. The document is the one whose best sentence matches the customer's
        # own words best, with the retrieval order as the prior (its score, and a penalty
        # per place down the ranking); the intent's name only breaks ties, so a word of
        # the workflow's name ("network") cannot pick an article the customer never asked
        # about.
        order: list[str] = []
        for chunk in chunks:
            if chunk.doc_id not in order:
                order.append(chunk.doc_id)
        best: tuple[float, float, int] | None = None
        chosen = order[0]
        for place, doc_id in enumerate(order):
            passages = [c for c in chunks if c.doc_id == doc_id]
            for sentence in (s for c in passages for s in _sentences(c.text)):
                words = terms(sentence)
                if not words or len(sentence) < 25:
                    continue
                own = len(words & asked) / (len(asked) ** 0.5 + 1)
                if own == 0:
                    continue
                key = (
                    own + 0.3 * passages[0].score - 0.05 * place,
                    float(len(words & query)),
                    -place,
                )
                if best is None or key > best:
                    best, chosen = key, doc_id
        passages = [c for c in chunks if c.doc_id == chosen]
        scored: list[tuple[float, int, int, str]] = []
        for rank, chunk in enumerate(passages):
            for position, sentence in enumerate(_sentences(chunk.text)):
                words = terms(sentence)
                if not words or len(sentence) < 25:
                    continue
                overlap = len(words & query)
                if overlap == 0:
                    continue
                score = overlap / (len(query) ** 0.5 + 1) - 0.05 * rank
                scored.append((score, rank, position, sentence))
        if not scored:
            return Draft(text="", citations=[], support=0.0)
        scored.sort(key=lambda item: (-item[0], item[1], item[2]))
        picked: list[tuple[int, int, str]] = []
        for _, rank, position, sentence in scored:
            if len(picked) == 2:
                break
            if any(sentence == s for _, _, s in picked):
                continue
            picked.append((rank, position, sentence))
        picked.sort()  # in the article's own order
        # A second sentence may come from another retrieved document only when it matches
        # the customer's own words at least as well as the chosen document's best
        # sentence (a reply can need two articles: one on jackets beside one on tents); a
        # sentence sharing only the intent's words, or fewer of the customer's, never does.
        floor = max(len(terms(s) & asked) for _, _, s in picked)
        second = _second_source(chunks, order, chosen, asked, floor)
        cited = [passages[0].citation()]
        if second is not None:
            picked = [picked[0], (len(order), 0, second[0])]
            cited.append(second[1].citation())
        # Support: the share of the customer's own content words that the document the
        # reply comes from covers (the intent name is not evidence of anything).
        covered = asked & terms(" ".join(f"{c.title} {c.heading} {c.text}" for c in passages))
        support = round(len(covered) / max(1, min(len(asked), 5)), 4) if asked else 0.0
        support = min(1.0, support)
        body = " ".join(s.strip() for _, _, s in picked)
        return Draft(text=body, citations=cited, support=support)

    # -- compose ------------------------------------------------------------------------
    def compose(
        self,
        ctx: TurnContext,
        *,
        intent: str | None,
        executions: Sequence[Execution],
        draft: Draft,
        registry: ToolRegistry,
    ) -> Draft:
        return compose_reply(executions, draft, registry)


def _second_source(
    chunks: Sequence[Chunk], order: list[str], chosen: str, asked: set[str], floor: int
) -> tuple[str, Chunk] | None:
    """The first sentence, in retrieval order, of another document that shares at least
    ``floor`` (and at least one) of the customer's own words."""
    for doc_id in order:
        if doc_id == chosen:
            continue
        for chunk in (c for c in chunks if c.doc_id == doc_id):
            for sentence in _sentences(chunk.text):
                own = len(terms(sentence) & asked)
                if len(sentence) >= 25 and own >= max(1, floor):
                    return sentence, chunk
    return None


def _primary_tool(
    specs: list[ToolSpec], policy: Policy, text: str, amounts: list[float]
) -> ToolSpec:
    """The workflow's action: its write tool, or for read-only workflows the read tool
    that names what was asked and can run with what the message gives."""
    writes = [s for s in specs if not policy.is_read_only(s.name)]
    pool = writes or specs
    if len(pool) == 1:
        return pool[0]
    words = terms(text)

    def score(spec: ToolSpec) -> tuple[int, int]:
        patterns = spec.patterns()
        fillable = sum(
            1
            for p in spec.required
            if _from_text(p, spec.params.get(p, {}), patterns.get(p), amounts, text) is not None
        )
        missing = len(spec.required) - fillable
        named = len(terms(spec.name.replace("_", " ")) & words)
        return (named - missing, fillable)

    return max(pool, key=score)


def fill_from_text(
    spec: ToolSpec, args: dict[str, Any], awaiting: list[str], amounts: list[float], text: str
) -> None:
    """Fill ``args`` (in place) with what the customer's ``text`` says for ``spec``'s
    other parameters: typed values, amounts, and the whole message for a free-text
    parameter we asked for (``awaiting``)."""
    patterns = spec.patterns()
    for name, schema in spec.params.items():
        if name in args:
            continue
        value = _from_text(name, schema, patterns.get(name), amounts, text)
        if value is None and name in awaiting and _is_free_text(schema, patterns.get(name)):
            value = text.strip()
        if value is not None:
            args[name] = value


def _is_free_text(schema: dict[str, Any], pattern: re.Pattern[str] | None) -> bool:
    return schema.get("type") == "string" and pattern is None and "enum" not in schema


def _from_text(
    name: str,
    schema: dict[str, Any],
    pattern: re.Pattern[str] | None,
    amounts: list[float],
    text: str,
) -> Any:
    if pattern is not None:
        match = pattern.search(text)
        if match is None:
            return None
        value = match.group(0)
        # Customers type "a-1002"; the system of record says "A-1002".
        if " " not in value and len(value) <= 32 and re.fullmatch(pattern.pattern, value.upper()):
            return value.upper()
        return value
    kind = schema.get("type")
    if kind is None and "anyOf" in schema:
        kinds = [s.get("type") for s in schema["anyOf"] if s.get("type") != "null"]
        kind = kinds[0] if kinds else None
    if (
        kind in ("number", "integer")
        and amounts
        and ("amount" in name or "price" in name or "credit" in name)
    ):
        amount = amounts[0]
        return int(amount) if kind == "integer" else amount
    if kind == "string" and "address" in name:
        # "change the address for A-1003 to 12 Oak St, Springfield, OR 97401"
        match = re.search(r"\bto\s*:?\s*(\d+[^\n]{6,})$", text.strip(), re.IGNORECASE)
        if match:
            return match.group(1).strip().rstrip(".")
    if "enum" in schema:
        lowered = text.lower()
        for option in schema["enum"]:
            if str(option).lower() in lowered:
                return option
    return None


def _from_result(param: str, result: dict[str, Any]) -> tuple[Any, list[str]]:
    """A value for ``param`` from a read tool's result; or the options if ambiguous."""
    if param in result and result[param] not in (None, ""):
        return result[param], []
    for value in result.values():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            options = [v[param] for v in value if param in v]
            if len(options) == 1:
                return options[0], []
            if options:
                return None, [str(o) for o in options[:5]]
    return None, []


def _question(spec: ToolSpec, missing: list[str], candidates: dict[str, list[str]]) -> str:
    asks = []
    for param in missing:
        schema = spec.params.get(param, {})
        description = schema.get("description") or param.replace("_", " ")
        description = description[0].lower() + description[1:]
        ask = (
            f"the {description}"
            if not description.startswith(("a ", "an ", "the "))
            else description
        )
        if param in candidates:
            ask += f" (for example one of: {', '.join(candidates[param])})"
        asks.append(ask)
    return "I can help with that. Could you tell me " + " and ".join(asks) + "?"


_LIST_MARKER = re.compile(r"^(?:[-*+]|\d{1,3}[.)])\s+")


def _sentences(text: str) -> list[str]:
    lines = [ln.strip() for ln in text.splitlines()]
    # Only list markers go ("1. ", "- "): a line that starts with a number ("98 percent
    # of the country") keeps it.
    body = " ".join(_LIST_MARKER.sub("", ln) for ln in lines if ln and not ln.startswith("#"))
    return [s.strip() for s in SENTENCE_BREAK.split(body) if s.strip()]
