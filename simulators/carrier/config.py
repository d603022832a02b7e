"""Settings of the multi-carrier (EasyPost-like) simulator: a test and demo tool, plain dataclass."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["DEFAULT_SERVICES", "CarrierSimConfig"]

# carrier -> (service, price, delivery days); carrier names spelled as EasyPost spells them.
DEFAULT_SERVICES: Mapping[str, tuple[tuple[str, str, int], ...]] = {
    "USPS": (("GroundAdvantage", "5.93", 4), ("Priority", "9.15", 2), ("Express", "31.40", 1)),
    "UPS": (("Ground", "11.20", 4), ("NextDayAir", "48.10", 1)),
    "FedEx": (("FEDEX_GROUND", "10.85", 4), ("PRIORITY_OVERNIGHT", "52.30", 1)),
    "DHLExpress": (("ExpressWorldwide", "61.00", 3),),
}


@dataclass(frozen=True)
class CarrierSimConfig:
    """Behaviour of the simulated platform.

    ``api_keys``: accepted keys (Basic auth user name or Bearer); empty accepts any non-empty key.
    ``rate_limit_rps``: per-key limit over a sliding one-second window; request N+1 inside any window
    is answered 429 with Retry-After (``rate_limit_overrides`` sets it per key). ``exception_detail``:
    when set (e.g. ``weather_delay``), trackers pass one in_transit exception checkpoint before
    out_for_delivery. ``clock`` drives the rate limiter so tests can step time exactly.
    """

    api_keys: frozenset[str] = frozenset()
    rate_limit_rps: int | None = None
    rate_limit_overrides: Mapping[str, int] = field(default_factory=dict)
    services: Mapping[str, tuple[tuple[str, str, int], ...]] = field(default_factory=lambda: dict(DEFAULT_SERVICES))
    webhook_url: str | None = None
    webhook_secret: str = "easypost-simulator-secret"
    webhook_attempts: int = 5
    webhook_backoff_s: float = 0.5
    webhook_timeout_s: float = 5.0
    advance_interval_s: float | None = None
    exception_detail: str | None = None
    mode: Literal["test", "production"] = "test"
    hang_s: float = 30.0
    clock: Callable[[], float] = field(default=time.monotonic)
    seed: int | None = None
