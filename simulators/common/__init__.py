"""Pieces the simulators share: fault injection, call log, idempotency, webhook delivery, the partner
simulator base and app wiring (``partner``), ``/_sim`` control routes and CLI arguments (``server``).

Simulators are test and demo tools, never the product; services must not import them.
"""

from __future__ import annotations
