"""OpenTelemetry wiring: one trace from the HTTP request through Kafka to every sink call.

The W3C ``traceparent`` travels in Kafka headers. ``setup_tracing`` honours the standard
``OTEL_*`` variables (OTLP/HTTP exporter when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set); tests pass
their own in-memory exporter.

Example::

    setup_tracing("odoo_sink")
    ctx = extract_context(msg.headers())
    with tracer().start_as_current_span("odoo.apply", context=ctx, kind=SpanKind.CONSUMER):
        ...
    headers = inject_headers([])   # traceparent of the current span, for the next hop
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

from backbone import headers as h

__all__ = ["extract_context", "inject_headers", "setup_tracing", "trace_id_of", "tracer"]

_configured = False


def setup_tracing(service: str, exporter: SpanExporter | None = None, *, simple: bool = False) -> TracerProvider:
    """Install a TracerProvider once per process. Without an exporter or OTLP endpoint, spans are
    still created (ids land in logs and headers) but not exported."""
    global _configured
    current = trace.get_tracer_provider()
    if _configured and isinstance(current, TracerProvider):
        if exporter is not None:
            current.add_span_processor(SimpleSpanProcessor(exporter))
        return current
    resource = Resource.create(
        {"service.name": os.environ.get("OTEL_SERVICE_NAME", service), "service.namespace": "logistics-backbone"}
    )
    provider = TracerProvider(resource=resource)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter) if simple else BatchSpanProcessor(exporter))
    elif os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured = True
    return provider


def tracer(name: str = "backbone") -> trace.Tracer:
    return trace.get_tracer(name)


def inject_headers(headers: h.Headers | None = None, ctx: otel_context.Context | None = None) -> h.Headers:
    """Append traceparent/tracestate of ``ctx`` (default: current) to Kafka headers."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=ctx)
    out = [(k, v) for k, v in (headers or []) if k not in (h.TRACEPARENT, h.TRACESTATE)]
    out.extend((k, v.encode()) for k, v in carrier.items())
    return out


def extract_context(headers: Sequence[tuple[str, bytes | str | None]] | None) -> otel_context.Context:
    return propagate.extract(h.to_dict(headers))


def trace_id_of(headers: Sequence[tuple[str, bytes | str | None]] | None) -> str | None:
    """Trace id (32 hex) from a traceparent header, for on-call tools."""
    tp = h.get(headers, h.TRACEPARENT)
    if tp and tp.count("-") == 3:
        return tp.split("-")[1]
    return None
