"""What the carrier and WMS simulators share around their own book: state, lifecycle and app wiring.

A partner simulator is faults + call log + idempotency keys + a webhook sender, plus a book the
subclass owns. ``partner_app`` builds the aiohttp application around one: call recording outermost,
then fault injection, then the partner's own auth; the ``/_sim`` faults/calls/state/reset routes
and the partner's own route table; the webhook sender and optional clock for the app's lifetime.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, Generic, Protocol, TypeVar

from aiohttp import web
from aiohttp.typedefs import Middleware

from simulators.common.calls import CallLog, call_middleware
from simulators.common.faults import ErrorBody, Faults, fault_middleware
from simulators.common.http import json_response
from simulators.common.idempotency import IdempotencyStore
from simulators.common.server import add_control_routes, faults_handler, release_on_shutdown, reset_handler
from simulators.common.webhooks import WebhookSender

__all__ = ["PartnerConfig", "PartnerSimulator", "partner_app"]


class PartnerConfig(Protocol):
    """Settings every partner simulator has (its config dataclass adds its own)."""

    @property
    def webhook_url(self) -> str | None:
        """Where webhooks go; without one they are only logged (status ``no_url``)."""

    @property
    def webhook_attempts(self) -> int:
        """Deliveries tried per webhook before it is marked failed."""

    @property
    def webhook_backoff_s(self) -> float:
        """First retry delay; it doubles per attempt."""

    @property
    def webhook_timeout_s(self) -> float:
        """Total time one delivery attempt may take."""

    @property
    def advance_interval_s(self) -> float | None:
        """When set, the clock ticks every this many seconds."""

    @property
    def hang_s(self) -> float:
        """How long a ``timeout`` fault holds a call before answering 504."""


C = TypeVar("C", bound=PartnerConfig)
S = TypeVar("S", bound="PartnerSimulator[Any]")


class PartnerSimulator(Generic[C]):
    """Tests reach a subclass as ``app[<KEY>]`` to drain webhooks or inspect state directly."""

    def __init__(self, config: C, *, user_agent: str) -> None:
        self.config = config
        self.faults = Faults()
        self.calls = CallLog()
        self.idempotency = IdempotencyStore()
        self.release = asyncio.Event()
        self.sender = WebhookSender(
            config.webhook_url, lambda: self.faults, user_agent=user_agent,
            attempts=config.webhook_attempts, backoff_s=config.webhook_backoff_s,
            timeout_s=config.webhook_timeout_s,
        )

    def reset(self) -> None:
        """Back to a fresh start (subclasses reset their book too)."""
        self.faults.clear()
        self.calls.clear()
        self.idempotency.clear()
        self.sender.deliveries.clear()

    def state(self) -> dict[str, Any]:
        """The shared tail of ``GET /_sim/state``; subclasses put their book first."""
        return {
            "idempotency_keys": len(self.idempotency),
            "faults": self.faults.as_dict(),
            "webhooks": [d.as_dict() for d in self.sender.deliveries],
        }

    def tick(self) -> None:
        """Move everything open one step on (what the clock does per interval)."""
        raise NotImplementedError

    async def clock(self, interval_s: float) -> None:
        """Tick every ``interval_s`` (started by the app when ``advance_interval_s`` is set)."""
        while True:
            await asyncio.sleep(interval_s)
            self.tick()


def partner_app(sim: S, key: web.AppKey[S], *, routes: web.RouteTableDef, error_body: ErrorBody,
                auth: Middleware, clock_name: str) -> web.Application:
    """The application around ``sim``: the shared control routes, then ``routes`` (the partner's own)."""
    app = web.Application(middlewares=[
        call_middleware(lambda: sim.calls),
        fault_middleware(lambda: sim.faults, error_body, sim.release, sim.config.hang_s),
        auth,
    ])
    app[key] = sim

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        await sim.sender.start()
        interval = sim.config.advance_interval_s
        clock = asyncio.create_task(sim.clock(interval), name=clock_name) if interval else None
        yield
        if clock is not None:
            clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await clock
        await sim.sender.close()

    async def calls(request: web.Request) -> web.Response:
        return json_response({"calls": [c.as_dict() for c in sim.calls.calls]})

    async def state(request: web.Request) -> web.Response:
        return json_response(sim.state())

    def refuse(problems: list[str]) -> web.Response:
        return json_response(error_body(422, "INVALID_FAULTS", "; ".join(problems)), 422)

    app.cleanup_ctx.append(lifecycle)
    release_on_shutdown(app, sim.release)
    add_control_routes(app.router, faults=faults_handler(lambda: sim.faults, refuse), calls=calls, state=state,
                       reset=reset_handler(sim.reset))
    app.add_routes(routes)
    return app
