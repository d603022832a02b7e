"""Multi-carrier platform simulator modelled on EasyPost's v2 API (test and demo tool).

Example::

    app = create_app(CarrierSimConfig(rate_limit_rps=5, webhook_url="http://127.0.0.1:8080/webhooks/easypost"))
    run(port=8071)  # or: python -m simulators.carrier --port 8071
"""

from __future__ import annotations

from simulators.carrier.app import CARRIER_SIM, DEFAULT_PORT, create_app, run
from simulators.carrier.config import CarrierSimConfig

__all__ = ["CARRIER_SIM", "DEFAULT_PORT", "CarrierSimConfig", "create_app", "run"]
