"""The bridge's own durable state in PostgreSQL (tables of migration 0002_bridge_watermarks.sql).

- ``bridge_watermarks``: where the last reconciliation poll of each WMS feed ended (a restart
  resumes there instead of re-reading the WMS's history).
- ``bridge_orders``: orders released to the WMS, the WMS's order id (a cancel needs it), and the
  answer seen on canonical.order-milestones, for the "released but not accepted" gauge.

It shares the ledger's connection pool and schema. Transient database errors raise
:class:`~backbone.ledger.LedgerError` (retryable), like the ledger's own.

Example::

    store = BridgeStore(ledger.pool, bridge="wms_bridge", schema="backbone")
    await store.track_release("SO-1", milestone_id=mid, partner_order_id="400000001", released_at=now)
    await store.track_answer("SO-1", "accepted", at=now)
    await store.awaiting_acceptance(older_than_s=900)          # 0
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from backbone.ledger import LedgerError
from backbone.migrations import check_schema_name

__all__ = ["MOVES", "BridgeStore", "OrderState", "TrackedOrder", "Watermark"]

OrderState = Literal["released", "accepted", "rejected", "backordered", "cancelled"]

# Which answers may replace which state: a late BACKORDERED never undoes an acceptance, and a
# re-release (a new milestone for the same reference) is handled by track_release.
MOVES: frozenset[tuple[str, str]] = frozenset({
    ("released", "accepted"), ("released", "rejected"), ("released", "backordered"), ("released", "cancelled"),
    ("backordered", "accepted"), ("backordered", "rejected"), ("backordered", "cancelled"),
    ("accepted", "cancelled"),
})

_WATERMARK = "SELECT cursor_token, watermark FROM {s}.bridge_watermarks WHERE bridge = %s AND stream = %s"
_SAVE_WATERMARK = """
INSERT INTO {s}.bridge_watermarks (bridge, stream, cursor_token, watermark) VALUES (%s, %s, %s, %s)
ON CONFLICT (bridge, stream) DO UPDATE
    SET cursor_token = EXCLUDED.cursor_token, watermark = EXCLUDED.watermark, updated_at = now()
"""
# A new release of the same reference (a different milestone, the previous order cancelled or
# rejected) starts over; a retry or replay of the same release keeps what was learnt since.
_RELEASE = """
INSERT INTO {s}.bridge_orders AS o (bridge, order_ref, release_milestone_id, partner_order_id, state, released_at)
VALUES (%(bridge)s, %(ref)s, %(mid)s, %(pid)s, 'released', %(at)s)
ON CONFLICT (bridge, order_ref) DO UPDATE SET
    state = CASE WHEN %(restart)s THEN 'released' ELSE o.state END,
    released_at = CASE WHEN %(restart)s THEN EXCLUDED.released_at
                       ELSE COALESCE(o.released_at, EXCLUDED.released_at) END,
    answered_at = CASE WHEN %(restart)s THEN NULL ELSE o.answered_at END,
    partner_order_id = COALESCE(EXCLUDED.partner_order_id, o.partner_order_id),
    release_milestone_id = EXCLUDED.release_milestone_id,
    updated_at = now()
"""
_RESTART = "(%(new)s AND o.release_milestone_id IS DISTINCT FROM EXCLUDED.release_milestone_id)"
_ANSWER = """
UPDATE {s}.bridge_orders AS o
SET state = %(state)s, answered_at = %(at)s, partner_order_id = COALESCE(o.partner_order_id, %(pid)s),
    updated_at = now()
