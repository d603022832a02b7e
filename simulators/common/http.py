"""Small HTTP helpers for the simulators: JSON bodies, timestamps, cursors and ids."""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

__all__ = [
    "bearer_or_basic_key",
    "decode_cursor",
    "encode_cursor",
    "hex_id",
    "iso",
    "json_response",
    "parse_iso",
    "read_json_object",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """UTC timestamp with milliseconds and a ``Z``, the way both modelled vendors render them."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> datetime | None:
    """An aware datetime, or None when ``value`` is not ISO 8601 with a zone (naive times are ambiguous)."""
    # An unescaped '+' in a query string arrives as a space: put the offset sign back.
    text = value.strip()
    if "T" in text:
        text = re.sub(r" (\d{2}:?\d{2})$", r"+\1", text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def hex_id(prefix: str) -> str:
    """EasyPost-style object id: ``<prefix>_<32 hex>``."""
    return f"{prefix}_{secrets.token_hex(16)}"


# Cursors name the simulator process that issued them: a restarted simulator (fresh state) rejects
# old cursors as a real API rejects expired ones, so clients must resync from a time watermark.
_EPOCH = secrets.token_hex(4)


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{_EPOCH}:{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError):
        return None
    version, epoch, position = [*raw.split(":", 2), "", ""][:3]
    return int(position) if version == "v1" and epoch == _EPOCH and position.isdigit() else None


def json_response(
    payload: Mapping[str, Any] | list[Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json.dumps(payload, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


async def read_json_object(request: web.Request) -> dict[str, Any] | None:
    """The request body as a JSON object, or None when it is not one (callers answer 400/422)."""
    raw = await request.read()
    try:
        body = json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def bearer_or_basic_key(request: web.Request) -> str | None:
    """API key from ``Authorization: Bearer <key>`` or HTTP Basic with the key as user name (EasyPost)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        try:
            user = base64.b64decode(value.strip(), validate=True).decode().partition(":")[0]
        except (binascii.Error, ValueError):
            return None
        return user or None
    return None
