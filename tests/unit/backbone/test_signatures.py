"""Vendor signature schemes against published vectors and every refusal reason."""

from __future__ import annotations

import base64
import hashlib
import hmac
import unicodedata

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from backbone.errors import ConfigError, PermanentError
from backbone.signatures import (
    AFTERSHIP_HEADER,
    EASYPOST_HEADER,
    SHIPHERO_HEADER,
    SignatureError,
    sign_aftership,
    sign_easypost,
    sign_shiphero,
    sign_standard_webhooks,
    standard_webhooks_headers,
    verify_aftership,
    verify_easypost,
    verify_shiphero,
    verify_standard_webhooks,
)
from tests.conftest import partner_fixture_bytes

# Standard Webhooks reference vector (libraries/python/tests/test_webhooks.py::test_sign_function).
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TS = 1614265330
SW_BODY = b'{"test": 2432232314}'
SW_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

# RFC 4231 test case 2: HMAC-SHA256(key="Jefe", data="what do ya want for nothing?").
RFC_KEY = "Jefe"
RFC_DATA = b"what do ya want for nothing?"
RFC_HEX = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
RFC_B64 = base64.b64encode(bytes.fromhex(RFC_HEX)).decode()


def sw_headers(**overrides: str) -> dict[str, str]:
    headers = {"webhook-id": SW_ID, "webhook-timestamp": str(SW_TS), "webhook-signature": SW_SIGNATURE}
    headers.update(overrides)
    return {k: v for k, v in headers.items() if v}


def reason_of(excinfo: pytest.ExceptionInfo[SignatureError]) -> str:
    return excinfo.value.reason


# --- Standard Webhooks -----------------------------------------------------------------------


def test_standard_webhooks_signs_the_spec_vector() -> None:
    assert sign_standard_webhooks(SW_ID, SW_TS, SW_BODY, SW_SECRET) == SW_SIGNATURE
    assert standard_webhooks_headers(SW_ID, SW_TS, SW_BODY, SW_SECRET)["webhook-signature"] == SW_SIGNATURE


@pytest.mark.parametrize("secret", [SW_SECRET, SW_SECRET.removeprefix("whsec_")])
def test_standard_webhooks_verifies_the_spec_vector_with_or_without_prefix(secret: str) -> None:
    assert verify_standard_webhooks(SW_BODY, sw_headers(), secret, now=SW_TS + 10) == SW_ID


def test_standard_webhooks_accepts_one_valid_signature_among_several() -> None:
    listed = f"v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,{SW_SIGNATURE[3:]} {SW_SIGNATURE}"
    assert verify_standard_webhooks(SW_BODY, sw_headers(**{"webhook-signature": listed}), SW_SECRET,
                                    now=SW_TS) == SW_ID


def test_standard_webhooks_accepts_any_rotated_secret() -> None:
    other = "whsec_" + base64.b64encode(b"another-key-of-thirty-two-bytes!").decode()
    assert verify_standard_webhooks(SW_BODY, sw_headers(), [other, SW_SECRET], now=SW_TS) == SW_ID


@pytest.mark.parametrize("skew", [301, -301])
def test_standard_webhooks_refuses_a_timestamp_outside_tolerance(skew: int) -> None:
    with pytest.raises(SignatureError) as excinfo:
        verify_standard_webhooks(SW_BODY, sw_headers(), SW_SECRET, now=SW_TS + skew)
    assert reason_of(excinfo) == "stale_timestamp"


def test_standard_webhooks_tolerance_is_inclusive_and_configurable() -> None:
    assert verify_standard_webhooks(SW_BODY, sw_headers(), SW_SECRET, now=SW_TS + 300) == SW_ID
    with pytest.raises(SignatureError, match="60s"):
        verify_standard_webhooks(SW_BODY, sw_headers(), SW_SECRET, now=SW_TS + 61, tolerance_s=60)


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_standard_webhooks_names_the_missing_header(header: str) -> None:
    with pytest.raises(SignatureError, match=header) as excinfo:
        verify_standard_webhooks(SW_BODY, sw_headers(**{header: ""}), SW_SECRET, now=SW_TS)
    assert reason_of(excinfo) == "missing"


@pytest.mark.parametrize(
    ("header", "value"),
    [("webhook-timestamp", "hello"), ("webhook-timestamp", "1614265330.5"),
     ("webhook-signature", "v2,abc="), ("webhook-signature", "v1,***not-base64***"),
     ("webhook-signature", "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")],
)
def test_standard_webhooks_refuses_malformed_headers(header: str, value: str) -> None:
    with pytest.raises(SignatureError) as excinfo:
        verify_standard_webhooks(SW_BODY, sw_headers(**{header: value}), SW_SECRET, now=SW_TS)
    assert reason_of(excinfo) == "malformed"


@pytest.mark.parametrize(
    ("body", "headers"),
    [(SW_BODY + b" ", sw_headers()),
     (SW_BODY, sw_headers(**{"webhook-id": "msg_other"})),
     (SW_BODY, sw_headers(**{"webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="}))],
)
def test_standard_webhooks_refuses_tampering(body: bytes, headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError) as excinfo:
        verify_standard_webhooks(body, headers, SW_SECRET, now=SW_TS)
    assert reason_of(excinfo) == "mismatch"


