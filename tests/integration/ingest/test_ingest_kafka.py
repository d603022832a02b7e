"""Every partner fixture through ingest into the real broker, and every refusal writes nothing."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from backbone.telemetry import setup_tracing
from services.ingest.app import create_app
from services.ingest.config import IngestConfig
from tests.conftest import IsolatedTopics, StackEndpoints, partner_fixture_bytes
from tests.integration.ingest.conftest import read_topic
from tests.unit.ingest._support import FIXTURES, SECRETS, make_config, query, sign

pytestmark = pytest.mark.integration

RAW_ROLES = ("raw.carrier-tracking", "raw.warehouse", "raw.erp")


def _path(partner: str) -> str:
    return "/v1/events" if partner == "generic-tms" else f"/v1/webhooks/{partner}"


async def test_every_fixture_lands_in_its_raw_topic_byte_for_byte(
    live_client: TestClient, stack_env: StackEndpoints, isolated_topics: IsolatedTopics
) -> None:
    setup_tracing("ingest-it")
    answers: dict[str, dict[str, str]] = {}
    cases = [*FIXTURES.items(), ("shippo_track_updated.json", "shippo-hmac")]
    for fixture, partner in cases:
        body = partner_fixture_bytes(fixture)
        resp = await live_client.post(
            _path(partner),
            data=body,
            params=query(partner),
            headers={**sign(partner, body), "X-Correlation-Id": f"it-{partner}"},
        )
        answer = await resp.json()
        assert resp.status == 202, (partner, answer)
        answers[partner] = answer
    tracking = read_topic(stack_env.kafka, stack_env.registry, isolated_topics.name("raw.carrier-tracking"), expect=5)
    warehouse = read_topic(stack_env.kafka, stack_env.registry, isolated_topics.name("raw.warehouse"), expect=2)
    by_partner = {r.value["partner"]: r for r in tracking + warehouse}
    assert sorted(by_partner) == sorted(p for _, p in cases)
    for fixture, partner in cases:
        record = by_partner[partner]
        assert record.value["payload"] == partner_fixture_bytes(fixture), partner
        assert record.value["event_id"] == answers[partner]["event_id"]
        assert record.value["correlation_id"] == f"it-{partner}"
        for header in ("event_id", "correlation_id", "traceparent", "partner", "format"):
            assert header in record.headers, (partner, header)
        assert record.headers["partner"] == partner.encode()
        assert record.key == f"{partner}:{record.value['natural_key']}".encode()
    # One object per partition: the same tracking number always lands on the same partition.
    assert by_partner["generic-tms"].value["natural_key"] == "JJD000390007882231"


async def test_refused_requests_write_nothing(
    live_client: TestClient, stack_env: StackEndpoints, isolated_topics: IsolatedTopics
) -> None:
    refused: list[tuple[str, int]] = []
    for fixture, partner in [*FIXTURES.items(), ("shippo_track_updated.json", "shippo-hmac")]:
        body = partner_fixture_bytes(fixture)
        if partner == "generic-tms":
            resp = await live_client.post(
                _path(partner), data=body, headers={"Authorization": "Bearer wrong-key-0000000000"}
            )
            refused.append((partner, resp.status))
            continue
        if partner != "shippo":  # the URL token does not sign the body
            tampered = body.replace(b"2026", b"2025", 1)
            resp = await live_client.post(
                _path(partner), data=tampered, headers=sign(partner, body), params=query(partner)
            )
            refused.append((partner, resp.status))
        wrong = "whsec_" + "d3Jvbmctc2VjcmV0LWtleS0wMDAw" if partner == "shipbob" else "wrong-secret-0000000"
        resp = await live_client.post(
            _path(partner), data=body, headers=sign(partner, body, secret=wrong), params=query(partner, secret=wrong)
        )
        refused.append((partner, resp.status))
        if partner in ("shipbob", "shippo-hmac"):
            stale = sign(partner, body, timestamp=int(time.time()) - 600)
            resp = await live_client.post(_path(partner), data=body, headers=stale)
            refused.append((partner, resp.status))
    assert refused and all(status == 401 for _, status in refused), refused
    # A replayed signed message: the first copy is stored, the replay is not.
    body = partner_fixture_bytes("shipbob_order_shipped.json")
    headers = sign("shipbob", body, msg_id="msg_it_replay")
    statuses = [(await live_client.post("/v1/webhooks/shipbob", data=body, headers=headers)).status for _ in range(3)]
    assert statuses == [202, 409, 409]
    warehouse = read_topic(stack_env.kafka, stack_env.registry, isolated_topics.name("raw.warehouse"))
    assert [r.value["event_id"] for r in warehouse] == ["msg_it_replay"]
    assert (
        read_topic(stack_env.kafka, stack_env.registry, isolated_topics.name("raw.carrier-tracking"), quiet_s=1) == []
    )


async def test_unreachable_kafka_answers_503_never_2xx(
    stack_env: StackEndpoints, isolated_topics: IsolatedTopics, tmp_path: Path
) -> None:
    cfg: IngestConfig = make_config(
        tmp_path,
        kafka_bootstrap_servers="127.0.0.1:9",
        schema_registry_url=stack_env.registry,
        topics_file=isolated_topics.path,
        produce_timeout_s=2.0,
    )
    async with TestClient(TestServer(create_app(cfg), host="127.0.0.1")) as client:
        assert (await client.get("/readyz")).status == 503
        body = partner_fixture_bytes("easypost_tracker_updated.json")
        started = time.monotonic()
        resp = await client.post("/v1/webhooks/easypost", data=body, headers=sign("easypost", body))
        assert resp.status == 503
        assert int(resp.headers["Retry-After"]) >= 1
        assert time.monotonic() - started < 5
        batch = await client.post(
            "/v1/events",
            data=partner_fixture_bytes("generic_milestone.json").replace(b"\n", b""),
            headers={"Authorization": f"Bearer {SECRETS['generic-tms']}", "Content-Type": "application/x-ndjson"},
        )
        assert batch.status == 503
        assert (await client.get("/healthz")).status == 200
        await asyncio.sleep(0)


async def test_ndjson_batch_is_stored_line_by_line(
    live_client: TestClient, stack_env: StackEndpoints, isolated_topics: IsolatedTopics
) -> None:
    event = json.loads(partner_fixture_bytes("generic_milestone.json"))
    lines = [json.dumps(event | {"event_id": f"batch-{n}"}).encode() for n in range(250)]
    lines[7] = b'{"event_id": "no-kind"}'
    lines[99] = b"{broken"
    body = b"\n".join(lines) + b"\n"
    resp = await live_client.post(
        "/v1/events",
        data=body,
        headers={"Authorization": f"Bearer {SECRETS['generic-tms']}", "Content-Type": "application/x-ndjson"},
    )
    answer = await resp.json()
    assert resp.status == 202, answer
    assert (answer["accepted"], answer["rejected"], answer["unavailable"]) == (248, 2, 0)
    accepted = {r["event_id"] for r in answer["results"] if r["status"] == "accepted"}
    records = read_topic(stack_env.kafka, stack_env.registry, isolated_topics.name("raw.carrier-tracking"), expect=248)
    assert {r.value["event_id"] for r in records} == accepted
    by_id = {r.value["event_id"]: r for r in records}
    assert by_id["batch-0"].value["payload"] == lines[0]
    assert all(r.value["correlation_id"] == answer["correlation_id"] for r in records)
    # Every event of one tracking number shares the key, hence the partition (order per key).
    assert len({(r.key, r.partition) for r in records}) == 1
