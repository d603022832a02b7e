"""HTTP face of the Odoo simulator: ``/jsonrpc``, ``/json/2/<model>/<method>``, ``/web/version`` and
the ``/_sim/*`` admin API (faults, call log, state dump, reset, seed, optional modules).

Example::

    app = create_app(SimulatorConfig(seed_demo=True, delivery_state=True))
    web.run_app(app, port=8069)   # or: python -m simulators.odoo
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
import uvloop
from aiohttp import web

from simulators.common.calls import answer_and_record
from simulators.common.faults import fault_middleware
from simulators.common.server import add_control_routes, faults_handler, release_on_shutdown, reset_handler
from simulators.odoo.config import SimulatorConfig
from simulators.odoo.dispatch import Simulator
from simulators.odoo.exceptions import BadRequest, NotFound, OdooException, PythonError, Unauthorized

__all__ = ["SIMULATOR", "create_app", "run"]

SIMULATOR = web.AppKey("odoo_simulator", Simulator)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_BEARER = re.compile(r"^bearer\s+(.+)$", re.IGNORECASE)
_PROTOCOL_PATHS = ("/jsonrpc", "/json/2/", "/web/version")


def _sim(request: web.Request) -> Simulator:
    return request.app[SIMULATOR]


def _protocol(request: web.Request) -> str:
    return "json2" if request.path.startswith("/json/2/") else "jsonrpc"


_WERKZEUG = {429: "TooManyRequests", 500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable",
             504: "GatewayTimeout"}


def _proxy_error(status: int, code: str, message: str) -> dict[str, Any]:
    """Body of a transport fault, in the shape Odoo 19 gives werkzeug errors."""
    return {"name": f"werkzeug.exceptions.{_WERKZEUG.get(status, 'InternalServerError')}", "message": message,
            "arguments": [message, status], "context": {}, "debug": ""}


def _call_path(request: web.Request) -> dict[str, Any]:
    model, _, method = request.path.removeprefix("/json/2/").partition("/")
    return {"path": request.path, "model": model, "method": method} if _protocol(request) == "json2" else {
        "path": request.path}


@web.middleware
async def _record_unanswered(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: calls that never reached Odoo (faults, client gone) are in the call log too."""
    if not request.path.startswith(_PROTOCOL_PATHS) or request.path == "/web/version":
        return await handler(request)
    sim = _sim(request)
    before = len(sim.calls)

    def unanswered(status: int) -> None:
        if len(sim.calls) == before:
            sim.record(_protocol(request), **_call_path(request), ok=False, status=status, fault=True)

    return await answer_and_record(request, handler, unanswered)


