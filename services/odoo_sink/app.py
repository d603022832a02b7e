"""Wiring of odoo_sink: settings, logging, tracing, the Odoo client, the handler, the sink runtime.

``backbone odoo-sink [--force-reapply]`` and ``python -m services.odoo_sink`` call :func:`run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys

from backbone import sink
from backbone.aio import event_loop_factory
from backbone.config import load
from backbone.errors import ConfigError, SchemaError
from backbone.logs import setup_logging
from backbone.telemetry import setup_tracing
from backbone.topics import load_topics
from services.odoo_sink.client import make_client
from services.odoo_sink.config import SHIPMENT_ROLE, OdooSinkConfig
from services.odoo_sink.handlers import OdooHandler
from services.odoo_sink.monitor import StaleShipmentsMonitor

__all__ = ["run", "serve"]

log = logging.getLogger("services.odoo_sink")


async def serve(cfg: OdooSinkConfig) -> None:
    """Run the sink until SIGTERM/SIGINT (in-flight Odoo calls finish, offsets are committed)."""
    client = make_client(cfg.connection())
    handler = OdooHandler(client, cfg.mapping(), picking_cache_size=cfg.picking_cache_size)
    monitor: asyncio.Task[None] | None = None
    if cfg.stale_check_interval > 0 and cfg.database_url.get_secret_value():
        stale = StaleShipmentsMonitor(
            cfg.database_url.get_secret_value(),
            schema=cfg.ledger_schema,
            sink=cfg.sink_name,
            topic=load_topics(cfg.topics_file).name(SHIPMENT_ROLE),
            older_than_hours=cfg.stale_shipment_hours,
        )
        monitor = asyncio.create_task(stale.run(cfg.stale_check_interval), name="stale-shipments")
    log.info("odoo sink starting", extra={"target": cfg.odoo.url, "protocol": cfg.odoo.protocol,
                                          "sink": cfg.sink_name, "reapply": cfg.force_reapply})
    try:
        await sink.serve(cfg, handler)
    finally:
        if monitor is not None:
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
        await client.close()


def run(force_reapply: bool = False) -> None:
    """Blocking entry point. ``force_reapply`` re-sends records the ledger says were applied (a
    restored Odoo lost them); the guard still keeps statuses from moving backwards.

    A configuration problem (missing BACKBONE_ODOO_API_KEY, bad mapping file, topics) ends the
    process with exit code 2 and one line naming it."""
    try:
        cfg = load(OdooSinkConfig, force_reapply=True) if force_reapply else load(OdooSinkConfig)
        cfg.mapping()  # read and check the mapping file before connecting to anything
    except ConfigError as exc:
        print(f"odoo_sink: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    setup_logging("odoo_sink", cfg.log_level, cfg.log_format)
    setup_tracing("odoo_sink")
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(serve(cfg))
    except (ConfigError, SchemaError) as exc:
        log.error("odoo sink cannot start: %s", exc, extra={"error_class": type(exc).__name__})
        raise SystemExit(2) from None

