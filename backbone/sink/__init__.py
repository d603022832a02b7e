"""Reusable sink runtime: canonical topics -> a target (Odoo, WMS, carrier), exactly once in effect.

A sink service writes a :class:`SinkHandler` and a :class:`SinkConfig` subclass; the runtime does
the rest: consumer group with manual commits, per-key order with bounded concurrency, PostgreSQL
idempotency ledger, monotonic guard, retries with backoff pausing only the affected partition,
circuit breaker, dead letters, auth pause, metrics, tracing, health endpoints, graceful shutdown.

Example::

    from backbone.sink import ApplyContext, ApplyResult, SinkConfig, SinkRecord, SinkRuntime

    class PrintHandler:
        async def apply(self, record: SinkRecord, ctx: ApplyContext) -> ApplyResult:
            if not ctx.verdict.allowed:
                return ApplyResult.skipped("stale")
            print(record.entity_key, record.code)
            return ApplyResult.applied()

    await SinkRuntime(load(SinkConfig, sink_name="printer"), PrintHandler()).run(stop)
"""

from __future__ import annotations

from backbone.sink.breaker import BreakerState, CircuitBreaker
from backbone.sink.config import SinkConfig
from backbone.sink.guard import GuardVerdict, judge
from backbone.sink.records import (
    ApplyContext,
    ApplyResult,
    ReconcilingHandler,
    RecordFields,
    SinkHandler,
    SinkRecord,
)
from backbone.sink.retry import NotYetAvailableError, RetryDecision, RetryPolicy
from backbone.sink.runtime import SinkRuntime, serve

__all__ = [
    "ApplyContext",
    "ApplyResult",
    "BreakerState",
    "CircuitBreaker",
    "GuardVerdict",
    "NotYetAvailableError",
    "ReconcilingHandler",
    "RecordFields",
    "RetryDecision",
    "RetryPolicy",
    "SinkConfig",
    "SinkHandler",
    "SinkRecord",
    "SinkRuntime",
    "judge",
    "serve",
]
