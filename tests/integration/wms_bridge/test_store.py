"""BridgeStore's SQL on the real PostgreSQL: migration 0002, watermarks, order states, the gauge query."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import psycopg.sql
import pytest

from backbone.ledger import Ledger
from services.wms_bridge.store import BridgeStore
from tests.conftest import StackEndpoints

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC)


@pytest.fixture
async def store(stack_env: StackEndpoints, unique: str) -> AsyncIterator[BridgeStore]:
    schema = f"wms_store_{unique}"
    ledger = await Ledger.open(stack_env.database, sink="wms_bridge", schema=schema)
    try:
        yield BridgeStore(ledger.pool, bridge="wms_bridge", schema=schema)
    finally:
        await ledger.close()
        with psycopg.connect(stack_env.database, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def test_the_migration_creates_the_bridge_tables(store: BridgeStore) -> None:
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            psycopg.sql.SQL("SELECT version, name FROM {}.schema_migrations ORDER BY version").format(
                psycopg.sql.Identifier(store.schema)))
        assert (await cur.fetchall())[:2] == [(1, "sink_ledger"), (2, "bridge_watermarks")]


async def test_watermarks_are_durable_per_stream(store: BridgeStore) -> None:
    assert await store.watermark("orders") is None
    await store.save_watermark("orders", "c-1", NOW)
    await store.save_watermark("orders", "c-2", NOW + timedelta(seconds=1))
    await store.save_watermark("inventory", None, NOW)
    orders, inventory = await store.watermark("orders"), await store.watermark("inventory")
    assert orders is not None and (orders.cursor, orders.at) == ("c-2", NOW + timedelta(seconds=1))
    assert inventory is not None and (inventory.cursor, inventory.at) == (None, NOW)


async def test_answers_move_released_orders_forward_only(store: BridgeStore) -> None:
    old = NOW - timedelta(hours=1)
    await store.track_release("SO-1", milestone_id="m1", partner_order_id="401", released_at=old)
    await store.track_release("SO-2", milestone_id="m2", partner_order_id="402", released_at=old)
    await store.track_release("SO-3", milestone_id="m3", partner_order_id=None, released_at=NOW)
    assert await store.awaiting_acceptance(600) == 2 and await store.awaiting_acceptance(0) == 3

    assert await store.track_answer("SO-1", "accepted", at=NOW)
    assert not await store.track_answer("SO-1", "backordered", at=NOW)  # a late answer never undoes acceptance
    assert await store.track_answer("SO-2", "backordered", at=NOW)  # still not accepted: still counted
    assert not await store.track_answer("SO-404", "accepted", at=NOW)  # never released by this bridge
    assert await store.awaiting_acceptance(600) == 1

    tracked = await store.order("SO-1")
    assert tracked is not None and (tracked.state, tracked.partner_order_id, tracked.released_at) == (
        "accepted", "401", old)


async def test_a_retry_keeps_what_was_learnt_and_a_new_release_starts_over(store: BridgeStore) -> None:
    old = NOW - timedelta(hours=1)
    await store.track_release("SO-5", milestone_id="m5", partner_order_id=None, released_at=old)
    await store.track_answer("SO-5", "accepted", at=NOW, partner_order_id="405")
    await store.track_release("SO-5", milestone_id="m5", partner_order_id="405", released_at=NOW)  # retry
    again = await store.order("SO-5")
    assert again is not None and (again.state, again.released_at) == ("accepted", old)
    await store.track_release("SO-5", milestone_id="m6", partner_order_id="405", released_at=NOW,
                              new_order=False)  # the WMS answered with the existing order
    same = await store.order("SO-5")
    assert same is not None and same.state == "accepted"
    await store.track_answer("SO-5", "cancelled", at=NOW)
    await store.track_release("SO-5", milestone_id="m7", partner_order_id="406", released_at=NOW)  # re-released
    fresh = await store.order("SO-5")
    assert fresh is not None and (fresh.state, fresh.partner_order_id, fresh.release_milestone_id,
                                  fresh.answered_at) == ("released", "406", "m7", None)


async def test_the_poll_lock_admits_one_replica(store: BridgeStore) -> None:
    other = BridgeStore(store.pool, bridge=store.bridge, schema=store.schema)
    async with (
        store.exclusive("reconcile") as first,
        other.exclusive("reconcile") as second,
        other.exclusive("other-stream") as unrelated,
    ):
        assert (first, second, unrelated) == (True, False, True)
    async with other.exclusive("reconcile") as after:
        assert after
