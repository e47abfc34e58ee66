"""A deterministic stand-in for a chat model, for demos, CI and replayable eval suites.

**This is not a language model.** It answers the LLM engine's real requests (the same
prompts, tool schemas and response formats a real model gets) with fixed rules, so the
whole LLM path (langchain-openai, HTTP, SSE streaming, structured output, tool calls,
the cassette) can run and be recorded without a model:

- classify (JSON-schema / JSON-mode / function-calling structured output): the embedded
  engine's intent classifier, trained on the pack's workflow examples; an intent that is
  not in the request's enum is answered as ``out_of_scope``.
- plan (tool calling): the embedded engine's slot filling. It picks the workflow's
  action, fills its arguments from the message and the values the prompt says are known,
  looks values up with the workflow's read-only tools when it can, and calls
  ``request_missing_information`` for the rest.
- draft (streamed text): extractive. Up to two sentences of the sources in the prompt
  that share the most content words with the message, each cited ``[Sn]``; ``NO_ANSWER``
  when the best source covers too little of the question.

Serve it over HTTP with :class:`govcx.testing.StubOpenAIServer` (or ``python -m
govcx.testing.deterministic --pack DIR``), or pass it as the script of a
:class:`govcx.testing.ScriptedChatModel`. Given the same request it always gives
the same answer, so a recording of it replays exactly.

Example:
    >>> from govcx.pack import load_pack
    >>> from govcx.testing.stub_server import StubOpenAIServer
    >>> model = DeterministicModel.from_pack(load_pack())
    >>> with StubOpenAIServer(model) as server:   # doctest: +SKIP
    ...     print(server.url)                     # configure engine.base_url with it
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from govcx.engines._llm.prompts import ASK_TOOL, NO_ANSWER, OUT_OF_SCOPE
from govcx.engines.classifier import IntentClassifier
from govcx.engines.embedded import (
    EmbeddedEngine,
    _from_result,
    _primary_tool,
    fill_from_text,
    money_amounts,
    terms,
)
from govcx.governance.policy import Policy
from govcx.pack import DEFAULT_PACK, Pack
from govcx.testing.script import ModelRequest, ModelResponse, call, classified, reply
from govcx.tools.registry import ToolRegistry

MODEL_NAME = "govcx-deterministic"
"""The model name to configure (it is part of every recorded request)."""
ACME_CASSETTE = DEFAULT_PACK / "cassettes" / "deterministic.jsonl"
"""The bundled acme pack's eval suites, recorded through the LLM engine against this
model (``python benchmarks/acme_llm_replay.py --record``)."""
MIN_COVERAGE = 0.3
"""Share of the message's content words the best source must cover, else NO_ANSWER
(the graph's own floor for knowledge-only answers)."""

_INTENT = re.compile(r"The customer's request is a (\w+) request")
_PENDING = re.compile(
    r"the customer was asked for (.*?) to use (\w+); values known so far: "
    r"(\{.*\})\.\s*$",
    re.MULTILINE,
)
_SOURCE = re.compile(r"^\[S(\d+)\] ([^\n]*):\n(.*?)(?=^\[S\d+\] |\Z)", re.MULTILINE | re.DOTALL)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


class DeterministicModel:
    """A function of a :class:`ModelRequest` giving a :class:`ModelResponse`.

    Args:
        policy: The pack's policy (its workflows train the classifier; read-only tools).
        registry: The pack's tools (their parameter patterns drive slot filling).
        extra_out_of_scope: Off-topic phrasings for the classifier (the pack's
            ``engine.out_of_scope_examples``).
    """

    def __init__(
        self, policy: Policy, registry: ToolRegistry, *, extra_out_of_scope: Sequence[str] = ()
    ) -> None:
        self.policy = policy
        self.registry = registry
        self.classifier: IntentClassifier = EmbeddedEngine.from_policy(
            policy, extra_out_of_scope=extra_out_of_scope
        ).classifier

    @classmethod
    def from_pack(cls, pack: Pack) -> DeterministicModel:
        return cls(
            pack.policy, pack.registry, extra_out_of_scope=pack.config.engine.out_of_scope_examples
        )

    def __call__(self, request: ModelRequest) -> ModelResponse:
        if request.purpose == "classify":
            return self.classify(request)
        if request.purpose == "plan":
            return self.plan(request)
        return self.draft(request)

    # -- classify ------------------------------------------------------------------------
    def classify(self, request: ModelRequest) -> ModelResponse:
        text = request.user
        prediction = self.classifier.predict(text)
        allowed = request.intents
        intent = prediction.intent if prediction.intent in allowed else OUT_OF_SCOPE
        entities = {
            f"amount_{i}" if i else "amount": f"{a:g}" for i, a in enumerate(money_amounts(text))
        }
        return classified(intent, round(float(prediction.confidence), 4), **entities)

    # -- plan ----------------------------------------------------------------------------
    def plan(self, request: ModelRequest) -> ModelResponse:
        text = request.user
        names = [t["name"] for t in request.tools if t["name"] != ASK_TOOL]
        specs = [self.registry.get(n) for n in names if n in self.registry]
        if not specs:
            return reply("No tool fits this request.")
        amounts = money_amounts(text)
        primary = _primary_tool(specs, self.policy, text, amounts)
        args, awaiting = _pending(request.system, primary.name)
        fill_from_text(primary, args, awaiting, amounts, text)
        patterns = primary.patterns()
        missing = [p for p in primary.required if p not in args]
        results = _tool_results(request)
        for result in results:
            for param in list(missing):
                value, _ = _from_result(param, result)
                if value is not None:
                    args[param] = value
                    missing.remove(param)
        actions = [s for s in specs if not self.policy.is_read_only(s.name)]
        if missing and actions and not results:
            # Look up what the message does not say (read-only tools whose inputs are
            # known); the engine runs them and asks again with their results.
            lookups = [s for s in specs if s is not primary and self.policy.is_read_only(s.name)]
            for spec in lookups:
                call_args = {p: args[p] for p in spec.params if p in args}
                if all(p in call_args for p in spec.required):
                    return call(spec.name, call_args)
        if missing:
            # Ask for identifiers first: the rest often follows from a lookup next turn.
            ask = [p for p in missing if p in patterns] or missing
            return call(ASK_TOOL, tool=primary.name, missing=ask, known=args)
        for result in results:
            if "amount" in primary.params and "amount" not in args:
                value, _ = _from_result("amount", result)
                if value is not None:
                    args["amount"] = value
        return call(primary.name, _json_safe(args))

    # -- draft ---------------------------------------------------------------------------
    def draft(self, request: ModelRequest) -> ModelResponse:
        sources = [
            (int(m.group(1)), m.group(2), m.group(3).strip())
            for m in _SOURCE.finditer(request.system)
        ]
        asked = terms(request.user)
        if not sources or not asked:
            return reply(NO_ANSWER)
        _, title, text = sources[0]
        covered = terms(f"{title} {text}") & asked
        if len(covered) / max(1, min(len(asked), 5)) < MIN_COVERAGE:
            return reply(NO_ANSWER)
        scored: list[tuple[float, int, str]] = []
        for rank, (number, _, body) in enumerate(sources):
            for sentence in _sentences(body):
                words = terms(sentence)
                overlap = len(words & asked)
                if not words or len(sentence) < 25 or overlap == 0:
                    continue
                score = overlap / (len(asked) ** 0.5 + 1) - 0.05 * rank
                scored.append((score, number, sentence))
        if not scored:
            return reply(NO_ANSWER)
        scored.sort(key=lambda item: (-item[0], item[1]))
        picked: list[str] = []
        for _, number, sentence in scored:
            cited = _cite(sentence, number)
            if len(picked) == 2:
                break
            if cited not in picked:
                picked.append(cited)
        return reply(" ".join(picked))


def _pending(system: str, tool: str) -> tuple[dict[str, Any], list[str]]:
    """The values the plan prompt says are known for ``tool``, and those awaited."""
    match = _PENDING.search(system)
    if match is None or match.group(2) != tool:
        return {}, []
    try:
        known = json.loads(match.group(3))
    except ValueError:
        known = {}
    awaiting = [p.strip() for p in match.group(1).split(",") if p.strip()]
    return (dict(known) if isinstance(known, dict) else {}), awaiting


def _tool_results(request: ModelRequest) -> list[dict[str, Any]]:
    out = []
    for content in request.tool_results:
        try:
            value = json.loads(content)
        except ValueError:
            continue
        if isinstance(value, dict) and "error" not in value:
            out.append(value)
    return out


def _sentences(text: str) -> list[str]:
    lines = [ln.strip() for ln in text.splitlines()]
    body = " ".join(ln.lstrip("-*0123456789. ") for ln in lines if ln and not ln.startswith("#"))
    return [s.strip() for s in _SENTENCE.split(body) if s.strip()]


def _cite(sentence: str, number: int) -> str:
    """The sentence with its source marker before the final punctuation: ``text [S1].``"""
    body = sentence.rstrip(".!?").rstrip()
    end = sentence[len(body) :].strip()[:1] or "."
    return f"{body} [S{number}]{end}"


def _json_safe(args: dict[str, Any]) -> dict[str, Any]:
    safe: dict[str, Any] = json.loads(json.dumps(args, default=str))
    return safe


def llm_pack(
    folder: Path,
    *,
    model: str,
    base_url: str | None,
    cassette: Path,
    api_key_env: str | None = None,
    source: Path | None = None,
) -> Path:
    """A copy of a pack (default: the bundled acme pack) in ``folder``, whose engine block
    selects the LLM engine with ``model`` at ``base_url`` and ``cassette``; the other
    engine settings are kept. For running its eval suites through the LLM engine."""
    import shutil

    import yaml

    target = folder / "acme-llm"
    shutil.copytree(
        source or DEFAULT_PACK,
        target,
        ignore=shutil.ignore_patterns("__pycache__", "cassettes", "*.pyc"),
    )
    config_path = target / "govcx.yaml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    engine = {k: v for k, v in (config.get("engine") or {}).items() if k != "kind"}
    engine.update(
        {"kind": "llm", "model": model, "base_url": base_url, "cassette": str(cassette.resolve())}
    )
    if api_key_env:
        engine["api_key_env"] = api_key_env
    config["engine"] = engine
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return target


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the deterministic model for a pack on 127.0.0.1 until interrupted."""
    import argparse
    import time

    from govcx.pack import load_pack
    from govcx.testing.stub_server import StubOpenAIServer

    parser = argparse.ArgumentParser(
        description="Serve the deterministic stand-in model (not a real LLM) on 127.0.0.1."
    )
    parser.add_argument("--pack", default=None, help="pack folder (default: bundled acme)")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    options = parser.parse_args(argv)
    model = DeterministicModel.from_pack(load_pack(options.pack))
    with StubOpenAIServer(model, port=options.port) as server:
        print(f"deterministic stand-in model ({MODEL_NAME}) at {server.url}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
