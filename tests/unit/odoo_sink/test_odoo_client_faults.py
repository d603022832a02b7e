"""Every failure the simulator can show leaves the client as the right backbone error class."""

from __future__ import annotations

from typing import Any

import pytest

from backbone.errors import AuthenticationError, PermanentError, RetryableError, TargetUnavailableError
from backbone.stack.process import free_port
from services.odoo_sink.client import Json2Client, JsonRpcClient, make_client
from services.odoo_sink.errors import (
    OdooAccessError,
    OdooAuthenticationError,
    OdooConflictError,
    OdooNotFoundError,
    OdooRateLimitedError,
    OdooRequestError,
    OdooUnavailableError,
    OdooUserError,
    OdooValidationError,
    RecordMissingError,
)
from simulators.odoo.testing import RunningSimulator
from tests.unit.odoo_sink.conftest import connection

Client = JsonRpcClient | Json2Client


async def _search(odoo: Client) -> Any:
    return await odoo.call("stock.picking", "search", [[("state", "=", "assigned")]])


def _context_ok(exc: BaseException, odoo: Client, method: str = "search") -> None:
    assert isinstance(exc, (RetryableError, PermanentError))
    assert exc.context["protocol"] == odoo.protocol
    assert exc.context["model"] == "stock.picking"
    assert exc.context["method"] == method


async def test_connection_reset_is_target_unavailable(odoo: Client, sim: RunningSimulator) -> None:
    await odoo.authenticate()
    await sim.faults(down="reset")
    with pytest.raises(OdooUnavailableError) as caught:
        await _search(odoo)
    assert isinstance(caught.value, TargetUnavailableError)
    _context_ok(caught.value, odoo)


async def test_503_is_target_unavailable_with_retry_after(odoo: Client, sim: RunningSimulator) -> None:
    await odoo.authenticate()
    await sim.faults(down="503", retry_after_s=7)
    with pytest.raises(OdooUnavailableError) as caught:
        await _search(odoo)
    assert caught.value.retry_after == 7.0
    assert caught.value.context["status"] == 503


async def test_slow_odoo_times_out_as_target_unavailable(sim: RunningSimulator, odoo: Client) -> None:
    await odoo.authenticate()
    await sim.faults(delay_ms=600)
    slow = make_client(connection(sim.url, odoo.protocol, read_timeout_s=0.1, total_timeout_s=0.2))
    try:
        with pytest.raises(OdooUnavailableError, match="timeouts"):
            await _search(slow)
    finally:
        await slow.close()


async def test_unreachable_odoo_is_target_unavailable(odoo: Client) -> None:
    port = free_port()  # nothing listens there
    dead = make_client(connection(f"http://127.0.0.1:{port}", odoo.protocol))
    try:
        with pytest.raises(OdooUnavailableError, match="unreachable"):
            await dead.authenticate()
    finally:
        await dead.close()


async def test_429_is_retryable_with_retry_after_not_an_outage(odoo: Client, sim: RunningSimulator) -> None:
    await odoo.authenticate()
    await sim.faults(throttle=1, retry_after_s=3)
    with pytest.raises(OdooRateLimitedError) as caught:
        await _search(odoo)
    assert caught.value.retry_after == 3.0
    assert not isinstance(caught.value, TargetUnavailableError)
    assert await _search(odoo) == [1, 2]  # the next call goes through


async def test_500_is_target_unavailable(odoo: Client, sim: RunningSimulator) -> None:
    await odoo.authenticate()
    await sim.faults(error_rate=1.0)
    with pytest.raises(OdooUnavailableError) as caught:
        await _search(odoo)
    assert caught.value.context["status"] == 500


