"""generic.milestone.v1: the partner-neutral event format, as ONE JSON Schema used twice.

The same dict is published in /openapi.json and enforced here by a validator compiled from it at
import for the subset of JSON Schema it uses (type, required, enum, min/maxLength, format
date-time, nested objects), so
the documentation can never drift from what is accepted. Missing fields answer 400, wrong types or
values 422 (see errors.py).

Example line (tests/fixtures/partners/generic_milestone.json)::

    {"event_id": "tms-...-000481", "kind": "shipment", "code": "DELIVERY_ATTEMPT_FAILED",
     "occurred_at": "2026-11-20T10:42:00+01:00", "shipment": {"tracking_number": "JJD0003..."}}
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.ingest.errors import InvalidShapeError, MissingFieldError

__all__ = ["GENERIC_EVENT_SCHEMA", "GENERIC_FORMAT", "is_rfc3339", "validate_generic"]

GENERIC_FORMAT = "generic.milestone.v1"

_TEXT = {"type": "string", "minLength": 1, "maxLength": 200}
_OPTIONAL_TEXT = {"type": "string", "maxLength": 1000}

GENERIC_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "One milestone in the project's partner-neutral format (generic.milestone.v1). "
    "Codes are the canonical codes of backbone/canonical.py; an unknown code is kept as UNKNOWN.",
    "required": ["event_id", "kind", "code", "occurred_at"],
    "properties": {
        "event_id": {**_TEXT, "description": "The partner's unique id of this event (dedupe key)."},
        "kind": {"type": "string", "enum": ["shipment", "order", "inventory"]},
        "code": {"type": "string", "minLength": 1, "maxLength": 64, "examples": ["DELIVERED"]},
        "occurred_at": {"type": "string", "format": "date-time", "description": "RFC 3339 with offset."},
        "shipment": {
            "type": "object",
            "properties": {
                "carrier": _TEXT,
                "tracking_number": _TEXT,
                "order_ref": _TEXT,
                "package_ref": _TEXT,
            },
        },
        "order": {"type": "object", "properties": {"order_ref": _TEXT}},
        "inventory": {"type": "object", "properties": {"warehouse": _TEXT, "sku": _TEXT}},
        "location": {"type": "object"},
        "exception_reason": {"type": "string", "maxLength": 64},
        "note": _OPTIONAL_TEXT,
    },
}

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$", re.ASCII
)


def is_rfc3339(value: str) -> bool:
    """RFC 3339 ``date-time`` (offset required), the JSON Schema format; leap second 60 allowed."""
    match = _RFC3339.match(value)
    if not match:
        return False
    year, month, day, hour, minute, second, _, _, off_hour, off_minute = match.groups()
    if off_hour is not None and (off_hour > "23" or off_minute > "59"):  # two ASCII digits compare as text
        return False
    if month < "01" or month > "12" or day < "01" or hour > "23" or minute > "59" or second > "60":
        return False
    if day > "28":  # only then can the day be past the month's end
        try:
            datetime(int(year), int(month), int(day))
        except ValueError:
            return False
    return True


_TYPES: dict[str, type] = {"object": dict, "string": str, "array": list}
Check = Callable[[Any], None]


def _compile(schema: dict[str, Any], where: str) -> Check:
    """Turn one schema node into a closure once, so a batch line costs a few dict lookups."""
    expected = _TYPES[schema["type"]] if "type" in schema else object
    wrong_type = f"{where or 'the event'} must be a JSON {schema.get('type')}"
    if expected is str:
        enum = frozenset(schema["enum"]) if "enum" in schema else None
        enum_text = ", ".join(schema.get("enum", ()))
        low, high = schema.get("minLength", 0), schema.get("maxLength", 1 << 30)
        is_datetime = schema.get("format") == "date-time"

        def check_string(value: Any) -> None:
            if not isinstance(value, str):
                raise InvalidShapeError("invalid_shape", wrong_type)
            if enum is not None and value not in enum:
                raise InvalidShapeError("invalid_shape", f"{where} must be one of {enum_text}")
            if len(value) < low:
                raise InvalidShapeError("invalid_shape", f"{where} must not be empty")
            if len(value) > high:
                raise InvalidShapeError("invalid_shape", f"{where} is longer than {high} characters")
            if is_datetime and not is_rfc3339(value):
                raise InvalidShapeError("invalid_shape", f"{where} must be an RFC 3339 date-time with offset")

        return check_string
    required = tuple(schema.get("required", ()))
    properties = tuple(
        (name, _compile(sub, f"{where}.{name}" if where else name))
        for name, sub in schema.get("properties", {}).items()
    )

    def check_object(value: Any) -> None:
        if not isinstance(value, expected):
            raise InvalidShapeError("invalid_shape", wrong_type)
        if not isinstance(value, dict):
            return
        for name in required:
            if name not in value:
                path = f"{where}.{name}" if where else name
                raise MissingFieldError("missing_field", f"required field {path} is missing")
        for name, check in properties:
            if name in value:
                check(value[name])

    return check_object


_VALIDATE = _compile(GENERIC_EVENT_SCHEMA, "")


def validate_generic(doc: Any) -> dict[str, Any]:
    """Return ``doc`` when it is a valid generic.milestone.v1 event; raise 400/422 errors otherwise."""
    _VALIDATE(doc)
    assert isinstance(doc, dict)
    return doc
