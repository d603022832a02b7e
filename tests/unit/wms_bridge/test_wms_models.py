"""WMS request/answer dataclasses: wire shape, lenient parsing, no personal data in repr."""

from __future__ import annotations

import pytest

from services.wms_bridge.models import Address, ChangesPage, OrderAnswer, OrderLine, OrderRequest
from tests.unit.wms_bridge.conftest import an_order


def test_order_request_renders_the_api_body_without_empty_fields() -> None:
    order = OrderRequest("SO-1", (OrderLine("MUG-STONE-12", 4),),
                         Address("Ada", "1 Main St", "Reno", "89501", "US"))
    assert order.to_json() == {
        "order_ref": "SO-1", "lines": [{"sku": "MUG-STONE-12", "qty": 4}],
        "ship_to": {"name": "Ada", "address1": "1 Main St", "city": "Reno", "postal_code": "89501",
                    "country": "US"},
    }
    assert an_order().to_json()["requested_carrier"] == "fedex"


def test_repr_keeps_personal_data_out_of_logs() -> None:
    text = repr(an_order())
    for personal in ("Ada Example", "1 Main St", "Reno", "89501", "+1 555 0100"):
        assert personal not in text
    assert "SO-2026-0419" in text and "country='US'" in text


def test_answers_parse_leniently_and_keep_unknown_statuses() -> None:
    answer = OrderAnswer.from_json({
        "id": 7, "order_ref": "SO-7", "status": "on_hold", "created_at": "2026-11-20T10:00:00Z",
        "shipments": [{"shipment_id": 1, "carrier": "ups", "tracking_number": "1Z", "line_items": [
            {"sku": "A", "quantity": 2, "package": 1}]}],
        "brand_new_field": True,
    })
    assert (answer.id, answer.status, answer.packages[0].line_items) == ("7", "on_hold", (OrderLine("A", 2),))
    assert answer.created_at is not None and answer.created_at.utcoffset() is not None


def test_answers_refuse_zone_less_timestamps() -> None:
    with pytest.raises(ValueError, match="zone"):
        OrderAnswer.from_json({"id": 1, "order_ref": "x", "status": "accepted", "updated_at": "2026-11-20T10:00"})


def test_changes_page_parses_its_cursor() -> None:
    page = ChangesPage.from_json({"orders": [], "next_cursor": "djE6NA", "has_more": False})
    assert (page.orders, page.next_cursor, page.has_more) == ((), "djE6NA", False)
