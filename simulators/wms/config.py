"""Settings of the WMS/3PL simulator (a test and demo tool; plain dataclass, no environment)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["CARRIERS", "DEFAULT_CATALOG", "WebhookStyle", "WmsSimConfig"]

WebhookStyle = Literal["shiphero", "shipbob"]

# The SKUs of the partner fixtures, so demo orders built from them are accepted.
DEFAULT_CATALOG: Mapping[str, int] = {
    "CHAIR-OAK-01": 500,
    "TABLE-OAK-02": 200,
    "MUG-STONE-12": 1000,
    "LAMP-BRASS-03": 50,
}

# carrier code -> (display name used by ShipBob, tracking URL template)
CARRIERS: Mapping[str, tuple[str, str]] = {
    "fedex": ("FedEx", "https://www.fedex.com/fedextrack/?trknbr={}"),
    "ups": ("UPS", "https://www.ups.com/track?tracknum={}"),
    "usps": ("USPS", "https://tools.usps.com/go/TrackConfirmAction?tLabels={}"),
    "dhl": ("DHL", "https://www.dhl.com/en/express/tracking.html?AWB={}"),
}


@dataclass(frozen=True)
class WmsSimConfig:
    """Behaviour of one simulated warehouse.

    ``unknown_sku``: ``"error"`` answers 422 naming the line; ``"reject"`` answers 201 with an order
    in status ``rejected`` and a reason, as many 3PLs do. ``advance_interval_s``: when set, every
    open order moves one step (picked, packed, shipped) per interval; otherwise only on
    ``POST /_sim/advance/{id}``.
    """

    api_token: str | None = None
    catalog: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CATALOG))
    unknown_sku: Literal["error", "reject"] = "error"
    backorder_when_short: bool = True
    webhook_url: str | None = None
    webhook_styles: tuple[WebhookStyle, ...] = ("shiphero",)
    shiphero_secret: str = "shiphero-sim-secret"
    shipbob_secret: str = "whsec_" + base64.b64encode(b"shipbob-simulator-signing-key-01").decode()
    webhook_attempts: int = 5
    webhook_backoff_s: float = 0.5
    webhook_timeout_s: float = 5.0
    advance_interval_s: float | None = None
    packages_per_order: int = 1
    default_carrier: str = "fedex"
    default_service: str = "ground"
    warehouse: str = "Reno DC"
    warehouse_id: int = 3811
    warehouse_tz: str = "America/Los_Angeles"  # Reno, NV
    shipbob_location: tuple[int, str] = (7, "Cicero (IL)")
    page_size: int = 50
    hang_s: float = 30.0
    seed: int | None = None
