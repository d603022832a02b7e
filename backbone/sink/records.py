"""The handler API: what a sink handler receives, what it returns, and its Protocol.

A sink service (odoo_sink, wms_bridge, carrier_bridge) implements :class:`SinkHandler`; the
runtime does everything else (consuming, ledger, guard, retries, DLQ, breaker, commits).

Example::

    class OdooHandler:
        async def apply(self, record: SinkRecord, ctx: ApplyContext) -> ApplyResult:
            if not ctx.verdict.allowed:                       # late IN_TRANSIT after DELIVERED
                await self.client.post_note(record.value["shipment_key"], record.value["code"])
                return ApplyResult.skipped("stale", note_posted=True)
            picking = await self.client.find_picking(record.value["order_ref"])
            if picking is None:
                raise NotYetAvailableError("picking not created yet")  # retried up to the grace period
            await self.client.set_status(picking, record.value["code"])
            return ApplyResult.applied(picking_id=picking)

        async def reconcile(self, record: SinkRecord, ctx: ApplyContext) -> ApplyResult | None:
            # Called when a previous call's outcome is unknown (crash mid-call, timeout).
            status = await self.client.read_status(record.value["order_ref"])
            return ApplyResult.applied(found=status) if status == record.value["code"] else None
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from backbone import headers as h
from backbone.errors import PermanentError, TargetUnavailableError
from backbone.headers import Headers
from backbone.sink.guard import GuardVerdict

__all__ = [
    "ApplyContext",
    "ApplyResult",
    "ReconcilingHandler",
    "RecordFields",
    "SinkHandler",
    "SinkRecord",
    "build_record",
]


@dataclass(frozen=True, slots=True)
class SinkRecord:
    """One canonical record, decoded, with where it came from."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: dict[str, Any]
    headers: Headers
    milestone_id: str
    entity_key: str | None
    rank: int | None
    correlation_id: str | None
    occurred_at: datetime | None = None
    received_at: datetime | None = None
    timestamp_ms: int | None = None

    @property
    def code(self) -> str | None:
        """Canonical code (``code`` or ``kind`` field), when the schema has one."""
        code = self.value.get("code", self.value.get("kind"))
        return str(code) if code is not None else None


@dataclass(frozen=True, slots=True)
class ApplyContext:
    """What the runtime knows when it calls the handler.

    ``attempt`` is 1 for the first call of this record ever (it counts calls across restarts,
    from the ledger). ``previous_error`` is the exception of the previous attempt in this process;
    ``previous_status`` / ``previous_error_text`` come from the ledger (e.g. ``in_flight`` after a
    crash). ``reapply`` is True when ``--force-reapply`` re-sends an already applied record.
    """

    sink: str
    target: str
    attempt: int
    verdict: GuardVerdict
    previous_error: BaseException | None = None
    previous_status: str | None = None
    previous_error_text: str | None = None
    reapply: bool = False

    @property
    def outcome_unknown(self) -> bool:
        """True when a previous call may or may not have reached the target (crash or timeout)."""
        return self.previous_status == "in_flight" or isinstance(self.previous_error, TargetUnavailableError)


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What the handler did. ``summary`` is a short JSON-able dict kept in the ledger row."""

    outcome: Literal["applied", "skipped"] = "applied"
    reason: str | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def applied(cls, **summary: Any) -> ApplyResult:
        return cls("applied", None, summary)

    @classmethod
    def skipped(cls, reason: str, **summary: Any) -> ApplyResult:
        """The handler chose not to change the target (``reason`` labels the skipped metric)."""
        return cls("skipped", reason, summary)


class SinkHandler(Protocol):
    """Applies one record to the target. Raise from :mod:`backbone.errors` to say why it failed:
    ``RetryableError`` (with ``retry_after``), ``TargetUnavailableError`` (counts for the breaker),
    ``NotYetAvailableError``, ``PermanentError`` (DLQ), ``AuthenticationError`` (pause the sink)."""

    async def apply(self, record: SinkRecord, ctx: ApplyContext) -> ApplyResult: ...


@runtime_checkable
class ReconcilingHandler(Protocol):
    """Optional: handlers of non-idempotent targets re-read target state before re-applying.

    Return an :class:`ApplyResult` when the effect is already there (the runtime records it and
    does not call ``apply``), or None to go ahead and apply.
    """

    async def reconcile(self, record: SinkRecord, ctx: ApplyContext) -> ApplyResult | None: ...


@dataclass(frozen=True, slots=True)
class RecordFields:
    """Which value fields carry the milestone id, the rank and (optionally) the entity key.

    ``entity_key=None`` uses the Kafka key, which is the entity for every canonical topic.
    """

    milestone_id: str = "milestone_id"
    rank: str | None = "rank"
    entity_key: str | None = None


def _as_datetime(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def build_record(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: dict[str, Any],
    headers: Headers | None,
    timestamp_ms: int | None = None,
    fields: RecordFields = RecordFields(),
) -> SinkRecord:
    """Wrap a decoded record; a record without a milestone id is a PermanentError (DLQ)."""
    milestone_id = value.get(fields.milestone_id)
    if not isinstance(milestone_id, str) or not milestone_id:
        raise PermanentError(f"record has no {fields.milestone_id!r}", topic=topic, partition=partition, offset=offset)
    if fields.entity_key is not None:
        raw_entity = value.get(fields.entity_key)
        entity_key = str(raw_entity) if raw_entity is not None else None
    else:
        entity_key = key.decode("utf-8", "replace") if key is not None else None
    rank = value.get(fields.rank) if fields.rank else None
    hdrs = list(headers or [])
    correlation_id = h.get(hdrs, h.CORRELATION_ID) or value.get("correlation_id")
    return SinkRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        key=key,
        value=value,
        headers=hdrs,
        milestone_id=milestone_id,
        entity_key=entity_key,
        rank=int(rank) if isinstance(rank, int) else None,
        correlation_id=str(correlation_id) if correlation_id else None,
        occurred_at=_as_datetime(value.get("occurred_at")),
        received_at=_as_datetime(value.get("received_at")),
        timestamp_ms=timestamp_ms,
    )
