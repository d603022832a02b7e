"""``backbone trace``: where is this event? From the raw record to every sink's ledger row.

Accepts an event id, milestone id, correlation id or tracking number. Looks in the ledger first
(indexed, instant), then scans raw, canonical and dead letter topics over a bounded time window
(``since``), matching on headers and keys only; only matches are decoded.

Example::

    report = trace(cfg, catalog, "1Z999AA10123456784", since=timedelta(hours=48))
    for hop in report.raw + report.canonical: print(hop.ref, hop.summary)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from backbone import headers as h
from backbone.config import BackboneConfig
from backbone.kafka import consumer_config
from backbone.telemetry import trace_id_of
from backbone.topics import TopicCatalog

__all__ = ["Hop", "TraceReport", "ledger_rows", "trace"]


@dataclass
class Hop:
    topic: str
    partition: int
    offset: int
    timestamp: datetime
    key: str
    headers: dict[str, str]
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"


@dataclass
class TraceReport:
    query: str
    raw: list[Hop] = field(default_factory=list)
    canonical: list[Hop] = field(default_factory=list)
    dead_letters: list[Hop] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    trace_ids: set[str] = field(default_factory=set)
    scanned: int = 0
    seconds: float = 0.0

    @property
    def found(self) -> bool:
        return bool(self.raw or self.canonical or self.dead_letters or self.ledger)


def ledger_rows(database_url: str, needles: set[str], schema: str = "backbone") -> list[dict[str, Any]]:
    """Ledger rows whose milestone id, correlation id or entity key matches any needle."""
    import psycopg
    from psycopg import sql
    from psycopg.rows import dict_row

    if not database_url or not needles:
        return []
    query = sql.SQL(
        "SELECT sink, milestone_id, status, attempts, response, error, entity_key, rank, source_topic, "
        "source_partition, source_offset, correlation_id, first_seen_at, applied_at, updated_at "
        "FROM {}.sink_ledger WHERE milestone_id = ANY(%(n)s) OR correlation_id = ANY(%(n)s) "
        "OR split_part(entity_key, ':', 2) = ANY(%(n)s) OR entity_key = ANY(%(n)s) ORDER BY updated_at"
    ).format(sql.Identifier(schema))
    try:
        with psycopg.connect(database_url, connect_timeout=5, row_factory=dict_row) as conn:
            return list(conn.execute(query, {"n": list(needles)}).fetchall())
    except psycopg.errors.UndefinedTable:
        return []  # no sink ever ran against this database


def _matches(needles: set[str], key: str, hdrs: dict[str, str]) -> bool:
    if key in needles or key.rsplit(":", 1)[-1] in needles:
        return True
    return any(hdrs.get(name) in needles for name in (h.EVENT_ID, h.CORRELATION_ID, h.MILESTONE_ID))


def _scan(
    cfg: BackboneConfig,
    topics: list[str],
    needles: set[str],
    since: datetime,
    on_match: Callable[[Any], None],
    report: TraceReport,
    max_records: int,
) -> None:
    consumer = Consumer(consumer_config(cfg, f"backbone-trace-{uuid.uuid4().hex[:8]}"))
    try:
        ends: dict[tuple[str, int], int] = {}
        starts: list[TopicPartition] = []
        md = consumer.list_topics(timeout=15)
        for topic in topics:
            if topic not in md.topics:
                continue
            parts = [TopicPartition(topic, p, int(since.timestamp() * 1000)) for p in md.topics[topic].partitions]
            for tp in consumer.offsets_for_times(parts, timeout=15):
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=15)
                if 0 <= tp.offset < high:
                    ends[(topic, tp.partition)] = high
                    starts.append(TopicPartition(topic, tp.partition, tp.offset))
        if not starts:
            return
        consumer.assign(starts)
        while ends and report.scanned < max_records:
            batch = consumer.consume(5000, 2.0)
            if not batch:
                break
            for msg in batch:
                if msg.error():
                    continue
                report.scanned += 1
                topic, part, off = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
                if off >= ends.get((topic, part), 0) - 1:
                    ends.pop((topic, part), None)
                key = (msg.key() or b"").decode("utf-8", "replace")
                hdrs = h.to_dict(msg.headers())
                if _matches(needles, key, hdrs):
                    on_match(msg)
    finally:
        consumer.close()


def _hop(msg: Any, summary: dict[str, Any]) -> Hop:
    return Hop(
        topic=msg.topic(),
        partition=msg.partition(),
        offset=msg.offset(),
        timestamp=datetime.fromtimestamp(msg.timestamp()[1] / 1000, UTC),
        key=(msg.key() or b"").decode("utf-8", "replace"),
        headers=h.to_dict(msg.headers()),
        summary=summary,
    )


def trace(
    cfg: BackboneConfig,
    catalog: TopicCatalog,
    query: str,
    *,
    since: timedelta = timedelta(hours=48),
    decode: Callable[[bytes], dict[str, Any]] | None = None,
    max_records: int = 2_000_000,
    ledger_schema: str = "backbone",
) -> TraceReport:
    t0 = time.monotonic()
    report = TraceReport(query)
    needles = {query}
    start = datetime.now(UTC) - since
    # Ledger first: it turns a tracking number or correlation id into milestone ids cheaply.
    database_url = cfg.database_url.get_secret_value()
    for row in ledger_rows(database_url, needles, ledger_schema):
        report.ledger.append(row)
        needles.add(row["milestone_id"])
        if row.get("correlation_id"):
            needles.add(row["correlation_id"])

    def on_raw(msg: Any) -> None:
        hop = _hop(msg, {})
        report.raw.append(hop)
        needles.update(v for k, v in hop.headers.items() if k in (h.EVENT_ID, h.CORRELATION_ID))

    def on_canonical(msg: Any) -> None:
        summary: dict[str, Any] = {}
        if decode is not None and msg.value():
            value = decode(msg.value())
            summary = {
                k: value.get(k)
                for k in (
                    "milestone_id",
                    "code",
                    "kind",
                    "rank",
                    "occurred_at",
                    "order_ref",
                    "tracking_number",
                    "raw_ref",
                )
                if k in value
            }
        hop = _hop(msg, summary)
        report.canonical.append(hop)
        if hop.headers.get(h.MILESTONE_ID):
            needles.add(hop.headers[h.MILESTONE_ID])

    _scan(cfg, [s.name for s in catalog.by_prefix("raw.")], needles, start, on_raw, report, max_records)
    _scan(cfg, [s.name for s in catalog.by_prefix("canonical.")], needles, start, on_canonical, report, max_records)
    _scan(
        cfg,
        [s.name for s in catalog.by_prefix("dlq.")],
        needles,
        start,
        lambda m: report.dead_letters.append(_hop(m, {})),
        report,
        max_records,
    )
    known = {row["milestone_id"] for row in report.ledger}
    more = {n for n in needles if n not in known} - {query}
    for row in ledger_rows(database_url, more, ledger_schema):
        if (row["sink"], row["milestone_id"]) not in {(r["sink"], r["milestone_id"]) for r in report.ledger}:
            report.ledger.append(row)
    for hop in report.raw + report.canonical + report.dead_letters:
        tid = trace_id_of(list(hop.headers.items()))
        if tid:
            report.trace_ids.add(tid)
    report.seconds = round(time.monotonic() - t0, 2)
    return report
