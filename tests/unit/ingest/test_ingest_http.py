"""ingest over HTTP with an in-memory producer: every answer code, records, headers, per-line batches."""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from backbone.errors import RetryableError
from backbone.serialization import AvroSerde
from services.ingest.app import create_app
from services.ingest.state import STATE
from tests.conftest import partner_fixture_bytes
from tests.unit.ingest._support import FIXTURES, SECRETS, FakeProducer, encoder, make_config, query, sign

GENERIC = partner_fixture_bytes("generic_milestone.json")
GENERIC_LINE = json.dumps(json.loads(GENERIC), separators=(",", ":")).encode()


def bearer(partner: str = "generic-tms") -> dict[str, str]:
    return {"Authorization": f"Bearer {SECRETS[partner]}"}


async def post_webhook(client: TestClient, partner: str, body: bytes, **sign_kw: Any) -> Any:
    return await client.post(
        f"/v1/webhooks/{partner}", data=body, headers=sign(partner, body, **sign_kw), params=query(partner)
    )


@pytest.mark.parametrize(("fixture", "partner"), sorted(FIXTURES.items()))
async def test_every_fixture_is_accepted_and_stored_byte_for_byte(
    client: TestClient, producer: FakeProducer, serde: AvroSerde, fixture: str, partner: str
) -> None:
    body = partner_fixture_bytes(fixture)
    path = "/v1/events" if partner == "generic-tms" else f"/v1/webhooks/{partner}"
    resp = await client.post(
        path, data=body, headers={**sign(partner, body), "X-Correlation-Id": "corr-42"}, params=query(partner)
    )
    answer = await resp.json()
    assert resp.status == 202, answer
    assert answer["status"] == "accepted" and answer["correlation_id"] == "corr-42"
    (sent,) = producer.sent
    record = serde.decode(sent.value or b"")
    assert record["payload"] == body
    assert record["partner"] == partner and record["event_id"] == answer["event_id"]
    assert record["correlation_id"] == "corr-42"
    assert sent.headers["event_id"] == answer["event_id"].encode()
    assert sent.headers["correlation_id"] == b"corr-42"
    assert sent.headers["partner"] == partner.encode()
    assert sent.headers["format"] == record["format"].encode()
    assert sent.key == f"{partner}:{record['natural_key']}".encode()
    assert resp.headers["X-Correlation-Id"] == "corr-42"


async def test_topics_follow_the_partner_channel(client: TestClient, producer: FakeProducer) -> None:
    for partner, fixture in (
        ("shiphero", "shiphero_shipment_update.json"),
        ("easypost", "easypost_tracker_updated.json"),
    ):
        resp = await post_webhook(client, partner, partner_fixture_bytes(fixture))
        assert resp.status == 202
    assert [s.topic for s in producer.sent] == ["raw.warehouse.v1", "raw.carrier-tracking.v1"]


WEBHOOK_CASES = [
    *sorted((f, p) for f, p in FIXTURES.items() if p != "generic-tms"),
    ("shippo_track_updated.json", "shippo-hmac"),
]


