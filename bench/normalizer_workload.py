"""Synthetic but realistic raw traffic for the status normalizer (benchmark and fault tests).

Three kinds of raw events, in proportions a carrier-tracking channel sees:

- EasyPost ``tracker.updated`` webhooks that re-send the tracker's whole history (webhook k of a
  tracker carries checkpoints 1..k), so most parsed records are already known and dropped;
- ``generic.milestone.v1`` events from a TMS, one checkpoint each;
- redeliveries: the same webhook again, half with the same event id (a vendor retry), half with a
  new event id and the same body (a second subscription, a manual resend).

Events of one tracker share a Kafka key (one partition, in order); redeliveries land later than
their original. ``expected_milestone_ids`` runs the real parsers over the distinct payloads, so
tests compare the canonical topic with what the mapping says, not with a second implementation.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from confluent_kafka import Producer

from backbone import headers as h
from backbone.serialization import AvroSerde

__all__ = ["RawSpec", "Workload", "build", "easypost_webhook", "encode", "expected_milestone_ids", "produce"]

_BASE = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
_ISO = "%Y-%m-%dT%H:%M:%SZ"
_EASYPOST_STEPS = (  # (status, status_detail, message, city, state, zip)
    ("pre_transit", "label_created", "Shipping Label Created", "MEMPHIS", "TN", "38118"),
    ("in_transit", "received_at_origin_facility", "Accepted at USPS Origin Facility", "MEMPHIS", "TN", "38118"),
    ("in_transit", "arrived_at_facility", "Arrived at USPS Regional Facility", "ATLANTA", "GA", "30320"),
    ("out_for_delivery", "out_for_delivery", "Out for Delivery", "DECATUR", "GA", "30030"),
    ("delivered", "delivered", "Delivered, Front Door/Porch", "DECATUR", "GA", "30030"),
)
_GENERIC_CODES = ("CARRIER_PICKED_UP", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERY_ATTEMPT_FAILED", "DELIVERED")
_FR_CITIES = (("Lyon", "69002"), ("Paris", "75011"), ("Lille", "59000"), ("Nantes", "44000"))


@dataclass(frozen=True, slots=True)
class RawSpec:
    """One raw event as ingest would write it (before Avro encoding)."""

    partner: str
    format: str
    payload: bytes
    event_id: str
    key: str
    received_at: datetime


@dataclass(frozen=True)
class Workload:
    events: list[RawSpec]
    distinct_checkpoints: int  # what the generator put in (the parsers must agree)
    redeliveries: int


def _easypost_body(tracker: int, steps: int, rng: random.Random, shard: int) -> tuple[str, bytes]:
    start = _BASE + timedelta(minutes=7 * tracker)
    code = f"9400110898{shard:04d}{tracker:08d}"
    details = []
    for i, (status, detail, message, city, state, zip_code) in enumerate(_EASYPOST_STEPS[:steps]):
        details.append({
            "object": "TrackingDetail", "message": message, "description": "", "status": status,
            "status_detail": detail, "source": "USPS", "carrier_code": f"{10 + i}",
            "datetime": (start + timedelta(hours=9 * i, minutes=(tracker * 7 + i * 13) % 60)).strftime(_ISO),
            "tracking_location": {"object": "TrackingLocation", "city": city, "state": state, "country": "US",
                                  "zip": zip_code},
        })
    last = _EASYPOST_STEPS[steps - 1]
    body = {
        "id": f"evt_{uuid.UUID(int=rng.getrandbits(128)).hex}", "object": "Event", "mode": "production",
        "description": "tracker.updated", "created_at": details[-1]["datetime"],
        "result": {
            "id": f"trk_{shard:04x}{tracker:012x}", "object": "Tracker", "mode": "production", "tracking_code": code,
            "status": last[0], "status_detail": last[1], "carrier": "USPS", "weight": 17.6,
            "signed_by": "J. DOE" if steps == len(_EASYPOST_STEPS) else None,
            "est_delivery_date": (start + timedelta(days=3)).strftime("%Y-%m-%dT00:00:00Z"),
            "tracking_details": details,
            "carrier_detail": {"object": "CarrierDetail", "service": "GroundAdvantage",
                               "origin_location": "MEMPHIS TN, 38118", "destination_location": "DECATUR GA, 30030"},
            "public_url": f"https://track.easypost.com/{code}",
        },
    }
    return str(body["id"]), json.dumps(body).encode()


def easypost_webhook(tracker: int, steps: int, shard: int = 0, seed: int = 0) -> RawSpec:
    """One EasyPost webhook carrying checkpoints 1..``steps`` of a tracker (a new event id per ``seed``)."""
    event_id, body = _easypost_body(tracker, steps, random.Random(f"{shard}-{tracker}-{steps}-{seed}"), shard)
    return RawSpec("easypost", "easypost.event.v2", body, event_id, f"trk_{shard:04x}{tracker:012x}", datetime.now(UTC))


def _generic_body(n: int, rng: random.Random, shard: int) -> tuple[str, bytes]:
    code = _GENERIC_CODES[n % len(_GENERIC_CODES)]
    city, postal = _FR_CITIES[n % len(_FR_CITIES)]
    occurred = _BASE + timedelta(seconds=37 * n)
    body: dict[str, Any] = {
        "event_id": f"tms-{shard}-{n:08d}", "kind": "shipment", "code": code,
        "occurred_at": occurred.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        "shipment": {"carrier": "DHL", "tracking_number": f"JJD{shard:04d}{n // 3:011d}",
                     "order_ref": f"SO-{shard}-{n // 3:07d}", "package_ref": "1/1"},
        "location": {"city": city, "country": "FR", "postal_code": postal},
        "note": "scan" if rng.random() < 0.5 else None,
    }
    if code == "DELIVERY_ATTEMPT_FAILED":
        body["exception_reason"] = "ADDRESS"
    return str(body["event_id"]), json.dumps(body).encode()


def build(events: int, shard: int = 0, *, redelivery_share: float = 0.1, generic_share: float = 0.3) -> Workload:
    """``events`` raw events: EasyPost histories, generic checkpoints and redeliveries.

    Workloads of different ``shard`` share no shipment, so they can run one after the other
    against the same dedupe state.
    """
    rng = random.Random(shard)
    now = datetime.now(UTC)
    redeliveries = int(events * redelivery_share)
    generics = int(events * generic_share)
    steps = len(_EASYPOST_STEPS)
    trackers = (events - redeliveries - generics) // steps
    generics = events - redeliveries - trackers * steps
    # Wave k carries webhook k of every tracker: histories of many shipments progress side by side.
    originals: list[RawSpec] = []
    for wave in range(1, steps + 1):
        for t in range(trackers):
            event_id, body = _easypost_body(t, wave, rng, shard)
            originals.append(RawSpec("easypost", "easypost.event.v2", body, event_id, f"trk_{shard:04x}{t:012x}", now))
        for n in range(generics * (wave - 1) // steps, generics * wave // steps):
            event_id, body = _generic_body(n, rng, shard)
            key = f"JJD{shard:04d}{n // 3:011d}"
            originals.append(RawSpec("generic-tms", "generic.milestone.v1", body, event_id, key, now))
    # A redelivery follows its original by a random distance (same key, so same partition, later offset).
    slots: list[tuple[float, RawSpec]] = [(float(i), spec) for i, spec in enumerate(originals)]
    for r in range(redeliveries):
        at = rng.randrange(len(originals))
        copy = originals[at]
        if r % 2:
            copy = replace(copy, event_id=f"redelivery-{r}-{copy.event_id}")
        slots.append((at + rng.uniform(1, 2000), copy))
    slots.sort(key=lambda s: s[0])
    return Workload([s for _, s in slots], trackers * steps + generics, redeliveries)


def encode(serde: AvroSerde, specs: Iterable[RawSpec], sampled: float = 1.0) -> list[tuple[bytes, bytes, h.Headers]]:
    """(key, RawEvent bytes, headers) ready for ``Producer.produce``; traceparent as ingest sets it.

    ``sampled`` is the share of events whose traceparent says "sampled": what ingest's head
    sampler (parentbased_traceidratio) decides, from the trace id as the SDK does.
    """
    threshold = int(sampled * (1 << 64))
    out = []
    for spec in specs:
        value = serde.encode({
            "event_id": spec.event_id, "partner": spec.partner, "channel": "carrier-tracking",
            "format": spec.format, "received_at": spec.received_at, "content_type": "application/json",
            "payload": spec.payload, "signature_scheme": "api-key", "correlation_id": f"corr-{spec.event_id}",
            "source_ip": "203.0.113.7", "natural_key": spec.key,
        })
        trace_id = uuid.uuid5(uuid.NAMESPACE_OID, spec.event_id).hex
        flags = "01" if int(trace_id[16:], 16) < threshold else "00"  # TraceIdRatioBased: low 64 bits
        hdrs = [(h.EVENT_ID, spec.event_id.encode()), (h.CORRELATION_ID, f"corr-{spec.event_id}".encode()),
                (h.TRACEPARENT, f"00-{trace_id}-{trace_id[:16]}-{flags}".encode())]
        out.append((f"{spec.partner}:{spec.key}".encode(), value, hdrs))
    return out


def produce(bootstrap: str, topic: str, records: Sequence[tuple[bytes, bytes, h.Headers]],
            rate: float | None = None) -> None:
    """Write ``records`` (as fast as possible, or paced at ``rate`` per second) and wait for acks."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                         "linger.ms": 5, "compression.type": "lz4", "queue.buffering.max.messages": 1_000_000})
    if rate:
        # Metadata, connection and idempotent producer id first: otherwise the first ~100 ms of
        # records queue up and reach the broker as one burst, which is not "``rate`` per second".
        producer.list_topics(topic, timeout=10)
        producer.poll(0.5)
    start = time.perf_counter()
    for i, (key, value, hdrs) in enumerate(records):
        if rate:
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                producer.poll(0)
                time.sleep(delay)
        producer.produce(topic, value, key, headers=cast(Any, hdrs))
        if i % 1000 == 0:
            producer.poll(0)
    remaining = producer.flush(60)
    if remaining:
        raise RuntimeError(f"{remaining} raw records not acknowledged")


def expected_milestone_ids(specs: Iterable[RawSpec]) -> set[str]:
    """Milestone ids the mapping derives from the distinct payloads (ids never depend on lineage)."""
    from services.status_normalizer.parsers import parse
    from services.status_normalizer.records import RawContext

    ids: set[str] = set()
    seen: set[bytes] = set()
    for spec in specs:
        if spec.payload in seen:
            continue
        seen.add(spec.payload)
        ctx = RawContext(partner=spec.partner, format=spec.format, event_id=spec.event_id,
                         received_at=spec.received_at, correlation_id="x", topic="raw", partition=0, offset=0)
        ids.update(r.milestone_id for r in parse(spec.payload, ctx))
    return ids
