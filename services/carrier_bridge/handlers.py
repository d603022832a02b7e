"""CarrierHandler: PACKED order milestones -> a label bought once at the multi-carrier platform.

Per PACKED record: create the shipment (Idempotency-Key from the milestone id), buy the rate of
the requested service (Idempotency-Key again), register a tracker for the tracking number so the
platform's webhooks flow into ingest, and publish the answer as a ``carrier.label.v1`` RawEvent on
``raw.carrier-tracking`` (LABEL_CREATED then reaches Odoo like any other milestone).
ORDER_RELEASED is remembered (ship-to, carrier, service level); every other code is skipped
(``not_for_carrier``).

Never two labels for one milestone: a timed-out call may have worked, so before buying again the
handler replays the create key (same shipment) and re-reads the shipment; a label already there is
used, not bought again. The buy carries its own key, and a PostageExists answer for the same rate
returns the existing label (client). Failures raise the backbone error tree; the sink runtime
retries (pausing the partition), dead-letters or pauses accordingly.

Example::

    handler = CarrierHandler(client, RawPublisher(producer, registry, catalog), orders=orders,
                             defaults=defaults, catalog=ServiceCatalog.load())
    await backbone.sink.SinkRuntime(cfg, handler).run(stop)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from backbone.raw_publisher import RawPublishing
from backbone.sink import ApplyContext, ApplyResult, SinkRecord
from services.carrier_bridge.booking import (
    LABEL_FORMAT,
    Booking,
    BookingDefaults,
    OrderDetails,
    ServiceCatalog,
    choose_rate,
    label_event_id,
    label_payload,
    plan_booking,
)
from services.carrier_bridge.client import CarrierClient
from services.carrier_bridge.errors import CarrierProtocolError
from services.carrier_bridge.models import ShipmentAnswer
from services.carrier_bridge.orders import OrderDirectory

__all__ = ["CarrierHandler", "HandlerSettings"]

log = logging.getLogger("carrier_bridge")

PACKED = "PACKED"
RELEASED = "ORDER_RELEASED"


@dataclass(frozen=True)
class HandlerSettings:
    partner: str = "easypost"  # partner id of the published answers: key "<partner>:<tracking number>"
    answer_role: str = "raw.carrier-tracking"
    register_tracker: Literal["always", "if_missing"] = "always"


class CarrierHandler:
    def __init__(
        self,
        client: CarrierClient,
        publisher: RawPublishing,
        *,
        orders: OrderDirectory,
        defaults: BookingDefaults,
        catalog: ServiceCatalog,
        settings: HandlerSettings | None = None,
    ) -> None:
        self.client = client
        self.publisher = publisher
        self.orders = orders
        self.defaults = defaults
        self.catalog = catalog
        self.settings = settings or HandlerSettings()

    async def apply(self, record: SinkRecord, ctx: ApplyContext) -> ApplyResult:
        code = record.code
        if code == RELEASED:
            return await self._remember(record)
        if code != PACKED:
            return ApplyResult.skipped("not_for_carrier")
        if not ctx.verdict.allowed:
            return ApplyResult.skipped("stale")
        booking = await self._plan(record)
        shipment = await self._shipment(booking)
        if shipment.purchased:
            bought = shipment  # an earlier attempt bought it and its answer was lost
        else:
            rate = choose_rate(shipment, booking)
            bought = await self.client.buy(shipment.id, rate, idempotency_key=booking.buy_key, lane=booking.lane)
        return await self._finish(record, booking, bought, reused=bought is shipment or bought.replayed)

    async def reconcile(self, record: SinkRecord, ctx: ApplyContext) -> ApplyResult | None:
        """After a timeout or a crash mid-call: is the label already bought? Then finish without buying."""
        if record.code != PACKED or not ctx.verdict.allowed:
            return None
        booking = await self._plan(record)
        shipment = await self._shipment(booking)
        if not shipment.purchased:
            return None  # apply buys it, with the same keys
        return await self._finish(record, booking, shipment, reused=True)

    # -- steps ---------------------------------------------------------------------------------
    async def _remember(self, record: SinkRecord) -> ApplyResult:
        details = OrderDetails.from_milestone(record.value)
        order_ref = record.value.get("order_ref")
        if details.empty or not isinstance(order_ref, str):
            return ApplyResult.skipped("not_for_carrier")
        await self.orders.remember(order_ref, details)
        return ApplyResult.skipped("not_for_carrier", remembered=True)

    async def _plan(self, record: SinkRecord) -> Booking:
        order_ref = record.value.get("order_ref")
        known = await self.orders.lookup(order_ref) if isinstance(order_ref, str) else None
        return plan_booking(
            record.value, record.milestone_id, known=known, defaults=self.defaults, catalog=self.catalog
        )

    async def _shipment(self, booking: Booking) -> ShipmentAnswer:
        """The booking's shipment in its current state (created now, or found again by its key)."""
        shipment = await self.client.create_shipment(booking.create_key, booking.request, lane=booking.lane)
        if shipment.replayed:
            # A replay answers the shipment as first created; only a re-read shows a label bought since.
            shipment = await self.client.get_shipment(shipment.id, lane=booking.lane)
        return shipment

    async def _finish(
        self, record: SinkRecord, booking: Booking, bought: ShipmentAnswer, *, reused: bool
    ) -> ApplyResult:
        tracking = bought.tracking_code
        if tracking is None:
            raise CarrierProtocolError("purchased shipment without tracking code", shipment_id=bought.id)
        tracker_id = bought.tracker_id
        if self.settings.register_tracker == "always" or tracker_id is None:
            tracker = await self.client.create_tracker(tracking, booking.platform_carrier, lane=booking.lane)
            tracker_id = tracker.id
        await self.publisher.publish(
            self.settings.answer_role,
            partner=self.settings.partner,
            fmt=LABEL_FORMAT,
            payload=label_payload(booking, bought),
            natural_key=tracking,
            correlation_id=record.correlation_id,
            event_id=label_event_id(record.milestone_id),
        )
        rate = bought.selected_rate
        log.info(
            "label %s",
            "found" if reused else "bought",
            extra={
                "order_ref": booking.order_ref,
                "milestone_id": record.milestone_id,
                "shipment_id": bought.id,
                "carrier": booking.platform_carrier,
                "tracking_number": tracking,
                "urgent": booking.urgent,
            },
        )
        return ApplyResult.applied(
            shipment_id=bought.id,
            tracking_number=tracking,
            tracker_id=tracker_id,
            carrier=booking.platform_carrier,
            service=rate.service if rate else None,
            rate=str(rate.amount) if rate else None,
            reused_label=reused,
        )
