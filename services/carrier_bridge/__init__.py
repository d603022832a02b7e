"""Carrier bridge: buys labels and registers trackers on the multi-carrier API for PACKED orders,
publishing the answers as raw events (``carrier.label.v1``). Imports only ``backbone.*`` (never
another service, never the simulators). Entry point: :func:`services.carrier_bridge.app.run`.
"""

from __future__ import annotations
