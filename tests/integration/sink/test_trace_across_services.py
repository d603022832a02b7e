"""One trace from the ingest HTTP request, through Kafka headers and the normalizer's pipeline, to
the sink's target call, recorded by an in-memory exporter across the real broker and registry.

The normalizer step runs its Faust-free ``Pipeline`` (the code the Faust agent calls per event) so
every span lands in this process's exporter; the Kafka hops between the steps are real.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from confluent_kafka import Consumer
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from backbone import headers as h
from backbone.config import load
from backbone.serialization import SchemaRegistry
from backbone.shutdown import GracefulShutdown
from backbone.sink import SinkRuntime
from backbone.telemetry import setup_tracing
from backbone.topics import load_topics
from services.ingest.app import create_app
from services.ingest.config import IngestConfig
from services.status_normalizer.dedupe import MemoryStore
from services.status_normalizer.parsers import parse
from services.status_normalizer.pipeline import Pipeline, RawMessage
from tests.conftest import partner_fixture_bytes
from tests.integration.sink.conftest import FakeTarget, SinkEnv, eventually, stop_runtime

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    setup_tracing("trace-across-services", spans, simple=True)
    yield spans
    spans.shutdown()


def _one(kafka: str, topic: str, group: str) -> RawMessage:
    consumer = Consumer({"bootstrap.servers": kafka, "group.id": group, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                raw_headers = [(k, v if isinstance(v, bytes) else str(v).encode()) for k, v in (msg.headers() or [])]
                return RawMessage(
                    msg.topic() or "",
                    msg.partition() or 0,
                    msg.offset() or 0,
                    msg.key(),
                    msg.value() or b"",
                    raw_headers,
                    msg.timestamp()[1],
                )
    finally:
        consumer.close()
    raise AssertionError(f"nothing on {topic}")


async def test_one_trace_from_http_request_to_sink_call(
    sink_env: SinkEnv, exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKBONE_INGEST_DEMO_SECRETS", "1")
    catalog = load_topics(sink_env.topics.path)
    # 1. HTTP -> ingest -> raw topic (acks=all), traceparent injected into the Kafka headers.
    async with TestClient(TestServer(create_app(load(IngestConfig)))) as client:
        resp = await client.post(
            "/v1/events",
            data=partner_fixture_bytes("generic_milestone.json"),
            headers={"Authorization": "Bearer demo-generic-tms-key", "Content-Type": "application/json"},
        )
        assert resp.status == 202, await resp.text()
    raw = await asyncio.to_thread(
        _one, sink_env.stack.kafka, catalog.name("raw.carrier-tracking"), f"trace-raw-{sink_env.unique}"
    )
    trace_id = h.get(raw.headers, h.TRACEPARENT).split("-")[1]  # type: ignore[union-attr]

    # 2. The normalizer's pipeline continues the trace and injects it into the canonical record.
    pipeline = Pipeline(SchemaRegistry.connect(sink_env.stack.registry), catalog, parse)
    outputs = pipeline.normalize(raw, MemoryStore())
    assert len(outputs) == 1
    out = outputs[0]
    await sink_env.producer.send(out.topic, out.value, out.key, out.headers)
    assert h.get(out.headers, h.TRACEPARENT).split("-")[1] == trace_id  # type: ignore[union-attr]

    # 3. The sink continues it again around its target call.
    target = FakeTarget()
    stop = GracefulShutdown()
    task = sink_env.start(SinkRuntime(sink_env.config(), target), stop)
    await eventually(lambda: len(target.effects) == 1, what="applied")
    await stop_runtime(task, stop)

    ours = [
        s for s in exporter.get_finished_spans() if s.context is not None and f"{s.context.trace_id:032x}" == trace_id
    ]
    names = {s.name for s in ours}
    assert "normalize" in names
    assert "fake apply" in names
    assert any(s.kind.name == "SERVER" for s in ours), names  # the ingest HTTP request span
    assert len({s.context.trace_id for s in ours if s.context}) == 1
