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

import asyncio
import contextlib
import hmac
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from simulators.common.calls import call_middleware
from simulators.common.faults import fault_middleware
from simulators.common.http import (
    bearer_or_basic_key,
    decode_cursor,
    encode_cursor,
    json_response,
    parse_iso,
    read_json_object,
)
from simulators.common.idempotency import IdempotencyStore
from simulators.wms.config import WmsSimConfig
from simulators.wms.orders import Order, TransitionError
from simulators.wms.simulator import WmsSimulator

__all__ = ["DEFAULT_PORT", "WMS_SIM", "create_app", "run"]

DEFAULT_PORT = 8070
WMS_SIM = web.AppKey("wms_sim", WmsSimulator)


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


async def create_order(request: web.Request) -> web.Response:
    sim = request.app[WMS_SIM]
    body = await read_json_object(request)
    if body is None:
        return _error(400, "invalid_json", "the body must be a JSON object")
    key = request.headers.get("Idempotency-Key")
    principal = bearer_or_basic_key(request) or "anonymous"
    fingerprint = IdempotencyStore.fingerprint(request.method, request.path, body)
    if key is not None:
        if not key.strip() or len(key) > 255:
            return _invalid("Idempotency-Key", "Idempotency-Key must be 1 to 255 characters")
        verdict, stored = sim.idempotency.check(principal, key, fingerprint)
        if verdict == "replay" and stored is not None:
            return json_response(stored.body, 200, {"Idempotent-Replayed": "true"})
        if verdict == "conflict":
            return _error(422, "idempotency_key_reused",
                          "this Idempotency-Key was already used with a different request")
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
    if key is not None:
        sim.idempotency.remember(principal, key, fingerprint, 201, answer)
    return json_response(answer, 201, {"Location": f"/v1/orders/{order.id}"})


async def get_order(request: web.Request) -> web.Response:
    return json_response(_order(request).as_dict())


async def cancel_order(request: web.Request) -> web.Response:
    order = _order(request)
    try:
        request.app[WMS_SIM].cancel(order)
    except TransitionError as exc:
        return _error(409, exc.code, str(exc), order_status=order.status)
    return json_response(order.as_dict())


async def list_orders(request: web.Request) -> web.Response:
    paging = _paging(request, "updated_since")
    if isinstance(paging, web.Response):
        return paging
    orders, position, more = request.app[WMS_SIM].book.changes(*paging)
    return json_response({"orders": [o.as_dict() for o in orders],
                          "next_cursor": encode_cursor(position), "has_more": more})


async def inventory_changes(request: web.Request) -> web.Response:
    paging = _paging(request, "since")
    if isinstance(paging, web.Response):
        return paging
    changes, position, more = request.app[WMS_SIM].book.inventory_changes(*paging)
    return json_response({"changes": [c.as_dict() for c in changes],
                          "next_cursor": encode_cursor(position), "has_more": more})


# --- simulator control -----------------------------------------------------------------------


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


async def sim_faults(request: web.Request) -> web.Response:
    sim = request.app[WMS_SIM]
    if request.method == "POST":
        body = await read_json_object(request)
        problems = sim.faults.update(body) if body is not None else ["the body must be a JSON object"]
        if problems:
            return _error(422, "invalid_faults", "; ".join(problems))
    return json_response(sim.faults.as_dict())


async def sim_inventory(request: web.Request) -> web.Response:
    body = await read_json_object(request) or {}
    sku, delta, on_hand = body.get("sku"), body.get("delta"), body.get("on_hand")
    if not isinstance(sku, str) or not (isinstance(delta, int) ^ isinstance(on_hand, int)):
        return _error(422, "invalid_inventory", "send sku and exactly one of delta or on_hand")
    change = request.app[WMS_SIM].book.adjust(sku, delta=delta, on_hand=on_hand,
                                              reason=str(body.get("reason", "adjusted")))
    return json_response(change.as_dict(), 201)


async def sim_calls(request: web.Request) -> web.Response:
    return json_response({"calls": [c.as_dict() for c in request.app[WMS_SIM].calls.calls]})


async def sim_state(request: web.Request) -> web.Response:
    return json_response(request.app[WMS_SIM].state())


async def sim_reset(request: web.Request) -> web.Response:
    request.app[WMS_SIM].reset()
    return json_response({"reset": True})


# --- wiring ----------------------------------------------------------------------------------


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    sim = app[WMS_SIM]
    await sim.sender.start()
    clock = None
    if sim.config.advance_interval_s:
        clock = asyncio.create_task(sim.clock(sim.config.advance_interval_s), name="wms-sim-clock")
    yield
    if clock is not None:
        clock.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await clock
    await sim.sender.close()


async def _release_hung_calls(app: web.Application) -> None:
    app[WMS_SIM].release.set()


def create_app(config: WmsSimConfig | None = None) -> web.Application:
    sim = WmsSimulator(config or WmsSimConfig())
    app = web.Application(middlewares=[
        call_middleware(lambda: sim.calls),
        fault_middleware(lambda: sim.faults, _fault_body, sim.release, sim.config.hang_s),
        _auth,
    ])
    app[WMS_SIM] = sim
    app.cleanup_ctx.append(_lifecycle)
    app.on_shutdown.append(_release_hung_calls)
    app.router.add_post("/v1/orders", create_order)
    app.router.add_get("/v1/orders", list_orders)
    app.router.add_get("/v1/orders/{id}", get_order)
    app.router.add_post("/v1/orders/{id}/cancel", cancel_order)
    app.router.add_get("/v1/inventory/changes", inventory_changes)
    app.router.add_post("/_sim/advance/{id}", sim_advance)
    app.router.add_get("/_sim/faults", sim_faults)
    app.router.add_post("/_sim/faults", sim_faults)
    app.router.add_post("/_sim/inventory", sim_inventory)
    app.router.add_get("/_sim/calls", sim_calls)
    app.router.add_get("/_sim/state", sim_state)
    app.router.add_post("/_sim/reset", sim_reset)
    return app


def run(host: str = "127.0.0.1", port: int = DEFAULT_PORT, config: WmsSimConfig | None = None) -> None:
    """Serve the simulator until interrupted (demo use)."""
    web.run_app(create_app(config), host=host, port=port)
