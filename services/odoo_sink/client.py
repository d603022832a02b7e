"""Async Odoo clients: JSON-RPC (``/jsonrpc`` execute_kw) and JSON-2 (``/json/2/<model>/<method>``).

Both take the same ``execute_kw``-style call and return the same values, so the sink never knows
which protocol runs (a ``create`` given one dict answers one id on both). Every failure leaves as
one :mod:`services.odoo_sink.errors` class, translated here and only here. Each call is a
CLIENT span carrying ``traceparent`` to Odoo.

Example::

    async with make_client(OdooConnectionConfig()) as odoo:
        pickings = await odoo.call("stock.picking", "search_read",
                                   [[("carrier_tracking_ref", "=", "1Z999")]], {"fields": ["state"]})
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol
from urllib.parse import quote

import aiohttp
import orjson
from opentelemetry import propagate, trace

from backbone.logs import current_correlation_id
from backbone.partner_http import SessionOwner
from backbone.telemetry import tracer
from services.odoo_sink.connection import OdooConnectionConfig
from services.odoo_sink.errors import OdooAuthenticationError, OdooUnavailableError, translate
from services.odoo_sink.protocol import json2_body, parse_retry_after

__all__ = ["Json2Client", "JsonRpcClient", "OdooClient", "make_client"]

_UNREADABLE = object()


def _dumps(payload: Any) -> bytes:
    """orjson (a sixth of the sink's CPU went to the standard encoder); the standard one for what
    orjson refuses (ints beyond 64 bits, non-string keys)."""
    try:
        return orjson.dumps(payload)
    except TypeError:
        return json.dumps(payload).encode()


class OdooClient(Protocol):
    """What the sink needs from Odoo; tests may pass an in-memory double."""

    @property
    def protocol(self) -> str: ...

    async def authenticate(self) -> int:
        """Check the credentials and return the integration user's id."""
        ...

    async def call(self, model: str, method: str, args: Sequence[Any] = (),
                   kwargs: Mapping[str, Any] | None = None) -> Any:
        """``execute_kw``: record ids in ``args[0]`` for record methods; raises backbone errors."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class _Answer:
    status: int
    body: Any  # parsed JSON, None for an empty body, _UNREADABLE when not JSON
    retry_after: float | None
    excerpt: str


class _HttpClient(SessionOwner):
    protocol: ClassVar[str]

    def __init__(self, config: OdooConnectionConfig, session: aiohttp.ClientSession | None = None) -> None:
        super().__init__(session)
        self.config = config
        self._key = config.api_key_value()
        self._base = config.url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=config.total_timeout_s, connect=config.connect_timeout_s,
                                              sock_read=config.read_timeout_s)
        self.uid: int | None = None
        self._tracer = tracer("services.odoo_sink")

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:  # created lazily: a ClientSession must be born inside the loop
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"User-Agent": self.config.user_agent},
                connector=aiohttp.TCPConnector(limit=self.config.max_connections))
        return self._session

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", **(extra or {})}
        propagate.inject(headers)  # traceparent of the current span, for Odoo-side proxies and logs
        if correlation_id := current_correlation_id():
            headers["X-Correlation-ID"] = correlation_id
        return headers

    async def _post(self, path: str, payload: Any, headers: Mapping[str, str], *, model: str,
                    method: str) -> _Answer:
        url = f"{self._base}{path}"
        try:
            async with self._http().post(url, data=_dumps(payload), headers=headers,
                                         timeout=self._timeout) as response:
                raw = await response.read()
                status, retry_after = response.status, parse_retry_after(response.headers.get("Retry-After"))
        except TimeoutError as exc:
            raise OdooUnavailableError(f"Odoo did not answer within the configured timeouts ({exc!r})",
                                       protocol=self.protocol, model=model, method=method) from exc
        except aiohttp.ClientError as exc:
            raise OdooUnavailableError(f"Odoo unreachable: {type(exc).__name__}: {exc}",
                                       protocol=self.protocol, model=model, method=method) from exc
        try:
            body: Any = orjson.loads(raw) if raw.strip() else None
        except ValueError:
            body = _UNREADABLE
        return _Answer(status, body, retry_after, raw[:200].decode("utf-8", "replace"))

    async def call(self, model: str, method: str, args: Sequence[Any] = (),
                   kwargs: Mapping[str, Any] | None = None) -> Any:
        attributes = {"rpc.system": "odoo", "rpc.service": model, "rpc.method": method,
                      "odoo.protocol": self.protocol}
        with self._tracer.start_as_current_span(
            f"odoo {model}.{method}", kind=trace.SpanKind.CLIENT, attributes=attributes,
        ):  # the span records and re-raises the error with its status
            return await self._call(model, method, args, kwargs)

    async def _call(self, model: str, method: str, args: Sequence[Any],
                    kwargs: Mapping[str, Any] | None) -> Any:
        raise NotImplementedError


class JsonRpcClient(_HttpClient):
    """``/jsonrpc`` with ``common.authenticate`` then ``object.execute_kw`` (the uid is cached)."""

    protocol = "jsonrpc"

    def __init__(self, config: OdooConnectionConfig, session: aiohttp.ClientSession | None = None) -> None:
        super().__init__(config, session)
        self._ids = itertools.count(1)
        self._auth_lock = asyncio.Lock()

    async def authenticate(self) -> int:
        cfg = self.config
        uid = await self._rpc("common", "authenticate", [cfg.database, cfg.login, self._key, {}],
                              model="res.users", method="authenticate")
        if isinstance(uid, bool) or not isinstance(uid, int) or uid <= 0:
            raise OdooAuthenticationError(
                f"Odoo refused login {cfg.login!r} on database {cfg.database!r} (wrong key, user or database)",
                protocol=self.protocol, model="res.users", method="authenticate")
        self.uid = uid
        return uid

    async def _call(self, model: str, method: str, args: Sequence[Any],
                    kwargs: Mapping[str, Any] | None) -> Any:
        uid = self.uid
        if uid is None:
            async with self._auth_lock:  # one login even when many calls start together
                uid = self.uid or await self.authenticate()
        params = [self.config.database, uid, self._key, model, method, list(args), dict(kwargs or {})]
        try:
            return await self._rpc("object", "execute_kw", params, model=model, method=method)
        except OdooAuthenticationError:
            self.uid = None  # log in again next time: the key may have been rotated
            raise

    async def _rpc(self, service: str, rpc_method: str, args: list[Any], *, model: str, method: str) -> Any:
        payload = {"jsonrpc": "2.0", "method": "call", "id": next(self._ids),
                   "params": {"service": service, "method": rpc_method, "args": args}}
        answer = await self._post("/jsonrpc", payload, self._headers(), model=model, method=method)
        body = answer.body
        if answer.status != 200 or not isinstance(body, dict):
            name = body.get("name") if isinstance(body, dict) else None
            raise translate(protocol=self.protocol, model=model, method=method,
                            status=answer.status if answer.status != 200 else 502, name=name,
                            message=answer.excerpt if answer.status != 200 else "answer is not JSON-RPC",
                            retry_after=answer.retry_after)
        error = body.get("error")
        if isinstance(error, dict):
            raw_data = error.get("data")
            data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
            name = data.get("name") or {100: "odoo.http.SessionExpiredException",
                                        404: "werkzeug.exceptions.NotFound"}.get(error.get("code", 200))
            raise translate(protocol=self.protocol, model=model, method=method, status=None, name=name,
                            message=str(data.get("message") or error.get("message") or ""))
        return body.get("result")  # Odoo omits "result" when the method returned None


class Json2Client(_HttpClient):
    """Odoo 19+ ``/json/2``: API key as bearer token, named arguments, real HTTP statuses."""

    protocol = "json2"

    async def authenticate(self) -> int:
        context = await self.call("res.users", "context_get")
        uid = context.get("uid") if isinstance(context, dict) else None
        if isinstance(uid, bool) or not isinstance(uid, int):
            raise OdooAuthenticationError("Odoo accepted the API key but did not say which user it is",
                                          protocol=self.protocol, model="res.users", method="context_get")
        self.uid = uid
        return uid

    async def _call(self, model: str, method: str, args: Sequence[Any],
                    kwargs: Mapping[str, Any] | None) -> Any:
        body = json2_body(model, method, args, kwargs)
        extra = {"Authorization": f"bearer {self._key}"}
        if self.config.send_database_header:
            extra["X-Odoo-Database"] = self.config.database
        path = f"/json/2/{quote(model, safe='')}/{quote(method, safe='')}"
        answer = await self._post(path, body, self._headers(extra), model=model, method=method)
        if answer.status == 200 and answer.body is not _UNREADABLE:
            result = answer.body
            single = body.get("vals_list")
            if method == "create" and isinstance(single, Mapping) and isinstance(result, list) and len(result) == 1:
                return result[0]  # same answer as execute_kw: one dict in, one id out
            return result
        error = answer.body if isinstance(answer.body, dict) else {}
        message = error.get("message") or (answer.body if isinstance(answer.body, str) else answer.excerpt)
        raise translate(protocol=self.protocol, model=model, method=method,
                        status=answer.status if answer.status != 200 else 502, name=error.get("name"),
                        message=str(message), retry_after=answer.retry_after)


def make_client(config: OdooConnectionConfig,
                session: aiohttp.ClientSession | None = None) -> JsonRpcClient | Json2Client:
    """The client for ``config.protocol``; pass a session to share one connection pool."""
    if config.protocol == "json2":
        return Json2Client(config, session)
    return JsonRpcClient(config, session)
