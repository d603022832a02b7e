"""Reconciliation polling: webhooks are not guaranteed, so the bridge also asks the WMS what changed.

Hybrid real time + batch: every ``interval`` seconds the poller reads the WMS's change feeds
(orders, stock movements) from the last durable watermark, publishes what it finds to raw.warehouse
as ``wms.reconciliation.v1`` (one raw event per order, keyed like the order's webhooks, and one per
warehouse:sku), and only then moves the watermark (at least once: a crash re-publishes a page, which
the normalizer's dedupe drops like every fact a webhook already delivered).

Each tick also refreshes ``backbone_wms_orders_awaiting_acceptance`` from the bridge's order table.

Example::

    poller = ReconciliationPoller(client, publisher, store, PollSettings(interval_s=60), bridge="wms_bridge")
    result = await poller.poll_once()          # PollResult(orders=3, stock=1, events=3, pages=2)
    await poller.run(stop)                     # until stop.requested
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Gauge, Histogram

from backbone.errors import AuthenticationError
from backbone.raw_publisher import RawPublishing
from backbone.shutdown import GracefulShutdown
from backbone.telemetry import tracer
from backbone.throttle import Throttler
from services.wms_bridge.errors import WmsValidationError
from services.wms_bridge.handlers import throttled
from services.wms_bridge.models import ChangesPage, InventoryPage
from services.wms_bridge.payloads import RawFact, order_reconciliation, stock_reconciliation
from services.wms_bridge.store import Watermark

__all__ = [
    "AWAITING",
    "EVENTS",
    "POLLS",
    "POLL_EVENTS",
    "ChangeFeed",
    "PollResult",
    "PollSettings",
    "PollState",
    "ReconciliationPoller",
]

log = logging.getLogger("services.wms_bridge")
T = TypeVar("T")

EVENTS = Counter(
    "backbone_wms_reconciliation_events_total",
    "Facts published by WMS reconciliation polls (order statuses, stock counts); the normalizer's dedupe "
    "drops those a webhook already delivered",
    ["bridge", "kind"],
)
POLL_EVENTS = Histogram(
    "backbone_wms_reconciliation_poll_events",
    "Facts published per reconciliation poll",
    ["bridge"],
    buckets=(0, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000),
)
POLLS = Counter("backbone_wms_reconciliation_polls_total", "Reconciliation polls by outcome", ["bridge", "outcome"])
LAST_SUCCESS = Gauge(
    "backbone_wms_reconciliation_last_success_timestamp_seconds", "Unix time of the last complete poll", ["bridge"]
)
AWAITING = Gauge(
    "backbone_wms_orders_awaiting_acceptance",
    "Orders released to the WMS and not accepted (no answer, or backordered) after the configured minutes",
    ["bridge"],
)
_OVERLAP = timedelta(seconds=60)  # re-read a minute when the WMS pages by time only (clock skew)


class ChangeFeed(Protocol):
    """The WMS's change feeds (:class:`services.wms_bridge.client.WmsClient` fits)."""

    async def list_changes(
        self, since: datetime | None = None, cursor: str | None = None, limit: int | None = None
    ) -> ChangesPage: ...
    async def list_inventory_changes(
        self, since: datetime | None = None, cursor: str | None = None, limit: int | None = None
    ) -> InventoryPage: ...


class PollState(Protocol):
    """Durable watermarks and the order table (:class:`services.wms_bridge.store.BridgeStore` fits)."""

    async def watermark(self, stream: str) -> Watermark | None: ...
    async def save_watermark(self, stream: str, cursor: str | None, at: datetime | None) -> None: ...
    async def awaiting_acceptance(self, older_than_s: float) -> int: ...
    def exclusive(self, name: str) -> contextlib.AbstractAsyncContextManager[bool]: ...


@dataclass(frozen=True)
class PollSettings:
    partner: str = "shiphero"
    warehouse: str = "Reno DC"
    answer_role: str = "raw.warehouse"
    interval_s: float = 60.0
    lookback_s: float = 86_400.0
    page_size: int = 50
    inventory: bool = True
    awaiting_after_s: float = 900.0
    tick_s: float = 15.0  # how often the awaiting gauge is refreshed between polls


