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
import json
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import aiohttp
from multidict import CIMultiDictProxy

from backbone.errors import AuthenticationError, ConfigError, DeliveryError, RetryableError, TargetUnavailableError
from backbone.http import parse_retry_after
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
T = TypeVar("T")


class Pacer(Protocol):
    """Rate-limit buckets the client waits on before each call (``CarrierPacer`` implements it)."""

    async def acquire(self, lane: Lane | None) -> None: ...
    def defer(self, lane: Lane | None, seconds: float) -> None: ...


def _translate(status: int, headers: CIMultiDictProxy[str], body: bytes, call: str) -> DeliveryError:
    """The one place an HTTP error answer becomes a backbone error."""
    retry_after = parse_retry_after(headers.get("Retry-After"))
    try:
        payload = json.loads(body) if body else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        payload = {}
    error = payload.get("error") if isinstance(payload, dict) else None
    error = error if isinstance(error, dict) else {}
    code = str(error["code"]) if error.get("code") else None
    reason = str(error.get("message") or code or f"HTTP {status}")
    context: dict[str, Any] = {"partner": PARTNER, "call": call, "status": status}
    if status == 429:
        return RetryableError(f"carrier throttled {call}: {reason}", retry_after=retry_after, **context)
    if status >= 500 or status == 408:
        return TargetUnavailableError(f"carrier unavailable for {call}: {reason}", retry_after=retry_after,
                                      **context)
    if status in (401, 403):
        return AuthenticationError(f"carrier refused our API key for {call}: {reason}", code=code, **context)
    errors = tuple((str(e.get("field", "")), str(e.get("message", "")))
                   for e in error.get("errors") or [] if isinstance(e, dict))
    detail = f"carrier refused {call}: {reason}"
    if code == POSTAGE_EXISTS:
        return PostageExistsError(detail, code=code, errors=errors, **context)
    if status in (400, 422):
        return CarrierValidationError(detail, code=code, errors=errors, **context)
    if status == 404:
        return CarrierNotFoundError(detail, code=code, **context)
    return CarrierRequestError(detail, code=code, errors=errors, **context)


class CarrierClient:
    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = 10.0, max_rps: float | None = None,
                 rate_margin_s: float = 0.05, pacer: Pacer | None = None,
                 session: aiohttp.ClientSession | None = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"carrier base URL must be http(s)://..., got {base_url!r}")
        if not api_key:
            raise ConfigError("carrier API key is empty")
        self._base = base_url.rstrip("/")
        if ":" in api_key:
            raise ConfigError("carrier API key must not contain ':'")
        # EasyPost: the key is the Basic-auth user name with an empty password.
        self._authorization = "Basic " + base64.b64encode(f"{api_key}:".encode()).decode()
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        if pacer is None and max_rps:
            pacer = CarrierPacer(default_rps=max_rps, margin_s=rate_margin_s)
        self._pacer = pacer
        self._session = session
        self._own_session = session is None

    async def __aenter__(self) -> CarrierClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

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

    @staticmethod
    def _parse(parse: Callable[..., T], data: Any, call: str, **kwargs: Any) -> T:
        try:
            return parse(data, **kwargs)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CarrierProtocolError(f"carrier answer to {call} is not understood: {exc!r}", partner=PARTNER,
                                       call=call) from exc

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def _call(self, method: str, path: str, *, call: str, lane: Lane | None, body: dict[str, Any] | None = None,
                    idempotency_key: str | None = None) -> tuple[int, bool, Any]:
        """(status, answered from an idempotent replay, JSON body) of a 2xx answer; raises otherwise."""
        headers = {"Accept": "application/json", "Authorization": self._authorization}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        if self._pacer is not None:
            await self._pacer.acquire(lane)
        try:
            async with self._ensure_session().request(
                method, self._base + path, json=body, headers=headers, timeout=self._timeout,
            ) as response:
                raw = await response.read()
                status, answer_headers = response.status, response.headers
        except TimeoutError as exc:
            raise TargetUnavailableError(f"carrier {call} timed out after {self._timeout.total}s",
                                         partner=PARTNER, call=call) from exc
        except aiohttp.ClientError as exc:
            raise TargetUnavailableError(f"carrier {call} failed: {type(exc).__name__}", partner=PARTNER,
                                         call=call) from exc
        if not 200 <= status < 300:
            error = _translate(status, answer_headers, raw, call)
            retry_after = getattr(error, "retry_after", None)
            if self._pacer is not None and retry_after:
                self._pacer.defer(lane, retry_after)  # everyone on this bucket holds off, not just us
            raise error
        try:
            return status, answer_headers.get("Idempotent-Replayed") == "true", json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CarrierProtocolError(f"carrier answer to {call} is not JSON", partner=PARTNER, call=call,
                                       status=status) from exc
