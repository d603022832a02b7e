from __future__ import annotations

import pytest

from backbone.config import service_config
from backbone.errors import ConfigError
from backbone.migrations import check_schema_name, discover
from backbone.sink.config import SinkConfig


class DemoSinkConfig(SinkConfig):
    model_config = service_config("DEMO_SINK_")
    sink_name: str = "demo_sink"


def test_env_parsing_and_derived_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKBONE_DEMO_SINK_ALLOW_REGRESSIONS", "85:80, 99:95")
    monkeypatch.setenv("BACKBONE_DEMO_SINK_TOPIC_ROLES", "canonical.shipment-milestones,canonical.order-milestones")
    monkeypatch.setenv("BACKBONE_DEMO_SINK_RETRY_MAX_ATTEMPTS", "4")
    cfg = DemoSinkConfig()
    assert cfg.allow_regressions == frozenset({(85, 80), (99, 95)})
    assert cfg.topic_roles == ("canonical.shipment-milestones", "canonical.order-milestones")
    assert cfg.consumer_group == "demo_sink"
    assert cfg.dlq_topic_role == "dlq.demo_sink"
    assert cfg.retry_policy().max_attempts == 4
    assert cfg.record_fields().milestone_id == "milestone_id"


def test_schema_names_are_checked() -> None:
    assert check_schema_name("sink_test_1") == "sink_test_1"
    with pytest.raises(ConfigError):
        check_schema_name("bad-name; drop table")


def test_migrations_are_discovered_in_order() -> None:
    migrations = discover()
    assert migrations[0].label == "0001_sink_ledger"
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    assert all(len(m.checksum) == 64 for m in migrations)
