"""The WMS simulator on a 127.0.0.1 test server, a webhook receiver, and clients pointed at them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from services.wms_bridge.client import WmsClient
from services.wms_bridge.models import Address, OrderLine, OrderRequest
from simulators.common.receiver import WebhookReceiver
from simulators.wms import WMS_SIM, WmsSimConfig, create_app
from simulators.wms.simulator import WmsSimulator


@dataclass(frozen=True)
class Wms:
    sim: WmsSimulator
    url: str


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[WebhookReceiver, str]]:
    hook = WebhookReceiver()
    server = TestServer(hook.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield hook, str(server.make_url("/webhooks/shiphero"))
    finally:
        await server.close()


@pytest.fixture
async def start_wms() -> AsyncIterator[Callable[..., Awaitable[Wms]]]:
    servers: list[TestServer] = []

    async def start(**config: Any) -> Wms:
        config.setdefault("webhook_backoff_s", 0.01)
        app = create_app(WmsSimConfig(**config))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return Wms(app[WMS_SIM], str(server.make_url("")).rstrip("/"))

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., WmsClient]]:
    made: list[WmsClient] = []

    def make(url: str, **kwargs: Any) -> WmsClient:
        client = WmsClient(url, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


def an_order(ref: str = "SO-2026-0419", *lines: tuple[str, int], carrier: str | None = "fedex") -> OrderRequest:
    return OrderRequest(
        order_ref=ref,
        lines=tuple(OrderLine(sku, qty) for sku, qty in (lines or (("CHAIR-OAK-01", 2), ("TABLE-OAK-02", 1)))),
        ship_to=Address(name="Ada Example", address1="1 Main St", city="Reno", postal_code="89501", country="US",
                        state="NV", phone="+1 555 0100"),
        requested_carrier=carrier,
        requested_service="ground",
        partner_order_id="WH/OUT/00231",
    )
