"""One consumer span per raw event, at the lowest cost that keeps the same spans and headers.

``backbone.telemetry.extract_context``/``inject_headers`` go through the global composite
propagator, a header dict and (for inject) the current context, once per canonical record. Here,
with the default propagators (W3C trace context + baggage) and a message without baggage, the W3C
trace-context propagator is called directly, once per raw event, and the span is not attached to
the context (nothing under it logs or starts child spans). The headers are the ones the generic
path writes; any other ``OTEL_PROPAGATORS`` setting, or a message with baggage, takes the generic
path.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from backbone import headers as h

__all__ = ["EventSpan", "SpanFactory"]

_W3C = TraceContextTextMapPropagator()
_DEFAULT_PROPAGATORS = {"tracecontext", "baggage"}
_BAGGAGE = "baggage"


def _default_propagators() -> bool:
    names = os.environ.get("OTEL_PROPAGATORS", "tracecontext,baggage")
    return {n.strip().lower() for n in names.split(",") if n.strip()} <= _DEFAULT_PROPAGATORS


class EventSpan:
    """The span of one raw event and the trace headers its canonical records carry."""

    __slots__ = ("_fast", "_headers", "_parent", "span")

    def __init__(self, span: trace.Span, parent: otel_context.Context, fast: bool) -> None:
        self.span = span
        self._parent = parent  # carries the producer's baggage, which the generic path forwards
        self._fast = fast
        self._headers: h.Headers | None = None

    def headers(self) -> h.Headers:
        """traceparent (and tracestate/baggage when present) of this span, computed once."""
        if self._headers is None:
            ctx = trace.set_span_in_context(self.span, self._parent)
            carrier: dict[str, str] = {}
            if self._fast:
                _W3C.inject(carrier, context=ctx)
            else:
                propagate.inject(carrier, context=ctx)
            self._headers = [(k, v.encode()) for k, v in carrier.items()]
        return self._headers


class SpanFactory:
    def __init__(self, name: str) -> None:
        self._tracer = trace.get_tracer(name)
        self._fast = _default_propagators()

    def parent(self, headers: Sequence[tuple[str, bytes | str | None]] | None) -> tuple[otel_context.Context, bool]:
        """Context of the producer's span (from traceparent) and whether the fast path applies."""
        if not self._fast:
            return propagate.extract(h.to_dict(headers)), False
        carrier: dict[str, str] = {}
        for key, value in headers or ():
            if key == _BAGGAGE:
                return propagate.extract(h.to_dict(headers)), False
            if value is not None and key in (h.TRACEPARENT, h.TRACESTATE):
                carrier[key] = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        return _W3C.extract(carrier), True

    @contextmanager
    def consumer(self, name: str, headers: Sequence[tuple[str, bytes | str | None]] | None,
                 attributes: Mapping[str, Any]) -> Iterator[EventSpan]:
        """A CONSUMER span child of the message's trace; errors recorded as the SDK's use_span does."""
        parent, fast = self.parent(headers)
        span = self._tracer.start_span(name, context=parent, kind=SpanKind.CONSUMER, attributes=attributes)
        try:
            yield EventSpan(span, parent, fast)
        except Exception as exc:
            if span.is_recording():
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            span.end()
