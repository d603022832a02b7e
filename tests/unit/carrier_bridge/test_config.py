"""CarrierBridgeConfig: defaults, rate limits, the objects it builds (environment names: tests/unit/sink)."""

from __future__ import annotations

import pytest

from backbone.config import load
from backbone.errors import ConfigError
from services.carrier_bridge.config import CarrierBridgeConfig


def test_defaults_fit_the_local_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    # Sink names, port and environment names: tests/unit/sink/test_service_settings.py.
    monkeypatch.delenv("BACKBONE_CARRIER_API_KEY", raising=False)
    cfg = load(CarrierBridgeConfig)
    assert cfg.carrier_url == "http://127.0.0.1:8071" and cfg.rate_limits == {"default": 10.0}
    with pytest.raises(ConfigError, match="BACKBONE_CARRIER_API_KEY"):
        cfg.api_key()


def test_derived_settings() -> None:
    cfg = load(CarrierBridgeConfig, carrier_api_key="EZAK_secret", answer_partner="shippo", ship_from_city="Reno",
               parcel_weight_oz=32)
    assert cfg.api_key() == "EZAK_secret" and cfg.handler_settings().partner == "shippo"
    defaults = cfg.booking_defaults()
    assert defaults.ship_from.city == "Reno" and defaults.parcel.weight_oz == 32


async def test_the_pacer_follows_the_rate_limits() -> None:
    cfg = load(CarrierBridgeConfig, rate_limits="ups=10,default=4", rate_margin=0.0)
    pacer = cfg.pacer()
    ups, other = pacer.gate("ups"), pacer.gate("dhl")
    assert ups is not None and other is not None
    assert (ups.throttler.rate, other.throttler.rate) == (10.0, 4.0)
    assert load(CarrierBridgeConfig, rate_limits="").pacer().gate("ups") is None
    await pacer.close()


@pytest.mark.parametrize("limits", ["ups", "ups=0", "=3", "ups=fast"])
def test_bad_rate_limits_name_the_setting(limits: str) -> None:
    with pytest.raises(ConfigError, match="rate_limits"):
        load(CarrierBridgeConfig, rate_limits=limits)
