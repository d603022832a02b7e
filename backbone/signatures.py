"""Partner webhook signature schemes as pure functions over the exact bytes received.

Ingest verifies with ``verify_*``; simulators and tests sign with ``sign_*``. Every comparison is
constant-time (:func:`hmac.compare_digest`) and every refusal raises :class:`SignatureError` whose
``reason`` is one of ``missing``, ``malformed``, ``mismatch``, ``stale_timestamp``. Secrets never
appear in messages. Verify functions accept one secret or several (rotation: any may match).

==================  ===============================  ===============================================
scheme              header                           value
==================  ===============================  ===============================================
EasyPost            ``X-Hmac-Signature``             ``hmac-sha256-hex=<hex HMAC(body, NFKD(secret))>``
AfterShip           ``aftership-hmac-sha256``        ``base64(HMAC(body, secret))``
ShipHero            ``X-ShipHero-HMAC-SHA256``       ``base64(HMAC(body, secret))``
Standard Webhooks   ``webhook-id/-timestamp/-signature``  ``v1,<base64 HMAC(id.ts.body, b64decode(whsec_))>``
Shippo HMAC         ``Shippo-Auth-Signature``        ``t=<unix>,v1=<hex HMAC("{t}.{body}", secret)>``
Shippo token        URL query ``?token=``            the self-generated token, compared as a secret
==================  ===============================  ===============================================

Example::

    header = sign_shiphero(body, secret)
    verify_shiphero(body, {SHIPHERO_HEADER: header}, secret)       # None, or raises SignatureError
    msg_id = verify_standard_webhooks(body, request.headers, "whsec_...")  # id feeds a replay cache
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Literal

from backbone.errors import ConfigError, PermanentError

__all__ = [
    "AFTERSHIP_HEADER",
    "EASYPOST_HEADER",
    "SHIPHERO_HEADER",
    "SHIPPO_HEADER",
    "STANDARD_WEBHOOKS_TOLERANCE_S",
    "SignatureError",
    "SignatureReason",
    "sign_aftership",
    "sign_easypost",
    "sign_shiphero",
    "sign_shippo",
    "sign_standard_webhooks",
    "standard_webhooks_headers",
    "verify_aftership",
    "verify_easypost",
    "verify_shiphero",
    "verify_shippo",
    "verify_shippo_token",
    "verify_standard_webhooks",
]

EASYPOST_HEADER = "X-Hmac-Signature"
AFTERSHIP_HEADER = "aftership-hmac-sha256"
SHIPHERO_HEADER = "X-ShipHero-HMAC-SHA256"
SHIPPO_HEADER = "Shippo-Auth-Signature"
WEBHOOK_ID = "webhook-id"
WEBHOOK_TIMESTAMP = "webhook-timestamp"
WEBHOOK_SIGNATURE = "webhook-signature"
STANDARD_WEBHOOKS_TOLERANCE_S = 300  # the spec's reference libraries use five minutes both ways

_EASYPOST_PREFIX = "hmac-sha256-hex="
_WHSEC_PREFIX = "whsec_"

SignatureReason = Literal["missing", "malformed", "mismatch", "stale_timestamp"]
Secrets = str | Sequence[str]


class SignatureError(PermanentError):
    """A webhook failed signature verification; ``reason`` says how (never which secret)."""

    def __init__(self, reason: SignatureReason, message: str, *, scheme: str) -> None:
        super().__init__(message, reason=reason, scheme=scheme)
        self.reason: SignatureReason = reason
        self.scheme = scheme


# --- helpers ---------------------------------------------------------------------------------


def _secrets(secret: Secrets, scheme: str) -> tuple[str, ...]:
    found = (secret,) if isinstance(secret, str) else tuple(secret)
    if not found or any(not s for s in found):
        # Our configuration is wrong, not the partner's request: never answer that with a 401.
        raise ConfigError(f"empty {scheme} webhook secret configured")
    return found


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup that works for plain dicts and aiohttp's CIMultiDict alike."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    if value is None or not value.strip():
        return None
    return value.strip()


def _hmac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()


def _b64decode(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _verify_base64_body_hmac(
    body: bytes, headers: Mapping[str, str], secret: Secrets, header: str, scheme: str
) -> None:
    value = _header(headers, header)
    if value is None:
        raise SignatureError("missing", f"{header} header is missing", scheme=scheme)
    given = _b64decode(value)
    if given is None or len(given) != hashlib.sha256().digest_size:
        raise SignatureError("malformed", f"{header} is not a base64 HMAC-SHA256", scheme=scheme)
    for candidate in _secrets(secret, scheme):
        if hmac.compare_digest(_hmac(candidate.encode(), body), given):
            return
    raise SignatureError("mismatch", f"{header} does not match the body", scheme=scheme)


# --- EasyPost --------------------------------------------------------------------------------


def _easypost_key(secret: str) -> bytes:
    # EasyPost's official clients NFKD-normalize the secret before using its UTF-8 bytes.
    return unicodedata.normalize("NFKD", secret).encode()


def sign_easypost(body: bytes, secret: str) -> str:
    """Value of ``X-Hmac-Signature`` for ``body``: ``hmac-sha256-hex=<lowercase hex>``."""
    return _EASYPOST_PREFIX + hmac.new(_easypost_key(secret), body, hashlib.sha256).hexdigest()


def verify_easypost(body: bytes, headers: Mapping[str, str], secret: Secrets) -> None:
    """Raise :class:`SignatureError` unless ``X-Hmac-Signature`` signs ``body`` with ``secret``."""
    scheme = "easypost"
    value = _header(headers, EASYPOST_HEADER)
    if value is None:
        raise SignatureError("missing", f"{EASYPOST_HEADER} header is missing", scheme=scheme)
    prefix, _, hex_digest = value.partition("=")
    try:
        given = bytes.fromhex(hex_digest)
    except ValueError:
        given = b""
    if f"{prefix.lower()}=" != _EASYPOST_PREFIX or len(given) != hashlib.sha256().digest_size:
        raise SignatureError("malformed", f"{EASYPOST_HEADER} is not '{_EASYPOST_PREFIX}<64 hex>'", scheme=scheme)
    for candidate in _secrets(secret, scheme):
        if hmac.compare_digest(_hmac(_easypost_key(candidate), body), given):
            return
    raise SignatureError("mismatch", f"{EASYPOST_HEADER} does not match the body", scheme=scheme)


# --- AfterShip and ShipHero (same construction, different header) ----------------------------


def sign_aftership(body: bytes, secret: str) -> str:
    """Value of ``aftership-hmac-sha256``: base64 of HMAC-SHA256(body) keyed with the secret."""
    return base64.b64encode(_hmac(secret.encode(), body)).decode()


def verify_aftership(body: bytes, headers: Mapping[str, str], secret: Secrets) -> None:
    """Raise :class:`SignatureError` unless ``aftership-hmac-sha256`` signs ``body``."""
    _verify_base64_body_hmac(body, headers, secret, AFTERSHIP_HEADER, "aftership")


def sign_shiphero(body: bytes, secret: str) -> str:
    """Value of ``X-ShipHero-HMAC-SHA256``: base64 of HMAC-SHA256(body) keyed with the secret."""
    return base64.b64encode(_hmac(secret.encode(), body)).decode()


def verify_shiphero(body: bytes, headers: Mapping[str, str], secret: Secrets) -> None:
    """Raise :class:`SignatureError` unless ``X-ShipHero-HMAC-SHA256`` signs ``body``."""
    _verify_base64_body_hmac(body, headers, secret, SHIPHERO_HEADER, "shiphero")


# --- Standard Webhooks (ShipBob) -------------------------------------------------------------


def _whsec_key(secret: str) -> bytes:
    raw = secret.removeprefix(_WHSEC_PREFIX)
    try:
        # Tolerate unpadded base64 as the reference library does, but not stray characters.
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError("Standard Webhooks secret is not base64 (expected whsec_<base64>)") from exc
    if not key:
        raise ConfigError("Standard Webhooks secret decodes to an empty key")
    return key


def sign_standard_webhooks(msg_id: str, timestamp: int, body: bytes, secret: str) -> str:
    """Value of ``webhook-signature``: ``v1,<base64 HMAC-SHA256("{id}.{timestamp}.{body}")>``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(_hmac(_whsec_key(secret), signed)).decode()


