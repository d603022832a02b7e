"""HTTP client of the multi-carrier (EasyPost-like v2) API: one request per call, failures translated once.

The client never retries (the bridge's retry policy does, from the error class and ``retry_after``),
but it paces itself to the partner's rate limits (a :class:`Pacer`, or ``max_rps`` for one bucket)
so a burst does not earn 429s, and defers the bucket when a 429/503 says ``Retry-After``. Every
call takes an optional :class:`~services.carrier_bridge.models.Lane`: the bucket it spends.
Creating calls carry an ``Idempotency-Key``; ``buy`` is also safe to repeat: when the label already
exists with the same rate, the existing shipment is returned (``replayed=True``).

Example::

    async with CarrierClient("http://127.0.0.1:8071", api_key, max_rps=5) as carrier:
        shipment = await carrier.create_shipment(f"ship:{ref}", request, lane=Lane("usps"))
        bought = await carrier.buy(shipment.id, shipment.find_rate("USPS", "Priority"), lane=Lane("usps"))
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any, ClassVar, Protocol
from urllib.parse import quote

import aiohttp

from backbone.errors import ConfigError, DeliveryError, RetryableError
from backbone.http import parse_retry_after
from backbone.partner_http import PartnerClient
from services.carrier_bridge.errors import (
    CarrierNotFoundError,
    CarrierProtocolError,
    CarrierRequestError,
    CarrierValidationError,
    PostageExistsError,
)
from services.carrier_bridge.models import Lane, Rate, ShipmentAnswer, ShipmentRequest, TrackerAnswer
from services.carrier_bridge.pacing import CarrierPacer

__all__ = ["CarrierClient", "Pacer", "parse_retry_after"]

PARTNER = "carrier"
POSTAGE_EXISTS = "SHIPMENT.POSTAGE.EXISTS"


class Pacer(Protocol):
    """Rate-limit buckets the client waits on before each call (``CarrierPacer`` implements it)."""

    async def acquire(self, lane: Lane | None) -> None: ...
    def defer(self, lane: Lane | None, seconds: float) -> None: ...


def _error_object(payload: dict[str, Any]) -> dict[str, Any]:
    """EasyPost nests its error: ``{"error": {"code", "message", "errors": [{"field", "message"}]}}``."""
    error = payload.get("error")
    return error if isinstance(error, dict) else {}


class CarrierClient(PartnerClient):
    partner: ClassVar[str] = PARTNER
    display_name: ClassVar[str] = "carrier"
    protocol_error: ClassVar[type[CarrierProtocolError]] = CarrierProtocolError
    credentials: ClassVar[str] = "API key"
    code_on_auth_error: ClassVar[bool] = True  # EasyPost's code (e.g. APIKEY.INVALID) names the cause

    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = 10.0, max_rps: float | None = None,
                 rate_margin_s: float = 0.05, pacer: Pacer | None = None,
                 session: aiohttp.ClientSession | None = None) -> None:
        super().__init__(base_url, timeout_s=timeout_s, session=session)
        if not api_key:
            raise ConfigError("carrier API key is empty")
        if ":" in api_key:
            raise ConfigError("carrier API key must not contain ':'")
        # EasyPost: the key is the Basic-auth user name with an empty password.
        self._authorization = "Basic " + base64.b64encode(f"{api_key}:".encode()).decode()
        if pacer is None and max_rps:
            pacer = CarrierPacer(default_rps=max_rps, margin_s=rate_margin_s)
        self._pacer = pacer

    # --- partner calls -------------------------------------------------------------------

    async def create_shipment(self, idempotency_key: str, shipment: ShipmentRequest, *,
                              lane: Lane | None = None) -> ShipmentAnswer:
        """Create a shipment and get its rates; the same key again answers the same shipment
        (``replayed=True``, as it was when first created: re-read it for its current state)."""
        _, replayed, data = await self._call("POST", "/v2/shipments", call="create_shipment", lane=lane,
                                             body=shipment.to_json(), idempotency_key=idempotency_key)
        return self._parse(ShipmentAnswer.from_json, data, "create_shipment", replayed=replayed)

    async def buy(self, shipment_id: str, rate: Rate | str, *, idempotency_key: str | None = None,
                  lane: Lane | None = None) -> ShipmentAnswer:
        """Buy the label at ``rate``. Repeating a buy that already succeeded returns that label."""
        rate_id = rate.id if isinstance(rate, Rate) else rate
        path = f"/v2/shipments/{quote(shipment_id, safe='')}"
        try:
            _, replayed, data = await self._call("POST", f"{path}/buy", call="buy", lane=lane,
                                                 body={"rate": {"id": rate_id}}, idempotency_key=idempotency_key)
        except PostageExistsError:
            # The earlier attempt bought it but its answer was lost: same rate means the same label.
            current = await self.get_shipment(shipment_id, lane=lane)
            if current.selected_rate is not None and current.selected_rate.id == rate_id:
                return dataclasses.replace(current, replayed=True)
            raise
        return self._parse(ShipmentAnswer.from_json, data, "buy", replayed=replayed)

    async def get_shipment(self, shipment_id: str, *, lane: Lane | None = None) -> ShipmentAnswer:
        _, _, data = await self._call("GET", f"/v2/shipments/{quote(shipment_id, safe='')}", call="get_shipment",
                                      lane=lane)
        return self._parse(ShipmentAnswer.from_json, data, "get_shipment")

    async def create_tracker(self, tracking_code: str, carrier: str, *, lane: Lane | None = None) -> TrackerAnswer:
        """Register a tracker; the platform answers an existing one for the same code (``created=False``)."""
        status, _, data = await self._call("POST", "/v2/trackers", call="create_tracker", lane=lane,
                                        body={"tracker": {"tracking_code": tracking_code, "carrier": carrier}})
        return self._parse(TrackerAnswer.from_json, data, "create_tracker", created=status == 201)

    # --- plumbing ------------------------------------------------------------------------

    def _error_code(self, payload: dict[str, Any]) -> tuple[str | None, Any]:
        error = _error_object(payload)
        return (str(error["code"]) if error.get("code") else None), error.get("message")

    def _refusal(self, status: int, payload: dict[str, Any], code: str | None, detail: str,
                 context: dict[str, Any]) -> DeliveryError:
        error = _error_object(payload)
        errors = tuple((str(e.get("field", "")), str(e.get("message", "")))
                       for e in error.get("errors") or [] if isinstance(e, dict))
        if code == POSTAGE_EXISTS:
            return PostageExistsError(detail, status=status, code=code, errors=errors, **context)
        if status in (400, 422):
            return CarrierValidationError(detail, status=status, code=code, errors=errors, **context)
        if status == 404:
            return CarrierNotFoundError(detail, status=status, code=code, **context)
        return CarrierRequestError(detail, status=status, code=code, errors=errors, **context)

    async def _call(self, method: str, path: str, *, call: str, lane: Lane | None, body: dict[str, Any] | None = None,
                    idempotency_key: str | None = None) -> tuple[int, bool, Any]:
        """(status, answered from an idempotent replay, JSON body) of a 2xx answer; raises otherwise."""
        headers = {"Accept": "application/json", "Authorization": self._authorization}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        if self._pacer is not None:
            await self._pacer.acquire(lane)
        try:
            answer = await self._send(method, path, call=call, headers=headers, body=body)
        except RetryableError as error:
            if self._pacer is not None and error.retry_after:
                self._pacer.defer(lane, error.retry_after)  # everyone on this bucket holds off, not just us
            raise
        return answer.status, answer.headers.get("Idempotent-Replayed") == "true", self._json(answer, call)
