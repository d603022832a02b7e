"""One error hierarchy for the whole backbone.

    BackboneError
    ├── ConfigError                 bad settings, topics.yaml, partners.yaml, mapping files
    ├── StackError                  the local stack could not start or stop (port taken, Java missing...)
    ├── SchemaError                 schema invalid, incompatible, or registry unreachable
    │   └── SerializationError      a record does not fit its schema / bad wire format
    └── DeliveryError               a message could not be delivered or applied
        ├── RetryableError          try again later (timeouts, 5xx, 429, lock conflicts, broker down)
        │   └── TargetUnavailableError   the target is down; breakers count these
        └── PermanentError          retrying cannot help: dead-letter it (validation, access, missing record)
            ├── AuthenticationError credentials refused: pause and alert, never dead-letter everything
            └── PartnerRequestError a partner API refused the request (4xx): ``status`` and its ``code``

Services subclass these, never add a new root. Library exceptions are translated once, at the
boundary, with ``raise ... from exc``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "BackboneError",
    "ConfigError",
    "DeliveryError",
    "PartnerRequestError",
    "PermanentError",
    "RetryableError",
    "SchemaError",
    "SerializationError",
    "StackError",
    "TargetUnavailableError",
]


class BackboneError(Exception):
    """Root of every error raised by backbone code. ``context`` carries topic, offset, partner..."""

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context: dict[str, Any] = {k: v for k, v in context.items() if v is not None}

    def __str__(self) -> str:
        if not self.context:
            return self.message
        ctx = ", ".join(f"{k}={v}" for k, v in sorted(self.context.items()))
        return f"{self.message} ({ctx})"


class ConfigError(BackboneError):
    """Settings or a config file are invalid; the message names the file, line and field."""


class StackError(BackboneError):
    """The local development stack failed; the message says the real cause."""


class SchemaError(BackboneError):
    """A schema is invalid, incompatible with its previous version, or the registry failed."""


class SerializationError(SchemaError):
    """A value does not fit its schema, or bytes are not in the Confluent wire format."""


class DeliveryError(BackboneError):
    """A message could not be delivered to Kafka or applied to a target."""


class RetryableError(DeliveryError):
    """Transient: retry with backoff. ``retry_after`` (seconds) is honoured when the target sent one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class TargetUnavailableError(RetryableError):
    """The target did not answer (connection refused, timeout, 5xx); counts toward the breaker."""


class PermanentError(DeliveryError):
    """Retrying cannot help; the record goes to the dead letter channel with this reason."""


class AuthenticationError(PermanentError):
    """The target refused our credentials. Sinks pause and alert instead of dead-lettering."""


class PartnerRequestError(PermanentError):
    """A partner API (WMS, carrier) refused the request; ``status`` and the partner's ``code`` are
    attributes and also sit in ``context`` (so DLQ reasons and logs name them)."""

    def __init__(self, message: str, *, status: int, code: str | None, **context: Any) -> None:
        super().__init__(message, status=status, code=code, **context)
        self.status = status
        self.code = code
