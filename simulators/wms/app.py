"""HTTP face of the WMS/3PL simulator (ShipHero/ShipBob-like REST order API).

Partner API::

    POST /v1/orders                      create an outbound order (Idempotency-Key honoured)
    GET  /v1/orders/{id}                 one order with its shipments
    POST /v1/orders/{id}/cancel          409 once shipped
    GET  /v1/orders?updated_since=&cursor=&limit=      changed orders, oldest change first
    GET  /v1/inventory/changes?since=&cursor=&limit=   stock movements

Simulator control (never faulted, never recorded)::

    POST /_sim/advance/{id}?to=shipped&packages=2    move an order on (sends webhooks)
    POST /_sim/faults  GET /_sim/faults               see simulators.common.faults
    POST /_sim/inventory {"sku", "delta"|"on_hand", "reason"}
    GET  /_sim/calls   GET /_sim/state   POST /_sim/reset
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from aiohttp import web
from aiohttp.typedefs import Handler

from simulators.common.http import (
    bearer_or_basic_key,
    decode_cursor,
    encode_cursor,
    json_response,
    parse_iso,
    read_json_object,
)
from simulators.common.idempotency import IdempotentCall
from simulators.common.partner import partner_app
from simulators.wms.config import WmsSimConfig
from simulators.wms.orders import Order, OrderBook, TransitionError
from simulators.wms.simulator import WmsSimulator

__all__ = ["DEFAULT_PORT", "WMS_SIM", "create_app", "run"]

DEFAULT_PORT = 8070
WMS_SIM = web.AppKey("wms_sim", WmsSimulator)
ROUTES = web.RouteTableDef()  # the partner API and WMS-only controls; partner_app adds the shared ones


class _Item(Protocol):
    def as_dict(self) -> dict[str, Any]: ...


# (book, since, after, limit) -> (page, position of its last item, whether more follow)
Feed = Callable[[OrderBook, datetime | None, int, int], tuple[Sequence[_Item], int, bool]]


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None,
           **extra: Any) -> web.Response:
    return json_response({"error": code, "message": message, **extra}, status, headers)


def _fault_body(status: int, code: str, message: str) -> dict[str, Any]:
    return {"error": code.lower(), "message": message}


def _invalid(field: str, message: str) -> web.Response:
    return _error(422, "validation_failed", message,
                  fields=[{"field": field, "reason": "invalid", "message": message}])


@web.middleware
async def _auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request.app[WMS_SIM].config.api_token
    if token and request.path.startswith("/v1/"):
        given = bearer_or_basic_key(request)
        if given is None or not hmac.compare_digest(given.encode(), token.encode()):
            return _error(401, "unauthorized", "missing or invalid bearer token")
    return await handler(request)


def _order(request: web.Request) -> Order:
    raw = request.match_info["id"]
    order = request.app[WMS_SIM].book.orders.get(int(raw)) if raw.isdigit() else None
    if order is None:
        raise web.HTTPNotFound(text='{"error":"not_found","message":"no such order"}',
                               content_type="application/json")
    return order


def _paging(request: web.Request, since_param: str) -> tuple[datetime | None, int, int] | web.Response:
    since = None
    if since_param in request.query:
        since = parse_iso(request.query[since_param])
        if since is None:
            return _invalid(since_param, f"{since_param} must be ISO 8601 with a UTC offset")
    after = 0
    if "cursor" in request.query:
        decoded = decode_cursor(request.query["cursor"])
        if decoded is None:
            return _invalid("cursor", "cursor is not one this API issued")
        after = decoded
    page_size = request.app[WMS_SIM].config.page_size
    raw_limit = request.query.get("limit", str(page_size))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= page_size:
        return _invalid("limit", f"limit must be an integer from 1 to {page_size}")
    return since, after, int(raw_limit)


# --- partner API -----------------------------------------------------------------------------


@ROUTES.post("/v1/orders")
async def create_order(request: web.Request) -> web.Response:
    sim = request.app[WMS_SIM]
    body = await read_json_object(request)
    if body is None:
        return _error(400, "invalid_json", "the body must be a JSON object")
    call = IdempotentCall.of(request, sim.idempotency, body)
    if call.key is not None and (not call.key.strip() or len(call.key) > 255):
        return _invalid("Idempotency-Key", "Idempotency-Key must be 1 to 255 characters")
    earlier = call.earlier(lambda: _error(422, "idempotency_key_reused",
                                          "this Idempotency-Key was already used with a different request"))
    if earlier is not None:
        return earlier
    problems = sim.book.validate(body)
    blocking = [p for p in problems if not (p.reason == "unknown_sku" and sim.config.unknown_sku == "reject")]
    if blocking:
        return _error(422, "validation_failed", "; ".join(p.message for p in problems),
                      fields=[{"field": p.field, "reason": p.reason, "message": p.message} for p in problems])
    existing = sim.book.find_open_by_ref(body["order_ref"])
    if existing is not None:
        return _error(409, "duplicate_order_ref", "an open order with this order_ref exists",
                      existing_id=existing.id)
    order = sim.book.create(body)
    answer = order.as_dict()
    call.remember(201, answer)
    return json_response(answer, 201, {"Location": f"/v1/orders/{order.id}"})


@ROUTES.get("/v1/orders/{id}")
async def get_order(request: web.Request) -> web.Response:
    return json_response(_order(request).as_dict())


@ROUTES.post("/v1/orders/{id}/cancel")
async def cancel_order(request: web.Request) -> web.Response:
    order = _order(request)
    try:
        request.app[WMS_SIM].cancel(order)
    except TransitionError as exc:
        return _error(409, exc.code, str(exc), order_status=order.status)
    return json_response(order.as_dict())


async def _feed(request: web.Request, since_param: str, field: str, read: Feed) -> web.Response:
    """One page of a change feed: ``{<field>: [...], "next_cursor", "has_more"}``."""
    paging = _paging(request, since_param)
    if isinstance(paging, web.Response):
        return paging
    items, position, more = read(request.app[WMS_SIM].book, *paging)
    return json_response({field: [i.as_dict() for i in items],
                          "next_cursor": encode_cursor(position), "has_more": more})


@ROUTES.get("/v1/orders")
async def list_orders(request: web.Request) -> web.Response:
    return await _feed(request, "updated_since", "orders", OrderBook.changes)


@ROUTES.get("/v1/inventory/changes")
async def inventory_changes(request: web.Request) -> web.Response:
    return await _feed(request, "since", "changes", OrderBook.inventory_changes)


# --- simulator control -----------------------------------------------------------------------


@ROUTES.post("/_sim/advance/{id}")
async def sim_advance(request: web.Request) -> web.Response:
    sim, order = request.app[WMS_SIM], _order(request)
    target = request.query.get("to")
    raw_packages = request.query.get("packages")
    packages = int(raw_packages) if raw_packages and raw_packages.isdigit() else None
    if target not in {None, "accepted", "picked", "packed", "shipped"}:
        return _invalid("to", "to must be accepted, picked, packed or shipped")
    try:
        if target is None:
            sim.advance(order, packages=packages)
        while target is not None and order.status != target:
            sim.advance(order, packages=packages)
    except TransitionError as exc:
        return _error(409, exc.code, str(exc), order_status=order.status)
    return json_response(order.as_dict())


@ROUTES.post("/_sim/inventory")
async def sim_inventory(request: web.Request) -> web.Response:
    body = await read_json_object(request) or {}
    sku, delta, on_hand = body.get("sku"), body.get("delta"), body.get("on_hand")
    if not isinstance(sku, str) or not (isinstance(delta, int) ^ isinstance(on_hand, int)):
        return _error(422, "invalid_inventory", "send sku and exactly one of delta or on_hand")
    change = request.app[WMS_SIM].book.adjust(sku, delta=delta, on_hand=on_hand,
                                              reason=str(body.get("reason", "adjusted")))
    return json_response(change.as_dict(), 201)


# --- wiring ----------------------------------------------------------------------------------


def create_app(config: WmsSimConfig | None = None) -> web.Application:
    """The simulator app; its state is ``app[WMS_SIM]``."""
    return partner_app(WmsSimulator(config or WmsSimConfig()), WMS_SIM, routes=ROUTES,
                       error_body=_fault_body, auth=_auth, clock_name="wms-sim-clock")


def run(host: str = "127.0.0.1", port: int = DEFAULT_PORT, config: WmsSimConfig | None = None) -> None:
    """Serve the simulator until interrupted (demo use)."""
    web.run_app(create_app(config), host=host, port=port)
