"""Settings of the carrier bridge: ``BACKBONE_CARRIER_BRIDGE_*`` plus the carrier platform's URL and key.

Example::

    BACKBONE_CARRIER_URL=http://127.0.0.1:8071 BACKBONE_CARRIER_API_KEY=EZTK... \\
    BACKBONE_CARRIER_BRIDGE_RATE_LIMITS="ups=10,fedex=5,default=10" backbone carrier-bridge

    cfg = load(CarrierBridgeConfig)
    cfg.pacer()                      # per-carrier buckets from rate_limits
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from backbone.config import service_config
from backbone.errors import ConfigError
from backbone.sink import SinkConfig
from backbone.sink.config import comma_separated
from services.carrier_bridge.booking import SERVICES_FILE, BookingDefaults, ServiceCatalog
from services.carrier_bridge.handlers import HandlerSettings
from services.carrier_bridge.models import Address, Lane, Parcel
from services.carrier_bridge.pacing import CarrierPacer

__all__ = ["CarrierBridgeConfig"]

CARRIER_URL = "BACKBONE_CARRIER_URL"
CARRIER_API_KEY = "BACKBONE_CARRIER_API_KEY"


def _rate_limits(parts: list[str]) -> dict[str, float]:
    limits: dict[str, float] = {}
    for part in parts:
        name, sep, rate = part.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"expected carrier=requests_per_second, got {part!r}")
        limits[name.strip().lower()] = float(rate)
    return limits


class CarrierBridgeConfig(SinkConfig):
    model_config = service_config("CARRIER_BRIDGE_")

    sink_name: str = "carrier_bridge"
    target: str = "carrier"
    topic_roles: Annotated[tuple[str, ...], NoDecode] = ("canonical.order-milestones",)
    health_port: int | None = 8183
    # Throttle waits happen inside the handler call and hold a concurrency slot (that is the
    # back-pressure): keep concurrency x calls per booking / rate well under call_timeout.
    concurrency: int = Field(default=16, ge=1, le=1024)
    call_timeout: float = Field(default=60.0, gt=0)

    carrier_url: str = Field(default="http://127.0.0.1:8071", validation_alias=AliasChoices(CARRIER_URL, "carrier_url"))
    carrier_api_key: SecretStr = Field(
        default=SecretStr(""), validation_alias=AliasChoices(CARRIER_API_KEY, "carrier_api_key")
    )
    carrier_timeout: float = Field(default=10.0, gt=0, description="seconds one HTTP call to the platform may take")

    rate_limits: Annotated[dict[str, float], NoDecode] = Field(
        default_factory=lambda: {"default": 10.0},
        description="requests/s per carrier code, 'default' for the others: 'ups=10,fedex=5,default=10'",
    )
    platform_rate_limit: float | None = Field(
        default=None, gt=0, description="requests/s across all carriers (the API key's own limit), if any"
    )
    # A partner's sliding window sees our calls after network jitter: a call delayed by more than
    # the margin relative to the one ten calls later earns a 429 (and a whole Retry-After second).
    rate_margin: float = Field(
        default=0.05, ge=0, lt=1, description="seconds added to each one-second window against network jitter"
    )

    answer_partner: str = Field(default="easypost", description="partner id of answers (key partner:tracking)")
    answer_role: str = "raw.carrier-tracking"
    register_tracker: Literal["always", "if_missing"] = "always"
    services_file: Path = SERVICES_FILE

    default_carrier: str = "usps"
    default_service_level: str = "ground"
    ship_from_name: str = "Shipping Dock"
    ship_from_company: str | None = "Backbone Demo Warehouse"
    ship_from_street1: str = "1 Dock Rd"
    ship_from_city: str = "Memphis"
    ship_from_state: str | None = "TN"
    ship_from_zip: str = "38118"
    ship_from_country: str = "US"
    ship_from_phone: str | None = None
    parcel_weight_oz: float = Field(default=16.0, gt=0)
    parcel_length_in: float | None = 10.0
    parcel_width_in: float | None = 8.0
    parcel_height_in: float | None = 4.0

    @field_validator("rate_limits", mode="before")
    @classmethod
    def _limits(cls, value: Any) -> Any:
        """Accept ``"ups=10,fedex=5,default=10"`` (or JSON) from the environment; "" = unpaced."""
        return comma_separated(value, "{", _rate_limits)

    @field_validator("rate_limits")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [k for k, v in value.items() if not v > 0]
        if bad:
            raise ValueError(f"rate limits must be positive: {', '.join(sorted(bad))}")
        return {k.lower(): v for k, v in value.items()}

    def api_key(self) -> str:
        key = self.carrier_api_key.get_secret_value()
        if not key:
            raise ConfigError(f"{CARRIER_API_KEY} is not set")
        return key

    def pacer(self, on_wait: Callable[[Lane, float], None] | None = None) -> CarrierPacer:
        limits = dict(self.rate_limits)
        default = limits.pop("default", None)
        return CarrierPacer(
            limits,
            default_rps=default,
            platform_rps=self.platform_rate_limit,
            margin_s=self.rate_margin,
            on_wait=on_wait,
        )

    def booking_defaults(self) -> BookingDefaults:
        ship_from = Address(
            name=self.ship_from_name,
            company=self.ship_from_company,
            street1=self.ship_from_street1,
            city=self.ship_from_city,
            state=self.ship_from_state,
            zip=self.ship_from_zip,
            country=self.ship_from_country,
            phone=self.ship_from_phone,
        )
        parcel = Parcel(self.parcel_weight_oz, self.parcel_length_in, self.parcel_width_in, self.parcel_height_in)
        return BookingDefaults(ship_from, parcel, self.default_carrier.lower(), self.default_service_level)

    def service_catalog(self) -> ServiceCatalog:
        return ServiceCatalog.load(self.services_file)

    def handler_settings(self) -> HandlerSettings:
        return HandlerSettings(self.answer_partner, self.answer_role, self.register_tracker)
