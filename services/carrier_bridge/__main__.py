"""``python -m services.carrier_bridge``: the same as ``backbone carrier-bridge``."""

from __future__ import annotations

from services.carrier_bridge.app import run

if __name__ == "__main__":
    run()
