"""backbone sim odoo|wms|carrier: partner simulators (test and demo tools, never the product).

Options after the simulator name are the simulator's own (``backbone sim wms --help``).
"""

from __future__ import annotations

import importlib

import typer

sim_app = typer.Typer(help="Run a partner simulator (Odoo, WMS, carrier platform).", no_args_is_help=True)

_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def _run(name: str, ctx: typer.Context) -> None:
    module = importlib.import_module(f"simulators.{name}.__main__")
    module.main(list(ctx.args))


@sim_app.command("odoo", context_settings=_PASS_THROUGH)
def sim_odoo(ctx: typer.Context) -> None:
    """Odoo simulator: JSON-RPC /jsonrpc and JSON-2 /json/2 with real error shapes (default port 8069)."""
    _run("odoo", ctx)


@sim_app.command("wms", context_settings=_PASS_THROUGH)
def sim_wms(ctx: typer.Context) -> None:
    """WMS/3PL simulator: orders API with idempotency keys, signed ShipHero/ShipBob webhooks (port 8070)."""
    _run("wms", ctx)


@sim_app.command("carrier", context_settings=_PASS_THROUGH)
def sim_carrier(ctx: typer.Context) -> None:
    """Carrier platform simulator (EasyPost-style shipments, labels, trackers, signed webhooks; port 8071)."""
    _run("carrier", ctx)