@pytest.mark.parametrize(("kind", "name"), [
    ("serialization", "psycopg2.errors.SerializationFailure"),
    ("lock", "odoo.exceptions.LockError"),
    ("concurrency", "odoo.exceptions.ConcurrencyError"),
])
async def test_lock_errors_are_retryable_conflicts(odoo: Client, sim: RunningSimulator, kind: str, name: str) -> None:
    await odoo.authenticate()
    await sim.faults(lock_errors=1, lock_kind=kind)
    with pytest.raises(OdooConflictError) as caught:
        await odoo.call("stock.picking", "write", [[1], {"carrier_tracking_ref": "X"}])
    assert not isinstance(caught.value, TargetUnavailableError)  # a conflict must not open the breaker
    assert caught.value.context["odoo_error"] == name
    _context_ok(caught.value, odoo, "write")
    assert await odoo.call("stock.picking", "write", [[1], {"carrier_tracking_ref": "X"}]) is True


async def test_revoked_key_is_an_authentication_error_then_recovers(odoo: Client, sim: RunningSimulator) -> None:
    await odoo.authenticate()
    await sim.faults(auth_revoked=True)
    with pytest.raises(OdooAuthenticationError) as caught:
        await _search(odoo)
    assert isinstance(caught.value, AuthenticationError)
    with pytest.raises(OdooAuthenticationError):
        await odoo.authenticate()
    await sim.faults(auth_revoked=False)
    assert await _search(odoo) == [1, 2]
    if odoo.protocol == "jsonrpc":  # the cached uid was dropped and the client logged in again
        assert len(await sim.calls(method="authenticate")) == 3


async def test_wrong_key_never_logs_in(sim: RunningSimulator, odoo: Client) -> None:
    wrong = make_client(connection(sim.url, odoo.protocol, api_key="not-the-key"))
    try:
        with pytest.raises(OdooAuthenticationError):
            await wrong.call("stock.picking", "search", [[]])
    finally:
        await wrong.close()


@pytest.mark.parametrize(("model", "method", "args", "kwargs", "error"), [
    ("sale.order", "write", [[1], {"client_order_ref": "X"}], None, OdooAccessError),
    ("stock.picking", "read", [[999], ["name"]], None, RecordMissingError),
    ("stock.quant", "write", [[1], {"quantity": 5}], None, OdooUserError),
    ("stock.picking", "write", [[1], {"colour": "red"}], None, OdooRequestError),
    ("stock.picking", "message_post", [[1]], {"body": "x", "subtype_xmlid": "mail.mt_nope"}, OdooRequestError),
])
async def test_odoo_exceptions_are_permanent(odoo: Client, model: str, method: str, args: list[Any],
                                             kwargs: dict[str, Any] | None, error: type[PermanentError]) -> None:
    with pytest.raises(error) as caught:
        await odoo.call(model, method, args, kwargs)
    assert type(caught.value) is error
    assert not isinstance(caught.value, AuthenticationError)
    assert caught.value.context["model"] == model


async def test_validation_error_from_odoo(odoo: Client, sim: RunningSimulator) -> None:
    await sim.faults(fail_next=[{"error": "ValidationError", "method": "write", "message": "Tracking ref taken"}])
    with pytest.raises(OdooValidationError, match="Tracking ref taken") as caught:
        await odoo.call("stock.picking", "write", [[1], {"carrier_tracking_ref": "DUP"}])
    assert caught.value.context["odoo_error"] == "odoo.exceptions.ValidationError"


async def test_unknown_model(odoo: Client) -> None:
    # Odoo itself differs here: JSON-RPC raises UserError("Object x doesn't exist"), JSON-2 a 404.
    expected = OdooUserError if odoo.protocol == "jsonrpc" else OdooNotFoundError
    with pytest.raises(expected):
        await odoo.call("no.such.model", "search", [[]])


async def test_hung_call_times_out_and_shutdown_releases_it(odoo: Client, sim: RunningSimulator) -> None:
    await odoo.authenticate()
    await sim.faults(timeout=1)
    hung = make_client(connection(sim.url, odoo.protocol, read_timeout_s=0.1, total_timeout_s=0.3))
    try:
        with pytest.raises(OdooUnavailableError):
            await _search(hung)
    finally:
        await hung.close()
    assert await _search(odoo) == [1, 2]  # only the next call was hung
