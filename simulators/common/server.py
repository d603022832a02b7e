"""Server boilerplate every simulator shares: the ``/_sim`` control routes, hung-call release, CLI.

Each simulator keeps its own error shapes and JSON encoder (they are part of what it imitates), so
the handlers here take the answer-building functions as arguments.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web
from aiohttp.typedefs import Handler

from simulators.common.http import json_response, read_json_object

__all__ = [
    "FaultSwitch",
    "Respond",
    "add_control_routes",
    "cli_parser",
    "faults_handler",
    "release_on_shutdown",
    "reset_handler",
]

# JSON body -> response (``simulators.common.http.json_response`` or ``aiohttp.web.json_response``)
Respond = Callable[[Any], web.StreamResponse]


class FaultSwitch(Protocol):
    """What ``/_sim/faults`` needs of a simulator's faults (``Faults``, ``OdooFaults``)."""

    def update(self, payload: dict[str, Any]) -> list[str]: ...

    def clear(self) -> None: ...

    def as_dict(self) -> dict[str, Any]: ...


def faults_handler(faults: Callable[[], FaultSwitch], refuse: Callable[[list[str]], web.StreamResponse],
                   respond: Respond = json_response) -> Handler:
    """``GET`` shows, ``POST`` updates (``refuse`` answers the problems), ``DELETE`` clears the faults."""

    async def handle(request: web.Request) -> web.StreamResponse:
        current = faults()
        if request.method == "POST":
            body = await read_json_object(request)
            problems = current.update(body) if body is not None else ["the body must be a JSON object"]
            if problems:
                return refuse(problems)
        elif request.method == "DELETE":
            current.clear()
        return respond(current.as_dict())

    return handle


def reset_handler(reset: Callable[[], None], respond: Respond = json_response) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        reset()
        return respond({"reset": True})

    return handle


def add_control_routes(router: web.UrlDispatcher, *, faults: Handler, calls: Handler, state: Handler,
                       reset: Handler) -> None:
    """The control routes every simulator answers (never faulted, never recorded)."""
    router.add_get("/_sim/faults", faults)
    router.add_post("/_sim/faults", faults)
    router.add_get("/_sim/calls", calls)
    router.add_get("/_sim/state", state)
    router.add_post("/_sim/reset", reset)


def release_on_shutdown(app: web.Application, release: asyncio.Event) -> None:
    """Let calls hung by a ``timeout`` fault answer at shutdown instead of holding it up."""

    async def release_hung_calls(_app: web.Application) -> None:
        release.set()

    app.on_shutdown.append(release_hung_calls)


def cli_parser(prog: str, description: str | None, port: int) -> argparse.ArgumentParser:
    """``python -m simulators.<name>`` arguments every simulator takes (``--host``, ``--port``)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    return parser
