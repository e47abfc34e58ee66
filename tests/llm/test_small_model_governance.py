"""Governance regression for small open models, through the real eval runner.

A script reproduces what Qwen2.5-Coder-0.5B-Instruct did on the acme suites (issue 18):
0.9 confidence on every classification, tool calls written as JSON text, plans answered
in prose ("A member of our team will follow up shortly"), the ``NO_ANSWER`` sentinel in
brackets, follow-up promised in drafts. This is a scripted stand-in, not the model; the
figures are computed by ``benchmarks/llm_real.py`` (the same function that reports a
live run or a replayed real-model cassette): no unapproved execution, no broken
promise, no sentinel leak.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import pytest

from govcx.engines._llm.prompts import ASK_TOOL, NO_ANSWER
from govcx.evals.runner import run_suites
from govcx.evals.suite import load_suites
from govcx.pack import load_pack
from govcx.testing import (
    DeterministicModel,
    ModelRequest,
    ModelResponse,
    StubOpenAIServer,
    llm_pack,
    reply,
)
from tests.conftest import load_benchmark

CASES = {
    "order-status-delivered",  # a lookup written as JSON text
    "refund-over-limit-approved",  # a write: prose instead of a call, or a JSON-text call
    "store-policy-shipping-time",  # a knowledge answer: bracketed sentinel or a promise
    "refund-within-limit",
    "return-with-label-fee",
}
PROMISE = "A member of our team will follow up shortly."


def _bench() -> Any:
    return load_benchmark("llm_real")


class SmallModel:
    """The deterministic stand-in's answers, degraded the way the small model degraded."""

    def __init__(self) -> None:
        self.rules = DeterministicModel.from_pack(load_pack())

    def __call__(self, request: ModelRequest) -> ModelResponse:
        answer = self.rules(request)
        coin = zlib.crc32(request.user.encode()) % 2
        if request.purpose == "classify":
            assert answer.structured is not None
            return ModelResponse(structured={**answer.structured, "confidence": 0.9})
        if request.purpose == "plan":
            if not answer.tool_calls:
                return answer
            spec = answer.tool_calls[0]
            if coin and spec.name != ASK_TOOL:
                return reply(f"Sure! {PROMISE}")  # no call at all
            return reply(json.dumps({"name": spec.name, "arguments": spec.args}))
        if NO_ANSWER in answer.content:
            return reply(f"[{NO_ANSWER}]")
        return reply(f"{answer.content} {PROMISE}" if coin else answer.content)


@pytest.mark.slow
def test_small_model_behaviour_keeps_governance(tmp_path: Path) -> None:
    bench = _bench()
    with StubOpenAIServer(SmallModel()) as server:
        pack = llm_pack(
            tmp_path, model="small-model", base_url=server.url, cassette=tmp_path / "c.jsonl"
        )
        suites = [
            s.model_copy(update={"cases": [c for c in s.cases if c.id in CASES]})
            for s in load_suites([pack / "evals"])
        ]
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("GOVCX_ENGINE_MODE", "record")
            report = run_suites([s for s in suites if s.cases], pack_dir=pack, workers=1)
        purposes = {r.purpose for r in server.requests}
    figures = bench.governance(report.as_dict())
    assert figures["cases"] == len(CASES)
    assert purposes == {"classify", "plan", "draft"}
    assert figures["unapproved_executions"] == 0 and figures["violations"] == {}
    assert figures["broken_promises"] == 0, figures["broken_promise_steps"]
    assert figures["sentinel_leaks"] == 0, figures["sentinel_leak_steps"]
    # The hollow promises became escalations with cases.
    statuses = figures["statuses"]
    assert statuses.get("escalated", 0) >= 1


def test_the_figures_count_what_they_name() -> None:
    """The counters of benchmarks/llm_real.py on hand-made steps."""
    bench = _bench()

    def step(status: str, text: str, actions: list[dict[str, Any]] | None = None) -> Any:
        return {"index": 0, "kind": "user", "status": status, "reply": text, "actions": actions}

    assert bench.broken_promise(step("answered", PROMISE)) == "A member of our team will follow up"
    assert bench.broken_promise(step("escalated", PROMISE)) is None
    assert bench.broken_promise(step("pending_approval", PROMISE)) is None
    assert bench.broken_promise(step("answered", PROMISE, [{"status": "executed"}])) is None
    assert bench.broken_promise(step("answered", PROMISE, [{"status": "refused"}])) is not None
    assert bench.broken_promise(step("answered", "Returns are free.")) is None
    for leak in ("[]", "[NO_ANSWER]", "NO ANSWER.", "", "**no_answer**"):
        assert bench.sentinel_leak(leak), leak
    assert not bench.sentinel_leak("Returns are free within 30 days.")
    assert not bench.sentinel_leak(None)
