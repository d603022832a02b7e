"""SIGKILL of the worker in the middle of a 50,000-event run: nothing is lost, duplicates are exact copies."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from bench import normalizer_workload as workload
from tests.conftest import IsolatedTopics, StackEndpoints
from tests.integration.status_normalizer._canonical import CanonicalReader, duplicate_groups, fact, feed
from tests.integration.status_normalizer.conftest import NormalizerRunner

pytestmark = [pytest.mark.integration, pytest.mark.fault, pytest.mark.slow]

EVENTS = 50_000


def test_sigkill_mid_run_then_restart_publishes_every_checkpoint(
    stack_env: StackEndpoints,
    isolated_topics: IsolatedTopics,
    run_normalizer: NormalizerRunner,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    # EasyPost histories re-sent in full, generic checkpoints, 10 % redeliveries (same or new event id).
    work = workload.build(EVENTS, shard=11)
    expected = workload.expected_milestone_ids(work.events)
    assert len(expected) == work.distinct_checkpoints == 45_000
    feed(stack_env.kafka, stack_env.registry, isolated_topics.name("raw.carrier-tracking"), work.events)

    reader = CanonicalReader(stack_env.kafka, stack_env.registry, isolated_topics.name("canonical.shipment-milestones"))
    log = tmp_path / "normalizer.log"
    with run_normalizer() as worker:
        # Mid-run: a third of the checkpoints are out, the rest is in flight or not read yet.
        reader.wait_for(lambda r: len(r.records) >= len(expected) // 3, timeout=120, proc=worker, log=log)
        os.killpg(worker.pid, signal.SIGKILL)  # the whole process group, no shutdown hook runs
        worker.wait(10)
    published_before_kill = len(reader.records)
    assert published_before_kill < len(expected), "the run finished before the kill: nothing was tested"

    with run_normalizer() as worker:  # same app id (consumer group, changelogs) and same datadir
        reader.wait_for(lambda r: expected <= r.ids(), timeout=150, proc=worker, log=log)
        reader.drain(idle=3.0)
    reader.close()

    ids = reader.ids()
    missing = expected - ids
    assert not missing, f"{len(missing)} checkpoints never published, e.g. {sorted(missing)[:3]}"
    assert ids <= expected, f"unexpected milestone ids: {sorted(ids - expected)[:3]}"
    groups = duplicate_groups(reader)
    duplicates = len(reader.records) - len(ids)
    identical = sum(1 for idx in groups.values() if len({reader.values[i] for i in idx}) == 1)
    print(f"\nSIGKILL after {published_before_kill} of {len(expected)} checkpoints: {duplicates} duplicate records "
          f"({len(groups)} ids published more than once, {identical} of them byte-identical)")
    record_property("duplicates", duplicates)
    record_property("published_before_kill", published_before_kill)
    for mid, idx in groups.items():
        facts = [fact(reader.records[i]) for i in idx]
        assert all(f == facts[0] for f in facts), f"{mid} was published with different content: {facts}"
