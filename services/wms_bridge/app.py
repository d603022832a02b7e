"""Wiring of the WMS bridge: the sink runtime on canonical.order-milestones plus the reconciliation poll.

One process, one event loop: the sink applies released/cancelled orders to the WMS while the
poller asks the WMS what changed; both publish to raw.warehouse through one producer and share one
WMS rate limit. SIGTERM stops both: the sink drains and commits, the poll in progress finishes
(or is cancelled at the shutdown deadline: its watermark did not move, so nothing is lost).

Example::

    run()                                   # `backbone wms-bridge`; settings from BACKBONE_WMS_* env
    await serve(load(WmsBridgeConfig))      # the same, inside a running loop (tests pass stop=)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from typing import Any

from backbone.config import load
from backbone.errors import ConfigError, SchemaError
from backbone.kafka import AsyncProducer, producer_config
from backbone.ledger import Ledger
from backbone.logs import setup_logging
from backbone.raw_publisher import RawPublisher
from backbone.serialization import SchemaRegistry
from backbone.shutdown import GracefulShutdown
from backbone.sink import SinkRuntime
from backbone.telemetry import setup_tracing
from backbone.throttle import Throttler
from backbone.topics import load_topics
from services.wms_bridge.client import WmsClient
from services.wms_bridge.config import WmsBridgeConfig
from services.wms_bridge.handlers import HandlerSettings, WmsHandler
from services.wms_bridge.reconcile import PollSettings, ReconciliationPoller
from services.wms_bridge.store import BridgeStore

__all__ = ["run", "serve"]

log = logging.getLogger("services.wms_bridge")


def poll_settings(cfg: WmsBridgeConfig) -> PollSettings:
    return PollSettings(
        partner=cfg.partner,
        warehouse=cfg.warehouse,
        answer_role=cfg.answer_role,
        interval_s=cfg.reconcile_interval,
        lookback_s=cfg.reconcile_lookback,
        page_size=cfg.reconcile_page_size,
        inventory=cfg.reconcile_inventory,
        awaiting_after_s=cfg.awaiting_acceptance_minutes * 60,
        tick_s=min(15.0, cfg.reconcile_interval) if cfg.reconcile_interval > 0 else 15.0,
    )


async def serve(cfg: WmsBridgeConfig, *, stop: GracefulShutdown | None = None) -> None:
    """Run until SIGTERM/SIGINT (or ``stop`` is requested), then drain, commit and close."""
    if stop is None:
        stop = GracefulShutdown(cfg.shutdown_deadline)
        stop.install()
    cfg.require("kafka_bootstrap_servers", "schema_registry_url", "database_url")
    catalog = load_topics(cfg.topics_file)
    async with contextlib.AsyncExitStack() as resources:  # closed in reverse, whatever happens
        registry = SchemaRegistry.connect(cfg.schema_registry_url)
        resources.callback(registry.client.close)
        ledger = await Ledger.open(cfg.database_url.get_secret_value(), sink=cfg.sink_name,
                                   schema=cfg.ledger_schema, min_size=cfg.db_pool_min, max_size=cfg.db_pool_max)
        resources.push_async_callback(ledger.close)
        producer = AsyncProducer(producer_config(cfg))
        resources.push_async_callback(asyncio.to_thread, producer.close, 5.0)  # flushes answers not yet acked
        api_key = cfg.wms_api_key.get_secret_value() if cfg.wms_api_key else None
        client = WmsClient(cfg.wms_url, api_token=api_key, timeout_s=cfg.wms_timeout)
        resources.push_async_callback(client.close)

        publisher = RawPublisher(producer, registry, catalog)
        await publisher.prepare(cfg.answer_role)  # fail fast on a registry problem
        store = BridgeStore(ledger.pool, bridge=cfg.sink_name, schema=cfg.ledger_schema)
        throttler = Throttler(cfg.rate_limit, burst=cfg.rate_burst, name="wms") if cfg.rate_limit else None
        handler = WmsHandler(client, publisher, store,
                             HandlerSettings(cfg.partner, cfg.warehouse, cfg.answer_role), throttler=throttler)
        poller = ReconciliationPoller(client, publisher, store, poll_settings(cfg), bridge=cfg.sink_name,
                                      throttler=throttler)
        runtime = SinkRuntime(cfg, handler, catalog=catalog, registry=registry, ledger=ledger, producer=producer)
        polling = asyncio.create_task(poller.run(stop), name="wms-reconciliation")
        try:
            await runtime.run(stop)
        finally:
            stop.request("sink stopped")
            await _finish(polling, cfg.shutdown_deadline)


async def _finish(task: asyncio.Task[None], deadline: float) -> None:
    done, _ = await asyncio.wait({task}, timeout=deadline)
    if not done:
        log.warning("reconciliation poll still running at the shutdown deadline; cancelled")
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def run(**overrides: Any) -> None:
    """``backbone wms-bridge``: blocking; settings from the environment (``overrides`` win).

    A configuration problem ends the process with exit code 2 and one line naming it."""
    try:
        cfg = load(WmsBridgeConfig, **overrides)
    except ConfigError as exc:
        print(f"wms_bridge: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    setup_logging("wms_bridge", cfg.log_level, cfg.log_format)
    setup_tracing("wms_bridge")
    try:
        asyncio.run(serve(cfg))
    except (ConfigError, SchemaError) as exc:
        log.error("wms_bridge cannot start: %s", exc, extra={"error_class": type(exc).__name__})
        raise SystemExit(2) from None
