"""Replay a consumer from an offset or a time, like ``kafka-consumer-groups --reset-offsets``.

Only the named group is touched. The plan is computed first (per partition: current committed
offset, target offset, records to re-read, lag) and applied through the AdminClient only while the
group has no active members.

Example::

    plan = plan_replay(cfg, "odoo_sink", "canonical.shipment-milestones.v1", ToDatetime(dt))
    print(plan.render())
    apply_replay(cfg, plan)
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition

from backbone.config import BackboneConfig
from backbone.errors import BackboneError, ConfigError
from backbone.kafka import admin_client, consumer_config

__all__ = [
    "GroupActiveError",
    "PartitionPlan",
    "ReplayPlan",
    "ShiftBy",
    "ToDatetime",
    "ToEarliest",
    "ToLatest",
    "ToOffset",
    "apply_replay",
    "plan_replay",
    "wait_for_empty_group",
]


class GroupActiveError(BackboneError):
    """The group still has members; resetting offsets under them would be overwritten or ignored."""


@dataclass(frozen=True)
class ToOffset:
    offset: int


@dataclass(frozen=True)
class ToDatetime:
    at: datetime


@dataclass(frozen=True)
class ToEarliest:
    pass


@dataclass(frozen=True)
class ToLatest:
    pass


@dataclass(frozen=True)
class ShiftBy:
    delta: int


Target = ToOffset | ToDatetime | ToEarliest | ToLatest | ShiftBy


@dataclass(frozen=True)
class PartitionPlan:
    partition: int
    current: int | None  # committed offset, None when the group never committed here
    target: int
    low: int
    high: int

    @property
    def to_reread(self) -> int:
        """Records the group will consume again (or skip, when negative) compared with today."""
        start = self.current if self.current is not None else self.low
        return start - self.target

    @property
    def lag(self) -> int:
        return self.high - (self.current if self.current is not None else self.low)


@dataclass
class ReplayPlan:
    group: str
    topic: str
    target: Target
    partitions: list[PartitionPlan] = field(default_factory=list)
    members: int = 0

    def render(self) -> str:
        lines = [
            f"GROUP {self.group}  TOPIC {self.topic}  active members: {self.members}",
            f"{'PARTITION':>9} {'CURRENT':>10} {'TARGET':>10} {'RE-READ':>9} {'LAG':>9} {'LOW':>9} {'HIGH':>9}",
        ]
        for p in self.partitions:
            cur = "-" if p.current is None else str(p.current)
            lines.append(
                f"{p.partition:>9} {cur:>10} {p.target:>10} {p.to_reread:>9} {p.lag:>9} {p.low:>9} {p.high:>9}"
            )
        lines.append(f"total records to re-read: {sum(max(0, p.to_reread) for p in self.partitions)}")
        return "\n".join(lines)


def _members(cfg: BackboneConfig, group: str) -> int:
    admin = admin_client(cfg)
    try:
        desc = admin.describe_consumer_groups([group])[group].result(timeout=15)
    except KafkaException:
        return 0  # unknown group: nobody is consuming
    return len(desc.members)


def wait_for_empty_group(cfg: BackboneConfig, group: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while _members(cfg, group):
        if time.monotonic() > deadline:
            raise GroupActiveError(f"group {group} still has active members after {timeout:.0f}s", group=group)
        time.sleep(1.0)


def plan_replay(
    cfg: BackboneConfig, group: str, topic: str, target: Target, partitions: list[int] | None = None
) -> ReplayPlan:
    """Read-only: compute the offsets a reset would set."""
    admin = admin_client(cfg)
    md = admin.list_topics(topic, timeout=15)
    if topic not in md.topics or md.topics[topic].error is not None:
        raise ConfigError(f"topic {topic} does not exist")
    all_parts = sorted(md.topics[topic].partitions)
    chosen = partitions if partitions is not None else all_parts
    unknown = set(chosen) - set(all_parts)
    if unknown:
        raise ConfigError(f"topic {topic} has no partition(s) {sorted(unknown)}; it has {all_parts}")
    committed = _committed(cfg, group, topic, chosen)
    probe = Consumer(consumer_config(cfg, f"backbone-replay-probe-{uuid.uuid4().hex[:8]}"))
    try:
        times: dict[int, int] = {}
        if isinstance(target, ToDatetime):
            ms = int(target.at.timestamp() * 1000)
            found = probe.offsets_for_times([TopicPartition(topic, p, ms) for p in chosen], timeout=15)
            times = {tp.partition: tp.offset for tp in found}
        plan = ReplayPlan(group, topic, target, members=_members(cfg, group))
        for p in chosen:
            low, high = probe.get_watermark_offsets(TopicPartition(topic, p), timeout=15)
            current = committed.get(p)
            if isinstance(target, ToOffset):
                off = target.offset
            elif isinstance(target, ToEarliest):
                off = low
            elif isinstance(target, ToLatest):
                off = high
            elif isinstance(target, ShiftBy):
                off = (current if current is not None else low) + target.delta
            else:
                off = times.get(p, -1)
                off = high if off < 0 else off  # no record at or after that time: nothing to re-read
            plan.partitions.append(PartitionPlan(p, current, max(low, min(high, off)), low, high))
    finally:
        probe.close()
    return plan


def _committed(cfg: BackboneConfig, group: str, topic: str, partitions: list[int]) -> dict[int, int]:
    admin = admin_client(cfg)
    req = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in partitions])
    try:
        res = admin.list_consumer_group_offsets([req])[group].result(timeout=15)
    except KafkaException:
        return {}
    return {tp.partition: tp.offset for tp in res.topic_partitions if tp.offset >= 0}


def apply_replay(cfg: BackboneConfig, plan: ReplayPlan, *, wait: bool = False, wait_timeout: float = 300.0) -> None:
    """Set the planned offsets. Refuses while the group has members unless ``wait``."""
    if wait:
        wait_for_empty_group(cfg, plan.group, wait_timeout)
    elif _members(cfg, plan.group):
        raise GroupActiveError(
            f"group {plan.group} has active members; stop the consumer first or pass --wait", group=plan.group
        )
    admin = admin_client(cfg)
    req = ConsumerGroupTopicPartitions(
        plan.group, [TopicPartition(plan.topic, p.partition, p.target) for p in plan.partitions]
    )
    try:
        admin.alter_consumer_group_offsets([req])[plan.group].result(timeout=15)
    except KafkaException as exc:
        raise GroupActiveError(f"broker refused the offset reset for {plan.group}: {exc}", group=plan.group) from exc
