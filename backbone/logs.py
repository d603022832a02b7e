"""Structured JSON logging with correlation ids and no secrets or personal data.

The correlation id and trace id of the work in progress live in a contextvar, so every log line
emitted while handling one event carries them without passing them around.

Example::

    setup_logging("ingest", level="INFO")
    with correlation("c0ffee"):
        log.info("accepted", extra={"partner": "easypost", "topic": "raw.carrier-tracking.v1"})
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = ["JsonFormatter", "correlation", "current_correlation_id", "redact", "setup_logging"]

_correlation: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)

# Keys whose values never reach a log line, whatever the caller passes.
_SECRET_KEYS = re.compile(
    r"(secret|password|passwd|token|api[_-]?key|authorization|signature|hmac|cookie|"
    r"name|street|address|phone|email|signed_by|ship_to)",
    re.IGNORECASE,
)
_SAFE_KEYS = {
    "partner",
    "topic",
    "consumer",
    "service",
    "stage",
    "format",
    "channel",
    "error_class",
    "logger",
    "level",
    "msg",
    "ts",
    "correlation_id",
    "trace_id",
    "event_id",
    "milestone_id",
    "model",
    "method",
    "sink",
    "target",
    "status",
    "reason",
    "code",
    "group",
    "subject",
    "schema_name",
}
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


def redact(key: str, value: Any) -> Any:
    """Mask values of secret-looking or personal-data keys."""
    if key not in _SAFE_KEYS and _SECRET_KEYS.search(key):
        return "***"
    return value


def current_correlation_id() -> str | None:
    return _correlation.get()


@contextlib.contextmanager
def correlation(correlation_id: str | None) -> Iterator[None]:
    token = _correlation.set(correlation_id)
    try:
        yield
    finally:
        _correlation.reset(token)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        cid = _correlation.get()
        if cid:
            doc["correlation_id"] = cid
        trace_id = _trace_id()
        if trace_id:
            doc["trace_id"] = trace_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                doc[key] = redact(key, value)
        if record.exc_info and record.exc_info[0] is not None:
            doc["error_class"] = record.exc_info[0].__name__
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


def _trace_id() -> str | None:
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def setup_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library chatter (aiokafka/faust/urllib3) at INFO drowns the service's own lines.
    for noisy in ("aiokafka", "faust", "mode", "urllib3", "httpx", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
