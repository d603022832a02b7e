from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from backbone.config import BackboneConfig, load
from backbone.replay import (
    GroupActiveError,
    ShiftBy,
    ToDatetime,
    ToEarliest,
    ToLatest,
    ToOffset,
    apply_replay,
    plan_replay,
)
from tests.conftest import IsolatedTopics, StackEndpoints

pytestmark = pytest.mark.integration


def _fill(kafka: str, topic: str, before: int, after: int) -> datetime:
    """``before`` records per partition timestamped an hour ago, then ``after`` records now."""
    p = Producer({"bootstrap.servers": kafka, "acks": "all"})
    old_ms = int(time.time() * 1000) - 3_600_000
    for part in range(3):
        for i in range(before):
            p.produce(topic, f"old{i}".encode(), partition=part, timestamp=old_ms + i)
    p.flush(15)
    split = datetime.now(UTC)
    time.sleep(0.05)
    for part in range(3):
        for i in range(after):
            p.produce(topic, f"new{i}".encode(), partition=part)
    assert p.flush(15) == 0
    return split


def _consume_all(kafka: str, group: str, topic: str, n: int) -> None:
    c = Consumer(
        {"bootstrap.servers": kafka, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}
    )
    c.subscribe([topic])
    got = 0
    deadline = time.monotonic() + 30
    while got < n and time.monotonic() < deadline:
        for msg in c.consume(100, 0.5):
            if not msg.error():
                got += 1
    c.commit(asynchronous=False)
    c.close()
    assert got == n


def _committed(kafka: str, group: str, topic: str) -> dict[int, int]:
    admin = AdminClient({"bootstrap.servers": kafka})
    req = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(3)])
    res = admin.list_consumer_group_offsets([req])[group].result(timeout=15)
    return {tp.partition: tp.offset for tp in res.topic_partitions}


def test_replay_by_datetime_and_offset(stack_env: StackEndpoints, isolated_topics: IsolatedTopics, unique: str) -> None:
    topic = isolated_topics.name("raw.erp")
    split = _fill(stack_env.kafka, topic, before=10, after=5)
    group, other = f"sink-{unique}", f"other-{unique}"
    _consume_all(stack_env.kafka, group, topic, 45)
    _consume_all(stack_env.kafka, other, topic, 45)
    cfg = load(BackboneConfig)

    plan = plan_replay(cfg, group, topic, ToDatetime(split))
    assert [(p.current, p.target, p.to_reread, p.lag) for p in plan.partitions] == [(15, 10, 5, 0)] * 3
    apply_replay(cfg, plan)
    assert _committed(stack_env.kafka, group, topic) == {0: 10, 1: 10, 2: 10}
    assert _committed(stack_env.kafka, other, topic) == {0: 15, 1: 15, 2: 15}  # never touched

    only_one = plan_replay(cfg, group, topic, ToOffset(3), partitions=[1])
    assert [(p.partition, p.target) for p in only_one.partitions] == [(1, 3)]
    apply_replay(cfg, only_one)
    assert _committed(stack_env.kafka, group, topic) == {0: 10, 1: 3, 2: 10}

    assert [p.target for p in plan_replay(cfg, group, topic, ToEarliest()).partitions] == [0, 0, 0]
    assert [p.target for p in plan_replay(cfg, group, topic, ToLatest()).partitions] == [15, 15, 15]
    assert [p.target for p in plan_replay(cfg, group, topic, ShiftBy(-100)).partitions] == [0, 0, 0]
    assert [p.target for p in plan_replay(cfg, group, topic, ToOffset(10_000)).partitions] == [15, 15, 15]


def test_replay_refuses_while_group_is_active(
    stack_env: StackEndpoints, isolated_topics: IsolatedTopics, unique: str
) -> None:
    topic = isolated_topics.name("raw.erp")
    _fill(stack_env.kafka, topic, before=2, after=0)
    group = f"busy-{unique}"
    c = Consumer({"bootstrap.servers": stack_env.kafka, "group.id": group, "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    deadline = time.monotonic() + 30
    while not c.assignment() and time.monotonic() < deadline:
        c.poll(0.2)
    try:
        cfg = load(BackboneConfig)
        plan = plan_replay(cfg, group, topic, ToEarliest())
        assert plan.members == 1
        with pytest.raises(GroupActiveError, match="active members"):
            apply_replay(cfg, plan)
    finally:
        c.close()
    apply_replay(load(BackboneConfig), plan, wait=True, wait_timeout=30)
    assert _committed(stack_env.kafka, group, topic) == {0: 0, 1: 0, 2: 0}
