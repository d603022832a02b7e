"""Idempotency ledger in PostgreSQL: exactly-once effects for at-least-once sinks.

One row per (sink, milestone_id) says what happened to that record at the target: ``in_flight``
(a call started and has not finished: a crash leaves this behind), ``applied``, ``skipped``
(the handler chose not to act), ``skipped_stale`` (the monotonic guard refused a regression),
``dead_lettered`` or ``failed`` (last attempt failed; will be retried). A second table keeps the
highest rank applied per (sink, entity key) for the monotonic guard.

:meth:`Ledger.claim` reads the previous row and the entity's rank and marks the row in flight in
a single statement; :meth:`Ledger.finish` writes the outcome and the new rank together. Both are
micro-batched (:class:`~backbone.batching.MicroBatcher`): concurrent calls share one multi-row
statement and one commit, which is what lets one process settle thousands of records a second.

Example::

    ledger = await Ledger.open(cfg.database_url.get_secret_value(), sink="odoo_sink", schema="backbone")
    claim = await ledger.claim(record, force=False)
    if claim.duplicate:
        ...                                           # already applied: do not call the target
    await ledger.finish(record, status="applied", attempts=1, response={"id": 42}, rank=90)
    await ledger.close()
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

import orjson
import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from backbone._ledger_sql import CLAIM, COUNTS, ENTRY, FINISH, MARK, RANK
from backbone.batching import MicroBatcher
from backbone.errors import RetryableError
from backbone.migrations import apply_migrations, check_schema_name

__all__ = [
    "FINAL_STATUSES",
    "Claim",
    "Ledger",
    "LedgerEntry",
    "LedgerError",
    "LedgerStatus",
    "LedgerSubject",
]

LedgerStatus = Literal["in_flight", "applied", "skipped", "skipped_stale", "dead_lettered", "failed"]
FINAL_STATUSES: frozenset[str] = frozenset({"applied", "skipped", "skipped_stale", "dead_lettered"})
_OUTCOME = ("status", "attempts", "response", "error", "new_rank")  # finish() columns beyond the record's
_RESPONSE_LIMIT = 2000  # bytes of JSON kept per row: a summary, not the target's whole answer


class LedgerError(RetryableError):
    """PostgreSQL is unreachable or busy; the runtime retries without charging the record's attempts."""


class LedgerSubject(Protocol):
    """What the ledger needs to know about a record (``SinkRecord`` satisfies it)."""

    @property
    def milestone_id(self) -> str: ...
    @property
    def entity_key(self) -> str | None: ...
    @property
    def rank(self) -> int | None: ...
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def correlation_id(self) -> str | None: ...


@dataclass(frozen=True)
class Claim:
    """The ledger's answer before a record is processed."""

    previous_status: LedgerStatus | None
    previous_attempts: int
    previous_error: str | None
    entity_rank: int | None
    claimed: bool

    @property
    def duplicate(self) -> bool:
        """Already settled and not claimed again (force-reapply claims settled rows)."""
        return self.previous_status in FINAL_STATUSES and not self.claimed

    @property
    def interrupted(self) -> bool:
        """A previous call started and never finished: the target may or may not have the effect."""
        return self.previous_status == "in_flight"


@dataclass(frozen=True)
class LedgerEntry:
    sink: str
    milestone_id: str
    status: LedgerStatus
    attempts: int
    response: Any
    error: str | None
    entity_key: str | None
    rank: int | None
    source_topic: str
    source_partition: int
    source_offset: int
    correlation_id: str | None
    applied_at: datetime | None


def summarize(response: Mapping[str, Any] | None) -> str | None:
    """Short JSON for the ledger; oversized answers keep a truncated preview."""
    if response is None:
        return None
    data = orjson.dumps(response, default=str)
    if len(data) > _RESPONSE_LIMIT:
        data = orjson.dumps({"truncated": True, "preview": data[: _RESPONSE_LIMIT - 100].decode("utf-8", "ignore")})
    return data.decode()


def _transient(exc: BaseException) -> bool:
    return isinstance(
        exc,
        PoolTimeout
        | psycopg.OperationalError
        | psycopg.InterfaceError
        | psycopg.errors.SerializationFailure
        | psycopg.errors.DeadlockDetected,
    )


def _rows(recs: Sequence[LedgerSubject], extra: Sequence[Mapping[str, Any]] | None = None) -> str:
    """The batch as one JSON array for ``json_to_recordset``: one multi-row statement per batch."""
    rows = []
    for n, r in enumerate(recs):
        row = {"ord": n + 1, "mid": r.milestone_id, "key": r.entity_key, "rank": r.rank, "topic": r.topic,
               "part": r.partition, "off": r.offset, "cid": r.correlation_id}
        if extra is not None:
            row.update(extra[n])
        rows.append(row)
    return orjson.dumps(rows).decode()


def _claim_keys(rec: LedgerSubject) -> tuple[str]:
    return (rec.milestone_id,)


def _finish_keys(item: dict[str, Any]) -> tuple[str, ...]:
    rec: LedgerSubject = item["rec"]
    # One batch never upserts the same ledger row, or the same entity's state row, twice.
    return (rec.milestone_id,) if rec.entity_key is None else (rec.milestone_id, "entity:" + rec.entity_key)