@pytest.mark.parametrize(("fixture", "partner"), WEBHOOK_CASES)
async def test_tampered_body_and_wrong_secret_are_401(
    client: TestClient, producer: FakeProducer, fixture: str, partner: str
) -> None:
    body = partner_fixture_bytes(fixture)
    if partner != "shippo":  # Shippo's URL-token option does not sign the body (shippo-hmac does)
        tampered = body.replace(b"2026", b"2027", 1)
        resp = await client.post(
            f"/v1/webhooks/{partner}", data=tampered, headers=sign(partner, body), params=query(partner)
        )
        assert resp.status == 401
        assert (await resp.json())["reason"] == "bad_signature"
    wrong = "whsec_" + "d3Jvbmctc2VjcmV0LWtleS0wMDAw" if partner == "shipbob" else "wrong-secret-000000"
    resp = await client.post(
        f"/v1/webhooks/{partner}",
        data=body,
        headers=sign(partner, body, secret=wrong),
        params=query(partner, secret=wrong),
    )
    assert resp.status == 401
    assert (await resp.json())["reason"] == "bad_signature"
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    resp = await client.post(f"/v1/webhooks/{partner}", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 401
    assert (await resp.json())["reason"] == "missing_signature"
    assert producer.sent == []


@pytest.mark.parametrize("partner", ["shipbob", "shippo-hmac"])
async def test_stale_timestamp_and_replay_are_refused(client: TestClient, producer: FakeProducer, partner: str) -> None:
    body = partner_fixture_bytes("shipbob_order_shipped.json")
    resp = await post_webhook(client, partner, body, timestamp=int(time.time()) - 301)
    assert resp.status == 401
    assert (await resp.json())["reason"] == "stale_timestamp"
    headers = sign(partner, body, msg_id="msg_replay_1")
    first = await client.post(f"/v1/webhooks/{partner}", data=body, headers=headers)
    again = await client.post(f"/v1/webhooks/{partner}", data=body, headers=headers)
    assert first.status == 202
    assert again.status == 409
    assert (await again.json())["reason"] == "replayed"
    assert len(producer.sent) == 1


async def test_a_503_does_not_burn_the_message_id(client: TestClient, producer: FakeProducer) -> None:
    body = partner_fixture_bytes("shipbob_order_shipped.json")
    headers = sign("shipbob", body, msg_id="msg_retry_after_503")
    producer.fail = RetryableError("broker down")
    failed = await client.post("/v1/webhooks/shipbob", data=body, headers=headers)
    assert failed.status == 503
    assert int(failed.headers["Retry-After"]) >= 1
    producer.fail = None
    retried = await client.post("/v1/webhooks/shipbob", data=body, headers=headers)
    assert retried.status == 202
    assert (await retried.json())["event_id"] == "msg_retry_after_503"


async def test_kafka_timeout_is_503_never_2xx(client: TestClient, producer: FakeProducer) -> None:
    producer.hang = True
    body = partner_fixture_bytes("easypost_tracker_updated.json")
    resp = await post_webhook(client, "easypost", body)
    assert resp.status == 503
    assert (await resp.json())["reason"] == "kafka_unavailable"
    assert "Retry-After" in resp.headers


async def test_known_broker_outage_fails_fast(client: TestClient, producer: FakeProducer) -> None:
    client.app[STATE].health.down_since = 1.0
    body = partner_fixture_bytes("easypost_tracker_updated.json")
    resp = await asyncio.wait_for(post_webhook(client, "easypost", body), timeout=1.0)
    assert resp.status == 503
    assert producer.sent == []
    ready = await client.get("/readyz")
    assert ready.status == 200  # the probe answered: Kafka is back and writes are accepted again
    assert (await post_webhook(client, "easypost", body)).status == 202


async def test_unknown_partner_is_404(client: TestClient) -> None:
    resp = await client.post("/v1/webhooks/fedex", data=b"{}", headers={"Content-Type": "application/json"})
    assert resp.status == 404
    assert (await resp.json())["reason"] == "unknown_partner"


async def test_wrong_content_type_is_415(client: TestClient) -> None:
    body = partner_fixture_bytes("easypost_tracker_updated.json")
    headers = {**sign("easypost", body), "Content-Type": "text/plain"}
    resp = await client.post("/v1/webhooks/easypost", data=body, headers=headers)
    assert resp.status == 415
    resp = await client.post("/v1/events", data=GENERIC, headers={**bearer(), "Content-Type": "text/csv"})
    assert resp.status == 415


async def test_body_over_the_partner_limit_is_413(client: TestClient) -> None:
    big = b'{"pad": "' + b"x" * 1_100_000 + b'"}'
    resp = await client.post("/v1/webhooks/easypost", data=io.BytesIO(big), headers=sign("easypost", big))
    assert resp.status == 413
    assert (await resp.json())["reason"] == "payload_too_large"

    async def chunks() -> Any:
        for _ in range(20):
            yield b"x" * 65_536

    resp = await client.post("/v1/webhooks/easypost", data=chunks(), headers=sign("easypost", b""))
    assert resp.status == 413


async def test_malformed_json_is_400_and_wrong_shape_is_422(client: TestClient) -> None:
    resp = await post_webhook(client, "easypost", b'{"id": ')
    assert resp.status == 400
    assert (await resp.json())["reason"] == "malformed_json"
    resp = await post_webhook(client, "easypost", b"[1, 2]")
    assert resp.status == 422
    missing = json.dumps({"kind": "shipment", "code": "DELIVERED", "occurred_at": "2026-01-01T00:00:00Z"}).encode()
    resp = await client.post("/v1/events", data=missing, headers={**bearer(), "Content-Type": "application/json"})
    assert resp.status == 400
    assert "event_id" in (await resp.json())["detail"]
    bad_kind = json.loads(GENERIC) | {"kind": "pallet"}
    resp = await client.post("/v1/events", json=bad_kind, headers=bearer())
    assert resp.status == 422


async def test_rate_limit_is_429_with_retry_after(client: TestClient, producer: FakeProducer) -> None:
    answers = []
    for n in range(12):  # tms-two: burst 10, 5/s
        event = json.loads(GENERIC) | {"event_id": f"rl-{n}"}
        resp = await client.post("/v1/events", json=event, headers=bearer("tms-two"))
        answers.append(resp.status)
    assert answers[:10] == [202] * 10
    assert answers[10] == 429
    last = await client.post("/v1/events", json=json.loads(GENERIC), headers=bearer("tms-two"))
    assert last.status == 429 and int(last.headers["Retry-After"]) >= 1
    assert len(producer.sent) == 10


async def test_api_keys_never_write_as_another_partner(client: TestClient, producer: FakeProducer) -> None:
    resp = await client.post("/v1/events", json=json.loads(GENERIC), headers={**bearer(), "X-Partner-Id": "tms-two"})
    assert resp.status == 403 and (await resp.json())["reason"] == "wrong_partner"
    odoo_body = b'{"event": "order.released", "order_ref": "SO-1"}'
    resp = await client.post(
        "/v1/webhooks/odoo", data=odoo_body, headers={**bearer("generic-tms"), "Content-Type": "application/json"}
    )
    assert resp.status == 403 and (await resp.json())["reason"] == "wrong_partner"
    resp = await client.post("/v1/events", json=json.loads(GENERIC), headers=bearer("odoo"))
    assert resp.status == 403 and (await resp.json())["reason"] == "format_not_allowed"
    resp = await client.post("/v1/events", json=json.loads(GENERIC), headers={"Authorization": "Bearer nope-nope"})
    assert resp.status == 401 and (await resp.json())["reason"] == "invalid_api_key"
    resp = await client.post("/v1/events", json=json.loads(GENERIC))
    assert resp.status == 401 and (await resp.json())["reason"] == "missing_api_key"
    assert producer.sent == []
    resp = await client.post(
        "/v1/webhooks/odoo", data=odoo_body, headers={**bearer("odoo"), "Content-Type": "application/json"}
    )
    assert resp.status == 202
    assert producer.sent[0].topic == "raw.erp.v1" and producer.sent[0].key == b"odoo:SO-1"


async def test_ndjson_batch_answers_per_line(client: TestClient, producer: FakeProducer, serde: AvroSerde) -> None:
    lines = [
        GENERIC_LINE,
        b"",
        b'{"kind": "shipment"}',
        b"not json",
        json.dumps(json.loads(GENERIC) | {"event_id": "second", "occurred_at": "yesterday"}).encode(),
        json.dumps(json.loads(GENERIC) | {"event_id": "third"}).encode() + b"\r",
    ]
    resp = await client.post(
        "/v1/events", data=b"\n".join(lines), headers={**bearer(), "Content-Type": "application/x-ndjson"}
    )
    answer = await resp.json()
    assert resp.status == 202, answer
    assert answer["status"] == "partial" and answer["accepted"] == 2 and answer["rejected"] == 3
    by_line = {r["line"]: r for r in answer["results"]}
    assert by_line[1]["status"] == "accepted" and by_line[1]["event_id"] == "tms-2026-11-20-000481"
    assert by_line[3]["reason"] == "missing_field" and by_line[3]["http_status"] == 400
    assert by_line[4]["reason"] == "malformed_json"
    assert by_line[5]["reason"] == "invalid_shape" and by_line[5]["http_status"] == 422
    assert by_line[6]["status"] == "accepted"
    payloads = [serde.decode(s.value or b"")["payload"] for s in producer.sent]
    assert payloads == [GENERIC_LINE, lines[5].rstrip(b"\r")]


async def test_batch_all_rejected_and_too_large(client: TestClient, cfg: Any) -> None:
    resp = await client.post(
        "/v1/events", data=b"nope\n{bad\n", headers={**bearer(), "Content-Type": "application/x-ndjson"}
    )
    assert resp.status == 400 and (await resp.json())["status"] == "rejected"
    resp = await client.post("/v1/events", data=b"\n\n", headers={**bearer(), "Content-Type": "application/x-ndjson"})
    assert resp.status == 400 and (await resp.json())["reason"] == "empty_batch"
    too_many = b"\n".join([GENERIC_LINE] * (cfg.max_batch_events + 1))
    resp = await client.post("/v1/events", data=too_many, headers={**bearer(), "Content-Type": "application/x-ndjson"})
    assert resp.status == 413 and (await resp.json())["reason"] == "batch_too_large"


async def test_batch_with_kafka_down_is_503_per_line(client: TestClient, producer: FakeProducer) -> None:
    producer.fail = RetryableError("not enough replicas")
    resp = await client.post(
        "/v1/events",
        data=GENERIC_LINE + b"\n" + GENERIC_LINE,
        headers={**bearer(), "Content-Type": "application/x-ndjson"},
    )
    answer = await resp.json()
    assert resp.status == 503 and "Retry-After" in resp.headers
    assert [r["status"] for r in answer["results"]] == ["unavailable", "unavailable"]


async def test_probes_metrics_and_openapi(client: TestClient, producer: FakeProducer) -> None:
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200
    producer.healthy_answer = False
    client.app[STATE]._probe_at = 0.0  # bypass the readiness cache
    assert (await client.get("/readyz")).status == 503
    await client.post("/v1/webhooks/easypost", data=b"{}", headers={"Content-Type": "application/json"})
    text = await (await client.get("/metrics")).text()
    assert 'backbone_ingest_rejections_total{partner="easypost",reason="missing_signature"} 1.0' in text
    assert "backbone_ingest_request_duration_seconds_bucket" in text
    spec = await (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    assert "easypost" in spec["paths"]["/v1/webhooks/{partner}"]["post"]["parameters"][0]["schema"]["enum"]
    resp = await client.get("/v1/events")
    assert resp.status == 405 and (await resp.json())["reason"] == "method_not_allowed"


async def test_one_event_over_the_event_limit_is_413_and_its_batch_neighbours_pass(
    tmp_path: Any, producer: FakeProducer, serde: AvroSerde
) -> None:
    cfg = make_config(tmp_path, max_event_bytes=1024)
    async with TestClient(TestServer(create_app(cfg, producer, encoder=encoder(serde)), host="127.0.0.1")) as client:
        big = json.dumps(json.loads(GENERIC) | {"note": "x" * 1000}).encode()
        resp = await client.post("/v1/events", data=big, headers={**bearer(), "Content-Type": "application/json"})
        assert resp.status == 413 and (await resp.json())["reason"] == "event_too_large"
        resp = await client.post(
            "/v1/events", data=GENERIC_LINE + b"\n" + big, headers={**bearer(), "Content-Type": "application/x-ndjson"}
        )
        answer = await resp.json()
        assert resp.status == 202
        assert [r["status"] for r in answer["results"]] == ["accepted", "rejected"]
        assert answer["results"][1]["http_status"] == 413
