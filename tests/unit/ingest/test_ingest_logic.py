"""Pure pieces of ingest: auth and replay cache, token buckets, generic validation, extraction, records, errors."""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from pathlib import Path

import pytest
from aiohttp.http_exceptions import BadHttpMessage
from hypothesis import given, settings
from hypothesis import strategies as st

from backbone.errors import ConfigError, RetryableError, SerializationError
from backbone.serialization import AvroSerde
from backbone.signatures import SignatureError
from services.ingest.app import _encoder
from services.ingest.auth import Authenticator, ReplayCache, bearer_token
from services.ingest.errors import (
    InvalidShapeError,
    MissingFieldError,
    RateLimitedError,
    ReplayError,
    problem_for,
)
from services.ingest.extract import extract
from services.ingest.generic import is_rfc3339, validate_generic
from services.ingest.middleware import ClientProtocolErrorFilter
from services.ingest.partners import PartnerDirectory, load_partners
from services.ingest.ratelimit import TokenBucket
from services.ingest.records import Envelope, build_record, correlation_id_from, uuid7
from tests.conftest import partner_fixture, partner_fixture_bytes
from tests.unit.ingest._support import make_config, raw_serde, sign


@pytest.fixture
def directory(tmp_path: Path) -> PartnerDirectory:
    return load_partners(make_config(tmp_path))


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_replay_cache_expires_and_stays_bounded() -> None:
    clock = Clock()
    cache = ReplayCache(max_entries=3, clock=clock)
    assert cache.reserve("a", 10) and not cache.reserve("a", 10)
    clock.now += 11
    assert cache.reserve("a", 10)  # expired: a fresh claim
    for key in "bcde":
        cache.reserve(key, 100)
    assert len(cache) == 3
    cache.release("e")
    assert cache.reserve("e", 10)


def test_standard_webhooks_replay_is_scoped_to_the_partner_and_released_on_failure(directory: PartnerDirectory) -> None:
    auth = Authenticator(directory, ReplayCache())
    body = partner_fixture_bytes("shipbob_order_shipped.json")
    headers = sign("shipbob", body, msg_id="msg_1")
    verified = auth.verify_webhook(directory.partners["shipbob"], body, headers, {})
    assert verified.scheme == "standard-webhooks" and verified.message_id == "msg_1"
    with pytest.raises(ReplayError):
        auth.verify_webhook(directory.partners["shipbob"], body, headers, {})
    auth.release(verified)
    assert auth.verify_webhook(directory.partners["shipbob"], body, headers, {}).replay_key == "shipbob:msg_1"


def test_forged_ids_never_enter_the_replay_cache(directory: PartnerDirectory) -> None:
    auth = Authenticator(directory, ReplayCache())
    body = b"{}"
    forged = sign("shipbob", body, msg_id="msg_victim", secret="whsec_" + "Zm9yZ2VkLWtleS0wMDAwMDAwMDAw")
    with pytest.raises(SignatureError):
        auth.verify_webhook(directory.partners["shipbob"], body, forged, {})
    assert auth.verify_webhook(directory.partners["shipbob"], body, sign("shipbob", body, msg_id="msg_victim"), {})


def test_shippo_schemes(directory: PartnerDirectory) -> None:
    auth = Authenticator(directory, ReplayCache())
    body = partner_fixture_bytes("shippo_track_updated.json")
    shippo = directory.partners["shippo"]
    assert auth.verify_webhook(shippo, body, {}, {"token": shippo.secrets[0]}).scheme == "shippo-token"
    for bad in ({}, {"token": "nope"}):
        with pytest.raises(SignatureError):
            auth.verify_webhook(shippo, body, {}, bad)
    hmac_partner = directory.partners["shippo-hmac"]
    headers = sign("shippo-hmac", body)
    assert auth.verify_webhook(hmac_partner, body, headers, {}).scheme == "shippo-hmac"
    with pytest.raises(ReplayError):
        auth.verify_webhook(hmac_partner, body, headers, {})
    with pytest.raises(SignatureError, match="is not"):
        auth.verify_webhook(hmac_partner, body, {"Shippo-Auth-Signature": "t=1,v1=zz"}, {})


def test_bearer_token_parsing() -> None:
    assert bearer_token({"Authorization": "Bearer abc"}) == "abc"
    assert bearer_token({"Authorization": "bearer   abc  "}) == "abc"
    assert bearer_token({"Authorization": "Basic abc"}) is None
    assert bearer_token({"Authorization": "Bearer "}) is None
    assert bearer_token({}) is None


