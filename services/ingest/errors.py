"""Every way ingest refuses a request, and the ONE place exceptions become HTTP answers.

    PermanentError (backbone)
    └── RejectedError              400 the client must change the request  (reason codes below)
        ├── MalformedError         400 not JSON / not NDJSON / empty
        ├── MissingFieldError      400 a required field is absent
        ├── UnauthorizedError      401 no or bad signature / API key  (+ SignatureError from backbone)
        ├── ForbiddenError         403 authenticated, but not allowed to write here / as that partner
        ├── UnknownPartnerError    404 no such partner
        ├── ReplayError            409 this signed message id was already accepted
        ├── TooLargeError          413 body, event or batch over its limit
        ├── UnsupportedMediaError  415 wrong Content-Type
        └── InvalidShapeError      422 valid JSON of the wrong shape
    RetryableError (backbone)
    ├── RateLimitedError           429 + Retry-After: over the partner's token bucket
    └── any other                  503 + Retry-After: Kafka did not acknowledge (down, timeout, queue full)

Answers are RFC 9457 problem documents (``application/problem+json``) with a stable ``reason``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from backbone.errors import BackboneError, DeliveryError, PermanentError, RetryableError
from backbone.signatures import SignatureError

__all__ = [
    "PROBLEM_JSON",
    "ForbiddenError",
    "InvalidShapeError",
    "MalformedError",
    "MissingFieldError",
    "Problem",
    "RateLimitedError",
    "RejectedError",
    "ReplayError",
    "TooLargeError",
    "UnauthorizedError",
    "UnknownPartnerError",
    "UnsupportedMediaError",
    "problem_for",
]

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class RejectedError(PermanentError):
    """The request cannot succeed as sent. ``reason`` is a stable, low-cardinality code (metrics label)."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad Request"

    def __init__(self, reason: str, message: str, **context: Any) -> None:
        super().__init__(message, **context)
        self.reason = reason


class MalformedError(RejectedError):
    status = 400
    title = "Malformed request body"


class MissingFieldError(RejectedError):
    status = 400
    title = "Missing required field"


class UnauthorizedError(RejectedError):
    status = 401
    title = "Unauthorized"


class ForbiddenError(RejectedError):
    status = 403
    title = "Forbidden"


class UnknownPartnerError(RejectedError):
    status = 404
    title = "Unknown partner"


class ReplayError(RejectedError):
    status = 409
    title = "Replayed message"


class TooLargeError(RejectedError):
    status = 413
    title = "Payload too large"


class UnsupportedMediaError(RejectedError):
    status = 415
    title = "Unsupported media type"


class InvalidShapeError(RejectedError):
    status = 422
    title = "Unprocessable content"


class RateLimitedError(RetryableError):
    """Over the partner's rate limit; ``retry_after`` says when enough tokens are back."""


@dataclass(frozen=True)
class Problem:
    """An HTTP answer for a refused request: status, stable reason, human detail, extra headers."""

    status: int
    reason: str
    title: str
    detail: str
    headers: dict[str, str]

    def body(self, correlation_id: str | None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": f"urn:backbone:ingest:{self.reason}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "reason": self.reason,
        }
        if correlation_id:
            doc["correlation_id"] = correlation_id
        if "Retry-After" in self.headers:
            doc["retry_after"] = int(self.headers["Retry-After"])
        return doc


_SIGNATURE_REASONS = {
    "missing": "missing_signature",
    "malformed": "malformed_signature",
    "mismatch": "bad_signature",
    "stale_timestamp": "stale_timestamp",
}


def _retry_after(seconds: float | None, default: int) -> dict[str, str]:
    value = default if seconds is None else max(1, math.ceil(seconds))
    return {"Retry-After": str(value)}


def problem_for(exc: BaseException, *, retry_after_s: int = 5) -> Problem:
    """Map an exception to its answer, by class. Unknown exceptions are our bug: 500, logged by the caller."""
    if isinstance(exc, SignatureError):
        reason = _SIGNATURE_REASONS.get(exc.reason, "bad_signature")
        challenge = {"WWW-Authenticate": f'Signature scheme="{exc.scheme}"'}
        return Problem(401, reason, "Unauthorized", exc.message, challenge)
    if isinstance(exc, RejectedError):
        headers = {"WWW-Authenticate": 'Bearer realm="ingest"'} if isinstance(exc, UnauthorizedError) else {}
        return Problem(exc.status, exc.reason, exc.title, exc.message, headers)
    if isinstance(exc, RateLimitedError):
        return Problem(429, "rate_limited", "Too Many Requests", exc.message, _retry_after(exc.retry_after, 1))
    if isinstance(exc, DeliveryError | TimeoutError):
        # Kafka did not acknowledge: retriable or not, the client can only come back later. The
        # configured pause (not librdkafka's 1 s) keeps a fleet of retrying partners off a sick broker.
        detail = "the event was not acknowledged by Kafka; retry later"
        return Problem(503, "kafka_unavailable", "Service Unavailable", detail, _retry_after(None, retry_after_s))
    if isinstance(exc, BackboneError):
        # A config/schema failure on our side: unavailable for now, never blamed on the client.
        return Problem(
            503,
            "unavailable",
            "Service Unavailable",
            "ingest cannot store events right now",
            _retry_after(None, retry_after_s),
        )
    return Problem(500, "internal_error", "Internal Server Error", "unexpected error; it was logged", {})
