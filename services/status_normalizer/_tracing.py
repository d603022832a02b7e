"""One consumer span per raw event, at the lowest cost that keeps the same spans and headers.

``backbone.telemetry.extract_context``/``inject_headers`` go through the global composite
propagator, a header dict and (for inject) the current context, once per canonical record. Here,
with the default propagators (W3C trace context + baggage) and a message without baggage, the W3C
trace context is read and written directly, once per raw event, and the span is not attached to
the context (nothing under it logs or starts child spans). The headers are the ones the generic
path writes; any other ``OTEL_PROPAGATORS`` setting, or a message with baggage, takes the generic
path.

The span itself is always started by the SDK's ``Tracer.start_span`` (sampler, span processors and
exporters as configured): only the header parsing and formatting around it are specialised, and
only for the canonical ``00-<32 hex>-<16 hex>-<2 hex>`` traceparent without tracestate, the shape
every producer of this project writes. Anything else goes through the W3C propagator itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import INVALID_SPAN_CONTEXT, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from backbone import headers as h

__all__ = ["EventSpan", "SpanFactory", "extract_w3c"]

_W3C = TraceContextTextMapPropagator()
_DEFAULT_PROPAGATORS = {"tracecontext", "baggage"}
_BAGGAGE = "baggage"
# A traceparent the W3C propagator accepts as is: version 00, nothing after the flags.
_CANONICAL = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


def _default_propagators() -> bool:
    names = os.environ.get("OTEL_PROPAGATORS", "tracecontext,baggage")
    return {n.strip().lower() for n in names.split(",") if n.strip()} <= _DEFAULT_PROPAGATORS


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def extract_w3c(traceparent: str | None, tracestate: str | None) -> otel_context.Context:
    """What ``TraceContextTextMapPropagator().extract`` returns for these two headers.

    The canonical shape is decoded here (the propagator would match the same groups and build the
    same SpanContext); every other input, tracestate included, is handed to the propagator.
    """
    if traceparent is not None and tracestate is None and len(traceparent) == 55 and _CANONICAL.fullmatch(traceparent):
        trace_id, span_id = traceparent[3:35], traceparent[36:52]
        if trace_id != _ZERO_TRACE and span_id != _ZERO_SPAN:
            parent = SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True,
                                 trace_flags=TraceFlags(int(traceparent[53:55], 16)))
            return trace.set_span_in_context(trace.NonRecordingSpan(parent), otel_context.Context())
        return otel_context.Context()
    carrier: dict[str, str] = {}
    if traceparent is not None:
        carrier[h.TRACEPARENT] = traceparent
    if tracestate is not None:
        carrier[h.TRACESTATE] = tracestate
    return _W3C.extract(carrier)


class EventSpan:
    """The span of one raw event (a context manager that ends it) and the trace headers its records carry."""

    __slots__ = ("_fast", "_headers", "_parent", "span")

    def __init__(self, span: trace.Span, parent: otel_context.Context, fast: bool) -> None:
        self.span = span
        self._parent = parent  # carries the producer's baggage, which the generic path forwards
        self._fast = fast
        self._headers: h.Headers | None = None

    def headers(self) -> h.Headers:
        """traceparent (and tracestate/baggage when present) of this span, computed once."""
        if self._headers is None:
            if self._fast:
                # What the W3C propagator's inject writes for this span, without the context round trip.
                sc = self.span.get_span_context()
                if sc == INVALID_SPAN_CONTEXT:
                    self._headers = []
                else:
                    self._headers = [(h.TRACEPARENT,
                                      f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{sc.trace_flags:02x}".encode())]
                    if sc.trace_state:
                        self._headers.append((h.TRACESTATE, sc.trace_state.to_header().encode()))
            else:
                carrier: dict[str, str] = {}
                propagate.inject(carrier, context=trace.set_span_in_context(self.span, self._parent))
                self._headers = [(k, v.encode()) for k, v in carrier.items()]
        return self._headers

    def __enter__(self) -> EventSpan:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        span = self.span
        # As the SDK's use_span: Exceptions (not KeyboardInterrupt & co) are recorded on the span.
        if isinstance(exc, Exception) and span.is_recording():
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        span.end()


class SpanFactory:
    def __init__(self, name: str) -> None:
        self._tracer = trace.get_tracer(name)
        self._fast = _default_propagators()

    def parent(self, headers: Sequence[tuple[str, bytes | str | None]] | None) -> tuple[otel_context.Context, bool]:
        """Context of the producer's span (from traceparent) and whether the fast path applies."""
        if not self._fast:
            return propagate.extract(h.to_dict(headers)), False
        traceparent = tracestate = None
        for key, value in headers or ():
            if key == _BAGGAGE:
                return propagate.extract(h.to_dict(headers)), False
            if value is not None:
                if key == h.TRACEPARENT:
                    traceparent = _text(value)  # the last header of a name wins, as in h.to_dict
                elif key == h.TRACESTATE:
                    tracestate = _text(value)
        return extract_w3c(traceparent, tracestate), True

    def consumer(self, name: str, headers: Sequence[tuple[str, bytes | str | None]] | None,
                 attributes: Mapping[str, Any]) -> EventSpan:
        """A started CONSUMER span, child of the message's trace; use it with ``with`` (errors are
        recorded as the SDK's use_span does, the span ends on exit)."""
        parent, fast = self.parent(headers)
        span = self._tracer.start_span(name, context=parent, kind=SpanKind.CONSUMER, attributes=attributes)
        return EventSpan(span, parent, fast)