def test_token_bucket_refills_and_lets_big_batches_go_into_debt() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=20, clock=clock)
    assert all(bucket.take() == 0 for _ in range(20))
    assert bucket.take() == pytest.approx(0.1)
    clock.now += 1.0  # 10 tokens back
    assert bucket.take(10) == 0
    clock.now += 2.0  # full again (20)
    assert bucket.take(50) == 0  # a batch larger than the burst passes once, into debt
    assert bucket.take(1) == pytest.approx(3.1)  # 30 of debt + 1 at 10/s


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2026-11-20T10:42:00+01:00", True),
        ("2026-11-20T10:42:00Z", True),
        ("2026-11-20t10:42:00.123456789z", True),
        ("2016-12-31T23:59:60Z", True),
        ("2026-11-20T10:42:00", False),  # no offset: RFC 3339 requires one
        ("2026-02-30T10:42:00Z", False),
        ("2026-11-20 10:42:00Z", False),
        ("2026-11-20T24:00:00Z", False),
        ("2026-11-20T10:42:00+24:00", False),
        ("yesterday", False),
    ],
)
def test_rfc3339(value: str, ok: bool) -> None:
    assert is_rfc3339(value) is ok


def test_generic_validation_distinguishes_missing_from_wrong() -> None:
    event = partner_fixture("generic_milestone.json")
    assert validate_generic(event) is event
    with pytest.raises(MissingFieldError, match="occurred_at"):
        validate_generic({k: v for k, v in event.items() if k != "occurred_at"})
    for bad in (
        {"kind": "pallet"},
        {"code": ""},
        {"shipment": "JJD"},
        {"shipment": {"tracking_number": 7}},
        {"event_id": "x" * 201},
        {"note": None},
    ):
        with pytest.raises(InvalidShapeError):
            validate_generic(event | bad)
    with pytest.raises(InvalidShapeError):
        validate_generic([event])


@pytest.mark.parametrize(
    ("fmt", "fixture", "key", "event_id", "event_type"),
    [
        (
            "easypost.event.v2",
            "easypost_tracker_updated.json",
            "9400110898825022579493",
            "evt_5b1c2f0a9e0d4f6fa1c3b7e2d4a6c8e0",
            "tracker.updated",
        ),
        (
            "aftership.webhook.v4",
            "aftership_tracking_update.json",
            "1Z999AA10123456784",
            "6f0c7d52-3a1b-4f2e-9c8d-7b6a5e4d3c2b",
            "tracking_update",
        ),
        ("shippo.track_updated", "shippo_track_updated.json", "9205590164917312751089", None, "track_updated"),
        ("shiphero.shipment_update", "shiphero_shipment_update.json", "SO-2026-0419", None, "Shipment Update"),
        ("shipbob.webhook", "shipbob_order_shipped.json", "SO-2026-0420", None, "order.shipped"),
        ("generic.milestone.v1", "generic_milestone.json", "JJD000390007882231", "tms-2026-11-20-000481", "shipment"),
    ],
)
def test_extract_per_format(fmt: str, fixture: str, key: str, event_id: str | None, event_type: str) -> None:
    facts = extract(fmt, partner_fixture(fixture))
    assert (facts.natural_key, facts.vendor_event_id, facts.event_type) == (key, event_id, event_type)


def test_extract_never_fails() -> None:
    assert extract("easypost.event.v2", {"result": {"tracking_code": {"nested": 1}}}).natural_key is None
    assert extract("shipbob.webhook", {}, {"x-webhook-topic": "order.shipped"}).event_type == "order.shipped"
    assert extract("unknown.v1", {"id": 1}).natural_key is None
    assert extract("easypost.event.v2", [1, 2]).natural_key is None
    assert extract("shiphero.x", {"order_number": True}).natural_key is None


def test_uuid7_is_version_7_time_ordered_and_unique() -> None:
    first, second = uuid7(), (time.sleep(0.002), uuid7())[1]
    assert uuid.UUID(first).version == 7 and uuid.UUID(first).variant == uuid.RFC_4122
    assert str(uuid.UUID(first)) == first
    assert first < second
    many = [uuid7() for _ in range(2000)]  # crosses several refills of the random pool
    assert len(set(many)) == 2000


def test_correlation_id_is_kept_only_when_sane() -> None:
    assert correlation_id_from({"X-Correlation-Id": "req-1:abc"}) == "req-1:abc"
    for bad in ("", "a b", "x" * 200, "<script>", "é"):
        assert correlation_id_from({"X-Correlation-Id": bad}, generate=lambda: "fresh") == "fresh"


def test_build_record_key_headers_and_value(directory: PartnerDirectory) -> None:
    serde = raw_serde()
    body = partner_fixture_bytes("shipbob_order_shipped.json")
    verified = Authenticator(directory, ReplayCache()).verify_webhook(
        directory.partners["shipbob"], body, sign("shipbob", body, msg_id="msg_9"), {}
    )
    record = build_record(
        topic="raw.warehouse.v1",
        payload=body,
        verified=verified,
        envelope=Envelope("corr", 1_700_000_000_000_000, "application/json", "10.0.0.1"),
        facts=extract("shipbob.webhook", json.loads(body)),
        encode=lambda _t, r: serde.encode(r),
    )
    assert record.key == b"shipbob:SO-2026-0420" and record.event_id == "msg_9"
    value = serde.decode(record.value)
    assert value["payload"] == body and value["signature_scheme"] == "standard-webhooks"
    assert value["source_ip"] == "10.0.0.1" and value["natural_key"] == "SO-2026-0420"
    assert dict(record.headers)["event_type"] == b"order.shipped"


