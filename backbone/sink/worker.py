"""RecordWorker: the life of one record in a sink, from bytes to a settled ledger row.

decode -> ledger claim (skip duplicates) -> monotonic guard verdict -> [reconcile] -> apply,
with the circuit breaker and the auth gate in front of every target call, and the retry policy
deciding what a failure means. A record is *settled* (its offset may be committed) only once its
outcome is durable: ledger row written, and for dead letters the DLQ write acknowledged.

The runtime owns the worker and gives it :class:`WorkerHooks` (pause/resume a partition, mark an
offset done, release the concurrency slot while waiting).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, ParamSpec, Protocol, TypeVar

from opentelemetry.trace import SpanKind, Status, StatusCode

from backbone.dlq import DeadLetterChannel, Origin
from backbone.errors import (
    AuthenticationError,
    BackboneError,
    PermanentError,
    RetryableError,
    SerializationError,
    TargetUnavailableError,
)
from backbone.headers import Headers
from backbone.ledger import FINAL_STATUSES, Claim, Ledger, LedgerError
from backbone.logs import correlation
from backbone.serialization import SchemaRegistry, parse_wire_header
from backbone.sink.breaker import BreakerState, CircuitBreaker
from backbone.sink.config import SinkConfig
from backbone.sink.guard import GuardVerdict, judge
from backbone.sink.metrics import SinkMetrics
from backbone.sink.records import ApplyContext, ApplyResult, ReconcilingHandler, SinkHandler, SinkRecord, build_record
from backbone.sink.retry import NotYetAvailableError, RetryPolicy
from backbone.telemetry import extract_context, tracer

__all__ = ["Job", "RecordWorker", "WorkerHooks"]

log = logging.getLogger("backbone.sink")
R = TypeVar("R")
P = ParamSpec("P")
# Any answer from the target, even an error, proves it is reachable.
_ANSWERED = (RetryableError, PermanentError)


@dataclass(eq=False)
class Job:
    """A fetched Kafka record on its way through the sink."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int | None
    generation: int
    # waiting = backoff, breaker or auth wait: safe to abandon at once on revoke or shutdown.
    phase: Literal["queued", "running", "waiting"] = "queued"
    retrying: bool = field(default=False)
    awaiting_target: bool = field(default=False)  # NotYetAvailable: waits out the grace period alone

    @property
    def tp(self) -> tuple[str, int]:
        return (self.topic, self.partition)


class WorkerHooks(Protocol):
    def settled(self, job: Job) -> None: ...
    def retrying(self, job: Job, on: bool) -> None: ...
    def awaiting_target(self, job: Job, on: bool) -> None: ...
    def released_slot(self) -> contextlib.AbstractAsyncContextManager[None]: ...


