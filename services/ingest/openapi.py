"""The OpenAPI 3.1 document of ingest, as data built from the loaded partner directory.

The partner path parameter is an enum of the configured ids and the generic event schema is the
one ``generic.py`` enforces, so the document describes exactly what this instance accepts.
"""

from __future__ import annotations

from typing import Any

from backbone import __version__
from services.ingest.generic import GENERIC_EVENT_SCHEMA, GENERIC_FORMAT
from services.ingest.partners import PartnerDirectory

__all__ = ["build_openapi"]

_REF = "#/components/schemas/"
_SIGNATURE_HEADERS = {
    "X-Hmac-Signature": "EasyPost: hmac-sha256-hex=<hex HMAC-SHA256(body, NFKD(secret))>",
    "aftership-hmac-sha256": "AfterShip: base64 HMAC-SHA256(body, secret)",
    "X-ShipHero-HMAC-SHA256": "ShipHero: base64 HMAC-SHA256(body, secret)",
    "webhook-id": "Standard Webhooks (ShipBob): message id; also the replay-cache key",
    "webhook-timestamp": "Standard Webhooks: Unix seconds, within the partner's tolerance of now",
    "webhook-signature": "Standard Webhooks: v1,<base64 HMAC-SHA256(id.timestamp.body)>",
    "Shippo-Auth-Signature": "Shippo HMAC: t=<unix>,v1=<hex HMAC-SHA256(t.body)>",
}


def _header(name: str, description: str, max_length: int | None = 512) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if max_length is not None:
        schema["maxLength"] = max_length
    return {"name": name, "in": "header", "required": False, "description": description, "schema": schema}


_CORRELATION_NOTE = (
    "Follows the event through every hop. Kept when it is 1-128 characters of [A-Za-z0-9._:/=+-] "
    "starting with a letter or digit; otherwise (or when absent) a UUIDv7 is generated."
)


def _problem(description: str, retry: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "headers": {"X-Correlation-Id": {"$ref": "#/components/headers/CorrelationId"}},
        "content": {"application/problem+json": {"schema": {"$ref": f"{_REF}Problem"}}},
    }
    if retry:
        response["headers"]["Retry-After"] = {"$ref": "#/components/headers/RetryAfter"}
    return response


def _with_batch(response: dict[str, Any]) -> dict[str, Any]:
    response["content"]["application/json"] = {"schema": {"$ref": f"{_REF}BatchResult"}}
    return response


def _json_response(description: str, schema: str, retry: bool = False) -> dict[str, Any]:
    response = _problem(description, retry)
    response["content"] = {"application/json": {"schema": {"$ref": f"{_REF}{schema}"}}}
    return response


_SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details; `reason` is a stable machine-readable code.",
        "required": ["type", "title", "status", "detail", "reason"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "reason": {"type": "string", "examples": ["bad_signature", "missing_field", "rate_limited"]},
            "correlation_id": {"type": "string"},
            "retry_after": {"type": "integer"},
        },
    },
    "Accepted": {
        "type": "object",
        "required": ["status", "event_id", "correlation_id", "partner"],
        "properties": {
            "status": {"const": "accepted"},
            "event_id": {"type": "string", "description": "The vendor's event id, or a UUIDv7 assigned by ingest."},
            "correlation_id": {"type": "string"},
            "partner": {"type": "string"},
        },
    },
    "BatchLine": {
        "type": "object",
        "required": ["line", "status"],
        "properties": {
            "line": {"type": "integer", "minimum": 1, "description": "1-based line number in the request body"},
            "status": {"enum": ["accepted", "rejected", "unavailable"]},
            "event_id": {"type": "string"},
            "reason": {"type": "string"},
            "detail": {"type": "string"},
            "http_status": {"type": "integer"},
        },
    },
    "BatchResult": {
        "type": "object",
        "required": ["status", "correlation_id", "accepted", "rejected", "unavailable", "results"],
        "properties": {
            "status": {"enum": ["accepted", "partial", "rejected", "unavailable"]},
            "correlation_id": {"type": "string"},
            "accepted": {"type": "integer", "minimum": 0},
            "rejected": {"type": "integer", "minimum": 0},
            "unavailable": {"type": "integer", "minimum": 0},
            "results": {"type": "array", "items": {"$ref": f"{_REF}BatchLine"}},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string"}, "detail": {"type": "string"}},
    },
    "GenericEvent": GENERIC_EVENT_SCHEMA,
}


def _partners_doc(directory: PartnerDirectory) -> str:
    rows = [f"| {p.id} | {p.channel} | {p.format} | {p.scheme} |" for p in directory.partners.values()]
    return "\n".join(["| partner | channel | format | signature |", "|---|---|---|---|", *rows])


