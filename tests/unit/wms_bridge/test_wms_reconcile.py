"""Reconciliation polling against the WMS simulator: lost webhooks recovered, watermarks, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest

from backbone.canonical import InventoryKind, OrderCode
from backbone.shutdown import GracefulShutdown
from services.status_normalizer.records import InventoryEvent, OrderMilestone, ShipmentMilestone
from services.wms_bridge.client import WmsClient
from services.wms_bridge.handlers import HandlerSettings, WmsHandler
from services.wms_bridge.payloads import RECONCILIATION_FORMAT
from services.wms_bridge.reconcile import AWAITING, EVENTS, POLL_EVENTS, POLLS, PollSettings, ReconciliationPoller
from simulators.common.receiver import WebhookReceiver
from tests.unit.wms_bridge.conftest import Wms, an_order
from tests.unit.wms_bridge.fakes import FakePublisher, MemoryStore, Published, context, order_milestone, sink_record

StartWms = Callable[..., Awaitable[Wms]]
Clients = Callable[..., WmsClient]


def order_facts(published: list[Published]) -> list[OrderMilestone]:
    return [r for p in published for r in p.parse() if isinstance(r, OrderMilestone)]


def counter(bridge: str, kind: str) -> float:
    return float(EVENTS.labels(bridge, kind)._value.get())


async def test_a_dropped_webhook_is_recovered_by_the_next_poll(
    start_wms: StartWms, clients: Clients, receiver: tuple[WebhookReceiver, str],
) -> None:
    hook, url = receiver
    wms = await start_wms(webhook_url=url, packages_per_order=2)
    client = clients(wms.url)
    publisher, store = FakePublisher(), MemoryStore()
    handler = WmsHandler(client, publisher, store, HandlerSettings())
    await handler.apply(sink_record(order_milestone("SO-R1")), context())
    wms.sim.faults.update({"drop_webhooks": 2})  # both package webhooks are lost on purpose
    order = next(iter(wms.sim.book.orders.values()))
    while order.status != "shipped":
        wms.sim.advance(order)
    await asyncio.sleep(0.05)
    assert [d.status for d in wms.sim.sender.deliveries] == ["dropped", "dropped"] and hook.received == []

    poller = ReconciliationPoller(client, publisher, store, PollSettings(inventory=False), bridge="wms_unit_r1")
    before = counter("wms_unit_r1", "orders")
    result = await poller.poll_once()
    recon = [p for p in publisher.published if p.fmt == RECONCILIATION_FORMAT]
    assert [(p.natural_key, p.partner, p.role) for p in recon] == [("SO-R1", "shiphero", "raw.warehouse")]
    facts = order_facts(recon)
    shipped = sorted((f for f in facts if f.code is OrderCode.SHIPPED), key=lambda f: f.package_number or 0)
    assert [(f.package_number, f.total_packages, f.tracking_number, f.carrier) for f in shipped] == [
        (p.package_number, 2, p.tracking_number, "fedex") for p in order.packages]
    assert [f.code for f in facts if f.code is not OrderCode.SHIPPED] == [
        OrderCode.ACCEPTED_BY_WAREHOUSE, OrderCode.PICKED, OrderCode.PACKED]
    assert (result.orders, result.events) == (5, 1)
    assert counter("wms_unit_r1", "orders") - before == 5
    # The poll repeats the acceptance the bridge answered in real time: same milestone id, dedupe drops it.
    answer = order_facts(publisher.published[:1])[0]
    assert answer.milestone_id == facts[0].milestone_id
    # Nothing changed since: the durable cursor makes the next poll publish nothing.
    assert store.marks["orders"].cursor is not None
    again = await poller.poll_once()
    assert (again.orders, again.events, len(publisher.published)) == (0, 0, 2)


async def test_pages_are_followed_and_the_watermark_moves_after_each(start_wms: StartWms, clients: Clients) -> None:
    wms = await start_wms(page_size=2)
    client = clients(wms.url)
    for n in range(5):
        await client.create_order(f"k{n}", an_order(f"SO-P{n}"))
    publisher, store = FakePublisher(), MemoryStore()
    poller = ReconciliationPoller(client, publisher, store, PollSettings(page_size=2, inventory=False),
                                  bridge="wms_unit_pages")
    result = await poller.poll_once()
    assert sorted(p.natural_key or "" for p in publisher.published) == [f"SO-P{n}" for n in range(5)]
    assert result.pages == 3
    first_poll = [c for c in wms.sim.calls.calls if c.method == "GET"]
    assert "updated_since=" in first_poll[0].query and all("cursor=" in c.query for c in first_poll[1:])


async def test_a_failed_publish_leaves_the_watermark_where_it_was(start_wms: StartWms, clients: Clients) -> None:
    wms = await start_wms()
    client = clients(wms.url)
    await client.create_order("k", an_order("SO-F1"))
    publisher, store = FakePublisher(fail_next=1), MemoryStore()
    poller = ReconciliationPoller(client, publisher, store, PollSettings(inventory=False), bridge="wms_unit_fail")
    with pytest.raises(Exception, match="not acknowledged"):
        await poller.poll_once()
    assert store.marks == {}
    await poller.poll_once()
    assert [p.natural_key for p in publisher.published] == ["SO-F1"]


async def test_stock_movements_become_absolute_counts(start_wms: StartWms, clients: Clients) -> None:
    wms = await start_wms()
    wms.sim.book.adjust("MUG-STONE-12", delta=-3, reason="damaged")
    wms.sim.book.adjust("MUG-STONE-12", on_hand=900, reason="cycle_count")
    wms.sim.book.adjust("LAMP-BRASS-03", delta=5, reason="received")
    publisher = FakePublisher()
    poller = ReconciliationPoller(clients(wms.url), publisher, MemoryStore(), PollSettings(), bridge="wms_unit_stock")
    result = await poller.poll_once()
    assert result.stock == 3
    assert sorted(p.natural_key or "" for p in publisher.published) == ["Reno DC:LAMP-BRASS-03", "Reno DC:MUG-STONE-12"]
    counts = [r for p in publisher.published for r in p.parse()]
    assert all(isinstance(r, InventoryEvent) and r.kind is InventoryKind.COUNTED for r in counts)
    assert sorted((r.sku, r.quantity) for r in counts if isinstance(r, InventoryEvent)) == [
        ("LAMP-BRASS-03", 55.0), ("MUG-STONE-12", 900.0), ("MUG-STONE-12", 997.0)]
    assert not any(isinstance(r, ShipmentMilestone) for r in counts)


async def test_the_loop_polls_on_schedule_survives_failures_and_sets_the_gauge(
    start_wms: StartWms, clients: Clients,
) -> None:
    wms = await start_wms()
    client = clients(wms.url)
    store = MemoryStore()
    await store.track_release("SO-L1", milestone_id="m1", partner_order_id="1",
                              released_at=datetime(2020, 1, 1, tzinfo=UTC))
    await store.track_release("SO-L2", milestone_id="m2", partner_order_id="2", released_at=datetime.now(UTC))
    wms.sim.faults.update({"outage": 1})
    settings = PollSettings(interval_s=0.05, tick_s=0.05, awaiting_after_s=600, inventory=False)
    poller = ReconciliationPoller(client, FakePublisher(), store, settings, bridge="wms_unit_loop")
    errors_before = POLLS.labels("wms_unit_loop", "error")._value.get()
    stop = GracefulShutdown()
    task = asyncio.create_task(poller.run(stop))
    await asyncio.sleep(0.4)
    stop.request("test")
    await asyncio.wait_for(task, 5)
    assert POLLS.labels("wms_unit_loop", "error")._value.get() - errors_before == 1
    assert POLLS.labels("wms_unit_loop", "ok")._value.get() >= 2
    assert AWAITING.labels("wms_unit_loop")._value.get() == 1  # only the old one counts
    await store.track_answer("SO-L1", "accepted", at=datetime.now(UTC))
    assert await poller.refresh_awaiting() == 0
    assert POLL_EVENTS.labels("wms_unit_loop")._sum.get() == 0


async def test_only_one_replica_polls_at_a_time(start_wms: StartWms, clients: Clients) -> None:
    wms = await start_wms()
    client = clients(wms.url)
    await client.create_order("k", an_order("SO-X1"))
    wms.sim.faults.update({"delay_ms": 200})
    store, publisher = MemoryStore(), FakePublisher()  # the shared database of two replicas
    replicas = [ReconciliationPoller(client, publisher, store, PollSettings(inventory=False), bridge="wms_unit_x")
                for _ in range(2)]
    first, second = await asyncio.gather(*(r.poll_once() for r in replicas))
    assert sorted((first.skipped, second.skipped)) == [False, True]
    assert [p.natural_key for p in publisher.published] == ["SO-X1"]


async def test_a_cursor_the_wms_no_longer_honours_falls_back_to_the_time_watermark(
    start_wms: StartWms, clients: Clients,
) -> None:
    wms = await start_wms()
    client = clients(wms.url)
    publisher, store = FakePublisher(), MemoryStore()
    poller = ReconciliationPoller(client, publisher, store, PollSettings(inventory=False), bridge="wms_unit_cursor")
    await client.create_order("k1", an_order("SO-C1"))
    await poller.poll_once()
    # The WMS was reset (or the cursor expired): the stored cursor is refused with a 422 naming it.
    mark = store.marks["orders"]
    store.marks["orders"] = type(mark)(cursor="djE6ZGVhZGJlZWY6NDI", at=mark.at)
    await client.create_order("k2", an_order("SO-C2"))
    result = await poller.poll_once()
    assert "SO-C2" in {p.natural_key for p in publisher.published[1:]}
    assert result.orders >= 1
    assert store.marks["orders"].cursor != "djE6ZGVhZGJlZWY6NDI"