def standard_webhooks_headers(msg_id: str, timestamp: int, body: bytes, secret: str) -> dict[str, str]:
    """The three headers a Standard Webhooks sender attaches to ``body``."""
    return {
        WEBHOOK_ID: msg_id,
        WEBHOOK_TIMESTAMP: str(timestamp),
        WEBHOOK_SIGNATURE: sign_standard_webhooks(msg_id, timestamp, body, secret),
    }


def verify_standard_webhooks(
    body: bytes,
    headers: Mapping[str, str],
    secret: Secrets,
    *,
    tolerance_s: float = STANDARD_WEBHOOKS_TOLERANCE_S,
    now: float | None = None,
) -> str:
    """Verify a Standard Webhooks delivery and return its ``webhook-id`` (for the replay cache).

    The timestamp must be within ``tolerance_s`` of ``now`` (default: the wall clock) in either
    direction; ``webhook-signature`` may list several space-separated ``v1,<sig>`` entries.
    """
    scheme = "standard_webhooks"
    msg_id = _header(headers, WEBHOOK_ID)
    stamp = _header(headers, WEBHOOK_TIMESTAMP)
    signature = _header(headers, WEBHOOK_SIGNATURE)
    absent = [
        n for n, v in ((WEBHOOK_ID, msg_id), (WEBHOOK_TIMESTAMP, stamp), (WEBHOOK_SIGNATURE, signature)) if v is None
    ]
    if msg_id is None or stamp is None or signature is None:
        raise SignatureError("missing", f"header(s) missing: {', '.join(absent)}", scheme=scheme)
    if not stamp.isdigit():
        raise SignatureError("malformed", f"{WEBHOOK_TIMESTAMP} is not integer seconds", scheme=scheme)
    timestamp = int(stamp)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureError(
            "stale_timestamp", f"{WEBHOOK_TIMESTAMP} is more than {tolerance_s:g}s from now", scheme=scheme
        )
    given: list[bytes] = []
    for entry in signature.split():
        version, _, value = entry.partition(",")
        decoded = _b64decode(value)
        if version == "v1" and decoded is not None:
            given.append(decoded)
    if not given:
        raise SignatureError("malformed", f"{WEBHOOK_SIGNATURE} has no 'v1,<base64>' entry", scheme=scheme)
    signed = f"{msg_id}.{stamp}.".encode() + body  # the string as sent, not a re-rendered int
    for candidate in _secrets(secret, scheme):
        expected = _hmac(_whsec_key(candidate), signed)
        # Check every entry without short-circuiting on the first so timing does not reveal which matched.
        if any([hmac.compare_digest(expected, sig) for sig in given]):
            return msg_id
    raise SignatureError("mismatch", f"no {WEBHOOK_SIGNATURE} entry matches the body", scheme=scheme)


