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

from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp

from backbone.errors import DeliveryError
from backbone.http import parse_retry_after
from backbone.partner_http import PartnerClient
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


class WmsClient(PartnerClient):
    partner: ClassVar[str] = PARTNER
    display_name: ClassVar[str] = "WMS"
    protocol_error: ClassVar[type[WmsProtocolError]] = WmsProtocolError

    def __init__(self, base_url: str, *, api_token: str | None = None, timeout_s: float = 10.0,
                 session: aiohttp.ClientSession | None = None) -> None:
        super().__init__(base_url, timeout_s=timeout_s, session=session)
        self._token = api_token

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

    def _error_code(self, payload: dict[str, Any]) -> tuple[str | None, Any]:
        code = payload.get("error") if isinstance(payload.get("error"), str) else None
        return code, payload.get("message")

    def _refusal(self, status: int, payload: dict[str, Any], code: str | None, detail: str,
                 context: dict[str, Any]) -> DeliveryError:
        fields = tuple(FieldIssue.from_json(f) for f in payload.get("fields") or [] if isinstance(f, dict))
        if status in (400, 422):
            return WmsValidationError(detail, status=status, code=code, fields=fields, **context)
        if status == 404:
            return WmsNotFoundError(detail, status=status, code=code, **context)
        if status == 409:
            existing = payload.get("existing_id")
            return WmsConflictError(detail, status=status, code=code,
                                    existing_id=None if existing is None else str(existing), **context)
        return WmsRequestError(detail, status=status, code=code, **context)

    async def _call(self, method: str, path: str, *, call: str, body: dict[str, Any] | None = None,
                    params: dict[str, str] | None = None, idempotency_key: str | None = None) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        answer = await self._send(method, path, call=call, headers=headers, body=body, params=params)
        return answer.status, self._json(answer, call)
