"""Ledger and migrations against the real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from backbone.errors import ConfigError
from backbone.ledger import Ledger, LedgerError
from backbone.migrations import apply_migrations, discover
from tests.conftest import StackEndpoints

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Rec:
    milestone_id: str
    entity_key: str | None = "ups:1"
    rank: int | None = 70
    topic: str = "canonical.shipment-milestones.v1"
    partition: int = 0
    offset: int = 1
    correlation_id: str | None = "c"


@pytest.fixture
async def schema(stack_env: StackEndpoints, unique: str) -> AsyncIterator[str]:
    name = f"ledger_test_{unique}"
    yield name
    async with await psycopg.AsyncConnection.connect(stack_env.database, autocommit=True) as conn:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


async def test_migrations_apply_once_under_concurrency_and_refuse_edits(
    stack_env: StackEndpoints, schema: str, tmp_path: Path
) -> None:
    async def one() -> list[str]:
        async with await psycopg.AsyncConnection.connect(stack_env.database) as conn:
            return await apply_migrations(conn, schema)

    results = await asyncio.gather(*(one() for _ in range(4)))
    labels = [m.label for m in discover()]
    assert sorted(results, key=len)[-1] == labels
    assert sum(len(r) for r in results) == len(labels)  # exactly one replica applied each file

    edited = tmp_path / "migrations"
    edited.mkdir()
    for m in discover():
        (edited / f"{m.label}.sql").write_text(m.text + "\n-- edited\n")
    async with await psycopg.AsyncConnection.connect(stack_env.database) as conn:
        with pytest.raises(ConfigError, match="changed after it was applied"):
            await apply_migrations(conn, schema, edited)


async def test_claim_finish_and_force(stack_env: StackEndpoints, schema: str) -> None:
    ledger = await Ledger.open(stack_env.database, sink="s1", schema=schema, max_size=2)
    other = await Ledger.open(stack_env.database, sink="s2", schema=schema, max_size=1, migrate=False)
    try:
        rec = Rec("m1")
        first = await ledger.claim(rec)
        assert (first.previous_status, first.claimed, first.entity_rank, first.duplicate) == (None, True, None, False)
        again = await ledger.claim(rec)  # crash before finishing: the row is in flight
        assert again.interrupted and again.previous_attempts == 1
        await ledger.finish(rec, status="applied", attempts=2, response={"id": 7, "big": "x" * 5000}, rank=70)
        entry = await ledger.entry("m1")
        assert entry is not None and entry.status == "applied" and entry.attempts == 2
        assert entry.response["truncated"] is True and entry.applied_at is not None
        dup = await ledger.claim(rec)
        assert dup.duplicate and dup.entity_rank == 70
        forced = await ledger.claim(rec, force=True)
        assert forced.claimed and forced.previous_status == "applied"
        # Sinks are independent: the same milestone is new for another sink.
        assert (await other.claim(rec)).previous_status is None
        assert await other.entity_rank("ups:1") is None
        # Concurrent claims of distinct records batch into few statements and all succeed.
        recs = [Rec(f"b{i}", entity_key=f"k{i}") for i in range(300)]
        claims = await asyncio.gather(*(ledger.claim(r) for r in recs))
        assert all(c.claimed and c.previous_status is None for c in claims)
        await asyncio.gather(*(ledger.finish(r, status="applied", attempts=1, rank=40) for r in recs))
        assert (await ledger.counts())["applied"] == 300
        assert await ledger.entity_rank("k299") == 40
    finally:
        await ledger.close()
        await other.close()


async def test_unreachable_database_is_a_ledger_error() -> None:
    with pytest.raises(LedgerError, match="unreachable"):
        await Ledger.open("postgresql://postgres@127.0.0.1:1/none", sink="s", schema="x", open_timeout=1)
