"""WmsBridgeConfig: defaults, poll settings, validation (environment names: tests/unit/sink/test_service_settings.py)."""

from __future__ import annotations

import pytest

from backbone.config import load
from backbone.errors import ConfigError
from services.wms_bridge.app import poll_settings
from services.wms_bridge.config import WmsBridgeConfig


def test_defaults_fit_the_local_stack() -> None:
    # Sink names, port and environment names: tests/unit/sink/test_service_settings.py.
    cfg = load(WmsBridgeConfig)
    assert (cfg.wms_url, cfg.wms_api_key, cfg.partner, cfg.answer_role) == (
        "http://127.0.0.1:8070", None, "shiphero", "raw.warehouse")
    assert cfg.record_fields().rank is None  # commands, not statuses: no monotonic guard


def test_poll_settings() -> None:
    settings = poll_settings(load(WmsBridgeConfig, partner="shipbob", reconcile_interval=30,
                                  awaiting_acceptance_minutes=5))
    assert (settings.awaiting_after_s, settings.interval_s, settings.tick_s, settings.partner) == (
        300.0, 30.0, 15.0, "shipbob")


def test_bad_values_name_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKBONE_WMS_BRIDGE_PARTNER", "Not A Partner")
    with pytest.raises(ConfigError, match="partner"):
        load(WmsBridgeConfig)
