"""Idempotency ledger in PostgreSQL: exactly-once effects for at-least-once sinks.

One row per (sink, milestone_id) says what happened to that record at the target: ``in_flight``
(a call started and has not finished: a crash leaves this behind), ``applied``, ``skipped``
(the handler chose not to act), ``skipped_stale`` (the monotonic guard refused a regression),
``dead_lettered`` or ``failed`` (last attempt failed; will be retried). A second table keeps the
highest rank applied per (sink, entity key) for the monotonic guard.

Every call is one round trip: :meth:`Ledger.claim` reads the previous row and the entity's rank
and marks the row in flight in a single statement; :meth:`Ledger.finish` writes the outcome and
the new rank together.

Example::

    ledger = await Ledger.open(cfg.database_url.get_secret_value(), sink="odoo_sink", schema="backbone")
    claim = await ledger.claim(record, force=False)
    if claim.duplicate:
        ...                                           # already applied: do not call the target
    await ledger.finish(record, status="applied", attempts=1, response={"id": 42}, rank=90)
    await ledger.close()
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

import orjson
import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

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


class Ledger:
    """Ledger of one sink in one PostgreSQL schema, over a psycopg AsyncConnectionPool."""

    def __init__(self, pool: AsyncConnectionPool, *, sink: str, schema: str = "backbone") -> None:
        self.pool = pool
        self.sink = sink
        self.schema = check_schema_name(schema)
        s = sql.Identifier(schema)
        self._claim = sql.SQL(_CLAIM).format(s=s)
        self._mark = sql.SQL(_MARK).format(s=s)
        self._finish = sql.SQL(_FINISH).format(s=s)
        self._entry = sql.SQL(_ENTRY).format(s=s)
        self._rank = sql.SQL("SELECT rank FROM {s}.sink_entity_state WHERE sink = %s AND entity_key = %s").format(s=s)
        self._counts = sql.SQL("SELECT status, count(*) FROM {s}.sink_ledger WHERE sink = %s GROUP BY status").format(
            s=s
        )

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
    ) -> Ledger:
        """Open a pool (autocommit, 10 s statement timeout) and apply pending migrations."""
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
            await pool.open(wait=True, timeout=30)
            ledger = cls(pool, sink=sink, schema=schema)
            if migrate:
                await ledger.migrate()
        except BaseException:
            await pool.close()
            raise
        return ledger

    async def migrate(self) -> list[str]:
        # conn.transaction() issues an explicit BEGIN/COMMIT even on an autocommit connection.
        async with self.pool.connection() as conn:
            return await apply_migrations(conn, self.schema)

    async def close(self) -> None:
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
        """Read the previous outcome and the entity's rank; mark the row in flight unless settled."""
        rows = await self._execute(self._claim, self._params(rec, force=force))
        status, attempts, error, rank, claimed = rows[0]
        return Claim(status, int(attempts or 0), error, rank, bool(claimed))

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
        params = self._params(
            rec, status=status, attempts=attempts, response=summarize(response), error=error and error[:1000]
        )
        params["new_rank"] = rank if rec.entity_key is not None else None
        await self._execute(self._finish, params)

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


_ENTRY = """
SELECT sink, milestone_id, status, attempts, response, error, entity_key, rank, source_topic, source_partition,
       source_offset, correlation_id, applied_at
FROM {s}.sink_ledger WHERE sink = %s AND milestone_id = %s
"""
_COLUMNS = (
    "sink, milestone_id, status, attempts, entity_key, rank, source_topic, source_partition, source_offset, "
    "correlation_id"
)
_VALUES = (
    "%(sink)s, %(mid)s, {status}, {attempts}, %(key)s::text, %(rank)s::int, %(topic)s, %(partition)s::int, "
    "%(offset)s::bigint, %(cid)s::text"
)
_SOURCE = (
    "source_topic = EXCLUDED.source_topic, source_partition = EXCLUDED.source_partition, "
    "source_offset = EXCLUDED.source_offset, correlation_id = EXCLUDED.correlation_id, updated_at = now()"
)

# The statements below are built from constants only; the schema is composed with sql.Identifier
# and every value is a bound parameter.
# prev and st see the snapshot before the upsert: the caller learns what was there, atomically.
_CLAIM = f"""
WITH prev AS (
    SELECT status, attempts, error FROM {{s}}.sink_ledger WHERE sink = %(sink)s AND milestone_id = %(mid)s
), st AS (
    SELECT rank FROM {{s}}.sink_entity_state WHERE sink = %(sink)s AND entity_key = %(key)s::text
), up AS (
    INSERT INTO {{s}}.sink_ledger AS l ({_COLUMNS})
    VALUES ({_VALUES.format(status="'in_flight'", attempts="1")})
    ON CONFLICT (sink, milestone_id) DO UPDATE
        SET status = 'in_flight', attempts = l.attempts + 1, error = NULL, {_SOURCE}
        WHERE l.status NOT IN ('applied', 'skipped', 'skipped_stale', 'dead_lettered') OR %(force)s::bool
    RETURNING 1
)
SELECT p.status, p.attempts, p.error, (SELECT rank FROM st), EXISTS (SELECT 1 FROM up)
FROM (SELECT 1) AS one LEFT JOIN prev AS p ON true
"""  # noqa: S608

_MARK = f"""
INSERT INTO {{s}}.sink_ledger AS l ({_COLUMNS}, error)
VALUES ({_VALUES.format(status="%(status)s", attempts="%(attempts)s::int")}, %(error)s::text)
ON CONFLICT (sink, milestone_id) DO UPDATE
    SET status = EXCLUDED.status, attempts = EXCLUDED.attempts, error = EXCLUDED.error, {_SOURCE}
"""  # noqa: S608

_FINISH = f"""
WITH l AS (
    INSERT INTO {{s}}.sink_ledger AS l ({_COLUMNS}, response, error, applied_at)
    VALUES ({_VALUES.format(status="%(status)s", attempts="%(attempts)s::int")}, %(response)s::jsonb,
            %(error)s::text, CASE WHEN %(status)s = 'applied' THEN now() END)
    ON CONFLICT (sink, milestone_id) DO UPDATE
        SET status = EXCLUDED.status, attempts = EXCLUDED.attempts, response = EXCLUDED.response,
            error = EXCLUDED.error, applied_at = COALESCE(EXCLUDED.applied_at, l.applied_at), {_SOURCE}
    RETURNING 1
)
INSERT INTO {{s}}.sink_entity_state AS st (sink, entity_key, rank, milestone_id)
SELECT %(sink)s, %(key)s::text, %(new_rank)s::int, %(mid)s
WHERE %(new_rank)s::int IS NOT NULL AND %(key)s::text IS NOT NULL AND EXISTS (SELECT 1 FROM l)
ON CONFLICT (sink, entity_key) DO UPDATE
    SET rank = EXCLUDED.rank, milestone_id = EXCLUDED.milestone_id, updated_at = now()
"""  # noqa: S608
