"""WMS/3PL simulator: order API, idempotency, fulfilment, signed webhooks, faults, reconciliation."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from backbone.signatures import verify_shiphero, verify_standard_webhooks
from simulators.wms import WMS_SIM, WmsSimConfig
from tests.conftest import partner_fixture
from tests.unit.simulators.conftest import Client, Hook, order_body

Start = Callable[..., Awaitable[Client]]


async def create(client: Client, body: dict[str, Any], key: str | None = None) -> aiohttp.ClientResponse:
    return await client.post("/v1/orders", json=body, headers={"Idempotency-Key": key} if key else None)


async def json_of(response: aiohttp.ClientResponse) -> Any:
    return json.loads(await response.read())


# --- orders and idempotency ------------------------------------------------------------------


async def test_create_answers_201_accepted_with_id_and_location(wms: Start) -> None:
    client = await wms()
    response = await create(client, order_body())
    answer = await json_of(response)
    assert response.status == 201
    assert answer["status"] == "accepted" and answer["order_ref"] == "SO-2026-0419"
    assert response.headers["Location"] == f"/v1/orders/{answer['id']}"
    fetched = await json_of(await client.get(f"/v1/orders/{answer['id']}"))
    assert fetched["id"] == answer["id"] and fetched["lines"] == order_body()["lines"]


async def test_same_key_same_body_creates_one_order_and_replays_the_original_answer(wms: Start) -> None:
    client = await wms()
    first = await create(client, order_body(), key="release:SO-2026-0419")
    # Same request with keys in another order and other whitespace: still the same request.
    raw = json.dumps(dict(reversed(list(order_body().items()))), indent=2)
    second = await client.post("/v1/orders", data=raw, headers={"Idempotency-Key": "release:SO-2026-0419",
                                                                 "Content-Type": "application/json"})
    assert (first.status, second.status) == (201, 200)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert await json_of(second) == await json_of(first)
    sim = client.app[WMS_SIM]
    assert len(sim.book.orders) == 1
    calls = [(c.idempotency_key, c.status) for c in sim.calls.calls if c.path == "/v1/orders"]
    assert calls == [("release:SO-2026-0419", 201), ("release:SO-2026-0419", 200)]


async def test_replay_returns_the_original_answer_even_after_the_order_moved_on(wms: Start) -> None:
    client = await wms()
    first = await json_of(await create(client, order_body(), key="k1"))
    await client.post(f"/_sim/advance/{first['id']}?to=packed")
    replay = await json_of(await create(client, order_body(), key="k1"))
    assert replay["status"] == "accepted"


async def test_same_key_different_body_is_refused_422(wms: Start) -> None:
    client = await wms()
    await create(client, order_body(), key="k1")
    response = await create(client, order_body(requested_service="express"), key="k1")
    assert response.status == 422
    assert (await json_of(response))["error"] == "idempotency_key_reused"
    assert len(client.app[WMS_SIM].book.orders) == 1


async def test_validation_errors_name_every_field(wms: Start) -> None:
    client = await wms()
    body = order_body(order_ref="", lines=[{"sku": "CHAIR-OAK-01", "qty": 0}, {"qty": 1}],
                      ship_to={"name": "A", "country": "USA"}, requested_carrier="pigeon")
    response = await create(client, body)
    answer = await json_of(response)
    assert response.status == 422 and answer["error"] == "validation_failed"
    fields = {f["field"]: f["reason"] for f in answer["fields"]}
    assert fields == {
        "order_ref": "invalid", "requested_carrier": "unsupported_carrier", "lines[0].qty": "invalid",
        "lines[1].sku": "required", "ship_to.address1": "required", "ship_to.city": "required",
        "ship_to.postal_code": "required", "ship_to.country": "invalid",
    }
    assert client.app[WMS_SIM].book.orders == {}


async def test_unknown_sku_is_a_422_naming_the_line_by_default(wms: Start) -> None:
    client = await wms()
    body = order_body(lines=[{"sku": "CHAIR-OAK-01", "qty": 1}, {"sku": "NOPE-1", "qty": 1}])
    answer = await json_of(await create(client, body))
    assert answer["fields"] == [{"field": "lines[1].sku", "reason": "unknown_sku",
                                 "message": "SKU 'NOPE-1' is not in the catalog"}]


async def test_unknown_sku_can_be_rejected_like_real_3pls(wms: Start) -> None:
    client = await wms(unknown_sku="reject")
    response = await create(client, order_body(lines=[{"sku": "NOPE-1", "qty": 1}]), key="k")
    answer = await json_of(response)
    assert response.status == 201
    assert (answer["status"], answer["reason"]) == ("rejected", "unknown_sku: NOPE-1")
    # A rejected order does not block a corrected one with the same reference.
    assert (await create(client, order_body())).status == 201


async def test_a_body_that_is_not_a_json_object_is_400(wms: Start) -> None:
    client = await wms()
    response = await client.post("/v1/orders", data=b"[1, 2", headers={"Content-Type": "application/json"})
    assert response.status == 400


async def test_a_second_open_order_with_the_same_ref_is_a_409(wms: Start) -> None:
    client = await wms()
    first = await json_of(await create(client, order_body()))
    response = await create(client, order_body())
    assert response.status == 409
    assert (await json_of(response))["existing_id"] == first["id"]
    await client.post(f"/v1/orders/{first['id']}/cancel")
    assert (await create(client, order_body())).status == 201


async def test_short_stock_backorders_until_stock_arrives(wms: Start) -> None:
    client = await wms(catalog={"CHAIR-OAK-01": 1})
    answer = await json_of(await create(client, order_body(lines=[{"sku": "CHAIR-OAK-01", "qty": 3}])))
    assert (answer["status"], answer["reason"]) == ("backordered", "insufficient_stock: CHAIR-OAK-01")
    assert (await client.post(f"/_sim/advance/{answer['id']}")).status == 409
    await client.post("/_sim/inventory", json={"sku": "CHAIR-OAK-01", "delta": 5, "reason": "received"})
    moved = await json_of(await client.post(f"/_sim/advance/{answer['id']}"))
    assert moved["status"] == "accepted"


async def test_unknown_order_is_404(wms: Start) -> None:
    client = await wms()
    assert (await client.get("/v1/orders/999")).status == 404
    assert (await client.get("/v1/orders/abc")).status == 404


# --- fulfilment and webhooks -----------------------------------------------------------------


async def test_fulfilment_moves_picked_packed_shipped_with_packages(wms: Start) -> None:
    client = await wms()
    order = await json_of(await create(client, order_body()))
    statuses = []
    for _ in range(3):
        moved = await json_of(await client.post(f"/_sim/advance/{order['id']}?packages=2"))
        statuses.append(moved["status"])
    assert statuses == ["picked", "packed", "shipped"]
    packages = moved["shipments"]
    assert [(p["package_number"], p["total_packages"]) for p in packages] == [(1, 2), (2, 2)]
    assert all(p["carrier"] == "fedex" and len(p["tracking_number"]) == 12 for p in packages)
    assert sum(i["quantity"] for p in packages for i in p["line_items"]) == 3
    assert (await client.post(f"/_sim/advance/{order['id']}")).status == 409


async def test_cancel_before_shipping_and_409_once_shipped(wms: Start) -> None:
    client = await wms()
    first = await json_of(await create(client, order_body("SO-1")))
    cancelled = await client.post(f"/v1/orders/{first['id']}/cancel")
    assert cancelled.status == 200 and (await json_of(cancelled))["status"] == "cancelled"
    assert (await client.post(f"/v1/orders/{first['id']}/cancel")).status == 200  # repeat is harmless
    second = await json_of(await create(client, order_body("SO-2")))
    await client.post(f"/_sim/advance/{second['id']}?to=shipped")
    refused = await client.post(f"/v1/orders/{second['id']}/cancel")
    assert refused.status == 409
    assert (await json_of(refused))["error"] == "already_shipped"


async def test_shiphero_webhooks_are_signed_and_shaped_like_the_vendor(wms: Start, hook: Hook) -> None:
    client = await wms(webhook_url=hook.url, shiphero_secret="hero-secret")
    order = await json_of(await create(client, order_body()))
    await client.post(f"/_sim/advance/{order['id']}?to=shipped&packages=2")
    received = await hook.receiver.wait_for(2)
    sample = partner_fixture("shiphero_shipment_update.json")
    for number, delivery in enumerate(received, start=1):
        verify_shiphero(delivery.body, delivery.headers, "hero-secret")
        body = json.loads(delivery.body)
        assert body.keys() == sample.keys() and body["webhook_type"] == "Shipment Update"
        assert body["fulfillment"].keys() == sample["fulfillment"].keys()
        assert (body["fulfillment"]["package_number"], body["fulfillment"]["total_packages"]) == (number, 2)
        assert body["fulfillment"]["order_number"] == "SO-2026-0419"


async def test_shipbob_webhooks_follow_standard_webhooks(wms: Start, hook: Hook) -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    client = await wms(webhook_url=hook.url, webhook_styles=("shipbob",), shipbob_secret=secret)
    order = await json_of(await create(client, order_body(requested_carrier="ups")))
    await client.post(f"/_sim/advance/{order['id']}?to=shipped")
    (delivery,) = await hook.receiver.wait_for(1)
    assert verify_standard_webhooks(delivery.body, delivery.headers, secret).startswith("msg_")
    body, sample = json.loads(delivery.body), partner_fixture("shipbob_order_shipped.json")
    assert body.keys() == sample.keys() and body["tracking"].keys() == sample["tracking"].keys()
    assert (body["topic"], body["reference_id"], body["tracking"]["carrier"]) == ("order.shipped",
                                                                                 "SO-2026-0419", "UPS")


async def test_both_styles_and_cancellations_are_sent(wms: Start, hook: Hook) -> None:
    client = await wms(webhook_url=hook.url, webhook_styles=("shiphero", "shipbob"))
    order = await json_of(await create(client, order_body()))
    await client.post(f"/v1/orders/{order['id']}/cancel")
    received = await hook.receiver.wait_for(2)
    kinds = sorted(json.loads(r.body).get("webhook_type") or json.loads(r.body)["topic"] for r in received)
    assert kinds == ["Order Canceled", "order.shipment.cancelled"]


async def test_webhooks_are_retried_until_the_receiver_accepts(wms: Start, hook: Hook) -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    client = await wms(webhook_url=hook.url, webhook_styles=("shipbob",), shipbob_secret=secret)
    hook.receiver.fail_next = 2
    order = await json_of(await create(client, order_body()))
    await client.post(f"/_sim/advance/{order['id']}?to=shipped")
    (delivery,) = await hook.receiver.wait_for(1)
    verify_standard_webhooks(delivery.body, delivery.headers, secret)
    state = await json_of(await client.get("/_sim/state"))
    assert [(w["status"], w["attempts"]) for w in state["webhooks"]] == [("delivered", 3)]
    assert hook.receiver.refused == 2


async def test_webhooks_give_up_after_the_configured_attempts(wms: Start, hook: Hook) -> None:
    client = await wms(webhook_url=hook.url, webhook_attempts=2)
    hook.receiver.fail_next = 5
    order = await json_of(await create(client, order_body()))
    await client.post(f"/_sim/advance/{order['id']}?to=shipped")
    await client.app[WMS_SIM].sender.drain()
    state = await json_of(await client.get("/_sim/state"))
    assert [(w["status"], w["attempts"], w["last_status"]) for w in state["webhooks"]] == [("failed", 2, 500)]


async def test_dropped_webhooks_are_recoverable_through_changes(wms: Start, hook: Hook) -> None:
    client = await wms(webhook_url=hook.url)
    since = datetime.now(UTC).isoformat()
    order = await json_of(await create(client, order_body()))
    await client.post("/_sim/faults", json={"drop_webhooks": 1})
    await client.post(f"/_sim/advance/{order['id']}?to=shipped")
    await client.app[WMS_SIM].sender.drain()
    assert hook.receiver.received == []
    state = await json_of(await client.get("/_sim/state"))
    assert [w["status"] for w in state["webhooks"]] == ["dropped"]
    page = await json_of(await client.get("/v1/orders", params={"updated_since": since}))
    assert [(o["id"], o["status"]) for o in page["orders"]] == [(order["id"], "shipped")]
    assert page["orders"][0]["shipments"][0]["tracking_number"]


async def test_clock_mode_ships_orders_without_help(wms: Start, hook: Hook) -> None:
    client = await wms(webhook_url=hook.url, advance_interval_s=0.02)
    order = await json_of(await create(client, order_body()))
    await hook.receiver.wait_for(1)
    fetched = await json_of(await client.get(f"/v1/orders/{order['id']}"))
    assert [h["status"] for h in fetched["history"]] == ["accepted", "picked", "packed", "shipped"]


# --- reconciliation paging -------------------------------------------------------------------


async def test_changes_page_with_a_cursor_and_resume_from_it(wms: Start) -> None:
    client = await wms()
    ids = [(await json_of(await create(client, order_body(f"SO-{n}"))))["id"] for n in range(5)]
    seen: list[list[int]] = []
    cursor: str = ""
    more = True
    while more:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await json_of(await client.get("/v1/orders", params=params))
        seen.append([o["id"] for o in page["orders"]])
        cursor, more = page["next_cursor"], page["has_more"]
    assert seen == [ids[0:2], ids[2:4], ids[4:5]]
    await client.post(f"/_sim/advance/{ids[1]}")
    later = await json_of(await client.get("/v1/orders", params={"cursor": cursor}))
    assert [(o["id"], o["status"]) for o in later["orders"]] == [(ids[1], "picked")]
    quiet = await json_of(await client.get("/v1/orders", params={"cursor": later["next_cursor"]}))
    assert quiet["orders"] == [] and quiet["next_cursor"] == later["next_cursor"]


async def test_updated_since_filters_older_changes(wms: Start) -> None:
    client = await wms()
    await create(client, order_body("SO-old"))
    await asyncio.sleep(0.01)
    since = datetime.now(UTC)
    await create(client, order_body("SO-new"))
    for value in (since.isoformat(), since.isoformat().replace("+00:00", "Z")):
        page = await json_of(await client.get("/v1/orders", params={"updated_since": value}))
        assert [o["order_ref"] for o in page["orders"]] == ["SO-new"]


@pytest.mark.parametrize(("params", "field"), [
    ({"updated_since": "2026-11-20T10:00:00"}, "updated_since"),
    ({"updated_since": "yesterday"}, "updated_since"),
    ({"cursor": "not-ours"}, "cursor"),
    ({"limit": "0"}, "limit"),
    ({"limit": "51"}, "limit"),
])
async def test_bad_paging_parameters_are_422(wms: Start, params: dict[str, str], field: str) -> None:
    client = await wms()
    response = await client.get("/v1/orders", params=params)
    assert response.status == 422
    assert (await json_of(response))["fields"][0]["field"] == field


async def test_inventory_changes_record_shipments_and_adjustments(wms: Start) -> None:
    client = await wms()
    order = await json_of(await create(client, order_body()))
    await client.post(f"/_sim/advance/{order['id']}?to=shipped")
    await client.post("/_sim/inventory", json={"sku": "LAMP-BRASS-03", "on_hand": 40, "reason": "counted"})
    page = await json_of(await client.get("/v1/inventory/changes"))
    assert [(c["sku"], c["delta"], c["on_hand"], c["reason"]) for c in page["changes"]] == [
        ("CHAIR-OAK-01", -2, 498, "shipped"), ("TABLE-OAK-02", -1, 199, "shipped"),
        ("LAMP-BRASS-03", -10, 40, "counted"),
    ]
    rest = await json_of(await client.get("/v1/inventory/changes", params={"cursor": page["next_cursor"]}))
    assert rest["changes"] == []


# --- faults, auth, control -------------------------------------------------------------------


async def test_throttle_fault_answers_429_with_retry_after_then_recovers(wms: Start) -> None:
    client = await wms()
    await client.post("/_sim/faults", json={"throttle": 2, "retry_after_s": 7})
    statuses = []
    for n in range(3):
        response = await create(client, order_body(f"SO-{n}"))
        statuses.append((response.status, response.headers.get("Retry-After")))
    assert statuses == [(429, "7"), (429, "7"), (201, None)]


async def test_outage_fault_until_cleared(wms: Start) -> None:
    client = await wms()
    await client.post("/_sim/faults", json={"outage": -1})
    for _ in range(3):
        response = await client.get("/v1/orders")
        assert (response.status, response.headers["Retry-After"]) == (503, "1")
    assert (await client.get("/_sim/state")).status == 200  # control paths are never faulted
    await client.post("/_sim/faults", json={"clear": True})
    assert (await client.get("/v1/orders")).status == 200


async def test_outage_status_can_be_a_500(wms: Start) -> None:
    client = await wms()
    await client.post("/_sim/faults", json={"outage": 1, "outage_status": 500})
    assert (await client.get("/v1/orders")).status == 500
    assert (await client.get("/v1/orders")).status == 200


async def test_slow_fault_delays_answers(wms: Start) -> None:
    client = await wms()
    await client.post("/_sim/faults", json={"delay_ms": 150})
    started = time.perf_counter()
    assert (await client.get("/v1/orders")).status == 200
    assert time.perf_counter() - started >= 0.15


async def test_timeout_fault_hangs_until_the_client_gives_up(wms: Start) -> None:
    client = await wms()
    await client.post("/_sim/faults", json={"timeout": 1})
    with pytest.raises(TimeoutError):
        await client.get("/v1/orders", timeout=aiohttp.ClientTimeout(total=0.2))
    assert (await client.get("/v1/orders")).status == 200
    await asyncio.sleep(0.05)  # let the cancelled handler record itself
    assert sorted(client.app[WMS_SIM].calls.statuses(path_prefix="/v1/orders")) == [200, 499]


async def test_invalid_faults_are_refused(wms: Start) -> None:
    client = await wms()
    response = await client.post("/_sim/faults", json={"outage": "yes", "bogus": 1, "outage_status": 404})
    assert response.status == 422
    assert (await json_of(await client.get("/_sim/faults")))["outage"] == 0


async def test_api_token_is_required_when_configured(wms: Start) -> None:
    client = await wms(api_token="tok-123")
    assert (await client.get("/v1/orders")).status == 401
    assert (await client.get("/v1/orders", headers={"Authorization": "Bearer nope"})).status == 401
    assert (await client.get("/v1/orders", headers={"Authorization": "Bearer tok-123"})).status == 200
    hints = [c.key_hint for c in client.app[WMS_SIM].calls.calls]
    assert hints == [None, "...nope", "...-123"]


async def test_reset_forgets_everything(wms: Start) -> None:
    client = await wms()
    await create(client, order_body(), key="k1")
    await client.post("/_sim/faults", json={"drop_webhooks": 3})
    await client.post("/_sim/reset")
    state = await json_of(await client.get("/_sim/state"))
    assert state["orders"] == [] and state["idempotency_keys"] == 0 and state["faults"]["drop_webhooks"] == 0
    assert (await json_of(await client.get("/_sim/calls")))["calls"] == []
    assert (await create(client, order_body(), key="k1")).status == 201


async def test_advance_rejects_an_unknown_target(wms: Start) -> None:
    client = await wms()
    order = await json_of(await create(client, order_body()))
    assert (await client.post(f"/_sim/advance/{order['id']}?to=delivered")).status == 422


def test_config_is_frozen() -> None:
    with pytest.raises(AttributeError):
        WmsSimConfig().api_token = "x"  # type: ignore[misc]
