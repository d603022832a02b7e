"""Partner API clients (WMS, carrier): the shared aiohttp plumbing and the ONE mapping of an HTTP
error answer to the backbone error tree (:class:`SessionOwner` also serves Odoo's client).

    timeout, connection error        TargetUnavailableError
    429                              RetryableError          (``retry_after`` from Retry-After)
    408, 5xx                         TargetUnavailableError  (``retry_after`` from Retry-After)
    401, 403                         AuthenticationError
    other non-2xx                    the partner's own PartnerRequestError subclass (``_refusal``)
    2xx that is not JSON / not understood   the partner's ``protocol_error``

A client never retries: the sink's retry policy decides from the error class and ``retry_after``.
Every error carries ``partner``, ``call`` and (for answers) ``status`` in its context.

Example::

    class WmsClient(PartnerClient):
        partner, display_name, protocol_error = "wms", "WMS", WmsProtocolError

        def _error_code(self, payload): return payload.get("error"), payload.get("message")
        def _refusal(self, status, payload, code, detail, context): return WmsRequestError(detail, ...)

    answer = await client._send("GET", "/v1/orders/1", call="get_order", headers=headers)
    data = client._json(answer, "get_order")
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar

import aiohttp

from backbone.errors import (
    AuthenticationError,
    ConfigError,
    DeliveryError,
    PermanentError,
    RetryableError,
    TargetUnavailableError,
)
from backbone.http import parse_retry_after

__all__ = ["PartnerAnswer", "PartnerClient", "SessionOwner", "classify_status"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PartnerAnswer:
    """One HTTP answer, read in full before the connection goes back to the pool."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error_payload(self) -> dict[str, Any]:
        """The JSON object of an error answer; ``{}`` when it is empty, not JSON or not an object."""
        try:
            payload = json.loads(self.body) if self.body else {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {}
        return payload if isinstance(payload, dict) else {}


def classify_status(status: int, reason: str, *, partner: str, call: str, retry_after: float | None,
                    credentials: str = "credentials", auth_code: str | None = None) -> DeliveryError | None:
    """The backbone error for a throttled, unavailable or unauthorised answer; None for the other
    refusals (the partner's own classes say what was wrong with the request)."""
    context: dict[str, Any] = {"partner": partner, "call": call, "status": status}
    if status == 429:
        return RetryableError(f"{partner} throttled {call}: {reason}", retry_after=retry_after, **context)
    if status >= 500 or status == 408:
        return TargetUnavailableError(f"{partner} unavailable for {call}: {reason}", retry_after=retry_after,
                                      **context)
    if status in (401, 403):
        return AuthenticationError(f"{partner} refused our {credentials} for {call}: {reason}", code=auth_code,
                                   **context)
    return None


class SessionOwner:
    """An aiohttp session the caller lends (left open) or the client creates lazily (closed by
    :meth:`close` / ``async with``). Odoo's client shares this with the WMS and carrier clients."""

    def __init__(self, session: aiohttp.ClientSession | None) -> None:
        self._session = session
        self._own_session = session is None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None


class PartnerClient(SessionOwner):
    """Base of a partner API client: one request per call, failures translated once.

    Subclasses set ``partner`` (error context and messages), ``display_name`` (settings messages),
    ``protocol_error`` and implement :meth:`_error_code` and :meth:`_refusal`.
    """

    partner: ClassVar[str]
    display_name: ClassVar[str]
    protocol_error: ClassVar[type[PermanentError]]
    credentials: ClassVar[str] = "credentials"  # wording of the 401/403 message
    code_on_auth_error: ClassVar[bool] = False  # put the partner's error code in AuthenticationError

    def __init__(self, base_url: str, *, timeout_s: float, session: aiohttp.ClientSession | None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"{self.display_name} base URL must be http(s)://..., got {base_url!r}")
        super().__init__(session)
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    # --- partner specifics -----------------------------------------------------------------

    def _error_code(self, payload: dict[str, Any]) -> tuple[str | None, Any]:
        """(the partner's error code, its message) from an error answer's JSON object."""
        raise NotImplementedError

    def _refusal(self, status: int, payload: dict[str, Any], code: str | None, detail: str,
                 context: dict[str, Any]) -> DeliveryError:
        """The partner's own error (a PartnerRequestError, with ``status``, ``code`` and ``context``
        = partner, call) for a refusal that is not throttling, an outage or auth."""
        raise NotImplementedError

    # --- plumbing --------------------------------------------------------------------------

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None:  # created lazily: a ClientSession must be born inside the loop
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    def _error(self, answer: PartnerAnswer, call: str) -> DeliveryError:
        """The one place an HTTP error answer becomes a backbone error."""
        payload = answer.error_payload()
        code, message = self._error_code(payload)
        reason = str(message or code or f"HTTP {answer.status}")
        retry_after = parse_retry_after(answer.headers.get("Retry-After"))
        error = classify_status(answer.status, reason, partner=self.partner, call=call, retry_after=retry_after,
                                credentials=self.credentials,
                                auth_code=code if self.code_on_auth_error else None)
        if error is not None:
            return error
        context: dict[str, Any] = {"partner": self.partner, "call": call}
        return self._refusal(answer.status, payload, code, f"{self.partner} refused {call}: {reason}", context)

    async def _send(self, method: str, path: str, *, call: str, headers: Mapping[str, str],
                    body: dict[str, Any] | None = None, params: dict[str, str] | None = None) -> PartnerAnswer:
        """One request; a transport failure or a non-2xx answer raises its backbone error."""
        try:
            async with self._ensure_session().request(
                method, self._base + path, json=body, params=params, headers=headers, timeout=self._timeout,
            ) as response:
                raw = await response.read()
                answer = PartnerAnswer(response.status, response.headers, raw)
        except TimeoutError as exc:
            raise TargetUnavailableError(f"{self.partner} {call} timed out after {self._timeout.total}s",
                                         partner=self.partner, call=call) from exc
        except aiohttp.ClientError as exc:
            raise TargetUnavailableError(f"{self.partner} {call} failed: {type(exc).__name__}",
                                         partner=self.partner, call=call) from exc
        if not answer.ok:
            raise self._error(answer, call)
        return answer

    def _json(self, answer: PartnerAnswer, call: str) -> Any:
        try:
            return json.loads(answer.body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise self.protocol_error(f"{self.partner} answer to {call} is not JSON", partner=self.partner,
                                      call=call, status=answer.status) from exc

    def _parse(self, parse: Callable[..., T], data: Any, call: str, **kwargs: Any) -> T:
        """``parse(data, **kwargs)``; a shape we cannot read is the partner's protocol error."""
        try:
            return parse(data, **kwargs)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self.protocol_error(f"{self.partner} answer to {call} is not understood: {exc!r}",
                                      partner=self.partner, call=call) from exc
