from __future__ import annotations

import random

import pytest

from backbone.sink.offsets import OffsetTracker


def test_commits_only_a_done_prefix() -> None:
    t = OffsetTracker()
    for o in (10, 11, 12, 15):
        t.add(o)
    assert t.committable() is None
    t.done(11)
    t.done(15)
    assert t.committable() is None
    t.done(10)
    assert t.committable() == 12
    t.mark_committed(12)
    assert t.committable() is None
    t.done(12)
    assert t.committable() == 16  # gaps (compaction, transaction markers) are fine
    assert t.in_progress == 0
    assert t.lowest_pending is None
    assert t.position() == 16


def test_random_completion_order_never_commits_unfinished_work() -> None:
    rng = random.Random(3)
    t = OffsetTracker()
    offsets = list(range(1000))
    for o in offsets:
        t.add(o)
    finished: set[int] = set()
    order = offsets[:]
    rng.shuffle(order)
    for o in order:
        t.done(o)
        finished.add(o)
        c = t.committable()
        if c is not None:
            assert set(range(c)) <= finished
            t.mark_committed(c)
    assert t.committed == 1000


def test_out_of_order_fetch_is_a_bug() -> None:
    t = OffsetTracker()
    t.add(5)
    with pytest.raises(ValueError, match="out of order"):
        t.add(5)
