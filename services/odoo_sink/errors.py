"""Odoo failures on the backbone error tree, and the ONE place that picks a class for them.

    PermanentError
    ├── OdooRequestError          the call is wrong: unknown field/method/argument, bad body (4xx)
    │   └── OdooNotFoundError     404 for the model, method or database (module not installed?)
    ├── OdooUserError             Odoo refused the operation (UserError, RedirectWarning)
    │   ├── OdooValidationError   ValidationError, 422
    │   └── OdooWizardError       a business method answered a wizard (needs a human decision)
    ├── OdooAccessError           AccessError, 403: the integration user lacks a right
    ├── RecordMissingError        MissingError: the record was deleted or never existed
    └── AuthenticationError
        └── OdooAuthenticationError   AccessDenied, 401, login refused: pause and alert
    RetryableError
    ├── OdooConflictError         LockError, ConcurrencyError, psycopg2 serialization/lock, 409
    ├── OdooRateLimitedError      429, with the Retry-After Odoo (or its proxy) sent
    └── TargetUnavailableError
        └── OdooUnavailableError  timeouts, connection errors, 5xx, unreadable answers

The class is chosen from Odoo's exception name first (``odoo.exceptions.AccessError``; the same on
both protocols), then from the HTTP status; never from message text. Every error carries
``protocol``, ``model``, ``method`` and, when known, ``odoo_error`` and ``status`` in ``context``.
"""

from __future__ import annotations

from typing import Any

from backbone.errors import (
    AuthenticationError,
    DeliveryError,
    PermanentError,
    RetryableError,
    TargetUnavailableError,
)

__all__ = [
    "OdooAccessError",
    "OdooAuthenticationError",
    "OdooConflictError",
    "OdooNotFoundError",
    "OdooRateLimitedError",
    "OdooRequestError",
    "OdooUnavailableError",
    "OdooUserError",
    "OdooValidationError",
    "OdooWizardError",
    "RecordMissingError",
    "translate",
]


class OdooRequestError(PermanentError):
    """Retrying the same call cannot work: fix the mapping or the Odoo configuration."""


class OdooNotFoundError(OdooRequestError):
    """The model, method or database does not exist on this Odoo."""


class OdooUserError(PermanentError):
    """Odoo's business rules refused the operation (message is Odoo's, for the DLQ reason)."""


class OdooValidationError(OdooUserError):
    pass


class OdooWizardError(OdooUserError):
    """``button_validate`` & co. answered an action dict (a wizard) instead of doing the work.

    Odoo asks a question only a person can answer (backorder, immediate transfer, SMS, quality
    check); calling again with the same context gets the same question, so this is permanent:
    the record goes to the DLQ naming the wizard, and is redriven once someone has decided.
    """


class OdooAccessError(PermanentError):
    """The integration user is not allowed to do this; grant the right, then redrive the DLQ."""


class RecordMissingError(PermanentError):
    """The record is gone; the sink may retry within its grace period before dead-lettering."""


class OdooAuthenticationError(AuthenticationError):
    pass


class OdooConflictError(RetryableError):
    """Another transaction held the rows; retry soon."""


class OdooRateLimitedError(RetryableError):
    pass


class OdooUnavailableError(TargetUnavailableError):
    pass


_CONFLICTS = ("odoo.exceptions.LockError", "odoo.exceptions.ConcurrencyError",
              "psycopg2.errors.SerializationFailure", "psycopg2.errors.LockNotAvailable",
              "psycopg2.errors.DeadlockDetected", "psycopg2.extensions.TransactionRollbackError",
              "psycopg2.errors.TransactionRollback")
_REQUEST = ("werkzeug.exceptions.BadRequest", "werkzeug.exceptions.UnprocessableEntity",
            "werkzeug.exceptions.MethodNotAllowed", "builtins.TypeError", "builtins.ValueError",
            "builtins.AttributeError", "builtins.KeyError", "builtins.IndexError", "builtins.NameError")
BY_NAME: dict[str, type[DeliveryError]] = {
    "odoo.exceptions.AccessDenied": OdooAuthenticationError,
    "werkzeug.exceptions.Unauthorized": OdooAuthenticationError,
    "odoo.http.SessionExpiredException": OdooAuthenticationError,
    "odoo.exceptions.AccessError": OdooAccessError,
    "werkzeug.exceptions.Forbidden": OdooAccessError,
    "odoo.exceptions.MissingError": RecordMissingError,
    "odoo.exceptions.ValidationError": OdooValidationError,
    "odoo.exceptions.UserError": OdooUserError,
    "odoo.exceptions.RedirectWarning": OdooUserError,
    "werkzeug.exceptions.NotFound": OdooNotFoundError,
    "werkzeug.exceptions.TooManyRequests": OdooRateLimitedError,
    **dict.fromkeys(_CONFLICTS, OdooConflictError),
    **dict.fromkeys(_REQUEST, OdooRequestError),
}
BY_STATUS: dict[int, type[DeliveryError]] = {
    400: OdooRequestError,
    401: OdooAuthenticationError,
    403: OdooAccessError,
    404: OdooNotFoundError,
    405: OdooRequestError,
    408: OdooUnavailableError,
    409: OdooConflictError,
    422: OdooValidationError,
    429: OdooRateLimitedError,
}


def error_class(name: str | None, status: int | None) -> type[DeliveryError]:
    """Name first (exact), then the psycopg2 family, then the status; unknown server errors are 5xx."""
    if name and name in BY_NAME:
        return BY_NAME[name]
    if name and name.startswith("psycopg2."):
        return OdooUnavailableError  # OperationalError, InterfaceError...: the database is down
    if status is not None and status in BY_STATUS:
        return BY_STATUS[status]
    if status is not None and 400 <= status < 500:
        return OdooRequestError
    return OdooUnavailableError  # 5xx, or a JSON-RPC error whose name we do not know


def translate(*, protocol: str, model: str, method: str, status: int | None, name: str | None,
              message: str, retry_after: float | None = None) -> DeliveryError:
    """The backbone error for one failed Odoo call (callers ``raise translate(...) from exc``)."""
    cls = error_class(name, status)
    text = " ".join(str(message or "").split())[:500] or "no message"
    summary = f"Odoo {name or f'HTTP {status}'}: {text}"
    context: dict[str, Any] = {"protocol": protocol, "model": model, "method": method,
                               "odoo_error": name, "status": status}
    if issubclass(cls, RetryableError):
        return cls(summary, retry_after=retry_after, **context)
    return cls(summary, **context)
