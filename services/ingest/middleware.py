"""Per-request cross-cutting work: correlation id, server span, metrics, and exception -> answer.

Handlers raise; this middleware is the one place an exception becomes an HTTP answer, chosen by
class in :func:`services.ingest.errors.problem_for`. The JSON access log never sees bodies,
query strings (a Shippo URL token lives there) or headers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler
from opentelemetry import propagate
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, get_current_span, use_span

from backbone.headers import TRACEPARENT, TRACESTATE, Headers
from backbone.logs import correlation
from backbone.telemetry import tracer
from services.ingest.errors import PROBLEM_JSON, Problem, problem_for
from services.ingest.records import correlation_id_from
from services.ingest.state import STATE

__all__ = [
    "CORRELATION_ID",
    "PARTNER",
    "AccessLogger",
    "BatchingLineHandler",
    "ClientProtocolErrorFilter",
    "access_log",
    "ingest_middleware",
    "problem_response",
    "trace_headers",
]

log = logging.getLogger("services.ingest")
# Looked up once: get_tracer per request costs more than the span itself. A ProxyTracer obtained
# before setup_tracing() follows the provider installed later.
_TRACER = tracer("services.ingest")

PARTNER = web.RequestKey("ingest.partner", str)  # configured partner id, for metrics and logs
CORRELATION_ID = web.RequestKey("ingest.correlation_id", str)
NBYTES = web.RequestKey("ingest.nbytes", int)

_HTTP_PROBLEMS = {
    404: ("not_found", "Not Found", "no such endpoint"),
    405: ("method_not_allowed", "Method Not Allowed", "this endpoint does not accept that method"),
    413: ("payload_too_large", "Payload too large", "the body is larger than this endpoint accepts"),
}


def problem_response(problem: Problem, correlation_id: str | None) -> web.Response:
    return web.Response(
        status=problem.status,
        body=orjson.dumps(problem.body(correlation_id)),
        content_type=PROBLEM_JSON,
        headers=problem.headers,
    )


def _http_problem(exc: web.HTTPException) -> Problem:
    reason, title, detail = _HTTP_PROBLEMS.get(exc.status, ("bad_request", "Bad Request", exc.reason))
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
    return Problem(exc.status, reason, title, detail, headers)


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def ingest_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    started = time.perf_counter()
    endpoint = _route(request)
    correlation_id = correlation_id_from(request.headers)
    request[CORRELATION_ID] = correlation_id
    traced = request.method == "POST"  # the ingest endpoints; probes and scrapes would be noise
    span_cm: AbstractContextManager[Span | None] = (
        use_span(
            _TRACER.start_span(
                f"POST {endpoint}",
                # Most partners send no trace context; extracting nothing still costs a few microseconds.
                context=propagate.extract(request.headers) if TRACEPARENT in request.headers else None,
                kind=SpanKind.SERVER,
                attributes={"correlation_id": correlation_id},
                record_exception=False,
                set_status_on_exception=False,
            ),
            end_on_exit=True,
            record_exception=False,
            set_status_on_exception=False,
        )
        if traced
        else contextlib.nullcontext()
    )
    state.metrics.in_flight.inc()
    try:
        with span_cm as span, correlation(correlation_id):
            try:
                response = await handler(request)
            except web.HTTPException as exc:  # aiohttp's own 404/405/413 for the router and read()
                response = _refuse(request, _http_problem(exc), correlation_id)
            except Exception as exc:
                problem = problem_for(exc, retry_after_s=state.cfg.retry_after_s)
                if problem.status == 503:
                    log.warning("kafka write failed", extra={"partner": request.get(PARTNER), "reason": str(exc)})
                elif problem.status >= 500:
                    log.exception("unhandled error", extra={"partner": request.get(PARTNER)})
                response = _refuse(request, problem, correlation_id)
            if span is not None:
                span.set_attribute("http.response.status_code", response.status)
                if partner := request.get(PARTNER):
                    span.set_attribute("partner", partner)
                if response.status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
    finally:
        state.metrics.in_flight.dec()
    response.headers["X-Correlation-Id"] = correlation_id
    state.metrics.observe_request(
        endpoint,
        request.get(PARTNER, "unknown" if traced else "none"),
        response.status,
        request.get(NBYTES, 0),
        time.perf_counter() - started,
    )
    return response


def trace_headers() -> Headers:
    """W3C traceparent (and tracestate) of the current span, formatted directly: the generic
    propagator API costs several times more and this is the per-request hot path."""
    ctx = get_current_span().get_span_context()
    if not ctx.is_valid:
        return []
    out: Headers = [(TRACEPARENT, f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}".encode())]
    if ctx.trace_state:
        out.append((TRACESTATE, ctx.trace_state.to_header().encode()))
    return out


def _refuse(request: web.Request, problem: Problem, correlation_id: str) -> web.Response:
    request.app[STATE].metrics.rejected(request.get(PARTNER, "unknown"), problem.reason)
    return problem_response(problem, correlation_id)


class ClientProtocolErrorFilter(logging.Filter):
    """aiohttp logs a client's malformed HTTP (NUL in a header, bad request line) as an ERROR with a
    traceback; it already answered 400, so it is a one-line warning, not an incident."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args = "malformed HTTP request refused: %s", (type(exc).__name__,)
            record.exc_info = None
            record.exc_text = None
        return True


