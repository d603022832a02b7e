"""The WMS bridge end to end on the real stack: canonical release -> one WMS order -> raw answer the
normalizer understands; replay safety; a lost webhook recovered by the reconciliation poll."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest

from backbone.canonical import OrderCode
from backbone.sink.metrics import SKIPPED
from backbone.telemetry import setup_tracing
from services.status_normalizer.parsers import parse
from services.status_normalizer.records import CanonicalRecord, OrderMilestone, RawContext
from services.wms_bridge.reconcile import AWAITING, EVENTS
from tests.integration.pipeline_helpers import count_records
from tests.integration.wms_bridge.conftest import BridgeEnv, RawAnswer, RawReader, eventually
from tests.unit.wms_bridge.fakes import order_milestone

pytestmark = pytest.mark.integration


def normalize(answer: RawAnswer) -> list[CanonicalRecord]:
    """Run the normalizer's own parser over the published RawEvent, as the Faust worker would."""
    e = answer.event
    ctx = RawContext(partner=e["partner"], format=e["format"], event_id=e["event_id"],
                     received_at=e["received_at"], correlation_id=e["correlation_id"],
                     topic="raw.warehouse.v1", partition=answer.partition, offset=answer.offset)
    return parse(e["payload"], ctx)


def order_codes(answers: list[RawAnswer]) -> list[OrderCode]:
    return [r.code for a in answers for r in normalize(a) if isinstance(r, OrderMilestone)]


def answers(seen: list[RawAnswer]) -> list[RawAnswer]:
    return [a for a in seen if a.event["format"] == "wms.order_answer.v1"]


def skipped(sink: str, reason: str) -> float:
    return float(SKIPPED.labels(sink, reason)._value.get())


async def test_release_creates_one_wms_order_whose_answer_the_normalizer_reads(
    bridge_env: BridgeEnv, raw_reader: RawReader,
) -> None:
    setup_tracing("wms-bridge-it")
    env = bridge_env
    ref = f"SO-{env.unique}"
    cfg = env.config(awaiting_acceptance_minutes=0)
    env.start(cfg)
    trace_id = secrets.token_hex(16)
    release = order_milestone(ref)
    await env.send(release, [("traceparent", f"00-{trace_id}-{secrets.token_hex(8)}-01".encode())])

    [answer] = answers(await raw_reader.until(lambda seen: len(answers(seen)) >= 1))
    [order] = env.orders(ref)
    assert (order["status"], order["lines"], order["requested_service"]) == (
        "accepted", [{"sku": "CHAIR-OAK-01", "qty": 2}, {"sku": "TABLE-OAK-02", "qty": 1}], "ground")
    assert answer.key == f"shiphero:{ref}"
    assert {k: answer.event[k] for k in ("partner", "channel", "format", "natural_key", "signature_scheme",
                                         "correlation_id")} == {
        "partner": "shiphero", "channel": "warehouse", "format": "wms.order_answer.v1", "natural_key": ref,
        "signature_scheme": "internal", "correlation_id": f"corr-{ref}"}
    assert answer.headers["event_id"] == answer.event["event_id"]
    assert (answer.headers["partner"], answer.headers["format"]) == ("shiphero", "wms.order_answer.v1")
    assert answer.headers["traceparent"].split("-")[1] == trace_id  # one trace from release to answer
    [accepted] = normalize(answer)
    assert isinstance(accepted, OrderMilestone)
    assert (accepted.code, accepted.order_ref, accepted.partner_order_id) == (
        OrderCode.ACCEPTED_BY_WAREHOUSE, ref, str(order["id"]))

    # Released, not yet accepted (threshold 0 minutes) ... until the normalizer's ACCEPTED comes back.
    await eventually(lambda: AWAITING.labels(cfg.sink_name)._value.get() == 1, what="awaiting gauge at 1")
    await env.send(accepted.to_avro())
    await eventually(lambda: AWAITING.labels(cfg.sink_name)._value.get() == 0, what="awaiting gauge back to 0")
    assert env.sql(cfg.ledger_schema, "SELECT state, partner_order_id FROM bridge_orders WHERE order_ref = %s",
                   ref) == [("accepted", str(order["id"]))]
    rows = env.sql(cfg.ledger_schema, "SELECT status FROM sink_ledger WHERE milestone_id = %s",
                   release["milestone_id"])
    assert rows == [("applied",)]
    await env.stop_all()

    # Replay from offset 0 (new group, same ledger): the ledger stops both records before the WMS.
    before = skipped(cfg.sink_name, "duplicate")
    env.start(env.config(group_id=f"replay-{env.unique}", reconcile_interval=0))
    await eventually(lambda: skipped(cfg.sink_name, "duplicate") - before == 2, what="replay skipped")
    await env.stop_all()
    assert len(env.orders(ref)) == 1 and env.sim.calls.statuses("POST", "/v1/orders") == [201]

    # Replay with the ledger lost (fresh schema): the Idempotency-Key makes the WMS answer, not create.
    env.start(env.config(group_id=f"fresh-{env.unique}", ledger_schema=f"wms_fresh_{env.unique}",
                         reconcile_interval=0))
    first, again = answers(await raw_reader.until(lambda seen: len(answers(seen)) >= 2))
    await env.stop_all()
    assert len(env.orders(ref)) == 1 and env.sim.calls.statuses("POST", "/v1/orders") == [201, 200]
    assert (first.event["event_id"], first.event["payload"]) == (again.event["event_id"], again.event["payload"])


