"""CarrierBridgeConfig from the environment: names, rate limits, secrets, derived objects."""

from __future__ import annotations

import pytest

from backbone.config import load
from backbone.errors import ConfigError
from services.carrier_bridge.config import CarrierBridgeConfig


def test_defaults_fit_the_local_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BACKBONE_CARRIER_API_KEY", raising=False)
    cfg = load(CarrierBridgeConfig)
    assert (cfg.sink_name, cfg.target, cfg.topic_roles, cfg.health_port) == (
        "carrier_bridge",
        "carrier",
        ("canonical.order-milestones",),
        8183,
    )
    assert cfg.carrier_url == "http://127.0.0.1:8071" and cfg.rate_limits == {"default": 10.0}
    assert cfg.dlq_topic_role == "dlq.carrier_bridge" and cfg.consumer_group == "carrier_bridge"
    with pytest.raises(ConfigError, match="BACKBONE_CARRIER_API_KEY"):
        cfg.api_key()


def test_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKBONE_CARRIER_URL", "https://api.easypost.example")
    monkeypatch.setenv("BACKBONE_CARRIER_API_KEY", "EZAK_secret")
    monkeypatch.setenv("BACKBONE_CARRIER_BRIDGE_RATE_LIMITS", "UPS=10, fedex=5,default=2.5")
    monkeypatch.setenv("BACKBONE_CARRIER_BRIDGE_PLATFORM_RATE_LIMIT", "20")
    monkeypatch.setenv("BACKBONE_CARRIER_BRIDGE_ANSWER_PARTNER", "shippo")
    monkeypatch.setenv("BACKBONE_CARRIER_BRIDGE_SHIP_FROM_CITY", "Reno")
    monkeypatch.setenv("BACKBONE_CARRIER_BRIDGE_PARCEL_WEIGHT_OZ", "32")
    monkeypatch.setenv("BACKBONE_CARRIER_BRIDGE_CONCURRENCY", "4")
    cfg = load(CarrierBridgeConfig)
    assert cfg.carrier_url == "https://api.easypost.example" and cfg.api_key() == "EZAK_secret"
    assert "EZAK_secret" not in repr(cfg)
    assert cfg.rate_limits == {"ups": 10.0, "fedex": 5.0, "default": 2.5} and cfg.platform_rate_limit == 20
    assert cfg.handler_settings().partner == "shippo" and cfg.concurrency == 4
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
