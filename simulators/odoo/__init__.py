"""Odoo simulator: JSON-RPC ``/jsonrpc`` and JSON-2 ``/json/2/<model>/<method>`` with Odoo's real
request, response and error shapes, in-memory sales/stock/chatter models and switchable failures.

A test and demo tool, never the product. Run it with ``python -m simulators.odoo``.
"""

from __future__ import annotations

from simulators.odoo.app import SIMULATOR, create_app, run
from simulators.odoo.config import SimulatorConfig
from simulators.odoo.dispatch import Simulator

__all__ = ["SIMULATOR", "Simulator", "SimulatorConfig", "create_app", "run"]
