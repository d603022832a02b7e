"""Canonical codes and their ranks: the vocabulary every consumer of canonical topics shares.

Rank orders the happy path so sinks can refuse to move a target backwards. Codes off the path
(EXCEPTION, CANCELLED, UNKNOWN) have rank 0 and never overwrite a ranked status.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ORDER_RANK",
    "SHIPMENT_RANK",
    "ExceptionReason",
    "InventoryKind",
    "OrderCode",
    "ShipmentCode",
    "allowed_transition",
]


class ShipmentCode(StrEnum):
    UNKNOWN = "UNKNOWN"
    LABEL_CREATED = "LABEL_CREATED"
    SHIPPED = "SHIPPED"
    CARRIER_PICKED_UP = "CARRIER_PICKED_UP"
    IN_TRANSIT = "IN_TRANSIT"
    CUSTOMS_HOLD = "CUSTOMS_HOLD"
    CUSTOMS_CLEARED = "CUSTOMS_CLEARED"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    AVAILABLE_FOR_PICKUP = "AVAILABLE_FOR_PICKUP"
    DELIVERY_ATTEMPT_FAILED = "DELIVERY_ATTEMPT_FAILED"
    DELIVERED = "DELIVERED"
    RETURN_TO_SENDER = "RETURN_TO_SENDER"
    RETURN_RECEIVED = "RETURN_RECEIVED"
    EXCEPTION = "EXCEPTION"
    CANCELLED = "CANCELLED"


class ExceptionReason(StrEnum):
    OTHER = "OTHER"
    DELAY = "DELAY"
    WEATHER = "WEATHER"
    ADDRESS = "ADDRESS"
    DAMAGED = "DAMAGED"
    LOST = "LOST"
    REFUSED = "REFUSED"
    HELD = "HELD"


class OrderCode(StrEnum):
    UNKNOWN = "UNKNOWN"
    ORDER_RELEASED = "ORDER_RELEASED"
    ACCEPTED_BY_WAREHOUSE = "ACCEPTED_BY_WAREHOUSE"
    REJECTED_BY_WAREHOUSE = "REJECTED_BY_WAREHOUSE"
    PICKED = "PICKED"
    PACKED = "PACKED"
    SHIPPED = "SHIPPED"
    BACKORDERED = "BACKORDERED"
    CANCELLED = "CANCELLED"


class InventoryKind(StrEnum):
    UNKNOWN = "UNKNOWN"
    COUNTED = "COUNTED"
    ADJUSTED = "ADJUSTED"
    RECEIVED = "RECEIVED"


SHIPMENT_RANK: dict[ShipmentCode, int] = {
    ShipmentCode.LABEL_CREATED: 40,
    ShipmentCode.SHIPPED: 50,
    ShipmentCode.CARRIER_PICKED_UP: 60,
    ShipmentCode.IN_TRANSIT: 70,
    ShipmentCode.CUSTOMS_HOLD: 72,
    ShipmentCode.CUSTOMS_CLEARED: 74,
    ShipmentCode.OUT_FOR_DELIVERY: 80,
    ShipmentCode.AVAILABLE_FOR_PICKUP: 82,
    ShipmentCode.DELIVERY_ATTEMPT_FAILED: 85,
    ShipmentCode.DELIVERED: 90,
    ShipmentCode.RETURN_TO_SENDER: 95,
    ShipmentCode.RETURN_RECEIVED: 99,
    ShipmentCode.EXCEPTION: 0,
    ShipmentCode.CANCELLED: 0,
    ShipmentCode.UNKNOWN: 0,
}

ORDER_RANK: dict[OrderCode, int] = {
    OrderCode.ORDER_RELEASED: 10,
    OrderCode.ACCEPTED_BY_WAREHOUSE: 20,
    OrderCode.REJECTED_BY_WAREHOUSE: 20,
    OrderCode.BACKORDERED: 25,
    OrderCode.PICKED: 40,
    OrderCode.PACKED: 50,
    OrderCode.SHIPPED: 60,
    OrderCode.CANCELLED: 0,
    OrderCode.UNKNOWN: 0,
}


def allowed_transition(
    current_rank: int, new_rank: int, *, allow_regressions: frozenset[tuple[int, int]] = frozenset()
) -> bool:
    """True when moving a target from ``current_rank`` to ``new_rank`` is not a step backwards.

    Unranked codes (0) never overwrite a ranked status but are still recorded as facts by sinks.
    ``allow_regressions`` lists explicit (from, to) pairs a deployment permits.
    """
    if new_rank == 0:
        return current_rank == 0
    if (current_rank, new_rank) in allow_regressions:
        return True
    return new_rank >= current_rank
