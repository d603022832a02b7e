"""Pieces both partner simulators share: fault injection, call log, idempotency, webhook delivery.

Simulators are test and demo tools, never the product; services must not import them.
"""

from __future__ import annotations
