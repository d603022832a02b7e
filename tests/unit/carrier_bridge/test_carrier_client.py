"""CarrierClient against the carrier simulator: labels once, trackers, failures, pacing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from backbone.errors import AuthenticationError, ConfigError, PermanentError, RetryableError, TargetUnavailableError
from services.carrier_bridge.client import CarrierClient, parse_retry_after
from services.carrier_bridge.errors import CarrierNotFoundError, CarrierValidationError, PostageExistsError
from tests.unit.carrier_bridge.conftest import API_KEY, Carrier, a_shipment

StartCarrier = Callable[..., Awaitable[Carrier]]
Clients = Callable[..., CarrierClient]


async def test_create_shipment_answers_typed_rates(start_carrier: StartCarrier, clients: Clients) -> None:
    carrier = await start_carrier()
    shipment = await clients(carrier.url).create_shipment("ship:SO-2026-0412/1", a_shipment())
    assert shipment.id.startswith("shp_") and shipment.reference == "SO-2026-0412/1"
    assert not shipment.purchased and not shipment.replayed
    cheapest = shipment.find_rate("usps")
    assert cheapest is not None and (cheapest.service, str(cheapest.amount)) == ("GroundAdvantage", "5.93")
    assert shipment.find_rate("UPS", "NextDayAir") is not None and shipment.find_rate("UPS", "Nope") is None


async def test_same_key_twice_creates_one_shipment(start_carrier: StartCarrier, clients: Clients) -> None:
    carrier = await start_carrier()
    client = clients(carrier.url)
    first = await client.create_shipment("ship:SO-2026-0412/1", a_shipment())
    second = await client.create_shipment("ship:SO-2026-0412/1", a_shipment())
    assert second.replayed and second.id == first.id and second.rates == first.rates
    assert len(carrier.sim.book.shipments) == 1


async def test_buy_returns_label_tracking_code_and_selected_rate(start_carrier: StartCarrier,
                                                                 clients: Clients) -> None:
    carrier = await start_carrier()
    client = clients(carrier.url)
    shipment = await client.create_shipment("k", a_shipment(carrier="USPS"))
    rate = shipment.find_rate("USPS", "Priority")
    assert rate is not None
    bought = await client.buy(shipment.id, rate)
    assert bought.purchased and bought.label_url and bought.tracking_code and bought.tracker_id
    assert bought.selected_rate == rate and not bought.replayed


async def test_repeating_a_buy_returns_the_same_label_once(start_carrier: StartCarrier, clients: Clients) -> None:
    carrier = await start_carrier()
    client = clients(carrier.url)
    shipment = await client.create_shipment("k", a_shipment(carrier="USPS"))
    rate = shipment.find_rate("USPS", "Priority")
    assert rate is not None
    first = await client.buy(shipment.id, rate)
    again = await client.buy(shipment.id, rate.id)  # e.g. a retry after the first answer was lost
    assert again.replayed and (again.tracking_code, again.label_url) == (first.tracking_code, first.label_url)
    assert len(carrier.sim.book.trackers) == 1
    assert carrier.sim.calls.statuses("POST", f"/v2/shipments/{shipment.id}/buy") == [200, 422]
    other = shipment.find_rate("USPS", "Express")
    assert other is not None
    with pytest.raises(PostageExistsError) as excinfo:
        await client.buy(shipment.id, other)
    assert excinfo.value.code == "SHIPMENT.POSTAGE.EXISTS"


async def test_buy_with_an_idempotency_key_is_replayed_by_the_platform(start_carrier: StartCarrier,
                                                                       clients: Clients) -> None:
    carrier = await start_carrier()
    client = clients(carrier.url)
    shipment = await client.create_shipment("k", a_shipment(carrier="UPS", service="Ground"))
    first = await client.buy(shipment.id, shipment.rates[0], idempotency_key="buy:SO-2026-0412/1")
    again = await client.buy(shipment.id, shipment.rates[0], idempotency_key="buy:SO-2026-0412/1")
    assert again.replayed and again.tracking_code == first.tracking_code
    assert carrier.sim.calls.statuses("POST", f"/v2/shipments/{shipment.id}/buy") == [200, 200]


async def test_create_tracker_reports_whether_it_is_new(start_carrier: StartCarrier, clients: Clients) -> None:
    carrier = await start_carrier()
    client = clients(carrier.url)
    first = await client.create_tracker("9400110898825022579493", "USPS")
    again = await client.create_tracker("9400110898825022579493", "USPS")
    assert (first.created, again.created, again.id) == (True, False, first.id)
    assert first.status == "unknown" and first.tracking_code == "9400110898825022579493"


async def test_validation_refusal_carries_the_partner_fields(start_carrier: StartCarrier,
                                                             clients: Clients) -> None:
    carrier = await start_carrier()
    with pytest.raises(CarrierValidationError) as excinfo:
        await clients(carrier.url).create_shipment("k", a_shipment(carrier="Pigeon"))
    error = excinfo.value
    assert isinstance(error, PermanentError) and (error.status, error.code) == (422, "SHIPMENT.INVALID_PARAMS")
    assert [field for field, _ in error.errors] == ["carrier"]


async def test_unknown_shipment_is_not_found(start_carrier: StartCarrier, clients: Clients) -> None:
    carrier = await start_carrier()
    with pytest.raises(CarrierNotFoundError):
        await clients(carrier.url).get_shipment("shp_missing")


async def test_a_refused_key_is_an_authentication_error(start_carrier: StartCarrier, clients: Clients) -> None:
    carrier = await start_carrier(api_keys=frozenset({API_KEY}))
    with pytest.raises(AuthenticationError) as excinfo:
        await clients(carrier.url, api_key="EZTK_revoked").create_tracker("EZ1", "USPS")
    assert excinfo.value.context["code"] == "APIKEY.INVALID"
    assert (await clients(carrier.url).create_tracker("EZ1", "USPS")).created


async def test_rate_limit_429_maps_to_retryable_with_retry_after(start_carrier: StartCarrier,
                                                                 clients: Clients) -> None:
    carrier = await start_carrier(rate_limit_rps=2)
    client = clients(carrier.url)
    await client.create_tracker("EZ1", "USPS")
    await client.create_tracker("EZ2", "USPS")
    with pytest.raises(RetryableError) as excinfo:
        await client.create_tracker("EZ3", "USPS")
    assert not isinstance(excinfo.value, TargetUnavailableError)
    assert excinfo.value.retry_after == 1.0


async def test_outage_and_timeout_map_to_target_unavailable(start_carrier: StartCarrier,
                                                            clients: Clients) -> None:
    carrier = await start_carrier()
    carrier.sim.faults.update({"outage": 1, "retry_after_s": 4})
    client = clients(carrier.url, timeout_s=0.2)
    with pytest.raises(TargetUnavailableError) as excinfo:
        await client.create_tracker("EZ1", "USPS")
    assert excinfo.value.retry_after == 4.0
    carrier.sim.faults.update({"timeout": 1})
    with pytest.raises(TargetUnavailableError, match="timed out"):
        await client.create_tracker("EZ1", "USPS")
    carrier.sim.faults.update({"delay_ms": 50})
    assert (await client.create_tracker("EZ1", "USPS")).created


async def _burst(client: CarrierClient, count: int) -> list[BaseException | object]:
    return await asyncio.gather(*(client.create_tracker(f"EZ{n}", "USPS") for n in range(count)),
                                return_exceptions=True)


async def test_a_paced_client_holds_the_limit_exactly(start_carrier: StartCarrier, clients: Clients) -> None:
    carrier = await start_carrier(rate_limit_rps=4)
    started = time.perf_counter()
    results = await _burst(clients(carrier.url, max_rps=4), 12)
    elapsed = time.perf_counter() - started
    assert [r for r in results if isinstance(r, BaseException)] == []
    statuses = carrier.sim.calls.statuses("POST", "/v2/trackers")
    assert statuses.count(201) == 12 and 429 not in statuses
    assert elapsed >= 2.0  # 12 calls at 4/s need two full windows after the first


async def test_an_unpaced_burst_does_get_429s(start_carrier: StartCarrier, clients: Clients) -> None:
    carrier = await start_carrier(rate_limit_rps=4)
    results = await _burst(clients(carrier.url), 12)
    assert sum(isinstance(r, RetryableError) for r in results) == 8
    assert carrier.sim.calls.statuses("POST", "/v2/trackers").count(429) == 8


def test_configuration_errors_are_caught_early() -> None:
    with pytest.raises(ConfigError):
        CarrierClient("localhost:8071", API_KEY)
    with pytest.raises(ConfigError):
        CarrierClient("http://127.0.0.1:8071", "")


def test_parse_retry_after_accepts_seconds_only_when_finite() -> None:
    assert parse_retry_after("2") == 2.0 and parse_retry_after("inf") is None and parse_retry_after(" ") is None
