"""WmsHandler against the WMS simulator in-process: every answer, every failure, never two orders."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiohttp.typedefs import Handler

from backbone.canonical import OrderCode
from backbone.errors import AuthenticationError, PermanentError, RetryableError, TargetUnavailableError
from backbone.sink import ApplyResult, SinkRecord
from backbone.throttle import Throttler
from services.status_normalizer.records import OrderMilestone
from services.wms_bridge.client import WmsClient
from services.wms_bridge.handlers import HandlerSettings, WmsHandler, idempotency_key, release_request
from simulators.wms import WMS_SIM, WmsSimConfig, create_app
from tests.unit.wms_bridge.conftest import Wms
from tests.unit.wms_bridge.fakes import FakePublisher, MemoryStore, context, order_milestone, sink_record

StartWms = Callable[..., Awaitable[Wms]]
Clients = Callable[..., WmsClient]


class Bridge:
    def __init__(self, wms: Wms, client: WmsClient, throttler: Throttler | None = None) -> None:
        self.wms = wms
        self.publisher = FakePublisher()
        self.store = MemoryStore()
        self.handler = WmsHandler(client, self.publisher, self.store, HandlerSettings(), throttler=throttler)

    async def until_settled(self, record: SinkRecord, attempts: int = 10) -> tuple[ApplyResult, list[BaseException]]:
        """What the sink runtime does: retry retryable errors, reconcile first when the outcome is unknown."""
        errors: list[BaseException] = []
        for attempt in range(1, attempts + 1):
            ctx = context(attempt, errors[-1] if errors else None)
            try:
                if ctx.outcome_unknown:
                    reconciled = await self.handler.reconcile(record, ctx)
                    if reconciled is not None:
                        return reconciled, errors
                return await self.handler.apply(record, ctx), errors
            except RetryableError as exc:
                errors.append(exc)
        raise AssertionError(f"not settled after {attempts} attempts: {errors}")

    def orders(self, ref: str) -> list[dict[str, object]]:
        return [o.as_dict() for o in self.wms.sim.book.orders.values() if o.order_ref == ref]

    def creates(self) -> list[int]:
        return self.wms.sim.calls.statuses("POST", "/v1/orders")


@pytest.fixture
def bridge(start_wms: StartWms, clients: Clients) -> Callable[..., Awaitable[Bridge]]:
    async def make(*, timeout_s: float = 5.0, throttler: Throttler | None = None, **sim: object) -> Bridge:
        wms = await start_wms(**sim)
        return Bridge(wms, clients(wms.url, timeout_s=timeout_s), throttler)

    return make


def milestones(bridge: Bridge) -> list[OrderMilestone]:
    out = [r for p in bridge.publisher.published for r in p.parse()]
    assert all(isinstance(r, OrderMilestone) for r in out)
    return [r for r in out if isinstance(r, OrderMilestone)]


async def test_release_creates_the_order_and_publishes_the_acceptance(bridge: Callable[..., Awaitable[Bridge]]) -> None:
    b = await bridge()
    value = order_milestone("SO-1")
    result = await b.handler.apply(sink_record(value), context())

    [order] = b.orders("SO-1")
    assert order["lines"] == [{"sku": "CHAIR-OAK-01", "qty": 2}, {"sku": "TABLE-OAK-02", "qty": 1}]
    assert order["ship_to"] == {"name": "Ada Example", "address1": "1 Main St", "city": "Reno",
                                "postal_code": "89501", "country": "US", "phone": "+1 555 0100"}
    assert (order["requested_carrier"], order["requested_service"], order["status"]) == ("fedex", "ground", "accepted")
    assert [c.idempotency_key for c in b.wms.sim.calls.calls] == [f"release-{value['milestone_id']}"]
    assert (result.outcome, result.summary["wms_order_id"], result.summary["answer"]) == (
        "applied", str(order["id"]), "accepted")

    [published] = b.publisher.published
    assert (published.role, published.partner, published.fmt, published.natural_key, published.correlation_id) == (
        "raw.warehouse", "shiphero", "wms.order_answer.v1", "SO-1", "corr-SO-1")
    [ms] = milestones(b)
    assert (ms.code, ms.order_ref, ms.partner_order_id, ms.source_partner) == (
        OrderCode.ACCEPTED_BY_WAREHOUSE, "SO-1", str(order["id"]), "shiphero")
    assert [(line.sku, line.quantity) for line in ms.lines] == [("CHAIR-OAK-01", 2.0), ("TABLE-OAK-02", 1.0)]
    tracked = b.store.orders["SO-1"]
    assert (tracked.state, tracked.partner_order_id, tracked.release_milestone_id) == (
        "released", str(order["id"]), value["milestone_id"])


async def test_a_redelivered_release_replays_the_key_and_the_same_answer(
    bridge: Callable[..., Awaitable[Bridge]],
) -> None:
    b = await bridge()
    record = sink_record(order_milestone("SO-2"))
    first = await b.handler.apply(record, context())
    second = await b.handler.apply(record, context(attempt=2))
    assert len(b.orders("SO-2")) == 1
    assert b.creates() == [201, 200]
    assert (first.summary["replayed"], second.summary["replayed"]) == (False, True)
    one, two = b.publisher.published
    assert (one.event_id, one.payload) == (two.event_id, two.payload)  # the normalizer drops the repeat
    assert milestones(b)[0].milestone_id == milestones(b)[1].milestone_id


async def test_429s_are_retried_and_never_create_a_second_order(bridge: Callable[..., Awaitable[Bridge]]) -> None:
    b = await bridge()
    b.wms.sim.faults.update({"throttle": 3, "retry_after_s": 2})
    result, errors = await b.until_settled(sink_record(order_milestone("SO-3")))
    assert [type(e) for e in errors] == [RetryableError] * 3
    assert all(getattr(e, "retry_after", None) == 2.0 for e in errors)
    assert result.outcome == "applied" and len(b.orders("SO-3")) == 1
    assert b.creates() == [429, 429, 429, 201]


async def test_an_answer_lost_to_a_timeout_is_replayed_not_duplicated(clients: Clients) -> None:
    # The WMS creates the order but answers slower than our timeout: the ambiguous case.
    slow = {"answer_delay": 0.4}

    @web.middleware
    async def slow_answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)  # the order exists from here on
        await asyncio.sleep(slow["answer_delay"])
        return response

    app = create_app(WmsSimConfig())
    app.middlewares.append(slow_answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        wms = Wms(app[WMS_SIM], str(server.make_url("")).rstrip("/"))
        b = Bridge(wms, clients(wms.url, timeout_s=0.2))
        record = sink_record(order_milestone("SO-4"))
        with pytest.raises(TargetUnavailableError) as lost:
            await b.handler.apply(record, context())
        assert len(b.orders("SO-4")) == 1  # created, but we never heard
        slow["answer_delay"] = 0.0
        retry = context(attempt=2, previous_error=lost.value)
        assert retry.outcome_unknown and await b.handler.reconcile(record, retry) is None  # no id known yet
        result = await b.handler.apply(record, retry)
        assert len(b.orders("SO-4")) == 1
        assert [c.idempotency_key for c in wms.sim.calls.calls] == [f"release-{record.milestone_id}"] * 2
        assert result.outcome == "applied" and result.summary["replayed"] is True
        assert [m.code for m in milestones(b)] == [OrderCode.ACCEPTED_BY_WAREHOUSE]
    finally:
        await server.close()


async def test_hung_calls_and_outages_are_retried_into_exactly_one_order(
    bridge: Callable[..., Awaitable[Bridge]],
) -> None:
    b = await bridge(timeout_s=0.2, hang_s=0.3)
    b.wms.sim.faults.update({"timeout": 1, "outage": 2})
    result, errors = await b.until_settled(sink_record(order_milestone("SO-5")))
    assert [type(e) for e in errors] == [TargetUnavailableError] * 3
    await asyncio.sleep(0.2)
    assert result.outcome == "applied" and len(b.orders("SO-5")) == 1
    assert b.creates().count(201) == 1


async def test_reconcile_reads_the_order_this_release_created_before_resending(
    bridge: Callable[..., Awaitable[Bridge]],
) -> None:
    b = await bridge()
    b.publisher.fail_next = 1  # created at the WMS and remembered, then the process died before publishing
    record = sink_record(order_milestone("SO-6"))
    with pytest.raises(RetryableError):
        await b.handler.apply(record, context())
    result = await b.handler.reconcile(record, context(attempt=2, previous_status="in_flight"))
    assert result is not None and result.summary["via"] == "get_order"
    assert [(c.method, c.status) for c in b.wms.sim.calls.calls] == [("POST", 201), ("GET", 200)]
    assert [m.code for m in milestones(b)] == [OrderCode.ACCEPTED_BY_WAREHOUSE]
    # Nothing remembered for this release (the create itself timed out): reconcile declines, apply replays the key.
    assert await b.handler.reconcile(sink_record(order_milestone("SO-7")), context()) is None
    assert await b.handler.reconcile(sink_record(order_milestone("SO-6", "CANCELLED")), context()) is None


async def test_a_rejected_order_is_published_with_its_reason(bridge: Callable[..., Awaitable[Bridge]]) -> None:
    b = await bridge(unknown_sku="reject")
    await b.handler.apply(sink_record(order_milestone("SO-8", lines=(("NOPE-1", 1.0),))), context())
    [ms] = milestones(b)
    assert (ms.code, ms.reason) == (OrderCode.REJECTED_BY_WAREHOUSE, "unknown_sku: NOPE-1")
    assert ms.partner_order_id == str(b.orders("SO-8")[0]["id"])


async def test_a_422_refusal_is_a_rejection_odoo_can_act_on(bridge: Callable[..., Awaitable[Bridge]]) -> None:
    b = await bridge(unknown_sku="error")
    record = sink_record(order_milestone("SO-9", lines=(("NOPE-1", 1.0),)))
    result = await b.handler.apply(record, context())
    await b.handler.apply(record, context(attempt=2))
    assert b.orders("SO-9") == [] and result.summary["answer"] == "rejected"
    first, again = milestones(b)
    assert (first.code, first.partner_order_id) == (OrderCode.REJECTED_BY_WAREHOUSE, None)
    assert first.reason is not None and "lines[0].sku: unknown_sku" in first.reason
    assert first.milestone_id == again.milestone_id  # same fact on retry


async def test_short_stock_is_published_as_backordered(bridge: Callable[..., Awaitable[Bridge]]) -> None:
    b = await bridge()
    await b.handler.apply(sink_record(order_milestone("SO-10", lines=(("LAMP-BRASS-03", 60.0),))), context())
    [ms] = milestones(b)
    assert (ms.code, ms.reason) == (OrderCode.BACKORDERED, "insufficient_stock: LAMP-BRASS-03")


async def test_a_second_release_of_an_open_order_answers_with_that_order(
    bridge: Callable[..., Awaitable[Bridge]],
) -> None:
    b = await bridge()
    await b.handler.apply(sink_record(order_milestone("SO-11")), context())
    await b.store.track_answer("SO-11", "accepted", at=order_milestone("x")["occurred_at"])
    again = await b.handler.apply(sink_record(order_milestone("SO-11")), context())  # another milestone id
    assert len(b.orders("SO-11")) == 1 and b.creates() == [201, 409]
    assert again.summary["existing"] is True
    assert b.store.orders["SO-11"].state == "accepted"  # nothing starts over
    assert milestones(b)[0].milestone_id == milestones(b)[1].milestone_id


async def test_cancel_reaches_the_wms_and_is_published(bridge: Callable[..., Awaitable[Bridge]]) -> None:
    b = await bridge()
    await b.handler.apply(sink_record(order_milestone("SO-12")), context())
    result = await b.handler.apply(sink_record(order_milestone("SO-12", "CANCELLED")), context())
    [order] = b.orders("SO-12")
    assert order["status"] == "cancelled" and result.outcome == "applied"
    assert [m.code for m in milestones(b)] == [OrderCode.ACCEPTED_BY_WAREHOUSE, OrderCode.CANCELLED]
    assert b.store.orders["SO-12"].state == "cancelled"


async def test_cancel_after_shipping_is_skipped_with_its_reason(bridge: Callable[..., Awaitable[Bridge]]) -> None:
    b = await bridge()
    await b.handler.apply(sink_record(order_milestone("SO-13")), context())
    order = next(iter(b.wms.sim.book.orders.values()))
    while order.status != "shipped":
        b.wms.sim.advance(order)
    result = await b.handler.apply(sink_record(order_milestone("SO-13", "CANCELLED")), context())
    assert (result.outcome, result.reason) == ("skipped", "already_shipped")
    assert order.status == "shipped" and len(b.publisher.published) == 1


async def test_cancels_the_wms_never_had_or_already_reported_are_not_sent(
    bridge: Callable[..., Awaitable[Bridge]],
) -> None:
    b = await bridge()
    unknown = await b.handler.apply(sink_record(order_milestone("SO-14", "CANCELLED")), context())
    await b.handler.apply(sink_record(order_milestone("SO-15")), context())
    reported = await b.handler.apply(sink_record(order_milestone("SO-15", "CANCELLED", source="shiphero")), context())
    assert (unknown.reason, reported.reason) == ("not_at_wms", "from_wms")
    assert b.wms.sim.calls.statuses("POST", "/v1/orders/") == []  # no cancel call
    assert b.store.orders["SO-15"].state == "cancelled"


async def test_other_codes_are_not_for_the_wms_but_answers_are_tracked(
    bridge: Callable[..., Awaitable[Bridge]],
) -> None:
    b = await bridge()
    await b.handler.apply(sink_record(order_milestone("SO-16")), context())
    calls = len(b.wms.sim.calls.calls)
    backordered = await b.handler.apply(sink_record(order_milestone("SO-16", "BACKORDERED", source="shiphero")),
                                        context())
    shipped = await b.handler.apply(sink_record(order_milestone("SO-16", "SHIPPED", source="shiphero")), context())
    late = await b.handler.apply(sink_record(order_milestone("SO-16", "BACKORDERED", source="shiphero")), context())
    other = await b.handler.apply(sink_record(order_milestone("SO-99", "PACKED", source="shiphero")), context())
    assert [r.reason for r in (backordered, shipped, late, other)] == ["not_for_wms"] * 4
    assert [r.summary["tracked"] for r in (backordered, shipped, late, other)] == ["backordered", "accepted", None, None]
    assert b.store.orders["SO-16"].state == "accepted" and "SO-99" not in b.store.orders
    assert len(b.wms.sim.calls.calls) == calls


async def test_a_429_holds_back_every_caller_through_the_shared_throttler(
    bridge: Callable[..., Awaitable[Bridge]],
) -> None:
    throttler = Throttler(1000.0, name="wms")
    b = await bridge(throttler=throttler)
    b.wms.sim.faults.update({"throttle": 1, "retry_after_s": 1})
    with pytest.raises(RetryableError):
        await b.handler.apply(sink_record(order_milestone("SO-17")), context())
    assert throttler.next_allowed_at - time.monotonic() > 0.8


async def test_refused_credentials_pause_rather_than_dead_letter(bridge: Callable[..., Awaitable[Bridge]]) -> None:
    b = await bridge(api_token="wms-secret-token")
    with pytest.raises(AuthenticationError):
        await b.handler.apply(sink_record(order_milestone("SO-18")), context())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ship_to": None}, "without ship_to"),
        ({"lines": []}, "without lines"),
        ({"lines": [{"sku": "CHAIR-OAK-01", "quantity": 1.5, "lot": None}]}, "whole number"),
        ({"lines": [{"quantity": 1.0, "lot": None}]}, "no sku"),
    ],
)
def test_a_release_that_cannot_be_an_order_is_permanent(changes: dict[str, object], message: str) -> None:
    with pytest.raises(PermanentError, match=message):
        release_request({**order_milestone("SO-19"), **changes})


def test_the_idempotency_key_is_the_milestone_forever() -> None:
    assert idempotency_key("5b0f3c52-8c1e") == "release-5b0f3c52-8c1e"
    value = order_milestone("SO-20", ship_to={"name": None, "street": "x", "city": "y", "postal_code": "z",
                                              "country": "US", "phone": None})
    assert release_request(value).ship_to.name == ""  # the WMS, not the bridge, validates addresses
