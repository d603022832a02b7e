"""Failure modes a simulator can be told to show, set with ``POST /_sim/faults``.

Body fields (all optional; a field sent replaces the current value, ``{"clear": true}`` resets all)::

    drop_webhooks   int  the next N webhooks are lost on purpose (never attempted), so that
                         reconciliation polling can be tested
    throttle        int  the next N API calls answer 429 with ``Retry-After: retry_after_s``
    retry_after_s   int  value of Retry-After for throttled and outage answers (default 1)
    outage          int  the next N API calls answer ``outage_status`` (default 503); -1 = until cleared
    outage_status   int  500, 502, 503 or 504
    delay_ms        int  every API call is slowed by this many milliseconds until cleared
    timeout         int  the next N API calls never answer in time (hang up to ``hang_s``); -1 = until cleared

Faults apply to the partner API only, never to ``/_sim/*``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from simulators.common.http import json_response

__all__ = ["ErrorBody", "Faults", "fault_middleware"]

# (status, machine code, message) -> the vendor's JSON error shape
ErrorBody = Callable[[int, str, str], dict[str, Any]]

_OUTAGE_STATUSES = frozenset({500, 502, 503, 504})


@dataclass
class Faults:
    drop_webhooks: int = 0
    throttle: int = 0
    retry_after_s: int = 1
    outage: int = 0
    outage_status: int = 503
    delay_ms: int = 0
    timeout: int = 0

    def clear(self) -> None:
        for f in fields(self):
            setattr(self, f.name, f.default)

    def update(self, payload: Mapping[str, Any]) -> list[str]:
        """Apply a ``/_sim/faults`` body; returns problems (nothing is applied when there are any)."""
        known = {f.name for f in fields(self)}
        problems = [f"unknown field {k!r}" for k in payload if k not in known | {"clear"}]
        for key, value in payload.items():
            if key in known and (not isinstance(value, int) or isinstance(value, bool)):
                problems.append(f"{key} must be an integer")
            elif key in {"outage", "timeout"} and isinstance(value, int) and value < -1:
                problems.append(f"{key} must be >= -1")
            elif key in known - {"outage", "timeout"} and isinstance(value, int) and value < 0:
                problems.append(f"{key} must be >= 0")
        if payload.get("outage_status", 503) not in _OUTAGE_STATUSES:
            problems.append("outage_status must be one of 500, 502, 503, 504")
        if problems:
            return problems
        if payload.get("clear"):
            self.clear()
        for key, value in payload.items():
            if key in known:
                setattr(self, key, value)
        return []

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def take_drop(self) -> bool:
        """True when the webhook about to be sent must be lost (consumes one drop)."""
        if self.drop_webhooks > 0:
            self.drop_webhooks -= 1
            return True
        return False

    def take(self, name: str) -> bool:
        """Consume one occurrence of a counted fault (``-1`` never runs out)."""
        value: int = getattr(self, name)
        if value == -1:
            return True
        if value > 0:
            setattr(self, name, value - 1)
            return True
        return False


def fault_middleware(
    faults: Callable[[], Faults],
    error_body: ErrorBody,
    release: asyncio.Event,
    hang_s: float,
) -> Middleware:
    """Middleware applying :class:`Faults` to API paths. ``release`` ends hung calls at shutdown."""

    @web.middleware
    async def apply_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_sim"):
            return await handler(request)
        current = faults()
        retry_after = {"Retry-After": str(current.retry_after_s)}
        if current.take("outage"):
            status = current.outage_status
            return json_response(error_body(status, "SERVICE_UNAVAILABLE", "simulated outage"), status,
                                 retry_after if status == 503 else None)
        if current.take("throttle"):
            return json_response(error_body(429, "RATE_LIMITED", "too many requests"), 429, retry_after)
        if current.delay_ms:
            await asyncio.sleep(current.delay_ms / 1000)
        if current.take("timeout"):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(release.wait(), hang_s)
            return json_response(error_body(504, "TIMEOUT", "simulated timeout"), 504)
        return await handler(request)

    return apply_faults
