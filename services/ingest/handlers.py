"""HTTP handlers: read and check the request, hand plain values to the pure modules, publish, answer.

Order of checks, cheapest and least revealing first: partner exists (404), content type (415),
body read under the partner's limit (413), signature / API key (401/403/409), rate limit (429),
JSON and shape (400/422), then Kafka (202 only once acknowledged, else 503). The rate limit counts
authenticated traffic only, so nobody can exhaust a partner's budget with unsigned requests.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from services.ingest.auth import Verified
from services.ingest.errors import (
    ForbiddenError,
    InvalidShapeError,
    MalformedError,
    RateLimitedError,
    RejectedError,
    TooLargeError,
    UnknownPartnerError,
    UnsupportedMediaError,
    problem_for,
)
from services.ingest.extract import extract
from services.ingest.generic import GENERIC_FORMAT, validate_generic
from services.ingest.metrics import CONTENT_TYPE_LATEST
from services.ingest.middleware import CORRELATION_ID, NBYTES, PARTNER, trace_headers
from services.ingest.partners import Partner
from services.ingest.records import Envelope, RawRecord, build_record, now_micros
from services.ingest.state import STATE, IngestState

__all__ = ["events", "healthz", "metrics", "readyz", "webhook"]

JSON_TYPES = frozenset({"application/json"})
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonl", "application/jsonlines"})


def _json(status: int, doc: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(doc), content_type="application/json", headers=headers)


def _is_json(content_type: str) -> bool:
    return content_type in JSON_TYPES or (content_type.startswith("application/") and content_type.endswith("+json"))


def _source_ip(request: web.Request, hops: int) -> str | None:
    if hops:
        forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.remote


async def _read_body(request: web.Request, limit: int) -> bytes:
    length = request.content_length
    if length is not None and length > limit:
        raise TooLargeError("payload_too_large", f"body of {length} bytes is over this partner's {limit} byte limit")
    if length is not None:
        body = await request.read()
    else:  # chunked: stop reading as soon as the limit is crossed
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_chunked(65_536):
            size += len(chunk)
            if size > limit:
                raise TooLargeError("payload_too_large", f"body is over this partner's {limit} byte limit")
            chunks.append(chunk)
        body = b"".join(chunks)
    request[NBYTES] = len(body)
    return body


def _rate_limit(state: IngestState, partner: Partner, cost: int) -> None:
    wait = state.limiter.take(partner.id, cost)
    if wait > 0:
        raise RateLimitedError(
            f"over the rate limit of {partner.rate_limit.per_second:g} events/s for {partner.id}", retry_after=wait
        )


def _parse(payload: bytes, line: int | None = None) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        what = "body" if line is None else f"line {line}"
        raise MalformedError("malformed_json", f"{what} is not valid JSON: {exc}") from None


def _record(
    state: IngestState, verified: Verified, envelope: Envelope, payload: bytes, doc: Any, headers: Any = None
) -> RawRecord:
    partner = verified.partner
    if len(payload) > state.cfg.max_event_bytes:
        raise TooLargeError("event_too_large", f"one event may be at most {state.cfg.max_event_bytes} bytes")
    if partner.format == GENERIC_FORMAT:
        validate_generic(doc)
    elif not isinstance(doc, dict):
        raise InvalidShapeError("invalid_shape", f"a {partner.format} webhook body must be a JSON object")
    return build_record(
        topic=state.topics[partner.topic_role],
        payload=payload,
        verified=verified,
        envelope=envelope,
        facts=extract(partner.format, doc, headers),
        encode=state.encoder(),
    )


def _envelope(request: web.Request, state: IngestState) -> Envelope:
    return Envelope(
        correlation_id=request[CORRELATION_ID],
        received_at_us=now_micros(),
        content_type=request.headers.get("Content-Type", "application/json")[:200],
        source_ip=_source_ip(request, state.cfg.trusted_proxy_hops),
    )


def _accepted(record: RawRecord, correlation_id: str, partner: Partner) -> web.Response:
    return _json(
        202,
        {"status": "accepted", "event_id": record.event_id, "correlation_id": correlation_id, "partner": partner.id},
    )


async def _publish_one(state: IngestState, record: RawRecord) -> None:
    await state.publish_one(record, trace_headers())


async def webhook(request: web.Request) -> web.Response:
    """POST /v1/webhooks/{partner}: one vendor webhook body, exactly as sent."""
    state = request.app[STATE]
    partner = state.directory.get(request.match_info["partner"])
    if partner is None:
        raise UnknownPartnerError("unknown_partner", "no partner with this id is configured")
    request[PARTNER] = partner.id
    if partner.format == GENERIC_FORMAT:
        raise ForbiddenError("format_not_allowed", f"send {GENERIC_FORMAT} events to /v1/events")
    if not _is_json(request.content_type):
        raise UnsupportedMediaError("unsupported_media_type", "send the webhook body as application/json")
    body = await _read_body(request, partner.max_body_bytes)
    verified = state.auth.verify_webhook(partner, body, request.headers, request.query)
    try:
        _rate_limit(state, partner, 1)
        record = _record(state, verified, _envelope(request, state), body, _parse(body), request.headers)
        await _publish_one(state, record)
    except BaseException:
        state.auth.release(verified)
        raise
    state.metrics.accepted(partner.id)
    return _accepted(record, request[CORRELATION_ID], partner)


def _events_partner(request: web.Request, state: IngestState) -> Partner:
    partner = state.auth.api_key_partner(request.headers)
    request[PARTNER] = partner.id
    claimed = request.headers.get("X-Partner-Id")
    if claimed is not None and claimed != partner.id:
        raise ForbiddenError("wrong_partner", "X-Partner-Id names another partner than the API key's owner")
    if partner.format != GENERIC_FORMAT:
        raise ForbiddenError("format_not_allowed", f"this partner sends {partner.format} to /v1/webhooks/{partner.id}")
    return partner


async def events(request: web.Request) -> web.Response:
    """POST /v1/events: one generic.milestone.v1 object, or an NDJSON batch answered per line."""
    state = request.app[STATE]
    partner = _events_partner(request, state)
    content_type = request.content_type
    if content_type not in NDJSON_TYPES and not _is_json(content_type):
        raise UnsupportedMediaError(
            "unsupported_media_type", "send one event as application/json or a batch as application/x-ndjson"
        )
    body = await _read_body(request, partner.max_body_bytes)
    verified = Verified(partner, "api-key")
    envelope = _envelope(request, state)
    if content_type not in NDJSON_TYPES:
        _rate_limit(state, partner, 1)
        record = _record(state, verified, envelope, body, _parse(body))
        await _publish_one(state, record)
        state.metrics.accepted(partner.id)
        return _accepted(record, envelope.correlation_id, partner)
    return await _batch(state, verified, envelope, body)


async def _batch(state: IngestState, verified: Verified, envelope: Envelope, body: bytes) -> web.Response:
    partner = verified.partner
    lines = [(n, line.rstrip(b"\r")) for n, line in enumerate(body.split(b"\n"), start=1) if line.strip()]
    if not lines:
        raise MalformedError("empty_batch", "the NDJSON body holds no event")
    if len(lines) > state.cfg.max_batch_events:
        raise TooLargeError("batch_too_large", f"at most {state.cfg.max_batch_events} events per request")
    _rate_limit(state, partner, len(lines))
    results: list[dict[str, Any]] = []
    records: list[tuple[dict[str, Any], RawRecord]] = []
    for number, line in lines:
        try:
            record = _record(state, verified, envelope, line, _parse(line, number))
        except RejectedError as exc:
            state.metrics.rejected(partner.id, exc.reason)
            results.append(
                {
                    "line": number,
                    "status": "rejected",
                    "reason": exc.reason,
                    "detail": exc.message,
                    "http_status": exc.status,
                }
            )
            continue
        result = {"line": number, "status": "accepted", "event_id": record.event_id}
        results.append(result)
        records.append((result, record))
    outcomes = await state.publish([r for _, r in records], trace_headers()) if records else []
    unavailable = 0
    for (result, _), outcome in zip(records, outcomes, strict=True):
        if outcome is not None:
            problem = problem_for(outcome)
            result.update(status="unavailable", reason=problem.reason, http_status=problem.status)
            result.pop("event_id", None)
            unavailable += 1
    accepted = len(records) - unavailable
    if unavailable:
        state.metrics.rejected(partner.id, "kafka_unavailable", unavailable)
    state.metrics.accepted(partner.id, accepted)
    doc = {
        "status": "accepted" if accepted == len(results) else "partial" if accepted else "rejected",
        "correlation_id": envelope.correlation_id,
        "accepted": accepted,
        "rejected": len(results) - len(records),
        "unavailable": unavailable,
        "results": results,
    }
    if unavailable:
        doc["status"] = "unavailable"
        retry = str(state.cfg.retry_after_s)
        return _json(503, doc, {"Retry-After": retry})
    if accepted:
        return _json(202, doc)
    all_malformed = all(r.get("http_status") == 400 for r in results)
    return _json(400 if all_malformed else 422, doc)


async def healthz(request: web.Request) -> web.Response:
    """Process alive (and the producer not in a fatal state, which only a restart cures)."""
    state = request.app[STATE]
    if state.health.fatal is not None:
        detail = "kafka producer fatal error; restart required"
        return _json(503, {"status": "fatal", "detail": detail}, {"Retry-After": str(state.cfg.retry_after_s)})
    return _json(200, {"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    """Ready for traffic: not draining, producer healthy and Kafka answering a metadata request."""
    state = request.app[STATE]
    retry = {"Retry-After": str(state.cfg.retry_after_s)}
    if state.draining:
        return _json(503, {"status": "draining"}, retry)
    if not await state.kafka_ready():
        return _json(503, {"status": "unavailable", "detail": "kafka is not reachable"}, retry)
    return _json(200, {"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    body = request.app[STATE].metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
