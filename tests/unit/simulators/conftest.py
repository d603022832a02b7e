"""Fixtures for simulator tests: simulators and a webhook receiver on 127.0.0.1 test servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from simulators.carrier import CarrierSimConfig
from simulators.carrier import create_app as create_carrier_app
from simulators.common.receiver import WebhookReceiver
from simulators.wms import WmsSimConfig
from simulators.wms import create_app as create_wms_app

Client = TestClient[web.Request, web.Application]


@dataclass(frozen=True)
class Hook:
    receiver: WebhookReceiver
    url: str


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    receiver = WebhookReceiver()
    server = TestServer(receiver.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield Hook(receiver, str(server.make_url("/webhooks/partner")))
    finally:
        await server.close()


Start = Callable[..., Awaitable[Client]]


async def _simulators(make_app: Callable[..., web.Application]) -> AsyncIterator[Start]:
    """``start(**config)`` serves one simulator on 127.0.0.1 (fast webhook retries); all close at teardown."""
    clients: list[Client] = []

    async def start(**config: Any) -> Client:
        config.setdefault("webhook_backoff_s", 0.01)
        client = TestClient(TestServer(make_app(**config), host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


@pytest.fixture
async def wms() -> AsyncIterator[Start]:
    async for start in _simulators(lambda **config: create_wms_app(WmsSimConfig(**config))):
        yield start


@pytest.fixture
async def carrier() -> AsyncIterator[Start]:
    async for start in _simulators(lambda **config: create_carrier_app(CarrierSimConfig(**config))):
        yield start


def order_body(ref: str = "SO-2026-0419", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_ref": ref,
        "partner_order_id": "WH/OUT/00231",
        "lines": [{"sku": "CHAIR-OAK-01", "qty": 2}, {"sku": "TABLE-OAK-02", "qty": 1}],
        "ship_to": {"name": "Ada Example", "address1": "1 Main St", "city": "Reno", "state": "NV",
                    "postal_code": "89501", "country": "US"},
        "requested_carrier": "fedex",
        "requested_service": "ground",
    }
    body.update(overrides)
    return body


def shipment_body(**overrides: Any) -> dict[str, Any]:
    shipment: dict[str, Any] = {
        "to_address": {"name": "Ada Example", "street1": "417 Montgomery St", "city": "Decatur", "state": "GA",
                       "zip": "30030", "country": "US"},
        "from_address": {"company": "Backbone Co", "street1": "1 Dock Rd", "city": "Memphis", "state": "TN",
                         "zip": "38118", "country": "US"},
        "parcel": {"weight": 17.6, "length": 10, "width": 8, "height": 4},
        "reference": "SO-2026-0412/1",
    }
    shipment.update(overrides)
    return {"shipment": shipment}


KEY = "ek_test_key_0001"
AUTH = {"Authorization": f"Bearer {KEY}"}
