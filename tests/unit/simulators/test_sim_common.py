"""Shared simulator pieces: fault settings, idempotency store, cursors and timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from simulators.common.faults import Faults
from simulators.common.http import decode_cursor, encode_cursor, iso, parse_iso
from simulators.common.idempotency import IdempotencyStore


def test_faults_update_validates_everything_before_applying() -> None:
    faults = Faults()
    assert faults.update({"throttle": 2, "timeout": -1}) == []
    problems = faults.update({"throttle": True, "delay_ms": -5, "outage": -2, "nope": 1, "outage_status": 418})
    assert problems == ["unknown field 'nope'", "throttle must be an integer", "delay_ms must be >= 0",
                        "outage must be >= -1", "outage_status must be one of 500, 502, 503, 504"]
    assert (faults.throttle, faults.timeout, faults.delay_ms) == (2, -1, 0)


def test_counted_faults_run_out_and_minus_one_never_does() -> None:
    faults = Faults(throttle=2, outage=-1, drop_webhooks=1)
    assert [faults.take("throttle") for _ in range(3)] == [True, True, False]
    assert all(faults.take("outage") for _ in range(5))
    assert [faults.take_drop(), faults.take_drop()] == [True, False]
    assert faults.update({"clear": True}) == [] and faults.as_dict() == Faults().as_dict()


def test_idempotency_store_scopes_keys_per_principal_and_compares_requests() -> None:
    store = IdempotencyStore()
    fp = store.fingerprint("POST", "/v1/orders", {"a": 1, "b": [1, 2]})
    assert fp == store.fingerprint("post", "/v1/orders", {"b": [1, 2], "a": 1})
    assert fp != store.fingerprint("POST", "/v1/other", {"a": 1, "b": [1, 2]})
    assert store.check("tok", "k", fp) == ("new", None)
    answer: dict[str, Any] = {"id": 1, "nested": {"status": "accepted"}}
    store.remember("tok", "k", fp, 201, answer)
    answer["nested"]["status"] = "shipped"  # later changes must not leak into the stored answer
    verdict, stored = store.check("tok", "k", fp)
    assert verdict == "replay" and stored is not None and stored.body["nested"]["status"] == "accepted"
    assert store.check("tok", "k", "other")[0] == "conflict"
    assert store.check("another-token", "k", fp) == ("new", None)


def test_cursors_round_trip_and_refuse_foreign_values() -> None:
    assert decode_cursor(encode_cursor(42)) == 42
    assert decode_cursor("bm9wZQ") is None  # base64 of "nope"
    assert decode_cursor("%%%") is None


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-20T10:00:00Z", datetime(2026, 11, 20, 10, tzinfo=UTC)),
    ("2026-11-20T11:00:00+01:00", datetime(2026, 11, 20, 10, tzinfo=UTC)),
    ("2026-11-20T11:00:00 01:00", datetime(2026, 11, 20, 10, tzinfo=UTC)),  # '+' lost in a query string
    ("2026-11-20T10:00:00", None),
    ("soon", None),
])
def test_parse_iso_needs_a_zone(text: str, expected: datetime | None) -> None:
    assert parse_iso(text) == expected


def test_iso_renders_utc_with_milliseconds() -> None:
    moment = datetime(2026, 11, 20, 11, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert iso(moment) == "2026-11-20T10:00:00.123Z"
