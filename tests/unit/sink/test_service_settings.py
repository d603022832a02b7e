"""Every sink service's settings, one table: the sink's own names and ports, and the environment
variables (``BACKBONE_<SVC>_*`` sink settings plus the target's URL and secret) landing in the right
fields with the secret kept out of ``repr``. What a service derives from its settings (poll settings,
booking defaults, the Odoo connection) is tested next to that service.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import pytest
from pydantic import SecretStr

from backbone.config import load
from backbone.sink import SinkConfig
from services.carrier_bridge.config import CarrierBridgeConfig
from services.odoo_sink.config import OdooSinkConfig
from services.wms_bridge.config import WmsBridgeConfig

# Variables of the services below: a developer's shell must not leak into the table.
SERVICE_PREFIXES = ("BACKBONE_ODOO_", "BACKBONE_WMS_", "BACKBONE_CARRIER_")
ORDER_MILESTONES = ("canonical.order-milestones",)


@dataclass(frozen=True)
class Service:
    config: type[SinkConfig]
    identity: tuple[str, str, tuple[str, ...], int]  # sink_name, target, topic_roles, health_port
    env: dict[str, str]  # one value for every variable the service reads by a name of its own
    expected: dict[str, Any]  # dotted field -> value after loading ``env`` (a SecretStr by its value)
    secret: str
    required: dict[str, str] = field(default_factory=dict)  # what loading needs at all


SERVICES = [
    pytest.param(Service(
        OdooSinkConfig,
        ("odoo_sink", "odoo", ("canonical.shipment-milestones", "canonical.order-milestones",
                               "canonical.inventory-events"), 8181),
        env={"BACKBONE_ODOO_URL": "https://erp.example.com", "BACKBONE_ODOO_DB": "prod",
             "BACKBONE_ODOO_LOGIN": "backbone-bot", "BACKBONE_ODOO_API_KEY": "k-123",
             "BACKBONE_ODOO_PROTOCOL": "json2", "BACKBONE_ODOO_SINK_CONCURRENCY": "16",
             "BACKBONE_ODOO_SINK_STALE_SHIPMENT_HOURS": "48"},
        expected={"odoo.url": "https://erp.example.com", "odoo.database": "prod", "odoo.login": "backbone-bot",
                  "odoo.api_key": "k-123", "odoo.protocol": "json2", "concurrency": 16,
                  "stale_shipment_hours": 48.0},
        secret="k-123",
        required={"BACKBONE_ODOO_API_KEY": "k"},
    ), id="odoo_sink"),
    pytest.param(Service(
        WmsBridgeConfig,
        ("wms_bridge", "wms", ORDER_MILESTONES, 8182),
        env={"BACKBONE_WMS_URL": "https://wms.example.com", "BACKBONE_WMS_API_KEY": "s3cret-key",
             "BACKBONE_WMS_BRIDGE_PARTNER": "shipbob", "BACKBONE_WMS_BRIDGE_RECONCILE_INTERVAL": "30",
             "BACKBONE_WMS_BRIDGE_AWAITING_ACCEPTANCE_MINUTES": "5", "BACKBONE_WMS_BRIDGE_RATE_LIMIT": "20",
             "BACKBONE_WMS_BRIDGE_CONCURRENCY": "8"},
        expected={"wms_url": "https://wms.example.com", "wms_api_key": "s3cret-key", "partner": "shipbob",
                  "reconcile_interval": 30.0, "awaiting_acceptance_minutes": 5.0, "rate_limit": 20.0,
                  "concurrency": 8},
        secret="s3cret",
    ), id="wms_bridge"),
    pytest.param(Service(
        CarrierBridgeConfig,
        ("carrier_bridge", "carrier", ORDER_MILESTONES, 8183),
        env={"BACKBONE_CARRIER_URL": "https://api.easypost.example", "BACKBONE_CARRIER_API_KEY": "EZAK_secret",
             "BACKBONE_CARRIER_BRIDGE_RATE_LIMITS": "UPS=10, fedex=5,default=2.5",
             "BACKBONE_CARRIER_BRIDGE_PLATFORM_RATE_LIMIT": "20", "BACKBONE_CARRIER_BRIDGE_ANSWER_PARTNER": "shippo",
             "BACKBONE_CARRIER_BRIDGE_SHIP_FROM_CITY": "Reno", "BACKBONE_CARRIER_BRIDGE_PARCEL_WEIGHT_OZ": "32",
             "BACKBONE_CARRIER_BRIDGE_CONCURRENCY": "4"},
        expected={"carrier_url": "https://api.easypost.example", "carrier_api_key": "EZAK_secret",
                  "rate_limits": {"ups": 10.0, "fedex": 5.0, "default": 2.5}, "platform_rate_limit": 20.0,
                  "answer_partner": "shippo", "ship_from_city": "Reno", "parcel_weight_oz": 32.0, "concurrency": 4},
        secret="EZAK_secret",
    ), id="carrier_bridge"),
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith(SERVICE_PREFIXES)]:
        monkeypatch.delenv(name)


def _plain(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


@pytest.mark.parametrize("service", SERVICES)
def test_sink_names_and_port(monkeypatch: pytest.MonkeyPatch, service: Service) -> None:
    for name, value in service.required.items():
        monkeypatch.setenv(name, value)
    cfg = load(service.config)
    sink_name, target, roles, port = service.identity
    assert (cfg.sink_name, cfg.target, cfg.topic_roles, cfg.health_port) == (sink_name, target, roles, port)
    # The runbook's replay and DLQ tools find a sink by its name.
    assert (cfg.consumer_group, cfg.dlq_topic_role) == (sink_name, f"dlq.{sink_name}")


@pytest.mark.parametrize("service", SERVICES)
def test_environment_names(monkeypatch: pytest.MonkeyPatch, service: Service) -> None:
    for name, value in service.env.items():
        monkeypatch.setenv(name, value)
    cfg = load(service.config)
    assert {path: _plain(attrgetter(path)(cfg)) for path in service.expected} == service.expected
    assert service.secret not in repr(cfg)