async def test_a_lost_webhook_is_recovered_by_the_reconciliation_poll(
    bridge_env: BridgeEnv, raw_reader: RawReader,
) -> None:
    env = bridge_env
    ref = f"SO-{env.unique}"
    cfg = env.config(reconcile_interval=0.5)
    env.start(cfg)
    await env.send(order_milestone(ref))
    await raw_reader.until(lambda seen: OrderCode.ACCEPTED_BY_WAREHOUSE in order_codes(seen))

    env.sim.faults.update({"drop_webhooks": 1})
    order = next(o for o in env.sim.book.orders.values() if o.order_ref == ref)
    while order.status != "shipped":
        env.sim.advance(order)
    assert [d.status for d in env.sim.sender.deliveries] == ["dropped"] and env.hook.received == []
    [package] = order.packages

    def recovered(seen: list[RawAnswer]) -> bool:
        return any(r.code is OrderCode.SHIPPED for a in seen if a.event["format"] == "wms.reconciliation.v1"
                   for r in normalize(a) if isinstance(r, OrderMilestone))

    seen = await raw_reader.until(recovered)
    polled = next(a for a in seen if a.event["format"] == "wms.reconciliation.v1"
                  and OrderCode.SHIPPED in order_codes([a]))
    assert polled.key == f"shiphero:{ref}" and polled.headers["format"] == "wms.reconciliation.v1"
    [shipped] = [r for r in normalize(polled) if isinstance(r, OrderMilestone) and r.code is OrderCode.SHIPPED]
    assert (shipped.order_ref, shipped.tracking_number, shipped.carrier, shipped.fully_shipped) == (
        ref, package.tracking_number, "fedex", True)
    assert EVENTS.labels(cfg.sink_name, "orders")._value.get() >= 1
    [(cursor, at)] = env.sql(cfg.ledger_schema,
                             "SELECT cursor_token, watermark FROM bridge_watermarks WHERE stream = 'orders'")
    assert cursor and at <= datetime.now(UTC)

    # Odoo cancels too late: skipped with its reason, never dead-lettered.
    cancel = order_milestone(ref, "CANCELLED")
    await env.send(cancel)

    def settled() -> bool:
        return bool(env.sql(cfg.ledger_schema, "SELECT 1 FROM sink_ledger WHERE milestone_id = %s AND status "
                            "<> 'in_flight'", cancel["milestone_id"]))

    await eventually(settled, what="cancel settled")
    [(status, reason)] = env.sql(cfg.ledger_schema, "SELECT status, response->>'reason' FROM sink_ledger "
                                 "WHERE milestone_id = %s", cancel["milestone_id"])
    assert (status, reason, order.status) == ("skipped", "already_shipped", "shipped")
    assert count_records(env.stack.kafka, env.topics.name("dlq.wms_bridge")) == 0
    await env.stop_all()
