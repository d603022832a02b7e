"""``topics apply``: make the cluster match topics.yaml. Creates missing topics, raises partition
counts, alters drifted configs; never deletes and never shrinks. Safe to run twice.

Example::

    plan = plan_topics(admin, load_topics(), replication=1)
    print(plan.render())
    apply_plan(admin, plan)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from backbone.config import read_stack_env
from backbone.errors import DeliveryError
from backbone.topics import TopicCatalog, TopicSpec

__all__ = ["Change", "TopicPlan", "apply_plan", "plan_topics", "replication_override"]


def replication_override() -> int | None:
    """The local stack has one broker: BACKBONE_TOPIC_REPLICATION=1 (set in stack.env consumers)."""
    value = os.environ.get("BACKBONE_TOPIC_REPLICATION") or read_stack_env().get("BACKBONE_TOPIC_REPLICATION")
    return int(value) if value else None


@dataclass(frozen=True)
class Change:
    topic: str
    action: str  # create | add-partitions | alter-config | warn
    detail: str


@dataclass
class TopicPlan:
    changes: list[Change] = field(default_factory=list)
    specs: dict[str, tuple[TopicSpec, int, dict[str, str]]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not [c for c in self.changes if c.action != "warn"]

    def render(self) -> str:
        if not self.changes:
            return "topics: nothing to do, the cluster matches topics.yaml"
        return "\n".join(f"{c.action:15} {c.topic:40} {c.detail}" for c in self.changes)


def _describe_configs(admin: AdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    if not names:
        return {}
    resources = [ConfigResource(ResourceType.TOPIC, n) for n in names]
    out: dict[str, dict[str, str]] = {}
    for res, fut in admin.describe_configs(resources).items():
        entries = fut.result(timeout=15)
        out[res.name] = {k: str(v.value) for k, v in entries.items()}
    return out


def plan_topics(admin: AdminClient, catalog: TopicCatalog, replication: int | None = None) -> TopicPlan:
    """Compare topics.yaml with the cluster; pure read, no change made."""
    replication = replication or replication_override()
    try:
        md = admin.list_topics(timeout=15)
    except KafkaException as exc:
        raise DeliveryError(f"cannot read cluster metadata: {exc}") from exc
    plan = TopicPlan()
    existing = {name: len(t.partitions) for name, t in md.topics.items()}
    current = _describe_configs(admin, [s.name for s in catalog.specs if s.name in existing])
    for spec in catalog.specs:
        rf = catalog.replication(spec, replication)
        wanted = spec.kafka_configs(catalog.defaults)
        # min.insync.replicas above the replication factor would make every acks=all write fail.
        wanted["min.insync.replicas"] = str(min(int(wanted["min.insync.replicas"]), rf))
        plan.specs[spec.name] = (spec, rf, wanted)
        if spec.name not in existing:
            plan.changes.append(
                Change(
                    spec.name,
                    "create",
                    f"partitions={spec.partitions} rf={rf} " + " ".join(f"{k}={v}" for k, v in sorted(wanted.items())),
                )
            )
            continue
        have = existing[spec.name]
        if have < spec.partitions:
            plan.changes.append(Change(spec.name, "add-partitions", f"{have} -> {spec.partitions}"))
        elif have > spec.partitions:
            plan.changes.append(
                Change(
                    spec.name,
                    "warn",
                    f"has {have} partitions, topics.yaml says {spec.partitions}; Kafka cannot shrink, left as is",
                )
            )
        drift = {k: v for k, v in wanted.items() if current.get(spec.name, {}).get(k) != v}
        if drift:
            detail = " ".join(f"{k}: {current.get(spec.name, {}).get(k)} -> {v}" for k, v in sorted(drift.items()))
            plan.changes.append(Change(spec.name, "alter-config", detail))
    return plan


def apply_plan(admin: AdminClient, plan: TopicPlan) -> list[Change]:
    """Carry out a plan; returns the changes made. Raises DeliveryError naming the topic on failure."""
    done: list[Change] = []
    creates = [c for c in plan.changes if c.action == "create"]
    if creates:
        new = []
        for change in creates:
            spec, rf, conf = plan.specs[change.topic]
            new.append(NewTopic(spec.name, num_partitions=spec.partitions, replication_factor=rf, config=conf))
        for name, fut in admin.create_topics(new, operation_timeout=30).items():
            _wait(fut, name, "create")
        done += creates
    grows = [c for c in plan.changes if c.action == "add-partitions"]
    if grows:
        parts = [NewPartitions(c.topic, plan.specs[c.topic][0].partitions) for c in grows]
        for name, fut in admin.create_partitions(parts).items():
            _wait(fut, name, "add partitions to")
        done += grows
    for change in (c for c in plan.changes if c.action == "alter-config"):
        _, _, conf = plan.specs[change.topic]
        res = ConfigResource(
            ResourceType.TOPIC,
            change.topic,
            incremental_configs=[
                ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in conf.items()
            ],
        )
        for _, fut in admin.incremental_alter_configs([res]).items():
            _wait(fut, change.topic, "alter")
        done.append(change)
    return done


def _wait(fut: object, topic: str, what: str) -> None:
    try:
        fut.result(timeout=30)  # type: ignore[attr-defined]
    except KafkaException as exc:
        err = exc.args[0]
        if getattr(err, "name", lambda: "")() == "TOPIC_ALREADY_EXISTS":
            return
        raise DeliveryError(f"cannot {what} topic {topic}: {err}") from exc