class Ledger:
    """Ledger of one sink in one PostgreSQL schema, over a psycopg AsyncConnectionPool."""

    def __init__(self, pool: AsyncConnectionPool, *, sink: str, schema: str = "backbone") -> None:
        self.pool = pool
        self.sink = sink
        self.schema = check_schema_name(schema)
        s = sql.Identifier(schema)
        self._claim = sql.SQL(CLAIM).format(s=s)
        self._mark = sql.SQL(MARK).format(s=s)
        self._finish = sql.SQL(FINISH).format(s=s)
        self._claims = self._claim_batcher(force=False)
        self._force_claims = self._claim_batcher(force=True)
        self._finishes: MicroBatcher[dict[str, Any], None] = MicroBatcher(
            self._finish_batch, max_batch=500, parallel=2, conflict_keys=_finish_keys, name=f"ledger-finish-{sink}"
        )
        self._entry = sql.SQL(ENTRY).format(s=s)
        self._rank = sql.SQL(RANK).format(s=s)
        self._counts = sql.SQL(COUNTS).format(s=s)

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        sink: str,
        schema: str = "backbone",
        min_size: int = 1,
        max_size: int = 8,
        migrate: bool = True,
        open_timeout: float = 30.0,
    ) -> Ledger:
        """Open a pool (autocommit, 10 s statement timeout) and apply pending migrations.

        An unreachable database raises :class:`LedgerError` after ``open_timeout`` seconds.
        """
        check_schema_name(schema)
        pool = AsyncConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            open=False,
            kwargs={"autocommit": True, "options": "-c statement_timeout=10000"},
            name=f"ledger-{sink}",
        )
        try:
            await pool.open(wait=True, timeout=open_timeout)
            ledger = cls(pool, sink=sink, schema=schema)
            if migrate:
                await ledger.migrate()
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, Exception) and _transient(exc):
                raise LedgerError(f"ledger database unreachable: {exc}", sink=sink) from exc
            raise
        return ledger

    async def migrate(self) -> list[str]:
        # conn.transaction() issues an explicit BEGIN/COMMIT even on an autocommit connection.
        async with self.pool.connection() as conn:
            return await apply_migrations(conn, self.schema)

    def _claim_batcher(self, *, force: bool) -> MicroBatcher[LedgerSubject, Claim]:
        async def run(recs: list[LedgerSubject]) -> list[Claim]:
            return await self._claim_batch(recs, force=force)

        return MicroBatcher(run, max_batch=500, parallel=2, conflict_keys=_claim_keys, name=f"ledger-claim-{self.sink}")

    async def close(self) -> None:
        await self._claims.close()
        await self._force_claims.close()
        await self._finishes.close()
        await self.pool.close()

    async def _execute(self, query: sql.Composed, params: Mapping[str, Any] | tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            async with self.pool.connection() as conn:
                cur = await conn.execute(query, params)
                return await cur.fetchall() if cur.description else []
        except Exception as exc:
            if _transient(exc):
                raise LedgerError(f"ledger unavailable: {exc}", retry_after=1.0, sink=self.sink) from exc
            raise

    def _params(self, rec: LedgerSubject, **extra: Any) -> dict[str, Any]:
        return {
            "sink": self.sink,
            "mid": rec.milestone_id,
            "key": rec.entity_key,
            "rank": rec.rank,
            "topic": rec.topic,
            "partition": rec.partition,
            "offset": rec.offset,
            "cid": rec.correlation_id,
            **extra,
        }

    async def claim(self, rec: LedgerSubject, *, force: bool = False) -> Claim:
        """Read the previous outcome and the entity's rank; mark the row in flight unless settled.

        ``force`` (--force-reapply) claims settled rows too, so they are applied again.
        """
        return await (self._force_claims if force else self._claims).submit(rec)

    async def _claim_batch(self, recs: list[LedgerSubject], *, force: bool) -> list[Claim]:
        params: dict[str, Any] = {"sink": self.sink, "force": force, "rows": _rows(recs)}
        rows = await self._execute(self._claim, params)
        return [
            Claim(status, int(attempts or 0), error, rank, bool(claimed))
            for _, status, attempts, error, rank, claimed in rows
        ]

    async def mark_in_flight(self, rec: LedgerSubject, *, attempts: int) -> None:
        """Before each retry: the call about to start is attempt ``attempts``."""
        await self._execute(self._mark, self._params(rec, status="in_flight", attempts=attempts, error=None))

    async def mark_failed(self, rec: LedgerSubject, *, attempts: int, error: str) -> None:
        await self._execute(self._mark, self._params(rec, status="failed", attempts=attempts, error=error[:1000]))

    async def finish(
        self,
        rec: LedgerSubject,
        *,
        status: LedgerStatus,
        attempts: int,
        response: Mapping[str, Any] | None = None,
        error: str | None = None,
        rank: int | None = None,
    ) -> None:
        """Settle the row; ``rank`` (when not None) becomes the entity's guard rank in the same statement."""
        await self._finishes.submit(
            {
                "rec": rec,
                "status": status,
                "attempts": attempts,
                "response": summarize(response),
                "error": error and error[:1000],
                "new_rank": rank if rec.entity_key is not None else None,
            }
        )

    async def _finish_batch(self, items: list[dict[str, Any]]) -> list[None]:
        outcomes = [{name: item[name] for name in _OUTCOME} for item in items]
        params: dict[str, Any] = {"sink": self.sink, "rows": _rows([item["rec"] for item in items], outcomes)}
        await self._execute(self._finish, params)
        return [None] * len(items)

    async def entry(self, milestone_id: str) -> LedgerEntry | None:
        rows = await self._execute(self._entry, (self.sink, milestone_id))
        if not rows:
            return None
        return LedgerEntry(*rows[0])

    async def entity_rank(self, entity_key: str) -> int | None:
        rows = await self._execute(self._rank, (self.sink, entity_key))
        return int(rows[0][0]) if rows else None

    async def counts(self) -> dict[str, int]:
        """Rows per status for this sink (on-call and tests)."""
        return {str(s): int(n) for s, n in await self._execute(self._counts, (self.sink,))}
