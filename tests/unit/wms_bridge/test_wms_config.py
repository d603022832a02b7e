"""WmsBridgeConfig: BACKBONE_WMS_BRIDGE_* sink settings plus BACKBONE_WMS_URL / BACKBONE_WMS_API_KEY."""

from __future__ import annotations

import pytest

from backbone.config import load
from backbone.errors import ConfigError
from services.wms_bridge.app import poll_settings
from services.wms_bridge.config import WmsBridgeConfig


def test_defaults_fit_the_local_stack() -> None:
    cfg = load(WmsBridgeConfig)
    assert (cfg.sink_name, cfg.target, cfg.topic_roles, cfg.health_port) == (
        "wms_bridge", "wms", ("canonical.order-milestones",), 8182)
    assert (cfg.wms_url, cfg.wms_api_key, cfg.partner, cfg.answer_role) == (
        "http://127.0.0.1:8070", None, "shiphero", "raw.warehouse")
    assert cfg.dlq_topic_role == "dlq.wms_bridge" and cfg.consumer_group == "wms_bridge"
    assert cfg.record_fields().rank is None  # commands, not statuses: no monotonic guard


def test_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKBONE_WMS_URL", "https://wms.example.com")
    monkeypatch.setenv("BACKBONE_WMS_API_KEY", "s3cret-key")
    monkeypatch.setenv("BACKBONE_WMS_BRIDGE_PARTNER", "shipbob")
    monkeypatch.setenv("BACKBONE_WMS_BRIDGE_RECONCILE_INTERVAL", "30")
    monkeypatch.setenv("BACKBONE_WMS_BRIDGE_AWAITING_ACCEPTANCE_MINUTES", "5")
    monkeypatch.setenv("BACKBONE_WMS_BRIDGE_RATE_LIMIT", "20")
    monkeypatch.setenv("BACKBONE_WMS_BRIDGE_CONCURRENCY", "8")
    cfg = load(WmsBridgeConfig)
    assert cfg.wms_url == "https://wms.example.com" and cfg.wms_api_key is not None
    assert cfg.wms_api_key.get_secret_value() == "s3cret-key" and "s3cret" not in repr(cfg)
    assert (cfg.partner, cfg.reconcile_interval, cfg.rate_limit, cfg.concurrency) == ("shipbob", 30.0, 20.0, 8)
    settings = poll_settings(cfg)
    assert (settings.awaiting_after_s, settings.interval_s, settings.tick_s, settings.partner) == (
        300.0, 30.0, 15.0, "shipbob")


def test_bad_values_name_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKBONE_WMS_BRIDGE_PARTNER", "Not A Partner")
    with pytest.raises(ConfigError, match="partner"):
        load(WmsBridgeConfig)
