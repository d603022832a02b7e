"""OdooSinkConfig defaults, the mapping file, and the app entry points' failures (environment names and
sink names: tests/unit/sink/test_service_settings.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backbone.config import load
from backbone.errors import ConfigError
from services.odoo_sink import __main__ as cli
from services.odoo_sink.config import OdooSinkConfig
from services.odoo_sink.mapping import load_mapping

ODOO_VARS = ("URL", "DB", "DATABASE", "LOGIN", "API_KEY", "PROTOCOL")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ODOO_VARS:
        monkeypatch.delenv(f"BACKBONE_ODOO_{name}", raising=False)


def test_defaults_and_the_older_database_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKBONE_ODOO_API_KEY", "k")
    cfg = load(OdooSinkConfig)
    assert (cfg.odoo.url, cfg.odoo.database, cfg.odoo.login, cfg.odoo.protocol) == (
        "http://127.0.0.1:8069", "backbone", "bot", "jsonrpc")
    monkeypatch.setenv("BACKBONE_ODOO_DATABASE", "legacy")
    assert load(OdooSinkConfig).odoo.database == "legacy"


def test_the_api_key_is_required() -> None:
    with pytest.raises(ConfigError, match="BACKBONE_ODOO_API_KEY is not set"):
        load(OdooSinkConfig)


def test_run_exits_2_naming_the_missing_key(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main([])
    assert exc.value.code == 2
    assert "BACKBONE_ODOO_API_KEY" in capsys.readouterr().err


def test_the_packaged_mapping_covers_every_shipment_code() -> None:
    mapping = load_mapping()
    assert mapping.shipment.delivery_state["DELIVERED"] == "customer_delivered"
    assert mapping.shipment.delivery_state["LABEL_CREATED"] == "shipping_recorded_in_carrier"
    assert "UNKNOWN" not in mapping.shipment.delivery_state
    assert mapping.order.validate == {"SHIPPED"}
    assert "ORDER_RELEASED" not in mapping.order.notes
    assert mapping.inventory.location_for("WH") == "WH/Stock"


def test_a_bad_mapping_names_the_file_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "odoo-mapping.yaml"
    bad.write_text("shipment:\n  delivery_state:\n    DELIVERD: customer_delivered\n")
    with pytest.raises(ConfigError, match=r"odoo-mapping.yaml: shipment.delivery_state: unknown ShipmentCode DELIVERD"):
        load_mapping(bad)
    bad.write_text("inventory:\n  location_pattern: Stock\n")
    with pytest.raises(ConfigError, match="location_pattern"):
        load_mapping(bad)
    custom = tmp_path / "custom.yaml"
    custom.write_text("order:\n  validate: [SHIPPED]\n  notes: [PACKED]\ninventory:\n  locations: {LEJ: LEJ/Bin}\n")
    mapping = load_mapping(custom)
    assert mapping.order.notes == {"PACKED"}
    assert mapping.inventory.location_for("LEJ") == "LEJ/Bin"
    assert mapping.shipment.delivery_state == {}  # a section left out changes no state
    monkeypatch.setenv("BACKBONE_ODOO_API_KEY", "k")
    monkeypatch.setenv("BACKBONE_ODOO_SINK_MAPPING_FILE", str(custom))
    assert load(OdooSinkConfig).mapping() == mapping


def test_one_connection_per_concurrent_record_unless_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKBONE_ODOO_API_KEY", "k")
    monkeypatch.setenv("BACKBONE_ODOO_SINK_CONCURRENCY", "96")
    assert load(OdooSinkConfig).connection().max_connections == 96
    # An Odoo with few workers: the operator's limit wins.
    monkeypatch.setenv("BACKBONE_ODOO_MAX_CONNECTIONS", "8")
    assert load(OdooSinkConfig).connection().max_connections == 8
