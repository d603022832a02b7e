"""The exceptions a real Odoo raises over RPC, with the names and HTTP statuses it puts on the wire.

Odoo serializes an exception as ``{"name": "<module>.<Class>", "message", "arguments", "context",
"debug"}`` (``odoo.http.serialize_exception``). JSON-RPC wraps that in an HTTP 200 error envelope;
JSON-2 (Odoo 19) sends it as the body with ``UserError.http_status`` or the werkzeug code, and 500
for anything else (so a ``psycopg2`` serialization failure that exhausted Odoo's own retries is a
500 there, a ``LockError`` a 409). Simulated errors carry the real dotted name so clients can be
tested against the same strings they will meet in production.
"""

from __future__ import annotations

import traceback
from typing import Any

__all__ = [
    "AccessDenied",
    "AccessError",
    "BadRequest",
    "ConcurrencyError",
    "LockError",
    "MethodNotAllowed",
    "MissingError",
    "NotFound",
    "OdooException",
    "PythonError",
    "SerializationFailure",
    "Unauthorized",
    "UnprocessableEntity",
    "UserError",
    "ValidationError",
    "serialize",
]


class OdooException(Exception):
    """Base of every simulated server-side error: ``odoo_name`` is what goes on the wire."""

    odoo_name = "builtins.Exception"
    http_status = 500

    def __init__(self, message: str, *extra: Any) -> None:
        super().__init__(message, *extra)
        self.message = message

    @property
    def arguments(self) -> list[Any]:
        return list(self.args)


class UserError(OdooException):
    odoo_name = "odoo.exceptions.UserError"
    http_status = 422


class ValidationError(UserError):
    odoo_name = "odoo.exceptions.ValidationError"


class AccessError(UserError):
    odoo_name = "odoo.exceptions.AccessError"
    http_status = 403


class AccessDenied(UserError):
    """Bad login/password; Odoo suppresses its traceback."""

    odoo_name = "odoo.exceptions.AccessDenied"
    http_status = 403

    def __init__(self, message: str = "Access Denied") -> None:
        super().__init__(message)


class MissingError(UserError):
    odoo_name = "odoo.exceptions.MissingError"
    http_status = 404


class LockError(UserError):
    odoo_name = "odoo.exceptions.LockError"
    http_status = 409


class ConcurrencyError(OdooException):
    """Not a UserError in Odoo, hence a 500 on JSON-2."""

    odoo_name = "odoo.exceptions.ConcurrencyError"


class SerializationFailure(OdooException):
    """What escapes ``odoo.service.model.retrying`` once its own retries are exhausted."""

    odoo_name = "psycopg2.errors.SerializationFailure"

    def __init__(self, message: str = "could not serialize access due to concurrent update\n") -> None:
        super().__init__(message)


class PythonError(OdooException):
    """A plain Python exception escaping the ORM (bad field name, bad argument...)."""

    def __init__(self, builtin: str, message: str) -> None:
        super().__init__(message)
        self.odoo_name = f"builtins.{builtin}"


class _HttpException(OdooException):
    """werkzeug exceptions: JSON-2 serializes them with ``arguments=(description, code)``."""

    @property
    def arguments(self) -> list[Any]:
        return [self.message, self.http_status]


class BadRequest(_HttpException):
    odoo_name = "werkzeug.exceptions.BadRequest"
    http_status = 400


class Unauthorized(_HttpException):
    odoo_name = "werkzeug.exceptions.Unauthorized"
    http_status = 401


class NotFound(_HttpException):
    odoo_name = "werkzeug.exceptions.NotFound"
    http_status = 404


class MethodNotAllowed(_HttpException):
    odoo_name = "werkzeug.exceptions.MethodNotAllowed"
    http_status = 405


class UnprocessableEntity(_HttpException):
    odoo_name = "werkzeug.exceptions.UnprocessableEntity"
    http_status = 422


_BY_NAME: dict[str, type[OdooException]] = {
    cls.__name__: cls
    for cls in (
        UserError,
        ValidationError,
        AccessError,
        AccessDenied,
        MissingError,
        LockError,
        ConcurrencyError,
        SerializationFailure,
    )
}


def by_name(short_name: str, message: str | None = None) -> OdooException:
    """Build an error from its class name (``"ValidationError"``), for scripted fault injection."""
    cls = _BY_NAME.get(short_name)
    if cls is None:
        raise ValueError(f"unknown Odoo error {short_name!r}; known: {sorted(_BY_NAME)}")
    if message is None:
        return cls("Access Denied") if cls is AccessDenied else cls(f"Simulated {short_name}")
    return cls(message)


def serialize(exc: OdooException, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """``odoo.http.serialize_exception``: the ``data`` of a JSON-RPC error, the body of a JSON-2 one."""
    if isinstance(exc, AccessDenied):
        debug = ""  # Odoo calls suppress_traceback() on AccessDenied
    else:
        frames = "".join(traceback.format_tb(exc.__traceback__))
        debug = f"Traceback (most recent call last):\n{frames}{exc.odoo_name}: {exc.message}\n"
    return {
        "name": exc.odoo_name,
        "debug": debug,
        "message": exc.message,
        "arguments": exc.arguments,
        "context": context or {},
    }