class BatchingLineHandler(logging.Handler):
    """Writes pre-rendered lines to a file descriptor a few KiB at a time instead of one syscall per
    line (a third of ingest's CPU went into per-line writes under load). Chunks stop at line ends and
    stay under PIPE_BUF, so lines from other writers never land inside one; ``flush()`` runs on a timer."""

    CHUNK = 4000  # below PIPE_BUF (4096): atomic on pipes

    def __init__(self, fd: int = 2) -> None:
        super().__init__()
        self._fd = fd
        self._lines: list[bytes] = []
        self._size = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.write_line(record.getMessage().encode())

    def write_line(self, line: bytes) -> None:
        with self.lock:  # type: ignore[union-attr]  # created in Handler.__init__
            if self._size + len(line) + 1 > self.CHUNK:
                self._write()
            self._lines.append(line + b"\n")
            self._size += len(line) + 1

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]  # created in Handler.__init__
            self._write()

    def _write(self) -> None:
        if self._lines:
            data, self._lines, self._size = b"".join(self._lines), [], 0
            try:
                os.write(self._fd, data)
            except OSError:
                self.handleError(logging.makeLogRecord({"msg": "access log write failed"}))


class AccessLogger(AbstractAccessLogger):
    """One JSON line per request: method, path (never the query), status, duration, sizes, partner,
    correlation id, client address. Rendered here with orjson in the shape of backbone.logs'
    JsonFormatter: the generic formatter (per-key redaction regexes) would cost more than the request."""

    def log(self, request: Any, response: web.StreamResponse, time: float) -> None:
        path = request.rel_url.path
        doc = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "INFO",
            "service": "ingest",
            "logger": self.logger.name,
            "msg": f"{request.method} {path} {response.status}",
            "correlation_id": request.get(CORRELATION_ID),
            "http_method": request.method,
            "path": path,
            "status": response.status,
            "duration_ms": round(time * 1000, 3),
            "request_bytes": request.get(NBYTES, 0),
            "response_bytes": response.body_length,
            "partner": request.get(PARTNER),
            "remote": request.remote,
        }
        line = orjson.dumps(doc)
        handlers = self.logger.handlers
        if len(handlers) == 1 and isinstance(handlers[0], BatchingLineHandler):
            handlers[0].write_line(line)  # skip LogRecord creation and caller lookup: ~7 us a request
        else:
            self.logger.info(line.decode())

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


def access_log(fd: int = 2) -> logging.Logger:
    """The access logger: pre-rendered JSON lines, batched to stderr (not through the root formatter)."""
    logger = logging.getLogger("services.ingest.access")
    if not any(isinstance(h, BatchingLineHandler) for h in logger.handlers):
        logger.addHandler(BatchingLineHandler(fd))
        logger.propagate = False
    return logger
