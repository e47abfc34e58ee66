"""Test doubles shipped with govcx, for tests of the runtime and of packs and channels built
on it. Nothing in the runtime imports this package (an import-linter contract says so).

- :mod:`~govcx.testing.doubles`: :class:`InMemoryRetriever` (TF-IDF over given chunks),
  :class:`PassThroughGuard` (finds nothing, to isolate other behaviour).
- :mod:`~govcx.testing.script`: the scripting language of model tests: a
  :class:`ModelRequest` in, a :class:`ModelResponse` (or a fault) out, built with
  :func:`reply`, :func:`call`, :func:`classified`, :func:`fault`, :func:`slow`.
- :mod:`~govcx.testing.llm`: langchain chat models driven by a script:
  :class:`ScriptedChatModel`, the adversarial :class:`RiskyChatModel` and
  :class:`InjectionFollowingChatModel`, and :func:`simple_responder`.
- :mod:`~govcx.testing.stub_server`: :class:`StubOpenAIServer`, the same scripts over an
  OpenAI-compatible ``/v1/chat/completions`` on 127.0.0.1.
- :mod:`~govcx.testing.deterministic`: :class:`DeterministicModel`, a rule-based stand-in
  (not an LLM) answering the LLM engine's real requests, for demos and recorded suites.
- :mod:`~govcx.testing.injection`: an InjecAgent-style adversary and
  :class:`InjectionHarness` running attacks through the real graph.
"""

from __future__ import annotations

from govcx.testing.deterministic import ACME_CASSETTE, MODEL_NAME, DeterministicModel, llm_pack
from govcx.testing.doubles import InMemoryRetriever, PassThroughGuard
from govcx.testing.injection import (
    ATTACKER_ADDRESS,
    CATEGORIES,
    Attack,
    AttackerFollowingChatModel,
    InjectionHarness,
    Outcome,
    PlantedRetriever,
    PlantingTool,
    RecordingGuard,
    attack_workflow,
    map_attack,
    plant_in_registry,
    planted_chunk,
    shipping_article,
)
from govcx.testing.llm import (
    InjectionFollowingChatModel,
    RiskyChatModel,
    ScriptedChatModel,
    simple_responder,
    status_error,
)
from govcx.testing.script import (
    Handler,
    ModelRequest,
    ModelResponse,
    ToolCallSpec,
    call,
    classified,
    fault,
    purpose_of,
    render_structured,
    reply,
    slow,
)
from govcx.testing.stub_server import StubOpenAIServer, parse_request

__all__ = [
    "ACME_CASSETTE",
    "ATTACKER_ADDRESS",
    "CATEGORIES",
    "MODEL_NAME",
    "Attack",
    "AttackerFollowingChatModel",
    "DeterministicModel",
    "Handler",
    "InMemoryRetriever",
    "InjectionFollowingChatModel",
    "InjectionHarness",
    "ModelRequest",
    "ModelResponse",
    "Outcome",
    "PassThroughGuard",
    "PlantedRetriever",
    "PlantingTool",
    "RecordingGuard",
    "RiskyChatModel",
    "ScriptedChatModel",
    "StubOpenAIServer",
    "ToolCallSpec",
    "attack_workflow",
    "call",
    "classified",
    "fault",
    "llm_pack",
    "map_attack",
    "parse_request",
    "plant_in_registry",
    "planted_chunk",
    "purpose_of",
    "render_structured",
    "reply",
    "shipping_article",
    "simple_responder",
    "slow",
    "status_error",
]
