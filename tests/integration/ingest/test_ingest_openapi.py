"""Schemathesis against /openapi.json of an in-process ingest (127.0.0.1) writing to the real broker:
no 5xx, no response that contradicts the document, valid generic events accepted, invalid refused."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection

from backbone.stack.process import free_port
from services.ingest.app import create_app
from services.ingest.config import IngestConfig
from tests.unit.ingest._support import SECRETS

pytestmark = pytest.mark.integration

AUTH = {"Authorization": f"Bearer {SECRETS['generic-tms']}"}
EXAMPLES = 150


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx: Any, value: Any) -> bytes:
    """The document models a batch as an array of events; on the wire each item is one line."""
    if isinstance(value, list):
        return b"\n".join(json.dumps(item).encode() for item in value)
    return json.dumps(value).encode()


class ThreadedServer:
    """The aiohttp app on its own loop in a thread, so synchronous schemathesis calls can reach it."""

    def __init__(self, app: web.Application) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._app = app
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ingest-under-test", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        runner = web.AppRunner(self._app)
        try:
            self._loop.run_until_complete(runner.setup())
            self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())
        self._loop.close()

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        self._ready.wait(60)
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)


@pytest.fixture
def live_server(live_cfg: IngestConfig) -> Iterator[ThreadedServer]:
    with ThreadedServer(create_app(live_cfg)) as server:
        yield server


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_ingest_conforms_to_its_openapi(live_server: ThreadedServer, mode: GenerationMode) -> None:
    # schemathesis.pytest.from_fixture() breaks on pytest 9 (Function._nodeid is gone), so the
    # strategies of the Python API drive Hypothesis directly, one operation at a time.
    api = schemathesis.openapi.from_url(f"{live_server.url}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /v1/webhooks/{partner}", "POST /v1/events", "GET /readyz"}
    for operation in operations:
        if mode == GenerationMode.NEGATIVE and operation.method.upper() != "POST":
            continue  # GET probes take no input: nothing to make invalid

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            # A batch is answered per line by design (one bad line never rejects the rest), so a
            # batch mixing valid and invalid lines is rightly a 202: not a negative-data failure.
            per_line = case.media_type == "application/x-ndjson"
            excluded = [negative_data_rejection] if per_line else []
            case.call_and_validate(base_url=live_server.url, headers=AUTH, excluded_checks=excluded)

        check()
