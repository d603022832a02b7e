"""From an accepted payload to the Kafka record: RawEvent value, key and headers.

The RawEvent keeps the payload byte-for-byte (one NDJSON line for batches). The value is encoded
by a Confluent wire-format serde per raw topic, registered once at startup.
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from backbone import headers as h
from services.ingest.auth import Verified
from services.ingest.extract import Extracted

__all__ = [
    "Encoder",
    "Envelope",
    "RawRecord",
    "build_record",
    "correlation_id_from",
    "now_micros",
    "uuid7",
]

_CORRELATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/=+-]{0,127}$")


class Encoder(Protocol):
    """What encodes a RawEvent dict for a topic (``AvroSerde.encode`` per topic in production)."""

    def __call__(self, topic: str, record: dict[str, Any]) -> bytes: ...


_V7_CLEAR = ~((0xF << 76) | (0x3 << 62))
_V7_SET = (0x7 << 76) | (0x2 << 62)  # version 7, RFC 9562 variant


class _RandomPool:
    """CSPRNG bytes fetched 4 KiB at a time: one getrandom() syscall per ~400 ids, not per id."""

    def __init__(self, size: int = 4000) -> None:
        self._size = size
        self._pool = b""
        self._at = size

    def reset(self) -> None:
        self._pool, self._at = b"", self._size

    def take(self, n: int) -> bytes:
        if self._at + n > len(self._pool):
            self._pool, self._at = os.urandom(self._size), 0
        chunk = self._pool[self._at : self._at + n]
        self._at += n
        return chunk


_RANDOM = _RandomPool()
os.register_at_fork(after_in_child=_RANDOM.reset)  # a forked child never reuses its parent's bytes


def uuid7() -> str:
    """Time-ordered UUID (RFC 9562 v7): 48-bit Unix ms, version, 74 random bits."""
    value = ((time.time_ns() // 1_000_000) << 80 | int.from_bytes(_RANDOM.take(10), "big")) & _V7_CLEAR | _V7_SET
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def now_micros() -> int:
    return time.time_ns() // 1000


def correlation_id_from(headers: Mapping[str, str], generate: Callable[[], str] = uuid7) -> str:
    """X-Correlation-Id when it is a sane token (it lands in logs and headers), else a fresh one."""
    given = headers.get("X-Correlation-Id")
    if given and _CORRELATION_ID.match(given):
        return given
    return generate()


@dataclass(frozen=True)
class Envelope:
    """Request-level facts shared by every event of one request."""

    correlation_id: str
    received_at_us: int
    content_type: str
    source_ip: str | None

    @functools.cached_property
    def correlation_header(self) -> tuple[str, bytes]:
        return (h.CORRELATION_ID, self.correlation_id.encode())


class RawRecord(NamedTuple):
    """One Kafka record to write (a NamedTuple: built per event, cheaper than a frozen dataclass)."""

    topic: str
    key: bytes
    value: bytes
    headers: h.Headers
    event_id: str


def build_record(
    *,
    topic: str,
    payload: bytes,
    verified: Verified,
    envelope: Envelope,
    facts: Extracted,
    encode: Encoder,
    event_id: str | None = None,
) -> RawRecord:
    partner = verified.partner
    event_id = event_id or facts.vendor_event_id or verified.message_id or uuid7()
    raw_event = {
        "event_id": event_id,
        "partner": partner.id,
        "channel": partner.channel,
        "format": partner.format,
        "received_at": envelope.received_at_us,
        "content_type": envelope.content_type,
        "payload": payload,
        "signature_scheme": verified.scheme,
        "correlation_id": envelope.correlation_id,
        "source_ip": envelope.source_ip,
        "natural_key": facts.natural_key,
    }
    headers: h.Headers = [(h.EVENT_ID, event_id.encode()), envelope.correlation_header, *partner.fixed_headers]
    if facts.event_type:
        headers.append(("event_type", facts.event_type.encode()))
    key = f"{partner.id}:{facts.natural_key or event_id}".encode()
    return RawRecord(topic, key, encode(topic, raw_event), headers, event_id)