@dataclass
class PollResult:
    orders: int = 0  # order facts (statuses, packages) published
    stock: int = 0  # stock lines published
    events: int = 0  # raw events published
    pages: int = 0
    skipped: bool = False  # another replica was polling


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ReconciliationPoller:
    def __init__(
        self,
        feed: ChangeFeed,
        publisher: RawPublishing,
        state: PollState,
        settings: PollSettings | None = None,
        *,
        bridge: str = "wms_bridge",
        throttler: Throttler | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.feed = feed
        self.publisher = publisher
        self.state = state
        self.settings = settings or PollSettings()
        self.bridge = bridge
        self.throttler = throttler
        self.clock = clock
        self._tracer = tracer("services.wms_bridge")

    async def poll_once(self) -> PollResult:
        """Read every change since the watermarks, publish, then move the watermarks."""
        result = PollResult()
        correlation_id = f"wms-reconcile-{uuid.uuid4()}"
        # Replicas share the watermarks: one polls, the others skip this round.
        async with self.state.exclusive("reconcile") as mine:
            if not mine:
                result.skipped = True
                return result
            polled_at = self.clock()
            with self._tracer.start_as_current_span(f"{self.bridge} reconcile", kind=SpanKind.CLIENT) as span:
                await self._orders(polled_at, correlation_id, result)
                if self.settings.inventory:
                    await self._inventory(polled_at, correlation_id, result)
                span.set_attributes({"backbone.facts": result.orders + result.stock, "backbone.pages": result.pages})
        EVENTS.labels(self.bridge, "orders").inc(result.orders)
        EVENTS.labels(self.bridge, "stock").inc(result.stock)
        POLL_EVENTS.labels(self.bridge).observe(result.orders + result.stock)
        LAST_SUCCESS.labels(self.bridge).set(time.time())
        return result

    async def _start(self, stream: str, polled_at: datetime) -> tuple[str | None, datetime | None]:
        mark = await self.state.watermark(stream)
        if mark is not None and mark.cursor:
            return mark.cursor, None
        if mark is not None and mark.at is not None:
            return None, mark.at - _OVERLAP
        return None, polled_at - timedelta(seconds=self.settings.lookback_s)

    async def _first_page(
        self,
        stream: str,
        polled_at: datetime,
        fetch: Callable[[str | None, datetime | None], Callable[[], Awaitable[Any]]],
    ) -> tuple[Any, str | None]:
        """First page from the stored cursor; a cursor the WMS no longer honours (expired, or the WMS
        was reset) falls back to the time watermark so nothing is skipped."""
        cursor, since = await self._start(stream, polled_at)
        try:
            return await self._call(fetch(cursor, since)), cursor
        except WmsValidationError:
            if cursor is None:
                raise
            mark = await self.state.watermark(stream)
            since = (
                (mark.at - _OVERLAP)
                if mark is not None and mark.at is not None
                else (polled_at - timedelta(seconds=self.settings.lookback_s))
            )
            log.warning(
                "WMS rejected the stored cursor; resyncing from the time watermark",
                extra={"stream": stream, "since": since.isoformat()},
            )
            return await self._call(fetch(None, since)), None

    async def _orders(self, polled_at: datetime, correlation_id: str, result: PollResult) -> None:
        page, cursor = await self._first_page("orders", polled_at, self._orders_page)
        since: datetime | None = None
        while True:
            facts = [
                fact
                for order in page.orders
                if (fact := order_reconciliation(order, warehouse=self.settings.warehouse, polled_at=polled_at))
            ]
            await self._publish(facts, correlation_id)
            result.orders += sum(f.facts for f in facts)
            result.events += len(facts)
            result.pages += 1
            cursor = page.next_cursor or cursor
            await self.state.save_watermark("orders", cursor, polled_at)
            if not page.has_more or not page.orders:
                return
            page = await self._call(self._orders_page(cursor, since))

    async def _inventory(self, polled_at: datetime, correlation_id: str, result: PollResult) -> None:
        page, cursor = await self._first_page("inventory", polled_at, self._inventory_page)
        since: datetime | None = None
        while True:
            facts = stock_reconciliation(page.changes, warehouse=self.settings.warehouse, polled_at=polled_at)
            await self._publish(facts, correlation_id)
            result.stock += sum(f.facts for f in facts)
            result.events += len(facts)
            result.pages += 1
            cursor = page.next_cursor or cursor
            await self.state.save_watermark("inventory", cursor, polled_at)
            if not page.has_more or not page.changes:
                return
            inventory_page = await self._call(self._inventory_page(cursor, since))
            page = inventory_page

    def _orders_page(self, cursor: str | None, since: datetime | None) -> Callable[[], Awaitable[ChangesPage]]:
        return lambda: self.feed.list_changes(since=since, cursor=cursor, limit=self.settings.page_size)

    def _inventory_page(self, cursor: str | None, since: datetime | None) -> Callable[[], Awaitable[InventoryPage]]:
        return lambda: self.feed.list_inventory_changes(since=since, cursor=cursor, limit=self.settings.page_size)

    async def _publish(self, facts: list[RawFact], correlation_id: str) -> None:
        # One page at once: every write must be acknowledged before the watermark moves.
        await asyncio.gather(
            *(
                self.publisher.publish(
                    self.settings.answer_role,
                    partner=self.settings.partner,
                    fmt=fact.fmt,
                    payload=fact.payload,
                    natural_key=fact.natural_key,
                    correlation_id=correlation_id,
                    event_id=fact.event_id,
                )
                for fact in facts
            )
        )

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        return await throttled(self.throttler, call)

    async def refresh_awaiting(self) -> int:
        count = await self.state.awaiting_acceptance(self.settings.awaiting_after_s)
        AWAITING.labels(self.bridge).set(count)
        return count

    async def run(self, stop: GracefulShutdown) -> None:
        """Poll every ``interval_s`` (0 = never) and refresh the gauge every tick until ``stop``.

        A failed poll is logged and counted; the next one starts from the same watermark.
        """
        interval = self.settings.interval_s
        next_poll = time.monotonic()
        while not stop.requested:
            if interval > 0 and time.monotonic() >= next_poll:
                await self._guarded(self._poll)
                next_poll = time.monotonic() + interval
            await self._guarded(self.refresh_awaiting)
            wait = self.settings.tick_s if interval <= 0 else min(self.settings.tick_s, next_poll - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(wait, 0.01))

    async def _poll(self) -> None:
        try:
            result = await self.poll_once()
        except Exception:
            POLLS.labels(self.bridge, "error").inc()
            raise
        POLLS.labels(self.bridge, "skipped" if result.skipped else "ok").inc()
        if result.orders or result.stock:
            log.info(
                "reconciliation poll",
                extra={"sink": self.bridge, "orders": result.orders, "stock": result.stock, "pages": result.pages},
            )

    async def _guarded(self, step: Callable[[], Awaitable[object]]) -> None:
        try:
            await step()
        except AuthenticationError as exc:
            log.error("wms refused our credentials during reconciliation: %s", exc, extra={"sink": self.bridge})
        except Exception as exc:  # the loop must outlive any one failure; the next tick retries
            log.warning(
                "reconciliation step failed: %s", exc, extra={"sink": self.bridge, "error_class": type(exc).__name__}
            )
