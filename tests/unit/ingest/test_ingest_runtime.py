"""Trace propagation into Kafka headers, the JSON access log, and graceful shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from backbone.serialization import AvroSerde
from backbone.shutdown import GracefulShutdown
from backbone.stack.process import free_port
from backbone.telemetry import setup_tracing
from services.ingest.app import create_app, serve
from services.ingest.config import IngestConfig
from services.ingest.middleware import AccessLogger
from tests.conftest import partner_fixture_bytes
from tests.unit.ingest._support import SECRETS, FakeProducer, encoder, query, sign

INCOMING_TRACE = "0af7651916cd43dd8448eb211c80319c"


async def test_span_per_request_is_continued_into_kafka_headers(client: TestClient, producer: FakeProducer) -> None:
    exporter = InMemorySpanExporter()
    setup_tracing("ingest-test", exporter, simple=True)
    body = partner_fixture_bytes("aftership_tracking_update.json")
    headers = {**sign("aftership", body), "traceparent": f"00-{INCOMING_TRACE}-b7ad6b7169203331-01"}
    resp = await client.post("/v1/webhooks/aftership", data=body, headers=headers)
    assert resp.status == 202
    spans = [s for s in exporter.get_finished_spans() if s.name == "POST /v1/webhooks/{partner}"]
    assert spans, "no server span"
    span = spans[-1]
    assert format(span.context.trace_id, "032x") == INCOMING_TRACE
    assert span.attributes is not None and span.attributes["partner"] == "aftership"
    traceparent = producer.sent[0].headers["traceparent"].decode()
    assert traceparent.split("-")[1] == INCOMING_TRACE
    assert traceparent.split("-")[2] == format(span.context.span_id, "016x")


async def test_access_log_is_json_without_bodies_or_secrets(
    cfg: IngestConfig, producer: FakeProducer, serde: AvroSerde, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("services.ingest.access")
    app = create_app(cfg, producer, encoder=encoder(serde))
    server = TestServer(app, host="127.0.0.1")
    body = partner_fixture_bytes("shippo_track_updated.json")
    with caplog.at_level(logging.INFO, logger="services.ingest.access"):
        await server.start_server(access_log_class=AccessLogger, access_log=logger)
        async with TestClient(server) as client:
            resp = await client.post(
                "/v1/webhooks/shippo", data=body, headers=sign("shippo", body), params=query("shippo")
            )
            assert resp.status == 202
    lines = [r.getMessage() for r in caplog.records if r.name == "services.ingest.access"]
    assert lines, "no access log line"
    line = lines[-1]
    assert json.loads(line)["service"] == "ingest"
    assert '"status":202' in line and '"partner":"shippo"' in line and '"path":"/v1/webhooks/shippo"' in line
    assert SECRETS["shippo"] not in line  # the URL token never reaches the log
    assert "9205590164917312751089" not in line and "Spotsylvania" not in line


async def test_graceful_shutdown_drains_in_flight_requests_then_flushes(
    tmp_path: Path, cfg: IngestConfig, serde: AvroSerde
) -> None:
    producer = FakeProducer(ack_delay_s=0.5)
    stop = GracefulShutdown()
    port = free_port()
    app = create_app(cfg, producer, encoder=encoder(serde))
    server = asyncio.create_task(serve(cfg, "127.0.0.1", port, app=app, stop=stop))
    body = partner_fixture_bytes("shiphero_shipment_update.json")
    async with aiohttp.ClientSession() as session:
        for _ in range(50):
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as probe:
                    if probe.status == 200:
                        break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
        in_flight = asyncio.create_task(
            session.post(f"http://127.0.0.1:{port}/v1/webhooks/shiphero", data=body, headers=sign("shiphero", body))
        )
        await asyncio.sleep(0.1)  # the request is waiting for its (slow) Kafka acknowledgement
        stop.request("test")
        resp = await in_flight
        assert resp.status == 202
        await asyncio.wait_for(server, timeout=5)
    assert len(producer.sent) == 1
    assert producer.flushed >= 1
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
