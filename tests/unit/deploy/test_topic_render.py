from __future__ import annotations

import json
from pathlib import Path

import pytest

from backbone.config import repo_root
from backbone.topic_render import (
    CHART_TOPICS_FILE,
    chart_topics_data,
    chart_topics_json,
    render_strimzi,
    resource_name,
    write_chart_topics,
)
from backbone.topics import TopicCatalog, load_topics, parse_duration_ms

TOPICS_YAML = """\
defaults: {replication_factor: 3, min_insync_replicas: 2, compression: zstd}
topics:
  - {name: raw.a.v1, role: raw.a, partitions: 4, retention: 2d, key: k, value_schema: RawEvent, owner: ingest}
  - {name: dlq.odoo_sink.v1, role: dlq.odoo_sink, partitions: 1, replication_factor: 2, retention: 30d,
     cleanup_policy: compact, key: k, value_schema: null, owner: odoo_sink, configs: {max.message.bytes: "2097152"}}
"""


@pytest.fixture
def small_catalog(tmp_path: Path) -> TopicCatalog:
    path = tmp_path / "topics.yaml"
    path.write_text(TOPICS_YAML)
    return load_topics(path)


def test_chart_topic_data_is_generated_from_the_current_topics_yaml() -> None:
    """files/topics.json is the chart's copy of topics.yaml; regenerate with `backbone topics render`."""
    committed = (repo_root() / CHART_TOPICS_FILE).read_text()
    expected = chart_topics_json(load_topics())
    assert committed == expected, (
        f"{CHART_TOPICS_FILE} is stale: run `backbone topics render --out {CHART_TOPICS_FILE}` "
        "(or `python -m backbone.topic_render`)"
    )


def test_chart_data_carries_every_topic_with_its_sizing_and_configs() -> None:
    catalog = load_topics()
    data = json.loads((repo_root() / CHART_TOPICS_FILE).read_text())
    assert [t["name"] for t in data["topics"]] == [s.name for s in catalog.specs]
    for entry, spec in zip(data["topics"], catalog.specs, strict=True):
        assert entry["role"] == spec.role
        assert entry["partitions"] == spec.partitions
        assert entry["replicas"] == catalog.replication(spec)
        assert entry["config"]["retention.ms"] == str(parse_duration_ms(spec.retention))
        assert all(isinstance(v, str) for v in entry["config"].values())


def test_render_strimzi_maps_every_field(small_catalog: TopicCatalog) -> None:
    raw, dlq = render_strimzi(small_catalog, namespace="kafka", cluster="events")
    assert raw == {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaTopic",
        "metadata": {
            "name": "raw.a.v1",
            "namespace": "kafka",
            "labels": {"strimzi.io/cluster": "events"},
            "annotations": {
                "backbone.logistics/role": "raw.a",
                "backbone.logistics/owner": "ingest",
                "backbone.logistics/value-schema": "RawEvent",
            },
        },
        "spec": {
            "topicName": "raw.a.v1",
            "partitions": 4,
            "replicas": 3,
            "config": {
                "cleanup.policy": "delete",
                "compression.type": "zstd",
                "min.insync.replicas": "2",
                "retention.ms": str(2 * 86_400_000),
            },
        },
    }
    # Kubernetes names cannot hold "_": the resource name changes, the Kafka topic name does not.
    assert dlq["metadata"]["name"] == "dlq.odoo-sink.v1"
    assert dlq["spec"]["topicName"] == "dlq.odoo_sink.v1"
    assert dlq["spec"]["replicas"] == 2
    assert dlq["spec"]["config"]["cleanup.policy"] == "compact"
    assert dlq["spec"]["config"]["max.message.bytes"] == "2097152"


def test_render_strimzi_without_namespace_or_cluster_leaves_them_out(small_catalog: TopicCatalog) -> None:
    meta = render_strimzi(small_catalog)[0]["metadata"]
    assert "namespace" not in meta and "labels" not in meta


@pytest.mark.parametrize(
    ("topic", "name"),
    [
        ("raw.carrier-tracking.v1", "raw.carrier-tracking.v1"),
        ("dlq.wms_bridge.v1", "dlq.wms-bridge.v1"),
        ("A_B.v1", "a-b.v1"),
    ],
)
def test_resource_name_is_dns_1123(topic: str, name: str) -> None:
    assert resource_name(topic) == name


def test_chart_topics_data_matches_render_strimzi(small_catalog: TopicCatalog) -> None:
    data = chart_topics_data(small_catalog)
    for entry, resource in zip(data["topics"], render_strimzi(small_catalog), strict=True):
        assert entry["resourceName"] == resource["metadata"]["name"]
        assert entry["annotations"] == resource["metadata"]["annotations"]
        assert {k: entry[k] for k in ("partitions", "replicas", "config")} == {
            k: resource["spec"][k] for k in ("partitions", "replicas", "config")
        }


def test_write_chart_topics_reports_whether_it_changed_anything(small_catalog: TopicCatalog, tmp_path: Path) -> None:
    out = tmp_path / "files" / "topics.json"
    assert write_chart_topics(small_catalog, out) is True
    assert json.loads(out.read_text()) == chart_topics_data(small_catalog)
    assert write_chart_topics(small_catalog, out) is False
    out.write_text("{}")
    assert write_chart_topics(small_catalog, out) is True
