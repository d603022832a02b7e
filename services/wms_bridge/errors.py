"""Failures of WMS partner calls, on the backbone error tree (no HTTP imports: handlers catch these).

    PermanentError
    ├── PartnerRequestError (backbone.errors: ``status``, ``code``)
    │   └── WmsRequestError      the partner refused the request (4xx); ``code`` is its reason
    │       ├── WmsValidationError   400/422, ``fields`` names what is wrong (e.g. unknown_sku)
    │       ├── WmsNotFoundError     404
    │       └── WmsConflictError     409: already shipped, duplicate order_ref (``existing_id``)
    └── WmsProtocolError         a 2xx answer we cannot read
    Timeouts, connection errors and 5xx raise TargetUnavailableError; 429 raises RetryableError;
    401/403 raise AuthenticationError (all from backbone.errors; the mapping is backbone.partner_http).
"""

from __future__ import annotations

from typing import Any

from backbone.errors import PartnerRequestError, PermanentError
from services.wms_bridge.models import FieldIssue

__all__ = ["WmsConflictError", "WmsNotFoundError", "WmsProtocolError", "WmsRequestError", "WmsValidationError"]


class WmsRequestError(PartnerRequestError):
    def __init__(self, message: str, *, status: int, code: str | None,
                 fields: tuple[FieldIssue, ...] = (), **context: Any) -> None:
        super().__init__(message, status=status, code=code, **context)
        self.fields = fields


class WmsValidationError(WmsRequestError):
    pass


class WmsNotFoundError(WmsRequestError):
    pass


class WmsConflictError(WmsRequestError):
    def __init__(self, message: str, *, existing_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, existing_id=existing_id, **kwargs)
        self.existing_id = existing_id


class WmsProtocolError(PermanentError):
    pass
