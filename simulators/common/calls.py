"""Record of every partner API call a simulator answered, served at ``GET /_sim/calls``.

Tests assert on it ("the same Idempotency-Key twice created one order", "no call got a 429").
The API key is never stored, only its last four characters.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from simulators.common.http import bearer_or_basic_key, iso, utcnow

__all__ = ["Call", "CallLog", "answer_and_record", "call_middleware"]


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: str
    idempotency_key: str | None
    key_hint: str | None
    status: int
    at: str
    duration_ms: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class CallLog:
    """The most recent ``limit`` calls (bounded so a long demo run does not grow without end)."""

    def __init__(self, limit: int = 10_000) -> None:
        self.calls: deque[Call] = deque(maxlen=limit)

    def clear(self) -> None:
        self.calls.clear()

    def statuses(self, method: str | None = None, path_prefix: str = "") -> list[int]:
        return [c.status for c in self.calls
                if (method is None or c.method == method) and c.path.startswith(path_prefix)]


def call_middleware(log: Callable[[], CallLog]) -> Middleware:
    """Outermost middleware: records the final status, including faults and auth refusals."""

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_sim"):
            return await handler(request)
        started, at = time.perf_counter(), iso(utcnow())

        def log_call(status: int) -> None:
            key = bearer_or_basic_key(request)
            log().calls.append(Call(
                method=request.method,
                path=request.path,
                query=request.query_string,
                idempotency_key=request.headers.get("Idempotency-Key"),
                key_hint=f"...{key[-4:]}" if key else None,
                status=status,
                at=at,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
            ))

        return await answer_and_record(request, handler, log_call)

    return record


async def answer_and_record(request: web.Request, handler: Handler,
                            record: Callable[[int], None]) -> web.StreamResponse:
    """Answer with ``handler`` and give ``record`` the final status, also when the handler raised."""
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = 499  # the client went away (nginx's code for it): how a client timeout looks here
        raise
    finally:
        record(status)