class RecordWorker:
    def __init__(
        self,
        cfg: SinkConfig,
        handler: SinkHandler,
        *,
        ledger: Ledger,
        registry: SchemaRegistry,
        dlq: DeadLetterChannel,
        breaker: CircuitBreaker,
        auth: CircuitBreaker,
        metrics: SinkMetrics,
        hooks: WorkerHooks,
    ) -> None:
        self.cfg = cfg
        self.handler = handler
        self.ledger = ledger
        self.registry = registry
        self.dlq = dlq
        self.breaker = breaker
        self.auth = auth
        self.metrics = metrics
        self.hooks = hooks
        self.policy: RetryPolicy = cfg.retry_policy()
        self._fields = cfg.record_fields()
        self._known_schemas: set[int] = set()
        self._tracer = tracer("backbone.sink")

    # -- entry point ---------------------------------------------------------------------------
    async def process(self, job: Job) -> None:
        job.phase = "running"
        try:
            record = await self._decode(job)
            if record is not None:
                with correlation(record.correlation_id):
                    await self._process(job, record)
            self.hooks.settled(job)
        finally:
            if job.retrying:
                job.retrying = False
                self.hooks.retrying(job, False)
            if job.awaiting_target:
                job.awaiting_target = False
                self.hooks.awaiting_target(job, False)

    async def _decode(self, job: Job) -> SinkRecord | None:
        if job.value is None:
            self.metrics.skipped("tombstone")
            return None
        try:
            schema_id = parse_wire_header(job.value)
            if schema_id not in self._known_schemas:
                await self._durable(job, self._fetch_schema, schema_id)
                self._known_schemas.add(schema_id)
            value = self.registry.decode(job.value)
            return build_record(
                topic=job.topic,
                partition=job.partition,
                offset=job.offset,
                key=job.key,
                value=value,
                headers=job.headers,
                timestamp_ms=job.timestamp_ms,
                fields=self._fields,
            )
        except Exception as exc:  # any decode failure is about these bytes: dead-letter them
            stand_in = SinkRecord(
                topic=job.topic,
                partition=job.partition,
                offset=job.offset,
                key=job.key,
                value={},
                headers=job.headers,
                milestone_id=f"undecodable:{job.topic}:{job.partition}:{job.offset}",
                entity_key=None,
                rank=None,
                correlation_id=None,
            )
            await self._dead_letter(job, stand_in, exc, stage="decode", attempts=0, reason=str(exc))
            return None

    async def _fetch_schema(self, schema_id: int) -> None:
        # The registry lookup is blocking HTTP: once per schema id, off the loop. An unknown id
        # is the record's fault (SerializationError -> DLQ); an unreachable registry is not.
        try:
            await asyncio.to_thread(self.registry.writer_schema, schema_id)
        except SerializationError:
            raise
        except Exception as exc:
            raise RetryableError(f"schema registry unreachable: {exc}", retry_after=1.0) from exc

    # -- one record ----------------------------------------------------------------------------
    async def _process(self, job: Job, rec: SinkRecord) -> None:
        parent = extract_context(rec.headers)
        with self._tracer.start_as_current_span(
            f"{self.cfg.sink_name} process", context=parent, kind=SpanKind.CONSUMER
        ) as span:
            span.set_attributes(
                {
                    "messaging.system": "kafka",
                    "messaging.destination.name": rec.topic,
                    "messaging.kafka.partition": rec.partition,
                    "messaging.kafka.offset": rec.offset,
                    "backbone.sink": self.cfg.sink_name,
                    "backbone.milestone_id": rec.milestone_id,
                }
            )
            claim = await self._durable(job, self.ledger.claim, rec, force=self.cfg.force_reapply)
            if claim.duplicate:
                self.metrics.skipped("duplicate")
                span.set_attribute("backbone.outcome", "duplicate")
                return
            reapply = claim.claimed and claim.previous_status in FINAL_STATUSES
            if reapply:
                log.info(
                    "force re-apply",
                    extra={
                        "milestone_id": rec.milestone_id,
                        "status": claim.previous_status,
                        "topic": rec.topic,
                        "partition": rec.partition,
                        "offset": rec.offset,
                        "sink": self.cfg.sink_name,
                    },
                )
            verdict = judge(claim.entity_rank, rec.rank, allow_regressions=self.cfg.allow_regressions)
            span.set_attribute("backbone.guard", verdict.reason)
            if verdict.stale and not self.cfg.call_handler_on_stale:
                await self._settle(job, rec, verdict, ApplyResult.skipped("stale"), claim.previous_attempts, False)
                return
            await self._attempts(job, rec, verdict, claim, reapply)

    async def _attempts(self, job: Job, rec: SinkRecord, verdict: GuardVerdict, claim: Claim, reapply: bool) -> None:
        # attempt counts calls across restarts (the ledger's count), so handlers see the truth.
        attempt = first_attempt = claim.previous_attempts + 1
        reconcile = claim.interrupted
        charged = 0
        first_failure_at: float | None = None
        previous_error: BaseException | None = None
        while True:
            await self._gates(job)
            if attempt > first_attempt:
                await self._durable(job, self.ledger.mark_in_flight, rec, attempts=attempt)
            ctx = ApplyContext(
                sink=self.cfg.sink_name,
                target=self.cfg.target,
                attempt=attempt,
                verdict=verdict,
                previous_error=previous_error,
                previous_status=claim.previous_status,
                previous_error_text=claim.previous_error,
                reapply=reapply,
            )
            result, reconciled, error = await self._call(rec, ctx, reconcile)
            if error is None and result is not None:
                await self._settle(job, rec, verdict, result, attempt, reconciled)
                return
            assert error is not None
            now = time.monotonic()
            first_failure_at = first_failure_at or now
            # Failures the breaker absorbs (it opened, or was already not closed) do not burn attempts.
            unavailable_absorbed = (
                isinstance(error, TargetUnavailableError) and self.breaker.state is not BreakerState.CLOSED
            )
            if not unavailable_absorbed and not isinstance(error, AuthenticationError):
                charged += 1
            decision = self.policy.decide(error, attempts=max(charged, 1), first_failure_at=first_failure_at, now=now)
            if decision.action == "dead_letter":
                if isinstance(error, BackboneError) and decision.reason != str(error):
                    error.context["dead_letter_reason"] = decision.reason
                await self._dead_letter(job, rec, error, stage="apply", attempts=attempt, reason=decision.reason)
                return
            self.metrics.retried(error)
            await self._durable(job, self.ledger.mark_failed, rec, attempts=attempt, error=repr(error))
            if isinstance(error, NotYetAvailableError):
                # A missing target record is this record's own problem and the target answers:
                # pausing the partition would stall every other key on it for up to the grace
                # period behind one orphan, and counting it as buffered would let a flood of orphans
                # stop fetching altogether. It waits alone (see SinkRuntime._update_backpressure).
                if not job.awaiting_target:
                    job.awaiting_target = True
                    self.hooks.awaiting_target(job, True)
            elif not job.retrying:
                job.retrying = True  # a target in trouble (5xx, 429, lock, timeout): pause this partition only
                self.hooks.retrying(job, True)
            if decision.action == "retry" and not unavailable_absorbed:
                log.info(
                    "retrying",
                    extra={
                        "milestone_id": rec.milestone_id,
                        "error_class": type(error).__name__,
                        "reason": str(error)[:200],
                        "delay": round(decision.delay, 3),
                        "attempt": attempt,
                    },
                )
                await self._wait(job, asyncio.sleep(decision.delay))
            # "pause" (auth) and breaker-absorbed failures wait in _gates on the next turn.
            previous_error = error
            reconcile = isinstance(error, TargetUnavailableError)
            attempt += 1

    async def _call(
        self, rec: SinkRecord, ctx: ApplyContext, reconcile: bool
    ) -> tuple[ApplyResult | None, bool, BaseException | None]:
        """One guarded call; returns (result, reconciled, error) and feeds breaker and auth gate."""
        outcome = "error"
        started = time.perf_counter()
        with self._tracer.start_as_current_span(f"{self.cfg.target} apply", kind=SpanKind.CLIENT) as span:
            span.set_attribute("backbone.attempt", ctx.attempt)
            try:
                result: ApplyResult | None = None
                reconciled = False
                # asyncio.timeout, not wait_for: no extra task per call on the hot path.
                async with asyncio.timeout(self.cfg.call_timeout):
                    if reconcile and isinstance(self.handler, ReconcilingHandler):
                        result = await self.handler.reconcile(rec, ctx)
                        reconciled = result is not None
                    if result is None:
                        result = await self.handler.apply(rec, ctx)
                outcome = result.outcome
            except TimeoutError:
                error: BaseException = TargetUnavailableError(
                    f"{self.cfg.target} call timed out after {self.cfg.call_timeout:g}s", target=self.cfg.target
                )
            except asyncio.CancelledError:
                self.breaker.release()
                self.auth.release()
                raise
            except Exception as exc:
                error = exc
            else:
                self.breaker.record_success()
                self.auth.record_success()
                span.set_attribute("backbone.outcome", outcome)
                return result, reconciled, None
            finally:
                self.metrics.call(time.perf_counter() - started, outcome)
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        self._feed_gates(error)
        return None, False, error

    def _feed_gates(self, error: BaseException) -> None:
        unavailable = isinstance(error, TargetUnavailableError)
        if unavailable:
            self.breaker.record_failure()
        elif isinstance(error, _ANSWERED):
            self.breaker.record_success()
        else:
            self.breaker.release()  # a bug or an untranslated exception says nothing about the target
        if isinstance(error, AuthenticationError):
            self.auth.record_failure()
        elif isinstance(error, _ANSWERED) and not unavailable:
            self.auth.record_success()
        else:
            self.auth.release()

    # -- waiting without holding a slot --------------------------------------------------------
    async def _wait(self, job: Job, awaitable: Awaitable[Any]) -> None:
        job.phase = "waiting"
        try:
            async with self.hooks.released_slot():
                await awaitable
        finally:
            job.phase = "running"

    async def _gates(self, job: Job) -> None:
        """Credentials first (a paused sink calls nobody), then the breaker."""
        if not self.auth.allow():
            await self._wait(job, self.auth.wait_permit())
        if not self.breaker.allow():
            await self._wait(job, self.breaker.wait_permit())

    async def _durable(self, job: Job, fn: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs) -> R:
        """Ledger, registry and DLQ steps: retried until they succeed, never charged to the record.

        Losing the outcome of a record is never an option; a step that keeps failing stalls its
        key and partition (lag alerts fire) and logs every failure.
        """
        delay = max(self.policy.min_backoff, 0.1)
        while True:
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:
                transient = isinstance(exc, LedgerError | RetryableError)
                log.log(
                    logging.WARNING if transient else logging.ERROR,
                    "durable step failed; retrying",
                    exc_info=not transient,
                    extra={"error_class": type(exc).__name__, "reason": str(exc)[:200], "sink": self.cfg.sink_name},
                )
            if not job.retrying:
                job.retrying = True
                self.hooks.retrying(job, True)
            await self._wait(job, asyncio.sleep(delay))
            delay = min(delay * 2, max(self.policy.max_backoff, 1.0))

    # -- outcomes ------------------------------------------------------------------------------
    async def _settle(
        self, job: Job, rec: SinkRecord, verdict: GuardVerdict, result: ApplyResult, attempts: int, reconciled: bool
    ) -> None:
        summary: dict[str, Any] = dict(result.summary)
        if reconciled:
            summary["reconciled"] = True
        if result.outcome == "skipped":
            status: Literal["applied", "skipped", "skipped_stale"] = "skipped_stale" if verdict.stale else "skipped"
            reason = "stale" if verdict.stale else (result.reason or "handler")
            summary.setdefault("reason", result.reason)
        elif verdict.stale:
            status, reason = "skipped_stale", "stale"
        else:
            status, reason = "applied", ""
        if verdict.stale:
            summary["guard"] = {"current_rank": verdict.current_rank, "rank": verdict.new_rank}
        rank = verdict.store_rank if status == "applied" else None
        await self._durable(job, self.ledger.finish, rec, status=status, attempts=attempts, response=summary, rank=rank)
        if status == "applied":
            self.metrics.applied(rec.occurred_at, rec.received_at)
        else:
            self.metrics.skipped(reason)

    async def _dead_letter(
        self, job: Job, rec: SinkRecord, error: BaseException, *, stage: str, attempts: int, reason: str
    ) -> None:
        origin = Origin(job.topic, job.partition, job.offset)
        await self._durable(
            job,
            self.dlq.publish,
            job.key,
            job.value,
            job.headers,
            error=error,
            stage=stage,
            origin=origin,
            attempts=max(attempts, 1),
        )
        log.warning(
            "dead-lettered",
            extra={
                "milestone_id": rec.milestone_id,
                "error_class": type(error).__name__,
                "reason": reason[:300],
                "stage": stage,
                "topic": job.topic,
                "partition": job.partition,
                "offset": job.offset,
            },
        )
        await self._durable(
            job,
            self.ledger.finish,
            rec,
            status="dead_lettered",
            attempts=attempts,
            error=f"{type(error).__name__}: {reason}",
            response={"dlq_topic": self.dlq.topic, "stage": stage},
        )
