"""OpenTelemetry spans per turn and per graph node, when an OTLP endpoint is configured.

Off by default; the SDK and the OTLP exporter are imported only when it is on. The
tracer provider is the app's own (the global one is left alone).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from govcx.turn import Turn


def _ns(perf: float, anchor: tuple[float, int]) -> int:
    """perf_counter seconds to epoch nanoseconds."""
    return anchor[1] + int((perf - anchor[0]) * 1e9)


_ENV_LOCK = threading.Lock()


def _provider(provider_class: Any, resource: Any) -> Any:
    """A tracer provider that records even though ``OTEL_SDK_DISABLED`` is set.

    govcx.guardrails sets ``OTEL_SDK_DISABLED=true`` process-wide to silence guardrails-ai's
    own tracing offline; the SDK reads it when a provider is built. An OTLP endpoint given
    to govcx is an explicit opt-in, so the variable is lifted while ours is built.
    """
    with _ENV_LOCK:
        saved = os.environ.pop("OTEL_SDK_DISABLED", None)
        try:
            return provider_class(resource=resource)
        finally:
            if saved is not None:
                os.environ["OTEL_SDK_DISABLED"] = saved


class TurnSpan:
    """The span of one API call that runs the graph; node spans are its children."""

    def __init__(self, tracer: Any, name: str, attributes: dict[str, Any]) -> None:
        from opentelemetry import trace

        self._tracer = tracer
        self._anchor = (time.perf_counter(), time.time_ns())
        self.span = tracer.start_span(name, attributes=attributes, start_time=self._anchor[1])
        self._context = trace.set_span_in_context(self.span)

    def node(self, name: str, start: float, end: float, attributes: dict[str, Any]) -> None:
        attrs = {
            f"govcx.{k}": v if isinstance(v, str | int | float | bool) else str(v)
            for k, v in attributes.items()
        }
        span = self._tracer.start_span(
            f"govcx.node.{name}",
            context=self._context,
            start_time=_ns(start, self._anchor),
            attributes=attrs,
        )
        span.end(end_time=_ns(end, self._anchor))

    def finish(self, turn: Turn | None, error: BaseException | None = None) -> None:
        from opentelemetry.trace import Status, StatusCode

        if turn is not None:
            self.span.set_attribute("govcx.turn_id", turn.turn_id)
            self.span.set_attribute("govcx.status", turn.status)
            self.span.set_attribute("govcx.intent", turn.intent or "")
        if error is not None:
            self.span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        self.span.end()


class Tracing:
    """Creates turn spans on a private tracer provider."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("govcx.api")

    @classmethod
    def create(
        cls, endpoint: str | None, *, service_name: str = "govcx", exporter: Any = None
    ) -> Tracing | None:
        """None unless an endpoint (or, in tests, an exporter) is given."""
        if endpoint is None and exporter is None:
            return None
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        provider = _provider(TracerProvider, Resource.create({"service.name": service_name}))
        if exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        return cls(provider)

    def turn(self, kind: str, conversation_id: str | None) -> TurnSpan:
        return TurnSpan(
            self.tracer, f"govcx.{kind}", {"govcx.conversation_id": conversation_id or ""}
        )

    def shutdown(self) -> None:
        self.provider.shutdown()
