"""``backbone demo``: play the scripted scenario against a running backbone (``make run``)."""

from __future__ import annotations

import os
from datetime import timedelta

import typer
from rich.table import Table

from backbone.cli.output import console

__all__ = ["demo_cmd", "play"]


def play(env: dict[str, str] | None = None) -> None:
    """Run the scenario, then print the shipment timeline (canonical topics) and the Odoo picking."""
    from backbone.config import BackboneConfig, load
    from backbone.serialization import SchemaRegistry
    from backbone.topics import load_topics
    from backbone.trace import trace
    from simulators.demo import DemoUrls
    from simulators.demo import play as play_scenario

    if env:
        os.environ.update(
            {
                k: v
                for k, v in env.items()
                if k in ("KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL", "DATABASE_URL", "BACKBONE_TOPICS_FILE")
            }
        )
    console.print("[bold]demo[/]: released order -> delivered, with one exception and one redelivered webhook")
    result = play_scenario(DemoUrls(), say=console.print)
    cfg = load(BackboneConfig)
    registry = SchemaRegistry.connect(cfg.schema_registry_url)
    report = trace(
        cfg, load_topics(cfg.topics_file), result.tracking_number, since=timedelta(hours=1), decode=registry.decode
    )
    timeline = Table("occurred at (UTC)", "code", "rank", "milestone id", title=f"shipment {result.tracking_number}")
    for hop in sorted(report.canonical, key=lambda h: str(h.summary.get("occurred_at"))):
        timeline.add_row(
            str(hop.summary.get("occurred_at")),
            str(hop.summary.get("code")),
            str(hop.summary.get("rank")),
            str(hop.summary.get("milestone_id")),
        )
    console.print(timeline)
    picking = result.picking
    console.print(
        f"Odoo picking {picking.get('name')}: state={picking.get('state')} "
        f"tracking={picking.get('carrier_tracking_ref')} delivery_state={picking.get('delivery_state')} "
        f"notes={len(result.notes)}"
    )
    ledger = Table("sink", "status", "count", title="sink ledger rows for this shipment")
    counts: dict[tuple[str, str], int] = {}
    for row in report.ledger:
        key = (str(row["sink"]), str(row["status"]))
        counts[key] = counts.get(key, 0) + 1
    for (sink, status), n in sorted(counts.items()):
        ledger.add_row(sink, status, str(n))
    console.print(ledger)


def demo_cmd() -> None:
    """Play the scripted demo against the running backbone (start it with `make run`)."""
    from simulators.demo import DemoError

    try:
        play()
    except DemoError as exc:
        console.print(f"[red]demo failed:[/] {exc}")
        raise typer.Exit(1) from exc