def test_standard_webhooks_signs_the_timestamp_string_as_sent() -> None:
    # A leading zero changes the signed string; verification must not re-render the integer.
    signature = sign_standard_webhooks(SW_ID, SW_TS, SW_BODY, SW_SECRET)
    with pytest.raises(SignatureError, match="no webhook-signature entry"):
        verify_standard_webhooks(SW_BODY, sw_headers(**{"webhook-timestamp": f"0{SW_TS}",
                                                       "webhook-signature": signature}), SW_SECRET, now=SW_TS)


# --- EasyPost --------------------------------------------------------------------------------


def test_easypost_signs_the_rfc4231_vector() -> None:
    assert sign_easypost(RFC_DATA, RFC_KEY) == f"hmac-sha256-hex={RFC_HEX}"
    verify_easypost(RFC_DATA, {EASYPOST_HEADER: f"hmac-sha256-hex={RFC_HEX}"}, RFC_KEY)
    verify_easypost(RFC_DATA, {EASYPOST_HEADER: f"hmac-sha256-hex={RFC_HEX.upper()}"}, RFC_KEY)


def test_easypost_normalizes_the_secret_nfkd_like_its_official_clients() -> None:
    composed, decomposed = "s\u00e9cret", "se\u0301cret"
    body = partner_fixture_bytes("easypost_tracker_updated.json")
    expected = hmac.new(unicodedata.normalize("NFKD", composed).encode(), body, hashlib.sha256).hexdigest()
    assert sign_easypost(body, composed) == sign_easypost(body, decomposed) == f"hmac-sha256-hex={expected}"
    verify_easypost(body, {EASYPOST_HEADER: sign_easypost(body, decomposed)}, composed)


@pytest.mark.parametrize(
    ("value", "reason"),
    [(None, "missing"), ("", "missing"), (RFC_HEX, "malformed"), (f"sha256={RFC_HEX}", "malformed"),
     ("hmac-sha256-hex=zz", "malformed"), (f"hmac-sha256-hex={RFC_HEX[:-2]}", "malformed"),
     (f"hmac-sha256-hex={RFC_HEX[:-1]}0", "mismatch")],
)
def test_easypost_refusals(value: str | None, reason: str) -> None:
    headers = {} if value is None else {EASYPOST_HEADER: value}
    with pytest.raises(SignatureError) as excinfo:
        verify_easypost(RFC_DATA, headers, RFC_KEY)
    assert reason_of(excinfo) == reason
    assert excinfo.value.scheme == "easypost"


# --- AfterShip and ShipHero ------------------------------------------------------------------


def test_aftership_and_shiphero_sign_the_rfc4231_vector_in_base64() -> None:
    assert sign_aftership(RFC_DATA, RFC_KEY) == RFC_B64
    assert sign_shiphero(RFC_DATA, RFC_KEY) == RFC_B64
    verify_aftership(RFC_DATA, {AFTERSHIP_HEADER: RFC_B64}, RFC_KEY)
    verify_shiphero(RFC_DATA, {SHIPHERO_HEADER: RFC_B64}, RFC_KEY)


def test_header_lookup_is_case_insensitive_for_dicts_and_multidicts() -> None:
    body = partner_fixture_bytes("shiphero_shipment_update.json")
    value = sign_shiphero(body, "shh")
    verify_shiphero(body, {"x-shiphero-hmac-sha256": value}, "shh")
    verify_shiphero(body, CIMultiDictProxy(CIMultiDict({"X-SHIPHERO-HMAC-SHA256": value})), "shh")
    aftership = partner_fixture_bytes("aftership_tracking_update.json")
    verify_aftership(aftership, {"Aftership-Hmac-Sha256": sign_aftership(aftership, "shh")}, "shh")


@pytest.mark.parametrize(
    ("value", "reason"),
    [(None, "missing"), ("   ", "missing"), ("not base64!", "malformed"),
     (base64.b64encode(b"short").decode(), "malformed"), (sign_shiphero(RFC_DATA, "other"), "mismatch")],
)
def test_shiphero_refusals(value: str | None, reason: str) -> None:
    headers = {} if value is None else {SHIPHERO_HEADER: value}
    with pytest.raises(SignatureError) as excinfo:
        verify_shiphero(RFC_DATA, headers, RFC_KEY)
    assert reason_of(excinfo) == reason


def test_aftership_does_not_accept_a_shiphero_header() -> None:
    with pytest.raises(SignatureError) as excinfo:
        verify_aftership(RFC_DATA, {SHIPHERO_HEADER: RFC_B64}, RFC_KEY)
    assert reason_of(excinfo) == "missing"


# --- errors ----------------------------------------------------------------------------------


def test_signature_error_is_permanent_and_never_shows_the_secret() -> None:
    secret = "super-secret-value"
    with pytest.raises(SignatureError) as excinfo:
        verify_aftership(RFC_DATA, {AFTERSHIP_HEADER: sign_aftership(RFC_DATA, "wrong")}, secret)
    assert isinstance(excinfo.value, PermanentError)
    assert secret not in str(excinfo.value)
    assert excinfo.value.context == {"reason": "mismatch", "scheme": "aftership"}


@pytest.mark.parametrize("secret", ["", []])
def test_an_empty_configured_secret_is_a_config_error_not_a_refusal(secret: str | list[str]) -> None:
    with pytest.raises(ConfigError):
        verify_shiphero(RFC_DATA, {SHIPHERO_HEADER: RFC_B64}, secret)


def test_a_non_base64_standard_webhooks_secret_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="whsec_"):
        sign_standard_webhooks(SW_ID, SW_TS, SW_BODY, "whsec_***")
