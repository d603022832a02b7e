"""HTTP client of the WMS/3PL order API: one request per call, failures translated once.

The client never retries: the bridge's retry policy decides, using the class of the error and
``retry_after``. Every POST that creates something carries an ``Idempotency-Key`` so a retry after
a lost answer cannot create a second order.

Example::

    async with WmsClient("http://127.0.0.1:8070", api_token=token) as wms:
        answer = await wms.create_order(f"release:{order.order_ref}", order)
        page = await wms.list_changes(since=last_poll, cursor=saved_cursor)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
from multidict import CIMultiDictProxy

from backbone.errors import (
    AuthenticationError,
    ConfigError,
    DeliveryError,
    RetryableError,
    TargetUnavailableError,
)
from backbone.http import parse_retry_after
from services.wms_bridge.errors import (
    WmsConflictError,
    WmsNotFoundError,
    WmsProtocolError,
    WmsRequestError,
    WmsValidationError,
)
from services.wms_bridge.models import ChangesPage, FieldIssue, InventoryPage, OrderAnswer, OrderRequest

__all__ = ["WmsClient", "parse_retry_after"]

PARTNER = "wms"
T = TypeVar("T")


def _translate(status: int, headers: CIMultiDictProxy[str], body: bytes, call: str) -> DeliveryError:
    """The one place an HTTP error answer becomes a backbone error."""
    retry_after = parse_retry_after(headers.get("Retry-After"))
    try:
        payload = json.loads(body) if body else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        payload = {}
    payload = payload if isinstance(payload, dict) else {}
    code = payload.get("error") if isinstance(payload.get("error"), str) else None
    reason = str(payload.get("message") or code or f"HTTP {status}")
    context: dict[str, Any] = {"partner": PARTNER, "call": call, "status": status}
    if status == 429:
        return RetryableError(f"wms throttled {call}: {reason}", retry_after=retry_after, **context)
    if status >= 500 or status == 408:
        return TargetUnavailableError(f"wms unavailable for {call}: {reason}", retry_after=retry_after, **context)
    if status in (401, 403):
        return AuthenticationError(f"wms refused our credentials for {call}: {reason}", **context)
    fields = tuple(FieldIssue.from_json(f) for f in payload.get("fields") or [] if isinstance(f, dict))
    detail = f"wms refused {call}: {reason}"
    if status in (400, 422):
        return WmsValidationError(detail, code=code, fields=fields, partner=PARTNER, call=call, status=status)
    if status == 404:
        return WmsNotFoundError(detail, code=code, partner=PARTNER, call=call, status=status)
    if status == 409:
        existing = payload.get("existing_id")
        return WmsConflictError(detail, code=code, existing_id=None if existing is None else str(existing),
                                partner=PARTNER, call=call, status=status)
    return WmsRequestError(detail, code=code, partner=PARTNER, call=call, status=status)


class WmsClient:
    def __init__(self, base_url: str, *, api_token: str | None = None, timeout_s: float = 10.0,
                 session: aiohttp.ClientSession | None = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"WMS base URL must be http(s)://..., got {base_url!r}")
        self._base = base_url.rstrip("/")
        self._token = api_token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session = session
        self._own_session = session is None

    async def __aenter__(self) -> WmsClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    # --- partner calls -------------------------------------------------------------------

    async def create_order(self, idempotency_key: str, order: OrderRequest) -> OrderAnswer:
        """Create the order; a replay of the same key answers the original order (``replayed``).

        A ``rejected`` order is an answer, not an error: the bridge publishes it as a fact.
        """
        status, data = await self._call("POST", "/v1/orders", call="create_order", body=order.to_json(),
                                         idempotency_key=idempotency_key)
        return self._parse(OrderAnswer.from_json, data, "create_order", replayed=status == 200)

    async def cancel_order(self, order_id: str) -> OrderAnswer:
        """Cancel; raises WmsConflictError (code ``already_shipped``) once the order has shipped."""
        _, data = await self._call("POST", f"/v1/orders/{quote(order_id, safe='')}/cancel", call="cancel_order")
        return self._parse(OrderAnswer.from_json, data, "cancel_order")

    async def get_order(self, order_id: str) -> OrderAnswer:
        _, data = await self._call("GET", f"/v1/orders/{quote(order_id, safe='')}", call="get_order")
        return self._parse(OrderAnswer.from_json, data, "get_order")

    async def list_changes(self, since: datetime | None = None, cursor: str | None = None,
                           limit: int | None = None) -> ChangesPage:
        """Orders changed since ``since`` / after ``cursor`` (reconciliation polling)."""
        params = self._paging("updated_since", since, cursor, limit)
        _, data = await self._call("GET", "/v1/orders", call="list_changes", params=params)
        return self._parse(ChangesPage.from_json, data, "list_changes")

    async def list_inventory_changes(self, since: datetime | None = None, cursor: str | None = None,
                                     limit: int | None = None) -> InventoryPage:
        params = self._paging("since", since, cursor, limit)
        _, data = await self._call("GET", "/v1/inventory/changes", call="list_inventory_changes", params=params)
        return self._parse(InventoryPage.from_json, data, "list_inventory_changes")

    # --- plumbing ------------------------------------------------------------------------

    @staticmethod
    def _paging(since_name: str, since: datetime | None, cursor: str | None, limit: int | None) -> dict[str, str]:
        params: dict[str, str] = {}
        if since is not None:
            if since.tzinfo is None:
                raise ValueError("since must be timezone-aware")
            params[since_name] = since.astimezone(UTC).isoformat()
        if cursor is not None:
            params["cursor"] = cursor
        if limit is not None:
            params["limit"] = str(limit)
        return params

    @staticmethod
    def _parse(parse: Callable[..., T], data: Any, call: str, **kwargs: Any) -> T:
        try:
            return parse(data, **kwargs)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise WmsProtocolError(f"wms answer to {call} is not understood: {exc!r}", partner=PARTNER,
                                   call=call) from exc

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def _call(self, method: str, path: str, *, call: str, body: dict[str, Any] | None = None,
                    params: dict[str, str] | None = None, idempotency_key: str | None = None) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        try:
            async with self._ensure_session().request(
                method, self._base + path, json=body, params=params, headers=headers, timeout=self._timeout,
            ) as response:
                raw = await response.read()
                status, answer_headers = response.status, response.headers
        except TimeoutError as exc:
            raise TargetUnavailableError(f"wms {call} timed out after {self._timeout.total}s", partner=PARTNER,
                                         call=call) from exc
        except aiohttp.ClientError as exc:
            raise TargetUnavailableError(f"wms {call} failed: {type(exc).__name__}", partner=PARTNER,
                                         call=call) from exc
        if not 200 <= status < 300:
            raise _translate(status, answer_headers, raw, call)
        try:
            return status, json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise WmsProtocolError(f"wms answer to {call} is not JSON", partner=PARTNER, call=call,
                                   status=status) from exc
