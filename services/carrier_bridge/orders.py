"""Where the bridge remembers what ORDER_RELEASED said (ship-to, carrier, service level).

PACKED milestones from a WMS rarely repeat the destination; the order's ORDER_RELEASED (same key,
so earlier in the same partition) does. :class:`PgOrderDirectory` keeps it in the ledger's
PostgreSQL schema, so a restart or a rebalance to another replica still finds it;
:class:`MemoryOrderDirectory` is for tests and demos. Rows hold personal data (addresses):
they never reach a log line.

Example::

    orders = PgOrderDirectory(ledger.pool, schema="backbone", sink="carrier_bridge")
    await orders.migrate()
    await orders.remember("SO-1", OrderDetails.from_milestone(record.value))
    details = await orders.lookup("SO-1")
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Protocol

import orjson
import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from backbone.errors import RetryableError
from backbone.migrations import check_schema_name
from services.carrier_bridge.booking import OrderDetails

__all__ = ["MemoryOrderDirectory", "OrderDirectory", "PgOrderDirectory"]


class OrderDirectory(Protocol):
    async def remember(self, order_ref: str, details: OrderDetails) -> None: ...
    async def lookup(self, order_ref: str) -> OrderDetails | None: ...


class MemoryOrderDirectory:
    """Bounded (least recently used out): a process-local stand-in for tests and demos."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._orders: OrderedDict[str, OrderDetails] = OrderedDict()

    async def remember(self, order_ref: str, details: OrderDetails) -> None:
        self._orders[order_ref] = details.over(self._orders.get(order_ref))
        self._orders.move_to_end(order_ref)
        while len(self._orders) > self.limit:
            self._orders.popitem(last=False)

    async def lookup(self, order_ref: str) -> OrderDetails | None:
        return self._orders.get(order_ref)


_CREATE = """
CREATE TABLE IF NOT EXISTS {s}.carrier_bridge_orders (
    sink text NOT NULL,
    order_ref text NOT NULL,
    details jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sink, order_ref)
)"""
# Newer non-null values win; what the newer milestone does not say is kept.
_UPSERT = """
INSERT INTO {s}.carrier_bridge_orders AS o (sink, order_ref, details)
VALUES (%(sink)s, %(ref)s, jsonb_strip_nulls(%(details)s::jsonb))
ON CONFLICT (sink, order_ref) DO UPDATE
SET details = o.details || EXCLUDED.details, updated_at = now()"""
_SELECT = "SELECT details FROM {s}.carrier_bridge_orders WHERE sink = %(sink)s AND order_ref = %(ref)s"


class PgOrderDirectory:
    """One table in the ledger's schema, over the ledger's connection pool (autocommit)."""

    def __init__(self, pool: AsyncConnectionPool, *, schema: str, sink: str) -> None:
        s = sql.Identifier(check_schema_name(schema))
        self.pool = pool
        self.sink = sink
        self._create = sql.SQL(_CREATE).format(s=s)
        self._upsert = sql.SQL(_UPSERT).format(s=s)
        self._select = sql.SQL(_SELECT).format(s=s)

    async def migrate(self) -> None:
        await self._execute(self._create, {})

    async def remember(self, order_ref: str, details: OrderDetails) -> None:
        doc = orjson.dumps(details.to_json()).decode()
        await self._execute(self._upsert, {"sink": self.sink, "ref": order_ref, "details": doc})

    async def lookup(self, order_ref: str) -> OrderDetails | None:
        rows = await self._execute(self._select, {"sink": self.sink, "ref": order_ref})
        return OrderDetails.from_json(rows[0][0]) if rows else None

    async def _execute(self, query: sql.Composed, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        try:
            async with self.pool.connection() as conn:
                cur = await conn.execute(query, params)
                return await cur.fetchall() if cur.description else []
        except (PoolTimeout, psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise RetryableError(f"order directory unavailable: {exc}", retry_after=1.0, sink=self.sink) from exc
