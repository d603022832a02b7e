"""The raw facts the bridge publishes, read back by the normalizer's real wms parser."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from backbone.canonical import OrderCode
from services.status_normalizer.records import OrderMilestone
from services.wms_bridge.models import InventoryChange, OrderAnswer, OrderLine, PackageInfo, StatusChange
from services.wms_bridge.payloads import (
    ANSWER_FORMAT,
    RECONCILIATION_FORMAT,
    answer_fact,
    initial_answer,
    order_answer,
    order_reconciliation,
    stock_reconciliation,
)
from tests.unit.wms_bridge.fakes import Published

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def parsed(fmt: str, payload: bytes) -> list[OrderMilestone]:
    out = Published("raw.warehouse", "shiphero", fmt, payload, None, None, "e").parse()
    return [r for r in out if isinstance(r, OrderMilestone)]


def an_answer(status: str, *steps: str, packages: tuple[PackageInfo, ...] = ()) -> OrderAnswer:
    history = tuple(StatusChange(s, T0 + timedelta(minutes=i)) for i, s in enumerate(steps or (status,)))
    return OrderAnswer(id="400000001", order_ref="SO-1", status=status, reason=None, created_at=T0,
                       updated_at=history[-1].at, packages=packages, history=history)


def test_the_first_answer_survives_later_progress() -> None:
    assert initial_answer(an_answer("shipped", "accepted", "picked", "packed", "shipped")) == ("accepted", T0)
    assert initial_answer(an_answer("accepted", "backordered", "accepted")) == ("backordered", T0)
    no_history = OrderAnswer("1", "SO-1", "packed", None, T0, T0 + timedelta(hours=1))
    assert initial_answer(no_history) == ("accepted", T0)


def test_answer_payload_shape_and_stable_id() -> None:
    fact = order_answer(an_answer("accepted"), warehouse="Reno DC", lines=[OrderLine("A", 2)], fallback_at=T0)
    assert fact.fmt == ANSWER_FORMAT and fact.natural_key == "SO-1"
    assert json.loads(fact.payload) == {"answer": "accepted", "order_ref": "SO-1", "wms_order_id": "400000001",
                                        "warehouse": "Reno DC", "occurred_at": "2026-11-20T09:00:00Z",
                                        "reason": None, "lines": [{"sku": "A", "qty": 2}]}
    again = order_answer(an_answer("accepted"), warehouse="Reno DC", lines=[OrderLine("A", 2)], fallback_at=T0)
    assert again.event_id == fact.event_id
    other = answer_fact(order_ref="SO-1", answer="rejected", at=T0, warehouse="Reno DC", lines=())
    assert other.event_id != fact.event_id
    [ms] = parsed(fact.fmt, fact.payload)
    assert (ms.code, ms.warehouse, ms.occurred_at) == (OrderCode.ACCEPTED_BY_WAREHOUSE, "Reno DC", T0)


def test_a_poll_reports_every_step_and_each_package() -> None:
    packages = tuple(
        PackageInfo(str(90 + n), n, 2, "ups", "ground", f"1Z{n}", None, T0 + timedelta(hours=n), ())
        for n in (1, 2)
    )
    answer = an_answer("shipped", "accepted", "picked", "packed", "shipped", packages=packages)
    first = order_reconciliation(answer, warehouse="Reno DC", polled_at=T0 + timedelta(days=1))
    later = order_reconciliation(answer, warehouse="Reno DC", polled_at=T0 + timedelta(days=2))
    assert first is not None and later is not None
    assert first.fmt == RECONCILIATION_FORMAT and first.facts == 5
    assert first.event_id == later.event_id and first.payload != later.payload  # polled_at is not identity
    milestones = parsed(first.fmt, first.payload)
    assert [(m.code, m.package_number, m.tracking_number) for m in milestones] == [
        (OrderCode.ACCEPTED_BY_WAREHOUSE, None, None), (OrderCode.PICKED, None, None), (OrderCode.PACKED, None, None),
        (OrderCode.SHIPPED, 1, "1Z1"), (OrderCode.SHIPPED, 2, "1Z2")]
    assert [m.milestone_id for m in milestones] == [m.milestone_id for m in parsed(later.fmt, later.payload)]


def test_stock_is_grouped_per_warehouse_and_sku() -> None:
    changes = [InventoryChange(str(n), sku, "Reno DC", -1, 10 - n, "shipped", T0 + timedelta(minutes=n))
               for n, sku in enumerate(["A", "B", "A"])]
    facts = stock_reconciliation(changes, warehouse="fallback", polled_at=T0)
    assert [(f.natural_key, f.facts) for f in facts] == [("Reno DC:A", 2), ("Reno DC:B", 1)]
