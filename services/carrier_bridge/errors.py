"""Failures of carrier-platform calls, on the backbone error tree (no HTTP imports).

    PermanentError
    ├── PartnerRequestError (backbone.errors: ``status``, ``code``)
    │   └── CarrierRequestError          the platform refused the request (4xx); ``code`` is EasyPost's
    │       ├── CarrierValidationError   400/422 with ``errors`` (field, message) pairs
    │       │   └── PostageExistsError   the shipment already has a label bought with another rate
    │       └── CarrierNotFoundError     404
    ├── CarrierProtocolError         a 2xx answer we cannot read
    └── BookingError                 we cannot build the booking (no ship-to address, no rate for the service)
    Timeouts, connection errors and 5xx raise TargetUnavailableError; 429 raises RetryableError
    (with retry_after); 401/403 raise AuthenticationError (the mapping is backbone.partner_http).
"""

from __future__ import annotations

from typing import Any

from backbone.errors import PartnerRequestError, PermanentError

__all__ = [
    "BookingError",
    "CarrierNotFoundError",
    "CarrierProtocolError",
    "CarrierRequestError",
    "CarrierValidationError",
    "PostageExistsError",
]


class CarrierRequestError(PartnerRequestError):
    def __init__(self, message: str, *, status: int, code: str | None,
                 errors: tuple[tuple[str, str], ...] = (), **context: Any) -> None:
        super().__init__(message, status=status, code=code, **context)
        self.errors = errors


class CarrierValidationError(CarrierRequestError):
    pass


class PostageExistsError(CarrierValidationError):
    pass


class CarrierNotFoundError(CarrierRequestError):
    pass


class CarrierProtocolError(PermanentError):
    pass


class BookingError(PermanentError):
    pass
