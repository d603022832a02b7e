"""On-call tools for dead letters: list (grouped), show (masked), redrive (bounded).

A redrive re-publishes a dead letter byte-for-byte to the topic it came from, with its headers and
``dlq.redrive_count`` + 1. Records already redriven ``max_redrives`` times are refused, so a record
that keeps failing cannot loop forever. A redrive group (``backbone-dlq-redrive.<consumer>``)
commits what it re-published, so running redrive twice never re-sends the same dead letter.

Example::

    summary = list_dead_letters(cfg, catalog, consumer="odoo_sink")
    result = redrive(cfg, catalog, consumer="odoo_sink", dry_run=True)
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from backbone import headers as h
from backbone.config import BackboneConfig
from backbone.errors import ConfigError
from backbone.kafka import consumer_config, producer_config
from backbone.topics import TopicCatalog

__all__ = ["DeadLetter", "RedriveResult", "list_dead_letters", "mask", "redrive", "show_dead_letter"]

_PII = re.compile(r"(name|street|address|phone|email|signed_by|ship_to|recipient|city|zip|postal)", re.IGNORECASE)


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]
    raw_headers: list[tuple[str, bytes]]

    @property
    def ref(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def error_class(self) -> str:
        return self.headers.get(h.ERROR_CLASS, "?")

    @property
    def stage(self) -> str:
        return self.headers.get(h.ERROR_STAGE, "?")

    @property
    def redrive_count(self) -> int:
        return int(self.headers.get(h.REDRIVE_COUNT, "0") or 0)


def _dlq_topics(catalog: TopicCatalog, consumer: str | None) -> list[str]:
    specs = catalog.by_prefix("dlq.")
    if consumer:
        specs = [s for s in specs if s.role == f"dlq.{consumer}"]
        if not specs:
            known = ", ".join(s.role.removeprefix("dlq.") for s in catalog.by_prefix("dlq."))
            raise ConfigError(f"no dead letter topic for consumer {consumer!r}; known: {known}")
    return [s.name for s in specs]


def _scan(
    cfg: BackboneConfig, topic: str, since: datetime | None = None, start: dict[int, int] | None = None
) -> Iterator[DeadLetter]:
    """Read a topic from ``since`` (or the beginning) to its current end, then stop."""
    consumer = Consumer(consumer_config(cfg, f"backbone-dlq-scan-{uuid.uuid4().hex[:8]}"))
    try:
        md = consumer.list_topics(topic, timeout=15)
        parts = sorted(md.topics[topic].partitions) if topic in md.topics else []
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15) for p in parts}
        tps = [TopicPartition(topic, p, (start or {}).get(p, ends[p][0])) for p in parts if ends[p][1] > ends[p][0]]
        if since is not None and tps:
            ms = int(since.timestamp() * 1000)
            found = consumer.offsets_for_times([TopicPartition(topic, tp.partition, ms) for tp in tps], timeout=15)
            tps = [
                TopicPartition(
                    topic,
                    f.partition,
                    max(f.offset if f.offset >= 0 else ends[f.partition][1], (start or {}).get(f.partition, 0)),
                )
                for f in found
            ]
        tps = [tp for tp in tps if tp.offset < ends[tp.partition][1]]
        if not tps:
            return
        consumer.assign(tps)
        remaining = {tp.partition: ends[tp.partition][1] for tp in tps}
        while remaining:
            msg = consumer.poll(5.0)
            if msg is None:
                break
            if msg.error():
                continue
            p, off = msg.partition(), msg.offset()
            if p is None or off is None:
                continue
            if p in remaining and off >= remaining[p] - 1:
                remaining.pop(p)
            yield _to_dead_letter(msg)
    finally:
        consumer.close()


def _to_dead_letter(msg: Message) -> DeadLetter:
    got = msg.headers() or []
    pairs: list[tuple[str, Any]] = list(got.items()) if isinstance(got, dict) else list(got)
    raw = [(k, v if isinstance(v, bytes) else str(v).encode()) for k, v in pairs if v is not None]
    return DeadLetter(
        topic=msg.topic() or "",
        partition=msg.partition() or 0,
        offset=msg.offset() or 0,
        timestamp_ms=msg.timestamp()[1],
        key=msg.key(),
        value=msg.value(),
        headers=h.to_dict(raw),
        raw_headers=raw,
    )


@dataclass
class DeadLetterSummary:
    total: int = 0
    by_class_stage: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    oldest_ms: int | None = None
    newest_ms: int | None = None


def list_dead_letters(
    cfg: BackboneConfig,
    catalog: TopicCatalog,
    *,
    consumer: str | None = None,
    since: datetime | None = None,
    error_class: str | None = None,
) -> DeadLetterSummary:
    summary = DeadLetterSummary()
    for topic in _dlq_topics(catalog, consumer):
        for dl in _scan(cfg, topic, since):
            if error_class and dl.error_class != error_class:
                continue
            summary.total += 1
            summary.by_class_stage[(dl.headers.get(h.CONSUMER, topic), dl.error_class, dl.stage)] += 1
            summary.oldest_ms = min(summary.oldest_ms or dl.timestamp_ms, dl.timestamp_ms)
            summary.newest_ms = max(summary.newest_ms or 0, dl.timestamp_ms)
    return summary


def mask(value: Any) -> Any:
    """Mask personal data in a decoded payload (names, addresses, phones, signatures)."""
    if isinstance(value, dict):
        return {k: ("***" if _PII.search(k) and v not in (None, "") else mask(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


def show_dead_letter(
    cfg: BackboneConfig, ref: str, *, unmask: bool = False, decode_avro: Callable[[bytes], dict[str, Any]] | None = None
) -> dict[str, Any]:
    """One dead letter by ``topic:partition:offset``: headers plus decoded, masked payload."""
    try:
        topic, part, off = ref.rsplit(":", 2)
        partition, offset = int(part), int(off)
    except ValueError:
        raise ConfigError(f"expected topic:partition:offset, got {ref!r}") from None
    consumer = Consumer(consumer_config(cfg, f"backbone-dlq-show-{uuid.uuid4().hex[:8]}"))
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        msg = consumer.poll(10.0)
    finally:
        consumer.close()
    if msg is None or msg.error() or msg.offset() != offset:
        raise ConfigError(f"no record at {ref}")
    dl = _to_dead_letter(msg)
    return {
        "ref": dl.ref,
        "key": (dl.key or b"").decode("utf-8", "replace"),
        "headers": dl.headers,
        "payload": _decode(dl.value, unmask, decode_avro),
    }


def _decode(value: bytes | None, unmask: bool, decode_avro: Callable[[bytes], dict[str, Any]] | None) -> Any:
    if value is None:
        return None
    decoded: Any
    if value[:1] == b"\x00" and decode_avro is not None:
        decoded = decode_avro(value)
        if isinstance(decoded.get("payload"), bytes):  # a RawEvent: show the partner's JSON inside
            try:
                decoded["payload"] = json.loads(decoded["payload"])
            except ValueError:
                decoded["payload"] = decoded["payload"].decode("utf-8", "replace")
    else:
        try:
            decoded = json.loads(value)
        except ValueError:
            decoded = value.decode("utf-8", "replace")
    return decoded if unmask else mask(decoded)


@dataclass
class RedriveResult:
    selected: int = 0
    redriven: int = 0
    refused_max_redrives: int = 0
    skipped_filter: int = 0
    targets: Counter[str] = field(default_factory=Counter)


def redrive(
    cfg: BackboneConfig,
    catalog: TopicCatalog,
    *,
    consumer: str,
    error_class: str | None = None,
    stage: str | None = None,
    since: datetime | None = None,
    dry_run: bool = False,
    max_redrives: int = 3,
    progress: Callable[[int], None] | None = None,
) -> RedriveResult:
    """Re-publish selected dead letters to their original topics; commit progress in a redrive group."""
    topic = _dlq_topics(catalog, consumer)[0]
    group = f"backbone-dlq-redrive.{consumer}"
    committed = _committed_offsets(cfg, group, topic)
    result = RedriveResult()
    producer = None if dry_run else Producer(producer_config(cfg))
    last: dict[int, int] = {}
    for dl in _scan(cfg, topic, since, start=committed):
        last[dl.partition] = dl.offset + 1
        if (error_class and dl.error_class != error_class) or (stage and dl.stage != stage):
            result.skipped_filter += 1
            continue
        result.selected += 1
        if dl.redrive_count >= max_redrives:
            result.refused_max_redrives += 1
            continue
        target = dl.headers.get(h.ORIGINAL_TOPIC)
        if not target:
            result.refused_max_redrives += 1
            continue
        result.targets[target] += 1
        if producer is not None:
            hdrs: list[tuple[str, str | bytes | None]] = [(k, v) for k, v in dl.raw_headers if k != h.REDRIVE_COUNT]
            hdrs.append((h.REDRIVE_COUNT, str(dl.redrive_count + 1).encode()))
            producer.produce(target, dl.value, dl.key, headers=hdrs)
            producer.poll(0)
            result.redriven += 1
        if progress:
            progress(1)
    if producer is not None:
        if producer.flush(30):
            raise ConfigError("redrive: some records were not acknowledged by Kafka; nothing committed, rerun")
        if last:
            c = Consumer(consumer_config(cfg, group))
            try:
                c.commit(offsets=[TopicPartition(topic, p, o) for p, o in last.items()], asynchronous=False)
            finally:
                c.close()
    return result


def _committed_offsets(cfg: BackboneConfig, group: str, topic: str) -> dict[int, int]:
    c = Consumer(consumer_config(cfg, group))
    try:
        md = c.list_topics(topic, timeout=15)
        parts = sorted(md.topics[topic].partitions) if topic in md.topics else []
        found = c.committed([TopicPartition(topic, p) for p in parts], timeout=15)
        return {tp.partition: tp.offset for tp in found if tp.offset >= 0}
    finally:
        c.close()