# --- Shippo (HMAC on request, or a self-generated URL token) ---------------------------------


def sign_shippo(body: bytes, secret: str, timestamp: int) -> str:
    """Value of ``Shippo-Auth-Signature``: ``t=<unix>,v1=<hex HMAC-SHA256("{t}.{body}")>``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_shippo(
    body: bytes,
    headers: Mapping[str, str],
    secret: Secrets,
    *,
    tolerance_s: float = STANDARD_WEBHOOKS_TOLERANCE_S,
    now: float | None = None,
) -> str:
    """Verify ``Shippo-Auth-Signature`` (HMAC security, provisioned by Shippo on request).

    Returns the ``v1`` signature, unique per message and timestamp, as the replay-cache key.
    """
    scheme = "shippo"
    value = _header(headers, SHIPPO_HEADER)
    if value is None:
        raise SignatureError("missing", f"{SHIPPO_HEADER} header is missing", scheme=scheme)
    fields: dict[str, list[str]] = {}
    for part in value.split(","):
        key, _, item = part.strip().partition("=")
        fields.setdefault(key, []).append(item)
    stamps, given_hex = fields.get("t", []), fields.get("v1", [])
    given: list[bytes] = []
    for item in given_hex:
        try:
            decoded = bytes.fromhex(item)
        except ValueError:
            continue
        if len(decoded) == hashlib.sha256().digest_size:
            given.append(decoded)
    if len(stamps) != 1 or not stamps[0].isdigit() or not given:
        raise SignatureError("malformed", f"{SHIPPO_HEADER} is not 't=<unix>,v1=<64 hex>'", scheme=scheme)
    current = time.time() if now is None else now
    if abs(current - int(stamps[0])) > tolerance_s:
        raise SignatureError(
            "stale_timestamp", f"{SHIPPO_HEADER} t is more than {tolerance_s:g}s from now", scheme=scheme
        )
    signed = f"{stamps[0]}.".encode() + body
    for candidate in _secrets(secret, scheme):
        expected = _hmac(candidate.encode(), signed)
        if any([hmac.compare_digest(expected, sig) for sig in given]):
            return expected.hex()
    raise SignatureError("mismatch", f"{SHIPPO_HEADER} does not match the body", scheme=scheme)


def verify_shippo_token(token: str | None, secret: Secrets) -> None:
    """Shippo's "self-generated token" option: the webhook URL carries ``?token=<secret>``."""
    scheme = "shippo_token"
    if token is None or not token.strip():
        raise SignatureError("missing", "token query parameter is missing", scheme=scheme)
    given = token.strip().encode()
    if not any([hmac.compare_digest(given, candidate.encode()) for candidate in _secrets(secret, scheme)]):
        raise SignatureError("mismatch", "token query parameter does not match", scheme=scheme)
