"""Multi-carrier (EasyPost-like) simulator: shipments, labels, trackers, signed events, rate limits."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from backbone.signatures import EASYPOST_HEADER, verify_easypost
from simulators.carrier import CARRIER_SIM
from simulators.carrier.ratelimit import SlidingWindowLimiter
from tests.conftest import partner_fixture
from tests.unit.simulators.conftest import AUTH, KEY, Client, Hook, shipment_body

Start = Callable[..., Awaitable[Client]]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def json_of(response: aiohttp.ClientResponse) -> Any:
    return json.loads(await response.read())


async def new_shipment(client: Client, key: str | None = None, **overrides: Any) -> dict[str, Any]:
    headers = {**AUTH, **({"Idempotency-Key": key} if key else {})}
    response = await client.post("/v2/shipments", json=shipment_body(**overrides), headers=headers)
    assert response.status in (200, 201), await response.text()
    answer: dict[str, Any] = await json_of(response)
    return answer


async def bought(client: Client, **overrides: Any) -> dict[str, Any]:
    shipment = await new_shipment(client, carrier="USPS", service="Priority", **overrides)
    response = await client.post(f"/v2/shipments/{shipment['id']}/buy",
                                 json={"rate": {"id": shipment["rates"][0]["id"]}}, headers=AUTH)
    answer: dict[str, Any] = await json_of(response)
    return answer


# --- shipments and labels --------------------------------------------------------------------


async def test_shipment_has_rates_for_every_carrier_unless_narrowed(carrier: Start) -> None:
    client = await carrier()
    everything = await new_shipment(client)
    assert everything["id"].startswith("shp_") and everything["reference"] == "SO-2026-0412/1"
    assert {r["carrier"] for r in everything["rates"]} == {"USPS", "UPS", "FedEx", "DHLExpress"}
    narrowed = await new_shipment(client, carrier="ups", service="Ground")
    assert [(r["carrier"], r["service"], r["rate"]) for r in narrowed["rates"]] == [("UPS", "Ground", "11.20")]
    assert narrowed["postage_label"] is None and narrowed["tracking_code"] is None


async def test_invalid_shipment_is_422_with_easypost_error_shape(carrier: Start) -> None:
    client = await carrier()
    body = shipment_body(parcel={"weight": 0}, carrier="Pigeon")
    del body["shipment"]["to_address"]["zip"]
    response = await client.post("/v2/shipments", json=body, headers=AUTH)
    error = (await json_of(response))["error"]
    assert response.status == 422 and error["code"] == "SHIPMENT.INVALID_PARAMS"
    assert [e["field"] for e in error["errors"]] == ["to_address.zip", "parcel.weight", "carrier"]


async def test_same_idempotency_key_creates_one_shipment(carrier: Start) -> None:
    client = await carrier()
    first = await new_shipment(client, key="ship:SO-2026-0412/1")
    second = await new_shipment(client, key="ship:SO-2026-0412/1")
    assert first == second
    sim = client.app[CARRIER_SIM]
    assert len(sim.book.shipments) == 1
    assert sim.calls.statuses("POST", "/v2/shipments") == [201, 200]
    conflict = await client.post("/v2/shipments", json=shipment_body(reference="other"),
                                 headers={**AUTH, "Idempotency-Key": "ship:SO-2026-0412/1"})
    assert conflict.status == 422
    assert (await json_of(conflict))["error"]["code"] == "IDEMPOTENCY_KEY.REUSED"


async def test_buy_returns_tracking_code_label_and_selected_rate(carrier: Start) -> None:
    client = await carrier()
    shipment = await bought(client)
    assert shipment["tracking_code"].startswith("9400") and len(shipment["tracking_code"]) == 22
    assert shipment["postage_label"]["label_url"].startswith("https://")
    assert shipment["selected_rate"]["service"] == "Priority"
    assert shipment["tracker"]["tracking_code"] == shipment["tracking_code"]
    fetched = await json_of(await client.get(f"/v2/shipments/{shipment['id']}", headers=AUTH))
    assert fetched["tracking_code"] == shipment["tracking_code"]


async def test_buying_twice_is_refused_and_bad_rates_or_ids_are_errors(carrier: Start) -> None:
    client = await carrier()
    shipment = await bought(client)
    again = await client.post(f"/v2/shipments/{shipment['id']}/buy",
                              json={"rate": {"id": shipment["selected_rate"]["id"]}}, headers=AUTH)
    assert again.status == 422 and (await json_of(again))["error"]["code"] == "SHIPMENT.POSTAGE.EXISTS"
    other = await new_shipment(client)
    wrong = await client.post(f"/v2/shipments/{other['id']}/buy", json={"rate": {"id": "rate_x"}}, headers=AUTH)
    assert wrong.status == 422
    missing = await client.post("/v2/shipments/shp_nope/buy", json={"rate": {"id": "rate_x"}}, headers=AUTH)
    assert missing.status == 404 and (await json_of(missing))["error"]["code"] == "NOT_FOUND"


# --- trackers and events ---------------------------------------------------------------------


async def test_trackers_are_deduplicated_per_code_and_carrier(carrier: Start) -> None:
    client = await carrier()
    body = {"tracker": {"tracking_code": "9400110898825022579493", "carrier": "USPS"}}
    first = await client.post("/v2/trackers", json=body, headers=AUTH)
    second = await client.post("/v2/trackers", json=body, headers=AUTH)
    assert (first.status, second.status) == (201, 200)
    assert (await json_of(first))["id"] == (await json_of(second))["id"]
    other = await client.post("/v2/trackers", json={"tracker": {"tracking_code": "9400110898825022579493",
                                                               "carrier": "UPS"}}, headers=AUTH)
    assert other.status == 201
    empty = await client.post("/v2/trackers", json={"tracker": {"carrier": "UPS"}}, headers=AUTH)
    assert empty.status == 422


async def test_tracking_progression_sends_signed_events_with_full_history(carrier: Start, hook: Hook) -> None:
    secret = "s\u00e9cret"
    client = await carrier(webhook_url=hook.url, webhook_secret=secret)
    shipment = await bought(client)
    tracker_id = shipment["tracker"]["id"]
    for _ in range(5):
        assert (await client.post(f"/_sim/advance/{tracker_id}")).status == 200
    received = await hook.receiver.wait_for(5)
    sample = partner_fixture("easypost_tracker_updated.json")
    previous = "unknown"
    for count, delivery in enumerate(received, start=1):
        verify_easypost(delivery.body, delivery.headers, "se\u0301cret")  # NFKD: same secret
        event = json.loads(delivery.body)
        assert event.keys() == sample.keys() and event["result"].keys() == sample["result"].keys()
        assert event["description"] == "tracker.updated"
        assert event["previous_attributes"] == {"status": previous}
        assert len(event["result"]["tracking_details"]) == count  # the whole history every time
        previous = event["result"]["status"]
    statuses = [d["status"] for d in json.loads(received[-1].body)["result"]["tracking_details"]]
    assert statuses == ["pre_transit", "in_transit", "in_transit", "out_for_delivery", "delivered"]
    assert json.loads(received[-1].body)["result"]["signed_by"] == "J DOE"
    assert len({json.loads(d.body)["id"] for d in received}) == 5
    finished = await client.post(f"/_sim/advance/{tracker_id}")
    assert finished.status == 409


async def test_optional_exception_checkpoint(carrier: Start, hook: Hook) -> None:
    client = await carrier(webhook_url=hook.url, exception_detail="weather_delay")
    tracker = await json_of(await client.post("/v2/trackers", json={"tracker": {"tracking_code": "EZ1",
                                                                                "carrier": "USPS"}},
                                              headers=AUTH))
    for _ in range(6):
        await client.post(f"/_sim/advance/{tracker['id']}")
    received = await hook.receiver.wait_for(6)
    details = json.loads(received[-1].body)["result"]["tracking_details"]
    assert [d["status_detail"] for d in details] == ["label_created", "received_at_origin_facility",
                                                     "arrived_at_facility", "weather_delay",
                                                     "out_for_delivery", "arrived_at_destination"]


async def test_advance_can_append_any_checkpoint(carrier: Start, hook: Hook) -> None:
    client = await carrier(webhook_url=hook.url)
    tracker = await json_of(await client.post("/v2/trackers", json={"tracker": {"tracking_code": "EZ2"}},
                                              headers=AUTH))
    response = await client.post(f"/_sim/advance/{tracker['id']}",
                                 params={"status": "available_for_pickup", "detail": "arrived_at_pickup_location"})
    assert (await json_of(response))["tracker"]["status"] == "available_for_pickup"
    (delivery,) = await hook.receiver.wait_for(1)
    assert json.loads(delivery.body)["result"]["status_detail"] == "arrived_at_pickup_location"


async def test_redelivery_resends_the_same_bytes_and_event_id(carrier: Start, hook: Hook) -> None:
    client = await carrier(webhook_url=hook.url)
    shipment = await bought(client)
    tracker_id = shipment["tracker"]["id"]
    assert (await client.post(f"/_sim/redeliver/{tracker_id}")).status == 409  # nothing sent yet
    await client.post(f"/_sim/advance/{tracker_id}")
    await client.post(f"/_sim/redeliver/{tracker_id}")
    first, again = await hook.receiver.wait_for(2)
    assert first.body == again.body
    assert first.headers[EASYPOST_HEADER] == again.headers[EASYPOST_HEADER]


async def test_clock_mode_advances_trackers(carrier: Start, hook: Hook) -> None:
    client = await carrier(webhook_url=hook.url, advance_interval_s=0.02)
    await bought(client)
    received = await hook.receiver.wait_for(5)
    assert json.loads(received[4].body)["result"]["status"] == "delivered"


# --- auth, rate limit, faults ----------------------------------------------------------------


async def test_api_key_is_required_and_checked(carrier: Start) -> None:
    client = await carrier(api_keys=frozenset({KEY}))
    missing = await client.get("/v2/shipments/shp_x")
    assert missing.status == 401 and (await json_of(missing))["error"]["code"] == "APIKEY.REQUIRED"
    wrong = await client.get("/v2/shipments/shp_x", headers={"Authorization": "Bearer other"})
    assert wrong.status == 401 and (await json_of(wrong))["error"]["code"] == "APIKEY.INVALID"
    basic_auth = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
    basic = await client.get("/v2/shipments/shp_x", headers={"Authorization": basic_auth})
    assert basic.status == 404  # authenticated, the shipment just does not exist


async def test_rate_limit_answers_429_exactly_above_n_per_second(carrier: Start) -> None:
    clock = FakeClock()
    client = await carrier(rate_limit_rps=3, clock=clock)
    statuses = [(await client.get("/v2/shipments/shp_x", headers=AUTH)).status for _ in range(3)]
    assert statuses == [404, 404, 404]
    limited = await client.get("/v2/shipments/shp_x", headers=AUTH)
    assert limited.status == 429 and (await json_of(limited))["error"]["code"] == "RATE_LIMITED"
    assert (limited.headers["Retry-After"], limited.headers["X-RateLimit-Reset-Ms"]) == ("1", "1000")
    clock.now += 0.999
    still = await client.get("/v2/shipments/shp_x", headers=AUTH)
    assert still.status == 429 and still.headers["X-RateLimit-Reset-Ms"] == "1"
    clock.now += 0.001
    assert (await client.get("/v2/shipments/shp_x", headers=AUTH)).status == 404
    # Another key has its own window.
    assert (await client.get("/v2/shipments/shp_x", headers={"Authorization": "Bearer k2"})).status == 404


async def test_rate_limit_can_differ_per_key(carrier: Start) -> None:
    clock = FakeClock()
    client = await carrier(rate_limit_rps=1, rate_limit_overrides={"bulk": 2}, clock=clock)
    bulk = {"Authorization": "Bearer bulk"}
    assert [(await client.get("/v2/trackers/trk_x", headers=bulk)).status for _ in range(3)] == [404, 404, 429]
    assert [(await client.get("/v2/trackers/trk_x", headers=AUTH)).status for _ in range(2)] == [404, 429]


def test_sliding_window_limiter_is_exact() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, clock)
    assert limiter.acquire("k") is None
    clock.now += 0.5
    assert limiter.acquire("k") is None
    clock.now += 0.2
    assert limiter.acquire("k") == pytest.approx(0.3)
    assert limiter.acquire("k") == pytest.approx(0.3)  # refusals do not extend the window
    clock.now += 0.3
    assert limiter.acquire("k") is None and limiter.remaining("k") == 0
    assert limiter.acquire("other") is None
    with pytest.raises(ValueError, match="limit"):
        SlidingWindowLimiter(0, clock)


async def test_faults_use_the_easypost_error_shape(carrier: Start) -> None:
    client = await carrier()
    await client.post("/_sim/faults", json={"outage": 1, "throttle": 1, "retry_after_s": 3})
    outage = await client.get("/v2/shipments/shp_x", headers=AUTH)
    throttled = await client.get("/v2/shipments/shp_x", headers=AUTH)
    assert (outage.status, outage.headers["Retry-After"]) == (503, "3")
    assert (throttled.status, (await json_of(throttled))["error"]["code"]) == (429, "RATE_LIMITED")
    assert (await client.get("/v2/shipments/shp_x", headers=AUTH)).status == 404


async def test_reset_and_state(carrier: Start) -> None:
    client = await carrier()
    await bought(client)
    state = await json_of(await client.get("/_sim/state"))
    assert len(state["shipments"]) == 1 and len(state["trackers"]) == 1
    await client.post("/_sim/reset")
    state = await json_of(await client.get("/_sim/state"))
    assert state["shipments"] == [] and state["trackers"] == [] and state["webhooks"] == []
