from __future__ import annotations

from pathlib import Path

import pytest

from backbone.errors import ConfigError
from backbone.topics import load_topics, parse_duration_ms


def test_repo_topics_yaml_declares_every_design_topic() -> None:
    catalog = load_topics()
    names = {s.name for s in catalog.specs}
    assert {
        "raw.carrier-tracking.v1",
        "raw.warehouse.v1",
        "raw.erp.v1",
        "canonical.shipment-milestones.v1",
        "canonical.order-milestones.v1",
        "canonical.inventory-events.v1",
        "dlq.status_normalizer.v1",
        "dlq.odoo_sink.v1",
        "dlq.wms_bridge.v1",
        "dlq.carrier_bridge.v1",
    } <= names
    assert catalog.dlq("odoo_sink") == "dlq.odoo_sink.v1"
    assert [s.name for s in catalog.by_prefix("raw.")] == ["raw.carrier-tracking.v1", "raw.warehouse.v1", "raw.erp.v1"]


def test_canonical_topics_have_schemas_and_dlqs_carry_bytes() -> None:
    for spec in load_topics().specs:
        if spec.role.startswith(("raw.", "canonical.")):
            assert spec.value_schema and (Path("schemas") / f"{spec.value_schema}.avsc").exists()
        else:
            assert spec.value_schema is None


@pytest.mark.parametrize(
    ("value", "ms"), [("500ms", 500), ("30s", 30_000), ("15m", 900_000), ("14d", 1_209_600_000), (-1, -1)]
)
def test_durations(value: str | int, ms: int) -> None:
    assert parse_duration_ms(value) == ms


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "topics.yaml"
    path.write_text(body)
    return path


GOOD = """topics:
  - name: raw.a.v1
    role: raw.a
    partitions: 3
    retention: 7d
    key: k
    value_schema: RawEvent
    owner: ingest
"""


def test_invalid_field_names_line_and_field(tmp_path: Path) -> None:
    bad = (
        GOOD
        + """  - name: raw.b.v1
    role: raw.b
    partitions: 0
    key: k
    value_schema: RawEvent
    owner: ingest
"""
    )
    with pytest.raises(ConfigError) as err:
        load_topics(_write(tmp_path, bad))
    assert ":11:" in str(err.value)
    assert "topics.1.partitions" in str(err.value)


def test_typo_is_named_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"topics.yaml:4: topics.0.partitons: Extra inputs are not permitted"):
        load_topics(_write(tmp_path, GOOD.replace("partitions: 3", "partitons: 3")))


def test_bad_duration_after_fix_is_reloaded(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    assert load_topics(path).specs[0].partitions == 3
    path.write_text(GOOD.replace("7d", "7 days"))
    import os

    os.utime(path, ns=(1, 1))
    with pytest.raises(ConfigError, match="duration"):
        load_topics(path)


def test_unversioned_name_and_duplicates(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    with pytest.raises(ConfigError, match="version suffix"):
        load_topics(_write(tmp_path / "a", GOOD.replace("raw.a.v1", "raw.a")))
    (tmp_path / "b").mkdir()
    with pytest.raises(ConfigError, match="duplicate topic name"):
        load_topics(_write(tmp_path / "b", GOOD + GOOD.removeprefix("topics:\n")))


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"topics.yaml:\d+: not valid YAML"):
        load_topics(_write(tmp_path, "topics:\n  - name: [unclosed\n"))