def test_problems_are_chosen_by_class() -> None:
    assert problem_for(SignatureError("stale_timestamp", "old", scheme="x")).status == 401
    assert problem_for(ReplayError("replayed", "again")).status == 409
    limited = problem_for(RateLimitedError("slow down", retry_after=0.2))
    assert (limited.status, limited.headers["Retry-After"]) == (429, "1")
    down = problem_for(RetryableError("broker", retry_after=1.0), retry_after_s=7)
    assert (down.status, down.reason, down.headers["Retry-After"]) == (503, "kafka_unavailable", "7")
    assert problem_for(TimeoutError()).status == 503
    assert problem_for(ConfigError("bad")).status == 503
    assert problem_for(ValueError("bug")).status == 500


_text = st.text(max_size=80)
_SHARED_ENCODER = _encoder({"raw": raw_serde()})  # shared across examples: its reused timestamp is exercised


@given(
    record=st.fixed_dictionaries(
        {
            "event_id": _text,
            "partner": _text,
            "channel": _text,
            "format": _text,
            "received_at": st.integers(min_value=-(2**63), max_value=2**63 - 1),
            "content_type": _text,
            "payload": st.binary(max_size=300),
            "signature_scheme": _text,
            "correlation_id": _text,
            "source_ip": st.none() | _text,
            "natural_key": st.none() | _text,
        }
    )
)
@settings(max_examples=300, deadline=None)
def test_ingest_encoder_is_byte_identical_to_the_serde(record: dict[str, object]) -> None:
    serde = raw_serde()
    expected = serde.encode(record)
    assert expected[:5] == b"\x00\x00\x00\x00\x01"  # Confluent framing: magic 0, schema id 1
    assert _encoder({"raw": serde})("raw", record) == expected
    assert _SHARED_ENCODER("raw", record) == expected
    assert _SHARED_ENCODER("raw", record) == expected  # second time from the reused parts


def test_ingest_encoder_frames_with_each_topics_schema_id() -> None:
    record = {"event_id": "e", "partner": "p", "channel": "c", "format": "f", "received_at": 1,
              "content_type": "application/json", "payload": b"{}", "signature_scheme": "api-key",
              "correlation_id": "corr", "source_ip": None, "natural_key": "n"}
    encode = _encoder({"a": AvroSerde(1, raw_serde().schema), "b": AvroSerde(70_000, raw_serde().schema)})
    assert encode("a", record) == AvroSerde(1, raw_serde().schema).encode(record)
    assert encode("b", record) == AvroSerde(70_000, raw_serde().schema).encode(record)
    assert encode("b", record)[:5] == b"\x00" + (70_000).to_bytes(4, "big")


def test_ingest_encoder_keeps_fastavro_for_what_it_cannot_compile() -> None:
    schema = {"type": "record", "name": "M", "fields": [{"name": "m", "type": {"type": "map", "values": "long"}}]}
    serde = AvroSerde(3, schema)
    assert _encoder({"t": serde})("t", {"m": {"a": 1}}) == serde.encode({"m": {"a": 1}})


@pytest.mark.parametrize(
    "change",
    [{"event_id": 1}, {"payload": "text, not bytes"}, {"received_at": "now"}, {"partner": None}, {"natural_key": 5}],
)
def test_a_record_that_does_not_fit_is_a_serialization_error_and_a_503(change: dict[str, object]) -> None:
    record = {"event_id": "e", "partner": "p", "channel": "c", "format": "f", "received_at": 1,
              "content_type": "application/json", "payload": b"{}", "signature_scheme": "api-key",
              "correlation_id": "corr", "source_ip": None, "natural_key": None, **change}
    with pytest.raises(SerializationError) as caught:
        _encoder({"raw": raw_serde()})("raw", record)
    with pytest.raises(SerializationError):  # what fastavro says of the same record
        raw_serde().encode(record)
    problem = problem_for(caught.value)
    assert (problem.status, problem.reason) == (503, "unavailable")


def test_a_record_missing_a_required_field_is_a_serialization_error() -> None:
    with pytest.raises(SerializationError):
        _encoder({"raw": raw_serde()})("raw", {"event_id": "e"})


def test_client_protocol_errors_are_one_line_warnings() -> None:
    record = logging.LogRecord("aiohttp.server", logging.ERROR, "", 0, "Error handling request", (), None)
    try:
        raise BadHttpMessage("Invalid header value char")
    except BadHttpMessage:
        record.exc_info = sys.exc_info()
    assert ClientProtocolErrorFilter().filter(record)
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage() == "malformed HTTP request refused: BadHttpMessage"
