"""The carrier simulator on a 127.0.0.1 test server and clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from services.carrier_bridge.client import CarrierClient
from services.carrier_bridge.models import Address, Parcel, ShipmentRequest
from simulators.carrier import CARRIER_SIM, CarrierSimConfig, create_app
from simulators.carrier.simulator import CarrierSimulator

API_KEY = "EZTK_test_0001"


@dataclass(frozen=True)
class Carrier:
    sim: CarrierSimulator
    url: str


@pytest.fixture
async def start_carrier() -> AsyncIterator[Callable[..., Awaitable[Carrier]]]:
    servers: list[TestServer] = []

    async def start(**config: Any) -> Carrier:
        config.setdefault("webhook_backoff_s", 0.01)
        app = create_app(CarrierSimConfig(**config))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return Carrier(app[CARRIER_SIM], str(server.make_url("")).rstrip("/"))

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., CarrierClient]]:
    made: list[CarrierClient] = []

    def make(url: str, api_key: str = API_KEY, **kwargs: Any) -> CarrierClient:
        client = CarrierClient(url, api_key, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


def a_shipment(reference: str = "SO-2026-0412/1", carrier: str | None = None,
               service: str | None = None) -> ShipmentRequest:
    return ShipmentRequest(
        to_address=Address(name="Ada Example", street1="417 Montgomery St", city="Decatur", zip="30030",
                           country="US", state="GA"),
        from_address=Address(name="Dock 1", company="Backbone Co", street1="1 Dock Rd", city="Memphis",
                             zip="38118", country="US", state="TN"),
        parcel=Parcel(weight_oz=17.6, length_in=10, width_in=8, height_in=4),
        carrier=carrier, service=service, reference=reference,
    )
