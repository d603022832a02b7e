"""Prometheus metrics of every sink (``backbone_sink_*``), labelled by sink name.

Dead letters reuse ``backbone_dead_lettered_total`` from :mod:`backbone.dlq`.

Example::

    m = SinkMetrics("odoo_sink", target="odoo")
    m.applied()
    m.skipped("duplicate")
    APPLIED.labels("odoo_sink")._value.get()     # in tests, or scrape /metrics
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from prometheus_client import Counter, Gauge, Histogram

from backbone.dlq import DEAD_LETTERED
from backbone.sink.breaker import BreakerState

__all__ = [
    "APPLIED",
    "AUTH_FAILED",
    "AWAITING_TARGET",
    "BREAKER_STATE",
    "CALL_SECONDS",
    "DEAD_LETTERED",
    "END_TO_END",
    "IN_FLIGHT",
    "LAG",
    "PAUSED_PARTITIONS",
    "RETRIED",
    "SKIPPED",
    "SinkMetrics",
]

APPLIED = Counter("backbone_sink_applied_total", "Records applied to the target", ["sink"])
SKIPPED = Counter(
    "backbone_sink_skipped_total",
    "Records not applied: duplicate (ledger), stale (monotonic guard) or a handler's reason",
    ["sink", "reason"],
)
RETRIED = Counter("backbone_sink_retried_total", "Failed attempts that will be retried", ["sink", "error_class"])
BREAKER_STATE = Gauge(
    "backbone_sink_breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open", ["sink", "target"]
)
AUTH_FAILED = Gauge(
    "backbone_sink_auth_failed", "1 while the target refuses our credentials (sink paused)", ["sink", "target"]
)
LAG = Gauge("backbone_sink_consumer_lag", "High watermark minus next offset to commit", ["sink", "topic", "partition"])
END_TO_END = Histogram(
    "backbone_sink_end_to_end_latency_seconds",
    "From the record's occurred_at (or received_at) to applied at the target",
    ["sink", "since"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600, 7 * 24 * 3600),
)
CALL_SECONDS = Histogram(
    "backbone_sink_target_call_seconds",
    "Duration of one handler call to the target",
    ["sink", "target", "outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
IN_FLIGHT = Gauge("backbone_sink_in_flight", "Records fetched and not yet settled", ["sink"])
PAUSED_PARTITIONS = Gauge("backbone_sink_paused_partitions", "Partitions currently paused", ["sink"])
AWAITING_TARGET = Gauge("backbone_sink_awaiting_target_records",
                        "Records waiting (grace period) for a target record that does not exist yet", ["sink"])


class SinkMetrics:
    """The metrics of one sink, with its labels bound."""

    def __init__(self, sink: str, *, target: str) -> None:
        self.sink = sink
        self.target = target
        self._applied = APPLIED.labels(sink)
        self._e2e_occurred = END_TO_END.labels(sink, "occurred_at")
        self._e2e_received = END_TO_END.labels(sink, "received_at")
        self.in_flight = IN_FLIGHT.labels(sink)
        self.paused = PAUSED_PARTITIONS.labels(sink)
        self.awaiting_target = AWAITING_TARGET.labels(sink)
        BREAKER_STATE.labels(sink, target).set(BreakerState.CLOSED)
        AUTH_FAILED.labels(sink, target).set(0)

    def applied(self, occurred_at: datetime | None = None, received_at: datetime | None = None) -> None:
        self._applied.inc()
        now = datetime.now(UTC)
        if occurred_at is not None:
            self._e2e_occurred.observe(max(0.0, (now - occurred_at).total_seconds()))
        if received_at is not None:
            self._e2e_received.observe(max(0.0, (now - received_at).total_seconds()))

    def skipped(self, reason: str) -> None:
        SKIPPED.labels(self.sink, reason).inc()

    def retried(self, error: BaseException) -> None:
        RETRIED.labels(self.sink, type(error).__name__).inc()

    def call(self, seconds: float, outcome: str) -> None:
        CALL_SECONDS.labels(self.sink, self.target, outcome).observe(seconds)

    def breaker(self, state: BreakerState) -> None:
        BREAKER_STATE.labels(self.sink, self.target).set(int(state))

    def auth_failed(self, failed: bool) -> None:
        AUTH_FAILED.labels(self.sink, self.target).set(1 if failed else 0)

    def lag(self, topic: str, partition: int, value: int) -> None:
        LAG.labels(self.sink, topic, str(partition)).set(value)

    def forget_partition(self, topic: str, partition: int) -> None:
        """A revoked partition's lag is someone else's now."""
        with contextlib.suppress(KeyError):
            LAG.remove(self.sink, topic, str(partition))
