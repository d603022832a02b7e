"""Prometheus metrics of ingest, in a registry per app (tests build many apps in one process).

Labels are bounded: ``partner`` is a configured id or ``unknown`` (never a client-chosen path
segment), ``reason`` is one of the codes in errors.py, ``endpoint`` the route template.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "IngestMetrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "backbone_ingest_requests", "HTTP requests answered", ["endpoint", "partner", "status"], registry=r
        )
        self.request_bytes = Counter(
            "backbone_ingest_request_bytes", "Request body bytes received", ["endpoint", "partner"], registry=r
        )
        self.latency = Histogram(
            "backbone_ingest_request_duration_seconds",
            "Time from request to answer",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.produce_latency = Histogram(
            "backbone_ingest_produce_duration_seconds",
            "Time until Kafka acknowledged (acks=all) a request's events",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("backbone_ingest_in_flight_requests", "Requests being handled", registry=r)
        self.events = Counter(
            "backbone_ingest_events_accepted", "Events acknowledged by Kafka", ["partner"], registry=r
        )
        self.rejections = Counter(
            "backbone_ingest_rejections",
            "Requests or batch lines refused, by reason",
            ["partner", "reason"],
            registry=r,
        )
        self.kafka_up = Gauge("backbone_ingest_kafka_up", "1 when the producer can reach Kafka", registry=r)
        self.kafka_up.set(1)
        # .labels() costs a dict lookup and a lock per call; cache the children for the hot path.
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Counter, Histogram]] = {}
        self._rejection_children: dict[tuple[str, str], Counter] = {}
        self._accepted_children: dict[str, Counter] = {}

    def observe_request(self, endpoint: str, partner: str, status: int, nbytes: int, seconds: float) -> None:
        key = (endpoint, partner, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.requests.labels(endpoint, partner, str(status)),
                self.request_bytes.labels(endpoint, partner),
                self.latency.labels(endpoint),
            )
            self._request_children[key] = children
        requests, request_bytes, latency = children
        requests.inc()
        if nbytes:
            request_bytes.inc(nbytes)
        latency.observe(seconds)

    def rejected(self, partner: str, reason: str, count: int = 1) -> None:
        child = self._rejection_children.get((partner, reason))
        if child is None:
            child = self._rejection_children[(partner, reason)] = self.rejections.labels(partner, reason)
        child.inc(count)

    def accepted(self, partner: str, count: int = 1) -> None:
        child = self._accepted_children.get(partner)
        if child is None:
            child = self._accepted_children[partner] = self.events.labels(partner)
        child.inc(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
