"""The one translation table: exception name first, then HTTP status, never message text."""

from __future__ import annotations

import pytest

from backbone.errors import DeliveryError, RetryableError
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
    translate,
)


@pytest.mark.parametrize(("name", "status", "expected"), [
    ("odoo.exceptions.AccessDenied", None, OdooAuthenticationError),
    ("odoo.exceptions.AccessDenied", 403, OdooAuthenticationError),  # name beats AccessDenied.http_status
    ("werkzeug.exceptions.Unauthorized", 401, OdooAuthenticationError),
    ("odoo.http.SessionExpiredException", None, OdooAuthenticationError),
    ("odoo.exceptions.AccessError", None, OdooAccessError),
    ("odoo.exceptions.MissingError", 404, RecordMissingError),
    ("werkzeug.exceptions.NotFound", 404, OdooNotFoundError),
    ("odoo.exceptions.ValidationError", 422, OdooValidationError),
    ("odoo.exceptions.UserError", 422, OdooUserError),
    ("odoo.exceptions.LockError", 409, OdooConflictError),
    ("psycopg2.errors.SerializationFailure", 500, OdooConflictError),  # a 500 that is only a conflict
    ("psycopg2.errors.SerializationFailure", None, OdooConflictError),
    ("odoo.exceptions.ConcurrencyError", 500, OdooConflictError),
    ("psycopg2.OperationalError", None, OdooUnavailableError),
    ("builtins.ValueError", 500, OdooRequestError),  # bad field name: retrying cannot help
    ("werkzeug.exceptions.UnprocessableEntity", 422, OdooRequestError),
    ("odoo.addons.custom.CustomError", None, OdooUnavailableError),
    ("odoo.addons.custom.CustomUserError", 422, OdooValidationError),
    (None, 401, OdooAuthenticationError),
    (None, 403, OdooAccessError),
    (None, 404, OdooNotFoundError),
    (None, 409, OdooConflictError),
    (None, 418, OdooRequestError),
    (None, 429, OdooRateLimitedError),
    (None, 502, OdooUnavailableError),
    (None, None, OdooUnavailableError),
])
def test_error_class(name: str | None, status: int | None, expected: type[DeliveryError]) -> None:
    error = translate(protocol="json2", model="stock.picking", method="write", status=status, name=name, message="m")
    assert type(error) is expected


@pytest.mark.parametrize("message", ["could not obtain lock", "timeout", "Access Denied", "record does not exist"])
def test_message_text_never_changes_the_class(message: str) -> None:
    error = translate(protocol="jsonrpc", model="m", method="x", status=None, name="odoo.exceptions.UserError",
                      message=message)
    assert type(error) is OdooUserError


def test_retryable_errors_carry_retry_after_and_context() -> None:
    error = translate(protocol="json2", model="stock.picking", method="write", status=429, name=None,
                      message="Too Many Requests", retry_after=12.0)
    assert isinstance(error, RetryableError)
    assert error.retry_after == 12.0
    assert error.context == {"protocol": "json2", "model": "stock.picking", "method": "write", "status": 429}


def test_message_is_one_bounded_line() -> None:
    error = translate(protocol="jsonrpc", model="m", method="x", status=None, name="odoo.exceptions.ValidationError",
                      message="line one\nline two " + "x" * 2000)
    assert "\n" not in error.message
    assert error.message.startswith("Odoo odoo.exceptions.ValidationError: line one line two")
    assert len(error.message) < 600
