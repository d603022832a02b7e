"""Shared runtime pieces that need no server: config, DLQ headers, serde framing, logging, ranks."""

from __future__ import annotations

import io
import json
import logging
import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backbone import headers as h
from backbone.canonical import ORDER_RANK, SHIPMENT_RANK, OrderCode, ShipmentCode, allowed_transition
from backbone.config import BackboneConfig, load, read_stack_env
from backbone.dlq import Origin, dlq_headers
from backbone.errors import ConfigError, RetryableError, SerializationError
from backbone.logs import JsonFormatter, correlation
from backbone.serialization import AvroSerde, load_schema, parse_wire_header
from backbone.telemetry import extract_context, inject_headers, setup_tracing, trace_id_of


def test_explicit_env_wins_over_stack_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / "stack.env"
    env_file.write_text("# comment\nKAFKA_BOOTSTRAP_SERVERS=127.0.0.1:1\nSCHEMA_REGISTRY_URL=http://r\n")
    monkeypatch.setenv("BACKBONE_STACK_ENV", str(env_file))
    monkeypatch.delenv("SCHEMA_REGISTRY_URL", raising=False)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker:9092")
    cfg = load(BackboneConfig)
    assert cfg.kafka_bootstrap_servers == "broker:9092"
    assert cfg.schema_registry_url == "http://r"
    assert read_stack_env(env_file)["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:1"


def test_invalid_setting_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKBONE_LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigError, match="BACKBONE_LOG_LEVEL"):
        load(BackboneConfig)


def test_require_names_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BACKBONE_STACK_ENV", str(tmp_path / "none.env"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ConfigError, match="DATABASE_URL is not set"):
        load(BackboneConfig).require("database_url")


def test_sasl_settings_pass_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKBONE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("BACKBONE_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("BACKBONE_KAFKA_SASL_USERNAME", "ingest")
    monkeypatch.setenv("BACKBONE_KAFKA_SASL_PASSWORD", "s3cret")
    conf = load(BackboneConfig).kafka.librdkafka()
    assert conf == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "ingest",
        "sasl.password": "s3cret",
    }
    assert "s3cret" not in repr(load(BackboneConfig))


def test_dlq_headers_keep_originals_and_count_redrives() -> None:
    original = [(h.CORRELATION_ID, b"c-1"), (h.TRACEPARENT, b"00-" + b"a" * 32 + b"-" + b"b" * 16 + b"-01")]
    t1 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    first = dlq_headers(
        original,
        error=ValueError("bad date"),
        stage="parse",
        origin=Origin("raw.x.v1", 2, 41),
        consumer="status_normalizer",
        attempts=1,
        now=t1,
    )
    d = h.to_dict(first)
    assert d[h.CORRELATION_ID] == "c-1"
    assert d[h.ERROR_CLASS] == "ValueError"
    assert d[h.ERROR_MESSAGE] == "bad date"
    assert d[h.ERROR_STAGE] == "parse"
    assert (d[h.ORIGINAL_TOPIC], d[h.ORIGINAL_PARTITION], d[h.ORIGINAL_OFFSET]) == ("raw.x.v1", "2", "41")
    assert d[h.ATTEMPTS] == "1"
    assert d[h.FIRST_FAILURE_AT] == d[h.LAST_FAILURE_AT] == t1.isoformat()
    # Redriven, failed again 3 times: attempts accumulate, first failure time survives.
    t2 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    second = dlq_headers(
        first,
        error=RetryableError("timeout"),
        stage="apply",
        origin=Origin("raw.x.v1", 2, 99),
        consumer="status_normalizer",
        attempts=3,
        now=t2,
    )
    d2 = h.to_dict(second)
    assert d2[h.ATTEMPTS] == "4"
    assert d2[h.FIRST_FAILURE_AT] == t1.isoformat()
    assert d2[h.LAST_FAILURE_AT] == t2.isoformat()
    assert sum(1 for k, _ in second if k == h.ATTEMPTS) == 1


