"""The simulated multi-carrier platform behind the HTTP routes: book, limits, faults, webhooks."""

from __future__ import annotations

import json
from typing import Any

from backbone.signatures import EASYPOST_HEADER, sign_easypost
from simulators.carrier.config import CarrierSimConfig
from simulators.carrier.ratelimit import SlidingWindowLimiter
from simulators.carrier.shipments import BookError, ShipmentBook, Tracker
from simulators.common.http import hex_id, utcnow
from simulators.common.partner import PartnerSimulator
from simulators.common.webhooks import Delivery

__all__ = ["CarrierSimulator"]


class CarrierSimulator(PartnerSimulator[CarrierSimConfig]):
    """Tests reach it as ``app[CARRIER_SIM]`` to drain webhooks or inspect state directly."""

    def __init__(self, config: CarrierSimConfig) -> None:
        super().__init__(config, user_agent="carrier-simulator/1.0 (EasyPost-like)")
        self.book = ShipmentBook(config)
        self._limiters: dict[int, SlidingWindowLimiter] = {}

    def reset(self) -> None:
        self.book.reset()
        super().reset()
        for limiter in self._limiters.values():
            limiter.clear()

    def limiter(self, api_key: str) -> SlidingWindowLimiter | None:
        limit = self.config.rate_limit_overrides.get(api_key, self.config.rate_limit_rps)
        if limit is None:
            return None
        if limit not in self._limiters:  # one limiter per limit value, keyed by api key inside
            self._limiters[limit] = SlidingWindowLimiter(limit, self.config.clock)
        return self._limiters[limit]

    def state(self) -> dict[str, Any]:
        return {
            "shipments": [self.book.shipment_dict(s) for s in self.book.shipments.values()],
            "trackers": [t.as_dict(self.config.mode) for t in self.book.trackers.values()],
            **super().state(),
        }

    def advance(self, tracker: Tracker, *, status: str | None = None, detail: str | None = None,
                message: str | None = None) -> Delivery:
        previous = self.book.advance(tracker, status=status, detail=detail, message=message)
        now = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "id": hex_id("evt"), "object": "Event", "mode": self.config.mode, "description": "tracker.updated",
            "created_at": now, "updated_at": now, "previous_attributes": {"status": previous},
            "pending_urls": [self.config.webhook_url] if self.config.webhook_url else [], "completed_urls": [],
            "result": tracker.as_dict(self.config.mode),
        }
        tracker.last_event = json.dumps(event, separators=(",", ":")).encode()
        return self._send(tracker.last_event)

    def redeliver(self, tracker: Tracker) -> Delivery | None:
        """Send the tracker's last event again, byte for byte (same event id), as a redelivery does."""
        return self._send(tracker.last_event) if tracker.last_event is not None else None

    def tick(self) -> None:
        for tracker in list(self.book.trackers.values()):
            if tracker.finished:
                continue
            try:
                self.advance(tracker)
            except BookError:
                continue  # script exhausted without a final status: the clock must keep ticking

    def _send(self, body: bytes) -> Delivery:
        secret = self.config.webhook_secret

        def sign(raw: bytes) -> dict[str, str]:
            return {EASYPOST_HEADER: sign_easypost(raw, secret)}

        return self.sender.send("easypost.tracker.updated", body, sign)
