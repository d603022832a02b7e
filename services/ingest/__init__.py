"""ingest: the HTTPS front door. Partner webhooks and the generic event API -> raw.* Kafka topics.

A request is answered 202 only after Kafka acknowledged the write (acks=all, idempotent producer);
503 + Retry-After otherwise. Wiring lives in ``app.py``; every other module is small and pure.
"""

from __future__ import annotations

__all__: list[str] = []