def test_wire_format_framing() -> None:
    schema = load_schema("RawEvent")
    serde = AvroSerde(schema_id=4242, schema=schema)
    record = {
        "event_id": "e1",
        "partner": "p",
        "channel": "c",
        "format": "f",
        "received_at": datetime(2026, 1, 1, tzinfo=UTC),
        "content_type": "application/json",
        "payload": b"{}",
        "signature_scheme": "api-key",
        "correlation_id": "c",
        "source_ip": None,
        "natural_key": None,
    }
    data = serde.encode(record)
    assert data[0] == 0 and struct.unpack(">I", data[1:5])[0] == 4242
    assert parse_wire_header(data) == 4242
    assert serde.decode(data)["payload"] == b"{}"
    with pytest.raises(SerializationError, match="magic"):
        parse_wire_header(b"\x01" + data[1:])
    with pytest.raises(SerializationError, match="too short"):
        parse_wire_header(b"\x00\x00")
    with pytest.raises(SerializationError, match="does not fit"):
        serde.encode({**record, "received_at": "yesterday"})


def test_json_logs_redact_secrets_and_personal_data() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    with correlation("corr-9"):
        logger.info(
            "applied",
            extra={
                "partner": "easypost",
                "api_key": "k",
                "signed_by": "J. Doe",
                "ship_to": {"street": "x"},
                "phone": "+1",
            },
        )
    doc = json.loads(stream.getvalue())
    assert doc["correlation_id"] == "corr-9"
    assert doc["partner"] == "easypost"
    for key in ("api_key", "signed_by", "ship_to", "phone"):
        assert doc[key] == "***"
    assert "J. Doe" not in stream.getvalue()


def test_traceparent_round_trips_through_headers() -> None:
    from opentelemetry import trace

    setup_tracing("test")
    with trace.get_tracer("t").start_as_current_span("http") as span:
        hdrs = inject_headers([(h.CORRELATION_ID, b"c")])
        trace_id = format(span.get_span_context().trace_id, "032x")
    assert trace_id_of(hdrs) == trace_id
    ctx = extract_context(hdrs)
    assert format(trace.get_current_span(ctx).get_span_context().trace_id, "032x") == trace_id


def test_ranks_never_move_backwards() -> None:
    delivered, transit = SHIPMENT_RANK[ShipmentCode.DELIVERED], SHIPMENT_RANK[ShipmentCode.IN_TRANSIT]
    assert not allowed_transition(delivered, transit)
    assert allowed_transition(transit, delivered)
    assert allowed_transition(delivered, SHIPMENT_RANK[ShipmentCode.RETURN_TO_SENDER])
    assert not allowed_transition(delivered, SHIPMENT_RANK[ShipmentCode.EXCEPTION])
    assert ORDER_RANK[OrderCode.SHIPPED] > ORDER_RANK[OrderCode.PACKED] > ORDER_RANK[OrderCode.ORDER_RELEASED]
    assert set(SHIPMENT_RANK) == set(ShipmentCode)
    assert set(ORDER_RANK) == set(OrderCode)


def test_schema_enums_match_canonical_codes() -> None:
    shipment = json.dumps(load_schema("ShipmentMilestone"))
    for code in ShipmentCode:
        assert f'"{code.value}"' in shipment
    order = json.dumps(load_schema("OrderMilestone"))
    for ocode in OrderCode:
        assert f'"{ocode.value}"' in order


def test_shared_settings_keep_their_names_under_a_service_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from backbone.config import service_config

    class DemoConfig(BackboneConfig):
        model_config = service_config("DEMO_")
        port: int = 1

    monkeypatch.setenv("BACKBONE_TOPICS_FILE", str(tmp_path / "t.yaml"))
    monkeypatch.setenv("BACKBONE_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("BACKBONE_DEMO_PORT", "9")
    cfg = load(DemoConfig)
    assert (cfg.topics_file, cfg.log_level, cfg.port) == (tmp_path / "t.yaml", "WARNING", 9)
