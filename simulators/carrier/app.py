"""HTTP face of the multi-carrier simulator (EasyPost-like v2 API).

Partner API (API key as Basic-auth user name or Bearer; ``Idempotency-Key`` honoured on POSTs)::

    POST /v2/shipments              {"shipment": {to_address, from_address, parcel, carrier?, service?, reference?}}
    GET  /v2/shipments/{id}
    POST /v2/shipments/{id}/buy     {"rate": {"id": "rate_..."}} -> tracking_code, postage_label, selected_rate
    POST /v2/trackers               {"tracker": {"tracking_code", "carrier"}}; an existing one is returned
    GET  /v2/trackers/{id}

Simulator control::

    POST /_sim/advance/{tracker_id}[?status=&detail=&message=]   next checkpoint + tracker.updated webhook
    POST /_sim/redeliver/{tracker_id}                             re-send the last event byte for byte
    POST /_sim/faults  GET /_sim/faults  GET /_sim/calls  GET /_sim/state  POST /_sim/reset
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler

from simulators.carrier.config import CarrierSimConfig
from simulators.carrier.shipments import BookError, Shipment, Tracker
from simulators.carrier.simulator import CarrierSimulator
from simulators.common.http import bearer_or_basic_key, json_response, read_json_object
from simulators.common.idempotency import IdempotentCall
from simulators.common.partner import partner_app

__all__ = ["CARRIER_SIM", "DEFAULT_PORT", "create_app", "run"]

DEFAULT_PORT = 8071
CARRIER_SIM = web.AppKey("carrier_sim", CarrierSimulator)

ROUTES = web.RouteTableDef()  # the partner API and carrier-only controls; partner_app adds the shared ones
Produce = Callable[[dict[str, Any]], Awaitable[tuple[int, dict[str, Any]]]]


def _error_body(status: int, code: str, message: str, errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "errors": errors or []}}


def _error(status: int, code: str, message: str, errors: list[dict[str, str]] | None = None,
           headers: dict[str, str] | None = None) -> web.Response:
    return json_response(_error_body(status, code, message, errors), status, headers)


@web.middleware
async def _auth_and_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/v2/"):
        return await handler(request)
    sim = request.app[CARRIER_SIM]
    key = bearer_or_basic_key(request)
    if key is None:
        return _error(401, "APIKEY.REQUIRED", "An API key is required (HTTP Basic user name or Bearer).")
    if sim.config.api_keys and not any(hmac.compare_digest(key.encode(), k.encode()) for k in sim.config.api_keys):
        return _error(401, "APIKEY.INVALID", "The API key provided is not valid.")
    limiter = sim.limiter(key)
    if limiter is not None:
        wait = limiter.acquire(key)
        limit_headers = {"X-RateLimit-Limit": str(limiter.limit)}
        if wait is not None:
            # Retry-After is whole seconds (RFC 9110); the exact wait is given in milliseconds beside it.
            limit_headers.update({"Retry-After": str(max(1, math.ceil(wait))),
                                  "X-RateLimit-Reset-Ms": str(max(1, math.ceil(wait * 1000)))})
            return _error(429, "RATE_LIMITED", f"More than {limiter.limit} requests per second.",
                          headers=limit_headers)
        response = await handler(request)
        response.headers.update(limit_headers)
        return response
    return await handler(request)


async def _idempotent(request: web.Request, produce: Produce) -> web.Response:
    """Parse the body, replay or refuse a reused Idempotency-Key, else produce and remember."""
    sim = request.app[CARRIER_SIM]
    body = await read_json_object(request)
    if body is None:
        return _error(400, "BAD_REQUEST", "The body must be a JSON object.")
    call = IdempotentCall.of(request, sim.idempotency, body)
    earlier = call.earlier(lambda: _error(422, "IDEMPOTENCY_KEY.REUSED",
                                          "This Idempotency-Key was already used with a different request."))
    if earlier is not None:
        return earlier
    try:
        status, answer = await produce(body)
    except BookError as exc:
        return _error(exc.status, exc.code, str(exc), exc.errors)
    call.remember(status, answer)
    return json_response(answer, status)


_T = TypeVar("_T")


def _found(thing: _T | None) -> _T:
    if thing is None:
        raise web.HTTPNotFound(text='{"error":{"code":"NOT_FOUND","message":"The requested resource could not be '
                                    'found.","errors":[]}}', content_type="application/json")
    return thing


def _shipment(request: web.Request) -> Shipment:
    return _found(request.app[CARRIER_SIM].book.shipments.get(request.match_info["id"]))


def _tracker(request: web.Request) -> Tracker:
    return _found(request.app[CARRIER_SIM].book.trackers.get(request.match_info["id"]))


# --- partner API -----------------------------------------------------------------------------


@ROUTES.post("/v2/shipments")
async def create_shipment(request: web.Request) -> web.Response:
    book = request.app[CARRIER_SIM].book

    async def produce(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        params = body.get("shipment")
        if not isinstance(params, dict):
            raise BookError(422, "SHIPMENT.INVALID_PARAMS", "shipment is required",
                            [{"field": "shipment", "message": "is required"}])
        problems = book.validate(params)
        if problems:
            raise BookError(422, "SHIPMENT.INVALID_PARAMS", "; ".join(f"{p.field} {p.message}" for p in problems),
                            [{"field": p.field, "message": p.message} for p in problems])
        return 201, book.shipment_dict(book.create(params))

    return await _idempotent(request, produce)


@ROUTES.get("/v2/shipments/{id}")
async def get_shipment(request: web.Request) -> web.Response:
    return json_response(request.app[CARRIER_SIM].book.shipment_dict(_shipment(request)))


@ROUTES.post("/v2/shipments/{id}/buy")
async def buy_shipment(request: web.Request) -> web.Response:
    book, shipment = request.app[CARRIER_SIM].book, _shipment(request)

    async def produce(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        rate = body.get("rate")
        rate_id = rate.get("id") if isinstance(rate, dict) else None
        if not isinstance(rate_id, str):
            raise BookError(422, "SHIPMENT.INVALID_PARAMS", "rate.id is required",
                            [{"field": "rate.id", "message": "is required"}])
        return 200, book.shipment_dict(book.buy(shipment, rate_id))

    return await _idempotent(request, produce)


@ROUTES.post("/v2/trackers")
async def create_tracker(request: web.Request) -> web.Response:
    sim = request.app[CARRIER_SIM]

    async def produce(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        params = body.get("tracker")
        code = params.get("tracking_code") if isinstance(params, dict) else None
        carrier = params.get("carrier") if isinstance(params, dict) else None
        if not isinstance(code, str) or not code.strip() or (carrier is not None and not isinstance(carrier, str)):
            raise BookError(422, "TRACKER.INVALID_PARAMS", "tracker.tracking_code is required",
                            [{"field": "tracker.tracking_code", "message": "is required"}])
        tracker, created = sim.book.track(code.strip(), carrier)
        return (201 if created else 200), tracker.as_dict(sim.config.mode)

    return await _idempotent(request, produce)


@ROUTES.get("/v2/trackers/{id}")
async def get_tracker(request: web.Request) -> web.Response:
    return json_response(_tracker(request).as_dict(request.app[CARRIER_SIM].config.mode))


# --- simulator control -----------------------------------------------------------------------


@ROUTES.post("/_sim/advance/{id}")
async def sim_advance(request: web.Request) -> web.Response:
    sim, tracker = request.app[CARRIER_SIM], _tracker(request)
    try:
        delivery = sim.advance(tracker, status=request.query.get("status"), detail=request.query.get("detail"),
                               message=request.query.get("message"))
    except BookError as exc:
        return _error(exc.status, exc.code, str(exc))
    return json_response({"tracker": tracker.as_dict(sim.config.mode), "delivery": delivery.as_dict()})


@ROUTES.post("/_sim/redeliver/{id}")
async def sim_redeliver(request: web.Request) -> web.Response:
    delivery = request.app[CARRIER_SIM].redeliver(_tracker(request))
    if delivery is None:
        return _error(409, "TRACKER.NO_EVENT", "the tracker has not produced an event yet")
    return json_response({"delivery": delivery.as_dict()})


# --- wiring ----------------------------------------------------------------------------------


def create_app(config: CarrierSimConfig | None = None) -> web.Application:
    return partner_app(CarrierSimulator(config or CarrierSimConfig()), CARRIER_SIM, routes=ROUTES,
                       error_body=_error_body, auth=_auth_and_limit, clock_name="carrier-sim-clock")


def run(host: str = "127.0.0.1", port: int = DEFAULT_PORT, config: CarrierSimConfig | None = None) -> None:
    """Serve the simulator until interrupted (demo use)."""
    web.run_app(create_app(config), host=host, port=port)
