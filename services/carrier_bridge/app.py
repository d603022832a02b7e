"""Wiring of the carrier bridge: settings, carrier client, raw publisher, ledger, sink runtime.

``backbone carrier-bridge`` calls :func:`run`; tests and benchmarks call :func:`serve` with their
own settings and shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from backbone.config import load
from backbone.kafka import AsyncProducer, producer_config
from backbone.ledger import Ledger
from backbone.logs import setup_logging
from backbone.raw_publisher import RawPublisher
from backbone.serialization import SchemaRegistry
from backbone.shutdown import GracefulShutdown
from backbone.sink import SinkRuntime
from backbone.telemetry import setup_tracing
from backbone.topics import load_topics
from services.carrier_bridge.client import CarrierClient
from services.carrier_bridge.config import CarrierBridgeConfig
from services.carrier_bridge.handlers import CarrierHandler
from services.carrier_bridge.models import Lane
from services.carrier_bridge.orders import PgOrderDirectory

__all__ = ["run", "serve"]

log = logging.getLogger("carrier_bridge")


async def serve(
    cfg: CarrierBridgeConfig,
    stop: GracefulShutdown | None = None,
    *,
    on_wait: Callable[[Lane, float], None] | None = None,
) -> None:
    """Run the bridge until ``stop`` is requested (default: SIGTERM/SIGINT), then drain and close.

    ``on_wait(lane, seconds)`` observes every throttle wait (benchmarks)."""
    cfg.require("kafka_bootstrap_servers", "schema_registry_url", "database_url")
    api_key = cfg.api_key()
    catalog = load_topics(cfg.topics_file)
    registry = SchemaRegistry.connect(cfg.schema_registry_url)
    # One producer and one ledger pool for the runtime (DLQ, ledger) and the handler (answers, orders).
    producer = AsyncProducer(producer_config(cfg))
    pacer = cfg.pacer(on_wait)
    ledger: Ledger | None = None
    try:
        ledger = await Ledger.open(
            cfg.database_url.get_secret_value(),
            sink=cfg.sink_name,
            schema=cfg.ledger_schema,
            min_size=cfg.db_pool_min,
            max_size=cfg.db_pool_max,
        )
        orders = PgOrderDirectory(ledger.pool, schema=cfg.ledger_schema, sink=cfg.sink_name)
        await orders.migrate()
        publisher = RawPublisher(producer, registry, catalog)
        try:
            await publisher.prepare(cfg.answer_role)
        except Exception as exc:  # the first publish retries it; no reason not to start
            log.warning("answer schema not registered yet", extra={"reason": str(exc)[:200]})
        async with CarrierClient(cfg.carrier_url, api_key, timeout_s=cfg.carrier_timeout, pacer=pacer) as client:
            handler = CarrierHandler(
                client,
                publisher,
                orders=orders,
                defaults=cfg.booking_defaults(),
                catalog=cfg.service_catalog(),
                settings=cfg.handler_settings(),
            )
            runtime = SinkRuntime(cfg, handler, catalog=catalog, registry=registry, ledger=ledger, producer=producer)
            if stop is None:
                stop = GracefulShutdown(cfg.shutdown_deadline)
                stop.install()
            await runtime.run(stop)
    finally:
        await pacer.close()
        if ledger is not None:
            await ledger.close()
        await asyncio.to_thread(producer.close, 5.0)
        with contextlib.suppress(Exception):
            registry.client.close()


def run(**options: Any) -> None:
    """Blocking entry point of ``backbone carrier-bridge``; ``options`` override env settings."""
    cfg = load(CarrierBridgeConfig, **options)
    setup_logging("carrier_bridge", cfg.log_level, cfg.log_format)
    setup_tracing("carrier_bridge")
    asyncio.run(serve(cfg))
