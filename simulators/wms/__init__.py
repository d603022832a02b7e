"""WMS/3PL simulator modelled on ShipHero/ShipBob REST order APIs (test and demo tool).

Example::

    app = create_app(WmsSimConfig(webhook_url="http://127.0.0.1:8080/webhooks/shiphero"))
    run(port=8070)  # or: python -m simulators.wms --port 8070
"""

from __future__ import annotations

from simulators.wms.app import DEFAULT_PORT, WMS_SIM, create_app, run
from simulators.wms.config import WmsSimConfig

__all__ = ["DEFAULT_PORT", "WMS_SIM", "WmsSimConfig", "create_app", "run"]
