"""Odoo sink: applies canonical milestones to Odoo (pickings, chatter, stock counts) over JSON-RPC
or JSON-2. Imports only ``backbone.*`` (never another service, never the simulators)."""

from __future__ import annotations
