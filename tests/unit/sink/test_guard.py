from __future__ import annotations

import pytest

from backbone.canonical import SHIPMENT_RANK, ShipmentCode
from backbone.sink.guard import judge

IN_TRANSIT = SHIPMENT_RANK[ShipmentCode.IN_TRANSIT]
DELIVERED = SHIPMENT_RANK[ShipmentCode.DELIVERED]
RETURN_TO_SENDER = SHIPMENT_RANK[ShipmentCode.RETURN_TO_SENDER]
OUT_FOR_DELIVERY = SHIPMENT_RANK[ShipmentCode.OUT_FOR_DELIVERY]
ATTEMPT_FAILED = SHIPMENT_RANK[ShipmentCode.DELIVERY_ATTEMPT_FAILED]
EXCEPTION = SHIPMENT_RANK[ShipmentCode.EXCEPTION]


@pytest.mark.parametrize(
    ("current", "new", "allowed", "reason", "store"),
    [
        (None, IN_TRANSIT, True, "first", IN_TRANSIT),
        (IN_TRANSIT, DELIVERED, True, "advance", DELIVERED),
        (DELIVERED, IN_TRANSIT, False, "regression", None),
        (DELIVERED, DELIVERED, True, "same", None),
        (DELIVERED, RETURN_TO_SENDER, True, "advance", RETURN_TO_SENDER),
        (DELIVERED, EXCEPTION, False, "unranked", None),
        (None, EXCEPTION, True, "first", None),
        (DELIVERED, None, True, "unguarded", None),
    ],
)
def test_verdicts(current: int | None, new: int | None, allowed: bool, reason: str, store: int | None) -> None:
    v = judge(current, new)
    assert (v.allowed, v.reason, v.store_rank) == (allowed, reason, store)
    assert v.stale is (not allowed)


def test_configured_regression_is_allowed_and_lowers_the_state() -> None:
    allow = frozenset({(ATTEMPT_FAILED, OUT_FOR_DELIVERY)})
    v = judge(ATTEMPT_FAILED, OUT_FOR_DELIVERY, allow_regressions=allow)
    assert (v.allowed, v.reason, v.store_rank) == (True, "allowed_regression", OUT_FOR_DELIVERY)
    assert not judge(ATTEMPT_FAILED, OUT_FOR_DELIVERY).allowed
    assert not judge(DELIVERED, IN_TRANSIT, allow_regressions=allow).allowed
