"""/metrics (a registry per app), OpenTelemetry spans per node, health and docs."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from govcx.agent.agent import Agent
from tests.api.conftest import auth, pending_refund
from tests.conftest import Clock


def _value(metrics: str, prefix: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{prefix} not in metrics")


def _interval(span: ReadableSpan) -> tuple[int, int]:
    """A finished span's start and end (ns)."""
    assert span.start_time is not None and span.end_time is not None, span.name
    return span.start_time, span.end_time


def test_metrics_count_turns_nodes_and_approvals(client: TestClient, clock: Clock) -> None:
    turn = pending_refund(client)
    client.post(
        "/v1/conversations/c-2/messages",
        json={"text": "where is my order A-1001", "customer_id": "C-1"},
        headers=auth("web"),
    )
    clock.now += 120
    before = client.get("/metrics")
    assert before.headers["content-type"].startswith("text/plain")
    text = before.text
    assert _value(text, 'govcx_turns_total{status="pending_approval",workflow="refund"}') == 1
    assert _value(text, 'govcx_turns_total{status="answered",workflow="order_status"}') == 1
    assert _value(text, 'govcx_approvals{status="pending"}') == 1
    assert _value(text, "govcx_approval_oldest_pending_age_seconds") == 120
    assert _value(text, 'govcx_node_duration_seconds_count{node="classify"}') == 2
    assert _value(text, 'govcx_node_duration_seconds_count{node="policy_gate"}') == 2
    assert (
        'govcx_http_request_duration_seconds_count{method="POST",'
        'route="/v1/conversations/{conversation_id}/messages",status="200"} 2.0' in text
    )
    client.post(
        f"/v1/approvals/{turn['approval_id']}/decision",
        json={"decision": "approve"},
        headers=auth("sup"),
    )
    client.post(
        f"/v1/approvals/{turn['approval_id']}/decision",
        json={"decision": "approve"},
        headers=auth("boss"),
    )
    text = client.get("/metrics").text
    assert _value(text, 'govcx_approvals{status="pending"}') == 0
    assert _value(text, 'govcx_approvals{status="approved"}') == 1
    decisions = "govcx_approval_decisions_total"
    assert _value(text, f'{decisions}{{decision="approve",outcome="recorded"}}') == 1
    assert _value(text, f'{decisions}{{decision="approve",outcome="stale"}}') == 1
    assert _value(text, "govcx_approval_decision_age_seconds_sum") == 120
    assert _value(text, 'govcx_node_duration_seconds_count{node="execute"}') == 2


def test_guard_findings_are_counted(app: FastAPI) -> None:
    from govcx.turn import Turn

    metrics = app.state.runtime.metrics
    metrics.turn(
        Turn(
            turn_id="t1",
            conversation_id="c1",
            status="blocked",
            findings=[
                {"type": "PROMPT_INJECTION", "source": "input", "action": "block"},
                {"type": "EMAIL_ADDRESS", "source": "input", "action": "strip"},
            ],
        )
    )
    text = metrics.render().decode()
    assert _value(text, 'govcx_guard_findings_total{action="block",type="PROMPT_INJECTION"}') == 1
    assert _value(text, 'govcx_turns_total{status="blocked",workflow="none"}') == 1


def test_two_apps_have_separate_registries(make_app: Callable[..., FastAPI]) -> None:
    one, two = make_app(), make_app()
    with TestClient(one) as a, TestClient(two) as b:
        a.get("/healthz")
        assert 'route="/healthz"' in a.get("/metrics").text
        assert 'route="/healthz"' not in b.get("/metrics").text


def test_spans_per_node_when_tracing_is_on(make_app: Callable[..., FastAPI]) -> None:
    exporter = InMemorySpanExporter()
    with TestClient(make_app(span_exporter=exporter)) as client:
        turn = pending_refund(client)
        client.post(
            f"/v1/approvals/{turn['approval_id']}/decision",
            json={"decision": "approve"},
            headers=auth("sup"),
        )
    spans = exporter.get_finished_spans()
    names = [s.name for s in spans]
    assert names.count("govcx.message") == 1 and names.count("govcx.decision") == 1
    message = next(
        s
        for s in spans
        if s.name == "govcx.message"
        and s.attributes is not None
        and s.attributes["govcx.status"] == "pending_approval"
    )
    children = [
        s for s in spans if s.parent is not None and s.parent.span_id == message.context.span_id
    ]
    assert [s.name for s in children][:3] == [
        "govcx.node.guard_input",
        "govcx.node.classify",
        "govcx.node.retrieve",
    ]
    gate = next(s for s in children if s.name == "govcx.node.policy_gate")
    assert gate.attributes is not None and gate.attributes["govcx.route"] == "await_approval"
    start, end = _interval(message)
    assert all(start <= s_start <= s_end <= end for s_start, s_end in map(_interval, children))
    decision = next(s for s in spans if s.name == "govcx.decision")
    assert any(
        s.name == "govcx.node.execute" and s.parent.span_id == decision.context.span_id
        for s in spans
        if s.parent is not None
    )


def test_tracing_is_off_by_default(app: FastAPI) -> None:
    assert app.state.runtime.tracing is None


def test_healthz_docs_and_openapi(client: TestClient, api_agent: Agent) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["pack"] == "shop"
    assert health["policy_version"] == "t1"
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    schema = client.get("/openapi.json").json()
    assert "ApiKey" in schema["components"]["securitySchemes"]
    decision = schema["paths"]["/v1/approvals/{approval_id}/decision"]["post"]
    assert {"409", "422", "401", "403", "404"} <= set(decision["responses"])
    body = schema["components"]["schemas"]["DecisionIn"]
    assert body["examples"][0]["decision"] == "approve"
    error = decision["responses"]["409"]["content"]["application/json"]["schema"]
    assert error["$ref"].endswith("/ErrorBody")
