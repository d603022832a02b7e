"""topics.yaml rendered for Kubernetes: Strimzi ``KafkaTopic`` resources and the Helm chart's topic data.

topics.yaml stays the one source of truth. The Helm chart cannot read it (Helm only sees files inside
the chart), so ``backbone topics render`` writes the chart's ``files/topics.json`` from it and a unit
test fails when the two disagree.

Example::

    catalog = load_topics()
    render_strimzi(catalog, cluster="events")[0]["spec"]["topicName"]   # 'raw.carrier-tracking.v1'
    write_chart_topics(catalog, Path("deploy/helm/logistics-backbone/files/topics.json"))
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from backbone.topics import TopicCatalog, TopicSpec, load_topics

__all__ = [
    "CHART_TOPICS_FILE",
    "STRIMZI_API_VERSION",
    "chart_topics_data",
    "chart_topics_json",
    "render_strimzi",
    "resource_name",
    "topic_configs",
    "write_chart_topics",
]

STRIMZI_API_VERSION = "kafka.strimzi.io/v1beta2"
# Relative to the repository root; the chart reads it with .Files.Get.
CHART_TOPICS_FILE = Path("deploy/helm/logistics-backbone/files/topics.json")
_ANNOTATION = "backbone.logistics/"
_NOT_DNS = re.compile(r"[^a-z0-9.-]+")


def resource_name(topic: str) -> str:
    """Kubernetes name of a topic's KafkaTopic: ``dlq.odoo_sink.v1`` -> ``dlq.odoo-sink.v1``.

    Kafka allows ``_`` in topic names, Kubernetes names do not, so the real name goes in
    ``spec.topicName`` and the resource gets this DNS-1123 form (as Strimzi itself does).
    """
    name = _NOT_DNS.sub("-", topic.lower()).strip("-.")
    if not name or len(name) > 253:
        raise ValueError(f"topic {topic!r} has no valid Kubernetes resource name")
    return name


def topic_configs(catalog: TopicCatalog, spec: TopicSpec) -> dict[str, str]:
    """Broker configs of one topic, exactly those ``backbone topics apply`` sets, sorted by key.

    Values stay strings: Strimzi accepts them, and JSON numbers would come out of Helm's
    ``fromJson`` as floats (``1.2096e+09``).
    """
    configs = spec.kafka_configs(catalog.defaults)
    return {key: str(configs[key]) for key in sorted(configs)}


def render_strimzi(
    catalog: TopicCatalog, namespace: str | None = None, cluster: str | None = None
) -> list[dict[str, Any]]:
    """One Strimzi ``KafkaTopic`` per declared topic, in topics.yaml order.

    ``cluster`` sets the ``strimzi.io/cluster`` label the topic operator selects on; ``namespace``
    must be the namespace that operator watches.
    """
    resources: list[dict[str, Any]] = []
    for spec in catalog.specs:
        metadata: dict[str, Any] = {"name": resource_name(spec.name)}
        if namespace:
            metadata["namespace"] = namespace
        if cluster:
            metadata["labels"] = {"strimzi.io/cluster": cluster}
        metadata["annotations"] = _annotations(spec)
        resources.append(
            {
                "apiVersion": STRIMZI_API_VERSION,
                "kind": "KafkaTopic",
                "metadata": metadata,
                "spec": {
                    "topicName": spec.name,
                    "partitions": spec.partitions,
                    "replicas": catalog.replication(spec),
                    "config": topic_configs(catalog, spec),
                },
            }
        )
    return resources


def _annotations(spec: TopicSpec) -> dict[str, str]:
    return {
        f"{_ANNOTATION}role": spec.role,
        f"{_ANNOTATION}owner": spec.owner,
        f"{_ANNOTATION}value-schema": spec.value_schema or "",
    }


def chart_topics_data(catalog: TopicCatalog) -> dict[str, Any]:
    """What the Helm chart needs about topics: KafkaTopic specs, plus roles and partition counts
    for KafkaUser ACLs and KEDA's replica cap."""
    return {
        "generatedFrom": "topics.yaml",
        "generatedBy": "backbone topics render",
        "apiVersion": STRIMZI_API_VERSION,
        "topics": [
            {
                "name": spec.name,
                "resourceName": resource_name(spec.name),
                "role": spec.role,
                "owner": spec.owner,
                "valueSchema": spec.value_schema,
                "partitions": spec.partitions,
                "replicas": catalog.replication(spec),
                "config": topic_configs(catalog, spec),
                "annotations": _annotations(spec),
            }
            for spec in catalog.specs
        ],
    }


def chart_topics_json(catalog: TopicCatalog) -> str:
    """The exact text of the chart's files/topics.json (stable, so git diffs stay readable)."""
    return json.dumps(chart_topics_data(catalog), indent=2) + "\n"


def write_chart_topics(catalog: TopicCatalog, out: Path) -> bool:
    """Write files/topics.json; returns False when it was already up to date (nothing written)."""
    text = chart_topics_json(catalog)
    if out.is_file() and out.read_text() == text:
        return False
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return True


if __name__ == "__main__":  # until `backbone topics render` is wired: python -m backbone.topic_render [OUT]
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else CHART_TOPICS_FILE
    changed = write_chart_topics(load_topics(), target)
    print(f"{target}: {'written' if changed else 'up to date'}")
