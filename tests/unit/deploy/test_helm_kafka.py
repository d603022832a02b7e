"""The chart's Kafka side: KafkaTopics equal to topics.yaml, least-privilege KafkaUsers, KEDA on lag."""

from __future__ import annotations

from typing import Any

import pytest

from backbone.topic_render import render_strimzi
from backbone.topics import load_topics
from tests.unit.deploy.support import (
    COMPONENTS,
    FULLNAME,
    NAMESPACE,
    VALUES_SETS,
    HelmTools,
    component,
    merged_values,
    workloads,
)

Docs = dict[str, list[dict[str, Any]]]


def test_kafka_topics_rendered_equal_topics_yaml(rendered: Docs) -> None:
    docs = [d for d in rendered["all-enabled"] if d["kind"] == "KafkaTopic"]
    expected = render_strimzi(load_topics(), namespace="kafka", cluster="events")
    assert len(docs) == len(expected)
    for doc, want in zip(docs, expected, strict=True):
        assert doc["apiVersion"] == want["apiVersion"]
        assert doc["metadata"]["name"] == want["metadata"]["name"]
        assert doc["metadata"]["namespace"] == want["metadata"]["namespace"]
        assert want["metadata"]["labels"].items() <= doc["metadata"]["labels"].items()
        assert want["metadata"]["annotations"].items() <= doc["metadata"]["annotations"].items()
        assert doc["spec"] == want["spec"]


def test_kafka_topic_replica_override_keeps_min_insync_within_it(helm_tools: HelmTools) -> None:
    docs = helm_tools.render(None, "strimzi.topics.enabled=true", "strimzi.topics.replicas=1")
    topics = [d for d in docs if d["kind"] == "KafkaTopic"]
    assert topics
    assert {t["spec"]["replicas"] for t in topics} == {1}
    assert {t["spec"]["config"]["min.insync.replicas"] for t in topics} == {"1"}
    assert all(t["metadata"]["namespace"] == NAMESPACE for t in topics)


def test_kafka_users_are_least_privilege(rendered: Docs) -> None:
    catalog = load_topics()
    users = {str(component(d)): d for d in rendered["all-enabled"] if d["kind"] == "KafkaUser"}
    assert set(users) == set(COMPONENTS)
    merged = merged_values(VALUES_SETS["all-enabled"])
    writers: dict[str, set[str]] = {}
    for name, user in users.items():
        key, _service, group, _port = COMPONENTS[name]
        reads = {catalog.name(r) for r in merged[key]["topics"]["reads"]}
        writes = {catalog.name(r) for r in merged[key]["topics"]["writes"]}
        acls = user["spec"]["authorization"]["acls"]
        for acl in acls:
            res, ops = acl["resource"], set(acl["operations"])
            assert "All" not in ops and res.get("name") not in (None, "*"), acl
            if res["type"] == "topic" and res["patternType"] == "literal":
                assert ops in ({"Describe", "Read"}, {"Describe", "Write"}), acl
                assert res["name"] in (reads if "Read" in ops else writes), f"{name} may not touch {res['name']}"
                if "Write" in ops:
                    writers.setdefault(res["name"], set()).add(name)
            elif res["type"] == "group":
                assert res["name"] == group, f"{name} may only use its own group"
            elif res["type"] == "topic" and res["patternType"] == "prefix":
                assert name == "status-normalizer" and res["name"] == group, "only Faust's own internal topics"
            else:
                pytest.fail(f"unexpected ACL for {name}: {acl}")
        granted_reads = {
            a["resource"]["name"] for a in acls if "Read" in a["operations"] and a["resource"]["type"] == "topic"
        }
        assert reads <= granted_reads
        assert (group is None) == all(a["resource"]["type"] != "group" for a in acls)
    # Every topic's owner (topics.yaml) may write it; a consumer's DLQ is written by that consumer only.
    for spec in catalog.specs:
        owner = spec.owner.replace("_", "-")
        assert owner in writers.get(spec.name, set()), f"{spec.owner} cannot write {spec.name}"
        if spec.role.startswith("dlq."):
            assert writers[spec.name] == {owner}


def test_services_log_in_as_their_kafka_user(rendered: Docs) -> None:
    for name, docs in (("all-enabled", rendered["all-enabled"]), ("tls", rendered["tls"])):
        users = {d["metadata"]["name"] for d in docs if d["kind"] == "KafkaUser"}
        for workload in workloads(docs):
            if workload["kind"] == "Job":
                continue
            (container,) = workload["spec"]["template"]["spec"]["containers"]
            env = {e["name"]: e for e in container["env"]}
            user = f"{FULLNAME}-{component(workload)}"
            assert user in users
            if name == "all-enabled":
                assert env["BACKBONE_KAFKA_SASL_USERNAME"]["value"] == user
                assert env["BACKBONE_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
                    "name": user,
                    "key": "password",
                }
                assert env["BACKBONE_KAFKA_SASL_MECHANISM"]["value"] == "SCRAM-SHA-512"
            else:
                assert env["BACKBONE_KAFKA_SECURITY_PROTOCOL"]["value"] == "SSL"
                assert env["BACKBONE_KAFKA_SSL_CERTIFICATE_LOCATION"]["value"] == "/etc/backbone/kafka-user/user.crt"
                volumes = workload["spec"]["template"]["spec"]["volumes"]
                assert {
                    "name": "kafka-user",
                    "secret": {
                        "secretName": user,
                        "items": [{"key": "user.crt", "path": "user.crt"}, {"key": "user.key", "path": "user.key"}],
                    },
                } in volumes


def test_keda_scales_on_lag_capped_at_partitions(rendered: Docs) -> None:
    catalog = load_topics()
    merged = merged_values(VALUES_SETS["all-enabled"])
    scaled = {str(component(d)): d for d in rendered["all-enabled"] if d["kind"] == "ScaledObject"}
    assert set(scaled) == {"status-normalizer", "odoo-sink", "wms-bridge", "carrier-bridge"}
    workload_names = {(d["kind"], d["metadata"]["name"]) for d in workloads(rendered["all-enabled"])}
    for name, obj in scaled.items():
        key, _service, group, _port = COMPONENTS[name]
        reads = [catalog.spec(r) for r in merged[key]["topics"]["reads"]]
        spec = obj["spec"]
        assert (spec["scaleTargetRef"]["kind"], spec["scaleTargetRef"]["name"]) in workload_names
        assert spec["maxReplicaCount"] == min(merged[key]["keda"]["maxReplicaCount"], max(t.partitions for t in reads))
        assert [t["metadata"]["topic"] for t in spec["triggers"]] == [t.name for t in reads]
        for trigger in spec["triggers"]:
            assert trigger["type"] == "kafka"
            assert trigger["metadata"]["consumerGroup"] == group
            assert trigger["metadata"]["lagThreshold"] == str(merged[key]["keda"]["lagThreshold"])
            assert trigger["metadata"]["sasl"] == "scram_sha512" and trigger["metadata"]["tls"] == "enable"
            assert trigger["authenticationRef"]["name"] == obj["metadata"]["name"]
    # The normalizer asks for 12 replicas but its widest topic has 6 partitions.
    assert scaled["status-normalizer"]["spec"]["maxReplicaCount"] == 6
    # KEDA owns the replica count: the workload must not fight it.
    for workload in workloads(rendered["all-enabled"]):
        if component(workload) in scaled or component(workload) == "ingest":
            assert "replicas" not in workload["spec"]
