"""Kafka header names and helpers. Every message carries correlation_id and W3C traceparent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "ATTEMPTS",
    "CORRELATION_ID",
    "ERROR_CLASS",
    "ERROR_MESSAGE",
    "ERROR_STAGE",
    "EVENT_ID",
    "FIRST_FAILURE_AT",
    "FORMAT",
    "LAST_FAILURE_AT",
    "ORIGINAL_OFFSET",
    "ORIGINAL_PARTITION",
    "ORIGINAL_TOPIC",
    "PARTNER",
    "REDRIVE_COUNT",
    "TRACEPARENT",
    "TRACESTATE",
    "Headers",
    "get",
    "to_dict",
]

Headers = list[tuple[str, bytes]]

EVENT_ID = "event_id"
CORRELATION_ID = "correlation_id"
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
PARTNER = "partner"
FORMAT = "format"
MILESTONE_ID = "milestone_id"

# Dead letter channel headers (DESIGN.md "one bad record never stops a stream").
ERROR_CLASS = "dlq.error.class"
ERROR_MESSAGE = "dlq.error.message"
ERROR_STAGE = "dlq.error.stage"
ORIGINAL_TOPIC = "dlq.original.topic"
ORIGINAL_PARTITION = "dlq.original.partition"
ORIGINAL_OFFSET = "dlq.original.offset"
ATTEMPTS = "dlq.attempts"
FIRST_FAILURE_AT = "dlq.first_failure_at"
LAST_FAILURE_AT = "dlq.last_failure_at"
CONSUMER = "dlq.consumer"
REDRIVE_COUNT = "dlq.redrive_count"


def to_dict(
    headers: Sequence[tuple[str, bytes | str | None]] | Mapping[str, bytes | str | None] | None,
) -> dict[str, str]:
    """Decode Kafka headers (last value wins) to a str dict; tolerant of None and str values."""
    out: dict[str, str] = {}
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
    for key, value in pairs:
        if value is None:
            continue
        out[key] = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return out


def get(
    headers: Sequence[tuple[str, bytes | str | None]] | Mapping[str, bytes | str | None] | None, name: str
) -> str | None:
    return to_dict(headers).get(name)


def encode(values: Mapping[str, str | int | None] | Iterable[tuple[str, str | int | None]]) -> Headers:
    items = values.items() if isinstance(values, Mapping) else values
    return [(k, str(v).encode()) for k, v in items if v is not None]