def _webhook(directory: PartnerDirectory) -> dict[str, Any]:
    ids = sorted(p.id for p in directory.partners.values() if p.format != GENERIC_FORMAT) or ["none"]
    return {
        "operationId": "postWebhook",
        "summary": "Receive one vendor webhook, verified over the exact body",
        "description": "The body is stored byte-for-byte. Answers 202 only after Kafka acknowledged it.\n\n"
        + _partners_doc(directory),
        "parameters": [
            {"name": "partner", "in": "path", "required": True, "schema": {"type": "string", "enum": ids}},
            {
                "name": "token",
                "in": "query",
                "required": False,
                "description": "Shippo URL token scheme",
                "schema": {"type": "string", "maxLength": 512},
            },
            _header("X-Correlation-Id", _CORRELATION_NOTE, max_length=None),
            *(_header(name, text) for name, text in _SIGNATURE_HEADERS.items()),
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
        "responses": {
            "202": _json_response("Stored: Kafka acknowledged the write (acks=all)", "Accepted"),
            "400": _problem("Body is not valid JSON or lacks a required field"),
            "401": _problem("Missing, malformed, stale or wrong signature / token / API key"),
            "403": _problem("The API key belongs to another partner, or the partner sends to /v1/events"),
            "404": _problem("Unknown partner"),
            "409": _problem("This signed message id was already accepted (replay)"),
            "413": _problem("Body over the partner's limit"),
            "415": _problem("Content-Type is not application/json"),
            "422": _problem("Valid JSON of the wrong shape"),
            "429": _problem("Over the partner's rate limit", retry=True),
            "503": _problem("Kafka did not acknowledge; nothing to assume stored, retry later", retry=True),
        },
    }


def _events(max_batch_events: int) -> dict[str, Any]:
    batch_note = "An NDJSON batch is answered per line: one bad line never rejects the others."
    return {
        "operationId": "postEvents",
        "summary": f"Send {GENERIC_FORMAT} events: one JSON object or an NDJSON batch",
        "description": batch_note,
        "security": [{"partnerApiKey": []}],
        "parameters": [
            _header("X-Correlation-Id", _CORRELATION_NOTE, max_length=None),
            _header("X-Partner-Id", "Optional: must name the API key's own partner", max_length=None),
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"{_REF}GenericEvent"}},
                # NDJSON: the sequence of lines is described as an array of GenericEvent, each item one line.
                "application/x-ndjson": {
                    "schema": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": max_batch_events,
                        "items": {"$ref": f"{_REF}GenericEvent"},
                    },
                    "description": "One GenericEvent JSON document per line (newline-delimited)",
                },
            },
        },
        "responses": {
            "202": {
                "description": "Every accepted event was acknowledged by Kafka (a batch may list rejected lines)",
                "headers": {"X-Correlation-Id": {"$ref": "#/components/headers/CorrelationId"}},
                "content": {
                    "application/json": {
                        "schema": {"anyOf": [{"$ref": f"{_REF}Accepted"}, {"$ref": f"{_REF}BatchResult"}]}
                    }
                },
            },
            "400": _with_batch(_problem("Malformed JSON, missing field, or a batch whose lines are all malformed")),
            "401": _problem("Missing or invalid API key"),
            "403": _problem("X-Partner-Id names another partner, or this partner does not send this format"),
            "413": _problem("Body, event or batch over its limit"),
            "415": _problem("Content-Type is neither application/json nor application/x-ndjson"),
            "422": _with_batch(_problem("Valid JSON of the wrong shape (or every batch line rejected)")),
            "429": _problem("Over the partner's rate limit", retry=True),
            "503": _with_batch(_problem("Kafka did not acknowledge; retry later", retry=True)),
        },
    }


def _probe(summary: str) -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": f"{_REF}Health"}}}
    return {
        "summary": summary,
        "responses": {
            "200": {"description": "OK", "content": content},
            "503": {
                "description": "Not OK",
                "content": content,
                "headers": {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}},
            },
        },
    }


def build_openapi(directory: PartnerDirectory, max_batch_events: int = 1000) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Logistics backbone ingest",
            "version": __version__,
            "description": "Front door for partner events. Every 2xx means Kafka acknowledged the write.",
        },
        "paths": {
            "/v1/webhooks/{partner}": {"post": _webhook(directory)},
            "/v1/events": {"post": _events(max_batch_events)},
            "/healthz": {"get": {**_probe("Liveness: the process is alive"), "operationId": "healthz"}},
            "/readyz": {"get": {**_probe("Readiness: Kafka reachable, producer healthy"), "operationId": "readyz"}},
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "partnerApiKey": {"type": "http", "scheme": "bearer", "description": "Per-partner API key"}
            },
            "headers": {
                "CorrelationId": {"schema": {"type": "string"}, "description": "Correlation id of this request"},
                "RetryAfter": {"required": True, "schema": {"type": "string"}, "description": "Seconds to wait"},
            },
        },
    }