@web.middleware
async def _odoo_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Odoo-specific transport faults: reset connections and random bare 500s."""
    if not request.path.startswith(_PROTOCOL_PATHS):
        return await handler(request)
    sim = _sim(request)
    if sim.faults.reset_connections:
        sim.record(_protocol(request), **_call_path(request), ok=False, status=0, fault="connection_reset")
        if request.transport is not None:
            request.transport.abort()
        raise web.HTTPServiceUnavailable()  # never reaches the client: the socket is gone
    if sim.faults.roll_server_error():
        return web.Response(status=500, text="<html><body><h1>Internal Server Error</h1></body></html>",
                            content_type="text/html")
    return await handler(request)


def _as_odoo(exc: Exception) -> OdooException:
    if isinstance(exc, OdooException):
        return exc
    error = PythonError(type(exc).__name__, str(exc))
    error.__traceback__ = exc.__traceback__
    return error


# --- JSON on the protocol paths ----------------------------------------------------------------
# orjson: the simulator stands in for a remote server, so its CPU should go to answering, not to
# the standard library's encoder. Same JSON text for what Odoo returns (objects with string keys,
# lists, numbers, strings); anything orjson refuses falls back to the standard encoder.
_ORJSON_OPTS = orjson.OPT_NON_STR_KEYS


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    try:
        data = orjson.dumps(body, option=_ORJSON_OPTS)
    except TypeError:
        data = json.dumps(body).encode()
    return web.Response(body=data, status=status, headers=headers, content_type="application/json")


async def _read_json(request: web.Request) -> Any:
    """The body as JSON; ValueError when it is not (as ``request.json()`` raises)."""
    return orjson.loads(await request.read())


# --- JSON-RPC ----------------------------------------------------------------------------------
def _rpc_answer(request_id: Any, result: Any = None, error: OdooException | None = None,
                context: Any = None) -> web.Response:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
    if error is not None:
        body["error"] = {"code": 200, "message": "Odoo Server Error", "data": Simulator.error_data(error, context)}
    elif result is not None:  # Odoo leaves "result" out when the method returned None
        body["result"] = result
    return _json(body)


async def jsonrpc(request: web.Request) -> web.Response:
    sim = _sim(request)
    try:
        payload = await _read_json(request)
        params = payload["params"]
        service, method, args = params["service"], params["method"], list(params.get("args") or [])
    except (ValueError, KeyError, TypeError):
        return web.Response(status=400, text="Invalid JSON data")
    request_id = payload.get("id")
    entry: dict[str, Any] = {"service": service, "method": method}
    context: Any = None
    result: Any
    try:
        if service == "common" and method in ("authenticate", "login"):
            entry.update(args=args[:2])  # never log the password / API key
            result = sim.authenticate(*(args + [None] * 3)[:3])
        elif service == "common" and method == "version":
            result = {"server_version": sim.config.server_version, "protocol_version": 1,
                      "server_version_info": [*map(int, sim.config.server_version.split(".")), 0, "final", 0, ""]}
        elif service == "object" and method in ("execute_kw", "execute"):
            if len(args) < 5:
                raise PythonError("TypeError", f"{method}() missing required positional arguments")
            db, uid, key, model, name = args[:5]
            call_args = args[5] if method == "execute_kw" and len(args) > 5 else args[5:]
            kwargs = (args[6] or {}) if method == "execute_kw" and len(args) > 6 else {}
            if not isinstance(call_args, list) or not isinstance(kwargs, dict):
                raise PythonError("TypeError", "execute_kw() takes a list of arguments and a dict of keywords")
            context = kwargs.get("context")
            entry.update(db=db, uid=uid, model=model, method=name, args=call_args,
                         kwargs={k: v for k, v in kwargs.items() if k != "context"}, context=context)
            result = sim.execute_kw(db, uid, key, model, name, call_args, kwargs)
        elif service == "db" and method == "list":
            result = [sim.config.database]
        else:
            raise PythonError("NameError", f"{service}.{method} is not a known RPC method")
    except Exception as exc:  # Odoo serializes whatever escapes the method, so do we
        error = _as_odoo(exc)
        sim.record("jsonrpc", **entry, ok=False, error={"name": error.odoo_name, "message": error.message})
        return _rpc_answer(request_id, error=error, context=context)
    sim.record("jsonrpc", **entry, ok=True, result=result)
    return _rpc_answer(request_id, result=result)


# --- JSON-2 ------------------------------------------------------------------------------------
def _json2_error(exc: OdooException, context: Any = None) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="odoo"'} if isinstance(exc, Unauthorized) else None
    return _json(Simulator.error_data(exc, context), status=exc.http_status, headers=headers)


async def json2(request: web.Request) -> web.Response:
    sim = _sim(request)
    model, method = request.match_info["model"], request.match_info["method"]
    entry: dict[str, Any] = {"model": model, "method": method}
    body: Any = {}
    try:
        match = _BEARER.match(request.headers.get("Authorization", ""))
        if not sim.key_ok(match.group(1).strip() if match else None):
            raise Unauthorized("Invalid apikey")
        database = request.headers.get("X-Odoo-Database")
        if database not in (None, sim.config.database):
            raise NotFound(f"database {database!r} not found")
        if request.can_read_body:
            try:
                body = await _read_json(request)
            except ValueError as exc:
                raise BadRequest(f"could not parse the body as json: {exc}") from exc
            if not isinstance(body, dict):
                raise BadRequest("could not parse the body, expecting a json object")
        entry.update(ids=body.get("ids") or [], context=body.get("context"),
                     args=[], kwargs={k: v for k, v in body.items() if k not in ("ids", "context")})
        result = sim.json2(model, method, body)
    except Exception as exc:  # Odoo serializes whatever escapes the method, so do we
        error = _as_odoo(exc)
        sim.record("json2", **entry, ok=False, status=error.http_status,
                   error={"name": error.odoo_name, "message": error.message})
        return _json2_error(error, body.get("context") if isinstance(body, dict) else None)
    sim.record("json2", **entry, ok=True, status=200, result=result)
    return _json(result)


async def version(request: web.Request) -> web.Response:
    server_version = _sim(request).config.server_version
    info = [*map(int, server_version.split(".")), 0, "final", 0, ""]
    return web.json_response({"version_info": info, "version": server_version})


# --- admin API ---------------------------------------------------------------------------------
async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError as exc:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"invalid JSON: {exc}"}),
                                 content_type="application/json") from exc


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


def _refuse_faults(problems: list[str]) -> web.Response:
    return web.json_response({"error": "; ".join(problems)}, status=422)


async def get_calls(request: web.Request) -> web.Response:
    calls = _sim(request).calls
    for key in ("protocol", "model", "method", "service"):
        if key in request.query:
            calls = [c for c in calls if c.get(key) == request.query[key]]
    since = request.query.get("since", "")
    if since.isdigit():
        calls = [c for c in calls if c["seq"] > int(since)]
    return _json({"calls": calls})  # tens of thousands of entries after a benchmark


async def clear_calls(request: web.Request) -> web.Response:
    _sim(request).calls.clear()
    return web.json_response({"calls": []})


async def get_state(request: web.Request) -> web.Response:
    sim = _sim(request)
    model = request.query.get("model")
    if model and model not in sim.store.records:
        return _bad(f"unknown model {model!r}")
    return web.json_response({"modules": sorted(sim.store.modules), "models": sim.store.dump(model)})


async def seed(request: web.Request) -> web.Response:
    try:
        created = _sim(request).seed(await _json_body(request))
    except ValueError as exc:
        return _bad(str(exc))
    return web.json_response({"created": created})


async def set_modules(request: web.Request) -> web.Response:
    sim = _sim(request)
    payload = await _json_body(request)
    if not isinstance(payload, dict):
        return _bad('expected {"delivery_state": true|false}')
    try:
        for name, installed in payload.items():
            sim.set_module(name, bool(installed))
    except ValueError as exc:
        return _bad(str(exc))
    return web.json_response({"modules": sorted(sim.store.modules)})


def create_app(config: SimulatorConfig | None = None) -> web.Application:
    """The simulator as an aiohttp application (state lives in ``app[SIMULATOR]``)."""
    sim = Simulator(config or SimulatorConfig())
    app = web.Application(middlewares=[
        _record_unanswered,
        _odoo_faults,
        fault_middleware(lambda: sim.faults.transport, _proxy_error, sim.release, sim.config.hang_s),
    ])
    app[SIMULATOR] = sim
    release_on_shutdown(app, sim.release)
    app.router.add_post("/jsonrpc", jsonrpc)
    app.router.add_post("/json/2/{model}/{method}", json2)
    app.router.add_get("/web/version", version)
    faults = faults_handler(lambda: sim.faults, _refuse_faults, web.json_response)
    add_control_routes(app.router, faults=faults, calls=get_calls, state=get_state,
                       reset=reset_handler(sim.reset, web.json_response))
    app.router.add_delete("/_sim/faults", faults)
    app.router.add_delete("/_sim/calls", clear_calls)
    app.router.add_post("/_sim/seed", seed)
    app.router.add_post("/_sim/modules", set_modules)
    return app


def run(host: str = "127.0.0.1", port: int = 8069, config: SimulatorConfig | None = None) -> None:
    """Serve the simulator until interrupted (default port is Odoo's), on uvloop like the services."""
    web.run_app(create_app(config), host=host, port=port, print=None, loop=uvloop.new_event_loop())
