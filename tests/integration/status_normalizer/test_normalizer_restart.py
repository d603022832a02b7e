"""Dedupe state survives a restart: in RocksDB, and without it (fresh datadir) from the changelog topic."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import normalizer_workload as workload
from tests.conftest import IsolatedTopics, StackEndpoints
from tests.integration.status_normalizer._canonical import CanonicalReader, feed
from tests.integration.status_normalizer.conftest import NormalizerRunner

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRACKERS = 60
SHARD = 21


def _histories(steps: int, seed: int) -> list[workload.RawSpec]:
    return [workload.easypost_webhook(t, steps, SHARD, seed) for t in range(TRACKERS)]


def _restart_and_resend(
    stack_env: StackEndpoints, isolated_topics: IsolatedTopics, run_normalizer: NormalizerRunner, tmp_path: Path,
    **second_run: str,
) -> None:
    raw = isolated_topics.name("raw.carrier-tracking")
    reader = CanonicalReader(stack_env.kafka, stack_env.registry, isolated_topics.name("canonical.shipment-milestones"))
    first = _histories(steps=3, seed=0)
    old = workload.expected_milestone_ids(first)
    assert len(old) == 3 * TRACKERS
    feed(stack_env.kafka, stack_env.registry, raw, first)
    with run_normalizer() as worker:
        reader.wait_for(lambda r: old <= r.ids(), timeout=90, proc=worker, log=tmp_path / "normalizer.log")
    # Leaving the block stopped the worker with SIGTERM (offsets committed, RocksDB closed).
    reader.drain(idle=1.0)
    assert len(reader.records) == len(old)

    # The vendor re-sends every history under new event ids, then once more with one new checkpoint
    # (same key, so the same partition, after the re-sends): only the new checkpoints may come out.
    resent, extended = _histories(steps=3, seed=1), _histories(steps=4, seed=2)
    new = workload.expected_milestone_ids(extended) - old
    assert len(new) == TRACKERS
    feed(stack_env.kafka, stack_env.registry, raw, resent + extended)
    with run_normalizer(**second_run) as worker:
        reader.wait_for(lambda r: new <= r.ids(), timeout=90, proc=worker, log=tmp_path / "normalizer.log")
        reader.drain(idle=3.0)
    reader.close()
    republished = [r["milestone_id"] for r in reader.records[len(old):] if r["milestone_id"] in old]
    assert not republished, f"{len(republished)} old checkpoints published again after the restart"
    assert sorted(r["milestone_id"] for r in reader.records[len(old):]) == sorted(new)


def test_state_survives_a_restart(
    stack_env: StackEndpoints, isolated_topics: IsolatedTopics, run_normalizer: NormalizerRunner, tmp_path: Path
) -> None:
    _restart_and_resend(stack_env, isolated_topics, run_normalizer, tmp_path)


def test_state_is_restored_from_the_changelog_when_local_state_is_gone(
    stack_env: StackEndpoints, isolated_topics: IsolatedTopics, run_normalizer: NormalizerRunner, tmp_path: Path,
    normalizer_env: dict[str, str],
) -> None:
    # Same app id (consumer group and changelog topics), empty datadir: a new pod without its volume.
    fresh = tmp_path / "fresh-normalizer-data"
    assert not fresh.exists() and Path(normalizer_env["BACKBONE_NORMALIZER_DATADIR"]) != fresh
    _restart_and_resend(stack_env, isolated_topics, run_normalizer, tmp_path,
                        BACKBONE_NORMALIZER_DATADIR=str(fresh))
