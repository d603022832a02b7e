"""The simulated warehouse behind the HTTP routes: order book, faults, call log and webhooks."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from backbone.signatures import SHIPHERO_HEADER, sign_shiphero, standard_webhooks_headers
from simulators.common.partner import PartnerSimulator
from simulators.common.webhooks import Signer
from simulators.wms import payloads
from simulators.wms.config import WmsSimConfig
from simulators.wms.orders import Order, OrderBook, TransitionError

__all__ = ["WmsSimulator"]


class WmsSimulator(PartnerSimulator[WmsSimConfig]):
    """Tests reach it as ``app[WMS_SIM]`` to drain webhooks or inspect state directly."""

    def __init__(self, config: WmsSimConfig) -> None:
        super().__init__(config, user_agent="wms-simulator/1.0")
        self.book = OrderBook(config)

    def reset(self) -> None:
        self.book.reset()
        super().reset()

    def state(self) -> dict[str, Any]:
        return {
            "orders": [o.as_dict() for o in self.book.orders.values()],
            "on_hand": dict(self.book.on_hand),
            "inventory_changes": len(self.book.inventory),
            **super().state(),
        }

    # --- behaviour with side effects (webhooks) ------------------------------------------

    def advance(self, order: Order, *, packages: int | None = None) -> Order:
        before = len(order.packages)
        self.book.advance(order, packages=packages)
        for package in order.packages[before:]:
            if "shiphero" in self.config.webhook_styles:
                self._send_shiphero("shipment_update", payloads.shiphero_shipment_update(order, package, self.config))
            if "shipbob" in self.config.webhook_styles:
                self._send_shipbob("order.shipped", payloads.shipbob_order_shipped(order, package, self.config))
        return order

    def cancel(self, order: Order) -> Order:
        was = order.status
        self.book.cancel(order)
        if was != "cancelled":
            if "shiphero" in self.config.webhook_styles:
                self._send_shiphero("order_canceled", payloads.shiphero_order_canceled(order, self.config))
            if "shipbob" in self.config.webhook_styles:
                self._send_shipbob("order.shipment.cancelled", payloads.shipbob_order_cancelled(order, self.config))
        return order

    def tick(self) -> None:
        """Move every open order one step (the clock calls this once per interval)."""
        for order in self.book.open_orders():
            try:
                self.advance(order)
            except TransitionError:
                continue  # e.g. cancelled between listing and advancing: the clock must keep ticking

    # --- signing -------------------------------------------------------------------------

    def _send_shiphero(self, kind: str, payload: dict[str, Any]) -> None:
        secret = self.config.shiphero_secret

        def sign(body: bytes) -> dict[str, str]:
            return {SHIPHERO_HEADER: sign_shiphero(body, secret)}

        self._send(f"shiphero.{kind}", payload, sign)

    def _send_shipbob(self, kind: str, payload: dict[str, Any]) -> None:
        secret, msg_id = self.config.shipbob_secret, f"msg_{secrets.token_urlsafe(18)}"

        def sign(body: bytes) -> dict[str, str]:
            # Same message id on every retry, fresh timestamp per attempt (as Svix-based senders do).
            return standard_webhooks_headers(msg_id, int(time.time()), body, secret)

        self._send(f"shipbob.{kind}", payload, sign)

    def _send(self, kind: str, payload: dict[str, Any], sign: Signer) -> None:
        self.sender.send(kind, json.dumps(payload, separators=(",", ":")).encode(), sign)
