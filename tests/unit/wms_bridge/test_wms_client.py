"""WmsClient against the WMS simulator: answers, idempotency, and every failure class."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from backbone.errors import (
    AuthenticationError,
    ConfigError,
    PermanentError,
    RetryableError,
    TargetUnavailableError,
)
from backbone.signatures import verify_shiphero
from backbone.stack.process import free_port
from services.wms_bridge.client import WmsClient, parse_retry_after
from services.wms_bridge.errors import (
    WmsConflictError,
    WmsNotFoundError,
    WmsProtocolError,
    WmsRequestError,
    WmsValidationError,
)
from services.wms_bridge.models import OrderAnswer
from simulators.common.receiver import WebhookReceiver
from tests.unit.wms_bridge.conftest import Wms, an_order

StartWms = Callable[..., Awaitable[Wms]]
Clients = Callable[..., WmsClient]


async def test_create_order_answers_a_typed_accepted_order(start_wms: StartWms, clients: Clients) -> None:
    wms = await start_wms()
    answer = await clients(wms.url).create_order("release:SO-2026-0419", an_order())
    assert (answer.status, answer.order_ref, answer.reason, answer.replayed) == ("accepted", "SO-2026-0419",
                                                                                   None, False)
    assert answer.id == str(next(iter(wms.sim.book.orders)))
    assert answer.created_at is not None and answer.created_at.tzinfo is not None


async def test_same_key_twice_creates_one_order(start_wms: StartWms, clients: Clients) -> None:
    wms = await start_wms()
    client = clients(wms.url)
    first = await client.create_order("release:SO-2026-0419", an_order())
    second = await client.create_order("release:SO-2026-0419", an_order())
    assert second.replayed and (second.id, second.status) == (first.id, first.status)
    assert len(wms.sim.book.orders) == 1
    assert [(c.idempotency_key, c.status) for c in wms.sim.calls.calls] == [
        ("release:SO-2026-0419", 201), ("release:SO-2026-0419", 200)]


async def test_a_rejected_order_is_an_answer_not_an_error(start_wms: StartWms, clients: Clients) -> None:
    wms = await start_wms(unknown_sku="reject")
    answer = await clients(wms.url).create_order("k", an_order("SO-9", ("NOPE-1", 1)))
    assert (answer.status, answer.reason) == ("rejected", "unknown_sku: NOPE-1")


async def test_validation_refusal_is_permanent_with_the_partner_reason(start_wms: StartWms,
                                                                         clients: Clients) -> None:
    wms = await start_wms()
    with pytest.raises(WmsValidationError) as excinfo:
        await clients(wms.url).create_order("k", an_order("SO-9", ("CHAIR-OAK-01", 1), ("NOPE-1", 1)))
    error = excinfo.value
    assert isinstance(error, PermanentError) and not isinstance(error, RetryableError)
    assert (error.status, error.code) == (422, "validation_failed")
    assert [(f.field, f.reason) for f in error.fields] == [("lines[1].sku", "unknown_sku")]
    assert "NOPE-1" in str(error) and "Ada" not in str(error)


async def test_reusing_a_key_for_another_order_is_a_validation_error(start_wms: StartWms,
                                                                      clients: Clients) -> None:
    wms = await start_wms()
    client = clients(wms.url)
    await client.create_order("k", an_order("SO-1"))
    with pytest.raises(WmsValidationError) as excinfo:
        await client.create_order("k", an_order("SO-2"))
    assert excinfo.value.code == "idempotency_key_reused"


async def test_duplicate_reference_is_a_conflict_naming_the_existing_order(start_wms: StartWms,
                                                                            clients: Clients) -> None:
    wms = await start_wms()
    client = clients(wms.url)
    first = await client.create_order("k1", an_order())
    with pytest.raises(WmsConflictError) as excinfo:
        await client.create_order("k2", an_order())
    assert (excinfo.value.code, excinfo.value.existing_id) == ("duplicate_order_ref", first.id)


async def test_429_becomes_retryable_with_retry_after(start_wms: StartWms, clients: Clients) -> None:
    wms = await start_wms()
    wms.sim.faults.update({"throttle": 1, "retry_after_s": 7})
    client = clients(wms.url)
    with pytest.raises(RetryableError) as excinfo:
        await client.create_order("k", an_order())
    assert not isinstance(excinfo.value, TargetUnavailableError)
    assert excinfo.value.retry_after == 7.0
    assert excinfo.value.context["status"] == 429
    assert (await client.create_order("k", an_order())).status == "accepted"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_outages_become_target_unavailable(start_wms: StartWms, clients: Clients, status: int) -> None:
    wms = await start_wms()
    wms.sim.faults.update({"outage": 1, "outage_status": status, "retry_after_s": 2})
    with pytest.raises(TargetUnavailableError) as excinfo:
        await clients(wms.url).get_order("1")
    assert excinfo.value.retry_after == (2.0 if status == 503 else None)


async def test_a_timeout_becomes_target_unavailable(start_wms: StartWms, clients: Clients) -> None:
    wms = await start_wms()
    wms.sim.faults.update({"timeout": 1})
    with pytest.raises(TargetUnavailableError, match="timed out"):
        await clients(wms.url, timeout_s=0.2).create_order("k", an_order())


async def test_a_refused_connection_becomes_target_unavailable(clients: Clients) -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(TargetUnavailableError):
        await clients(f"http://127.0.0.1:{port}").get_order("1")


async def test_401_becomes_authentication_error(start_wms: StartWms, clients: Clients) -> None:
    wms = await start_wms(api_token="right")
    with pytest.raises(AuthenticationError):
        await clients(wms.url, api_token="wrong").get_order("1")
    with pytest.raises(WmsNotFoundError):
        await clients(wms.url, api_token="right").get_order("1")


async def test_cancel_and_the_conflict_once_shipped(start_wms: StartWms, clients: Clients) -> None:
    wms = await start_wms()
    client = clients(wms.url)
    first = await client.create_order("k1", an_order("SO-1"))
    assert (await client.cancel_order(first.id)).status == "cancelled"
    second = await client.create_order("k2", an_order("SO-2"))
    for _ in range(3):
        wms.sim.advance(wms.sim.book.orders[int(second.id)])
    with pytest.raises(WmsConflictError) as excinfo:
        await client.cancel_order(second.id)
    assert (excinfo.value.code, excinfo.value.status) == ("already_shipped", 409)
    shipped = await client.get_order(second.id)
    assert shipped.status == "shipped" and shipped.packages[0].tracking_number


async def test_dropped_webhooks_are_recovered_by_polling_changes(
    start_wms: StartWms, clients: Clients, receiver: tuple[WebhookReceiver, str],
) -> None:
    hook, hook_url = receiver
    wms = await start_wms(webhook_url=hook_url, shiphero_secret="hero")
    client = clients(wms.url)
    before = datetime.now(UTC) - timedelta(seconds=1)
    kept = await client.create_order("k1", an_order("SO-1"))
    lost = await client.create_order("k2", an_order("SO-2"))
    wms.sim.advance(wms.sim.book.orders[int(kept.id)], packages=1)  # picked: no webhook
    wms.sim.faults.update({"drop_webhooks": 2})
    wms.sim.advance(wms.sim.book.orders[int(lost.id)])
    wms.sim.advance(wms.sim.book.orders[int(lost.id)])
    wms.sim.advance(wms.sim.book.orders[int(lost.id)], packages=2)  # shipped: both webhooks dropped
    await wms.sim.sender.drain()
    assert hook.received == []
    orders: list[OrderAnswer] = []
    cursor: str | None = None
    more = True
    while more:
        page = await client.list_changes(since=before, cursor=cursor, limit=1)
        orders.extend(page.orders)
        cursor, more = page.next_cursor, page.has_more
    by_ref = {o.order_ref: o for o in orders}
    assert (by_ref["SO-1"].status, by_ref["SO-2"].status) == ("picked", "shipped")
    tracking = [p.tracking_number for p in by_ref["SO-2"].packages]
    assert tracking == [p.tracking_number for p in wms.sim.book.orders[int(lost.id)].packages]
    assert len(tracking) == 2
    # Later webhooks flow again and verify.
    wms.sim.advance(wms.sim.book.orders[int(kept.id)], packages=1)
    wms.sim.advance(wms.sim.book.orders[int(kept.id)], packages=1)
    (delivery,) = await hook.wait_for(1)
    verify_shiphero(delivery.body, delivery.headers, "hero")
    assert (await client.list_changes(cursor=cursor)).orders[0].order_ref == "SO-1"


async def test_inventory_changes_are_typed(start_wms: StartWms, clients: Clients) -> None:
    wms = await start_wms()
    wms.sim.book.adjust("MUG-STONE-12", delta=24, reason="received")
    page = await clients(wms.url).list_inventory_changes(since=datetime.now(UTC) - timedelta(minutes=1))
    (change,) = page.changes
    assert (change.sku, change.delta, change.on_hand, change.reason) == ("MUG-STONE-12", 24, 1024, "received")


async def test_naive_since_is_refused_before_any_call(clients: Clients) -> None:
    with pytest.raises(ValueError, match="timezone"):
        await clients("http://127.0.0.1:9").list_changes(since=datetime(2026, 1, 1))


async def _serve(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> TestServer:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


@pytest.mark.parametrize(("status", "body", "expected"), [
    (200, b"<html>ok</html>", WmsProtocolError),
    (200, b'{"id": 1}', WmsProtocolError),
    (418, b"teapot", WmsRequestError),
    (403, b"", AuthenticationError),
    (408, b"", TargetUnavailableError),
])
async def test_odd_answers_are_translated_once(clients: Clients, status: int, body: bytes,
                                               expected: type[Exception]) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, body=body)

    server = await _serve(handler)
    try:
        with pytest.raises(expected):
            await clients(str(server.make_url(""))).get_order("1")
    finally:
        await server.close()


def test_base_url_must_be_http() -> None:
    with pytest.raises(ConfigError):
        WmsClient("127.0.0.1:8070")


@pytest.mark.parametrize(("value", "expected"), [
    ("7", 7.0), ("1.5", 1.5), ("-3", 0.0), (None, None), ("", None), ("soon", None), ("nan", None),
    ("Fri, 20 Nov 2026 10:00:30 GMT", 30.0), ("Fri, 20 Nov 2026 09:59:00 GMT", 0.0),
])
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == expected
