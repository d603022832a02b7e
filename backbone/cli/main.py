"""Entry point of the ``backbone`` console script. Each command group lives in its own module."""

from __future__ import annotations

import typer

from backbone.cli.contracts import schemas_app, topics_app
from backbone.cli.demo import demo_cmd
from backbone.cli.oncall import dlq_app, replay, trace_cmd
from backbone.cli.sim import sim_app
from backbone.cli.stack import app as stack_app

app = typer.Typer(
    name="backbone",
    help="Logistics event backbone: local stack, data contracts, services and on-call tools.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(stack_app, name="stack")
app.add_typer(topics_app, name="topics")
app.add_typer(schemas_app, name="schemas")
app.add_typer(dlq_app, name="dlq")
app.add_typer(sim_app, name="sim")
app.command("replay")(replay)
app.command("trace")(trace_cmd)
app.command("demo")(demo_cmd)


@app.command("run")
def run_cmd(demo: bool = typer.Option(True, help="Play the scripted demo once everything is up.")) -> None:
    """Run the whole backbone on the local stack (foreground; Ctrl-C stops everything it started)."""
    from backbone.cli.run import run_backbone

    raise typer.Exit(run_backbone(demo=demo))


@app.command("ingest")
def ingest_cmd(
    host: str = typer.Option(None, "--host", help="Bind address (default from BACKBONE_INGEST_HOST)."),
    port: int = typer.Option(None, "--port", help="Port (default 8080, BACKBONE_INGEST_PORT)."),
) -> None:
    """Run the ingest HTTP service: partner webhooks and the generic API -> raw.* topics."""
    from services.ingest.app import run

    run(host, port)


@app.command("normalizer")
def normalizer_cmd() -> None:
    """Run the status normalizer (Faust worker: raw.* -> canonical.*). Settings: BACKBONE_NORMALIZER_*."""
    from services.status_normalizer.app import run

    run()


@app.command("odoo-sink")
def odoo_sink_cmd(
    force_reapply: bool = typer.Option(
        False, "--force-reapply", help="Re-send records the ledger already applied (a target lost data); logged."
    ),
) -> None:
    """Run odoo_sink: canonical milestones -> Odoo (JSON-RPC or JSON-2), exactly once via the ledger."""
    from services.odoo_sink.app import run

    run(force_reapply=force_reapply)


@app.command("wms-bridge")
def wms_bridge_cmd() -> None:
    """Run wms_bridge: released/cancelled orders -> WMS API; answers and reconciliation polls -> raw.warehouse."""
    from services.wms_bridge.app import run

    run()


@app.command("carrier-bridge")
def carrier_bridge_cmd() -> None:
    """Run carrier_bridge: packed orders -> labels and trackers at the carrier platform; answers -> raw.*."""
    from services.carrier_bridge.app import run

    run()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