WHERE o.bridge = %(bridge)s AND o.order_ref = %(ref)s AND (o.state || '>' || %(state)s) = ANY(%(moves)s)
RETURNING 1
"""
_ORDER = """
SELECT order_ref, release_milestone_id, partner_order_id, state, released_at, answered_at
FROM {s}.bridge_orders WHERE bridge = %s AND order_ref = %s
"""
_AWAITING = """
SELECT count(*) FROM {s}.bridge_orders
WHERE bridge = %s AND state IN ('released', 'backordered') AND released_at < now() - make_interval(secs => %s)
"""


@dataclass(frozen=True)
class Watermark:
    cursor: str | None
    at: datetime | None


@dataclass(frozen=True)
class TrackedOrder:
    order_ref: str
    release_milestone_id: str | None
    partner_order_id: str | None
    state: OrderState
    released_at: datetime | None
    answered_at: datetime | None


class BridgeStore:
    def __init__(self, pool: AsyncConnectionPool, *, bridge: str, schema: str = "backbone") -> None:
        self.pool = pool
        self.bridge = bridge
        self.schema = check_schema_name(schema)
        s = sql.Identifier(schema)
        self._q = {
            name: sql.SQL(text).format(s=s)
            for name, text in {
                "watermark": _WATERMARK,
                "save_watermark": _SAVE_WATERMARK,
                "release": _RELEASE.replace("%(restart)s", _RESTART),
                "answer": _ANSWER,
                "order": _ORDER,
                "awaiting": _AWAITING,
            }.items()
        }
        self._moves = sorted(f"{a}>{b}" for a, b in MOVES)

    async def _execute(self, name: str, params: dict[str, Any] | tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            async with self.pool.connection() as conn:
                cur = await conn.execute(self._q[name], params)
                return await cur.fetchall() if cur.description else []
        except (PoolTimeout, psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise LedgerError(f"bridge state unavailable: {exc}", retry_after=1.0, sink=self.bridge) from exc

    # -- reconciliation watermarks ---------------------------------------------------------------
    async def watermark(self, stream: str) -> Watermark | None:
        rows = await self._execute("watermark", (self.bridge, stream))
        return Watermark(rows[0][0], rows[0][1]) if rows else None

    async def save_watermark(self, stream: str, cursor: str | None, at: datetime | None) -> None:
        await self._execute("save_watermark", (self.bridge, stream, cursor, at))

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """Yield True to one holder at a time across replicas (a session advisory lock on one
        pooled connection, held for the block); others get False at once and skip the work."""
        digest = hashlib.sha256(f"backbone.bridge:{self.schema}:{self.bridge}:{name}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        try:
            async with self.pool.connection() as conn:
                cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", [key])
                row = await cur.fetchone()
                got = bool(row and row[0])
                try:
                    yield got
                finally:
                    if got:
                        await conn.execute("SELECT pg_advisory_unlock(%s)", [key])
        except (PoolTimeout, psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise LedgerError(f"bridge state unavailable: {exc}", retry_after=1.0, sink=self.bridge) from exc

    # -- released orders -------------------------------------------------------------------------
    async def track_release(
        self,
        order_ref: str,
        *,
        milestone_id: str,
        partner_order_id: str | None,
        released_at: datetime,
        new_order: bool = True,
    ) -> None:
        """Record that ``milestone_id`` released the order; ``new_order=False`` when the WMS
        answered with an order that already existed (nothing starts over)."""
        await self._execute(
            "release",
            {"bridge": self.bridge, "ref": order_ref, "mid": milestone_id, "pid": partner_order_id,
             "at": released_at, "new": new_order},
        )

    async def track_answer(
        self, order_ref: str, state: OrderState, *, at: datetime, partner_order_id: str | None = None
    ) -> bool:
        """Apply the WMS's answer seen on the canonical topic; False when it changes nothing
        (an order this bridge never released, or a move :data:`MOVES` does not allow)."""
        rows = await self._execute(
            "answer",
            {"bridge": self.bridge, "ref": order_ref, "state": state, "at": at, "pid": partner_order_id,
             "moves": self._moves},
        )
        return bool(rows)

    async def order(self, order_ref: str) -> TrackedOrder | None:
        rows = await self._execute("order", (self.bridge, order_ref))
        return TrackedOrder(*rows[0]) if rows else None

    async def awaiting_acceptance(self, older_than_s: float) -> int:
        rows = await self._execute("awaiting", (self.bridge, older_than_s))
        return int(rows[0][0]) if rows else 0
