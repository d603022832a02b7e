"""Business metric ``backbone_shipments_without_milestone``: shipments not delivered whose last
applied status is older than N hours (default 24), counted from the sink's ledger every minute.

A shipment is an entity of the sink's guard table (``sink_entity_state``) whose last milestone
came from the shipment topic; "not delivered" is rank above 0 and below DELIVERED (90), so
returns (95, 99) do not count. ``updated_at`` moves when the status advances: a shipment
reporting the same status again (a second IN_TRANSIT scan) keeps its age, which is what a
"stuck in transit" alert wants.

Example::

    monitor = StaleShipmentsMonitor(dsn, schema="backbone", sink="odoo_sink",
                                    topic="canonical.shipment-milestones.v1", older_than_hours=24)
    await monitor.refresh()              # or: task = asyncio.create_task(monitor.run(60.0))
"""

from __future__ import annotations

import asyncio
import logging

import psycopg
from prometheus_client import Gauge
from psycopg import sql

from backbone.canonical import SHIPMENT_RANK, ShipmentCode
from backbone.migrations import check_schema_name

__all__ = ["SHIPMENTS_WITHOUT_MILESTONE", "StaleShipmentsMonitor"]

log = logging.getLogger("services.odoo_sink")

SHIPMENTS_WITHOUT_MILESTONE = Gauge(
    "backbone_shipments_without_milestone",
    "Undelivered shipments whose last milestone is older than the configured hours",
    ["sink", "older_than_hours"],
)
_DELIVERED = SHIPMENT_RANK[ShipmentCode.DELIVERED]

# Joined on the ledger's primary key: the entity's last milestone says which topic it belongs to.
_QUERY = """
SELECT count(*)
FROM {s}.sink_entity_state AS st
JOIN {s}.sink_ledger AS l ON l.sink = st.sink AND l.milestone_id = st.milestone_id
WHERE st.sink = %(sink)s AND l.source_topic = %(topic)s AND st.rank > 0 AND st.rank < %(delivered)s
  AND st.updated_at < now() - make_interval(secs => %(seconds)s)
"""


class StaleShipmentsMonitor:
    def __init__(self, dsn: str, *, schema: str, sink: str, topic: str, older_than_hours: float) -> None:
        self._dsn = dsn
        self._query = sql.SQL(_QUERY).format(s=sql.Identifier(check_schema_name(schema)))
        self._params = {"sink": sink, "topic": topic, "delivered": _DELIVERED, "seconds": older_than_hours * 3600}
        self.gauge = SHIPMENTS_WITHOUT_MILESTONE.labels(sink, f"{older_than_hours:g}")

    async def count(self) -> int:
        # One short connection a minute: no pool held for a metric.
        async with await psycopg.AsyncConnection.connect(self._dsn, autocommit=True, connect_timeout=10) as conn:
            cur = await conn.execute(self._query, self._params)
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def refresh(self) -> int:
        value = await self.count()
        self.gauge.set(value)
        return value

    async def run(self, interval: float) -> None:
        """Refresh every ``interval`` seconds until cancelled; a failed count keeps the last value."""
        while True:
            try:
                await self.refresh()
            except psycopg.errors.UndefinedTable:
                pass  # the ledger is created by the runtime's first migration, moments after start
            except Exception as exc:
                log.warning("counting stale shipments failed", extra={"error_class": type(exc).__name__,
                                                                       "reason": str(exc)[:200]})
            await asyncio.sleep(interval)
