"""The per-event speed-ups give exactly what the code they short-cut gives.

The RawEvent decoder's fastavro fail-over, orjson-first JSON against json.loads, the
EasyPost parser that skips known checkpoints against the full parser, shared-prefix milestone ids
against milestone_id_for, the hand-decoded traceparent against the W3C propagator, and the
bounded caches against their uncached answers.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from backbone.serialization import AvroSerde, load_schema
from services.status_normalizer import parsers
from services.status_normalizer._tracing import extract_w3c
from services.status_normalizer.dedupe import Deduper
from services.status_normalizer.errors import ParseError
from services.status_normalizer.mapping import default_mappings
from services.status_normalizer.parsers import _build
from services.status_normalizer.parsers._json import load_json
from services.status_normalizer.pipeline import _RawDecoder
from services.status_normalizer.records import ShipmentIds, ShipmentMilestone, milestone_id_for, utc_text
from tests.unit.backbone._avro_support import avro_values, fastavro_bytes

from ._support import FORMATS, ctx, fixture_bytes, fixture_json, parse_fixture

# --- Avro (the compiled codec itself: tests/unit/backbone/test_avro_compiled.py) ----------------

@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_raw_decoder_fails_over_to_fastavro_on_damaged_bytes(data: st.DataObject) -> None:
    schema = load_schema("RawEvent")
    encoded = bytearray(fastavro_bytes(schema, data.draw(avro_values(schema))))
    cut = data.draw(st.integers(0, len(encoded)))
    damaged = bytes(encoded[:cut])
    if cut < len(encoded) and data.draw(st.booleans()):
        damaged = bytes(encoded[:cut]) + bytes([data.draw(st.integers(0, 255))]) + bytes(encoded[cut + 1:])
    parsed = fastavro.parse_schema(schema)

    class Registry:
        def writer_schema(self, schema_id: int) -> Any:
            return parsed

    wire = b"\0\0\0\0\7" + damaged
    try:
        expected: Any = AvroSerde._read(wire, parsed, None)
    except Exception as exc:  # whatever fastavro raises, the decoder must raise it too
        expected = (type(exc), str(exc))
    try:
        got: Any = _RawDecoder(Registry()).decode(wire)  # type: ignore[arg-type]
    except Exception as exc:
        got = (type(exc), str(exc))
    assert got == expected


# --- JSON -------------------------------------------------------------------------------------

_BIG = st.integers().filter(lambda i: abs(i) > 2**62) | st.integers(-(10**30), 10**30)
_json_leaves = st.one_of(st.none(), st.booleans(), st.integers(), _BIG, st.floats(), st.text(max_size=20))
_json_values = st.recursive(_json_leaves, lambda inner: st.lists(inner, max_size=4)
                            | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=25)


def _load(payload: bytes) -> Any:
    try:
        return ("ok", repr(load_json(payload).value))
    except ParseError as exc:
        return ("error", str(exc))


def _stdlib(payload: bytes) -> Any:
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        return ("error", f"payload is not valid UTF-8 JSON: {type(exc).__name__}")
    if not isinstance(value, dict):
        return ("error", f"payload must be a JSON object, got {'null' if value is None else type(value).__name__}")
    return ("ok", repr(value))


@settings(max_examples=400, deadline=None)
@given(value=_json_values, indent=st.sampled_from([None, 1]))
def test_load_json_reads_what_json_loads_reads(value: Any, indent: int | None) -> None:
    payload = json.dumps({"v": value}, indent=indent, allow_nan=True).encode()
    assert _load(payload) == _stdlib(payload)
    top = json.dumps(value, allow_nan=True).encode()
    assert _load(top) == _stdlib(top)


@pytest.mark.parametrize("payload", [
    b'{"a": 18446744073709551616}', b'{"a": -9223372036854775809}', b'{"a":[1,\n  123456789012345678901]}',
    b"123456789012345678901234567890", b'{"a": NaN}', b'{"a": Infinity}', b'{"a": 1e400}', b'{"a": "\\ud800"}',
    b'\xef\xbb\xbf{"a": 1}', '{"a": 1}'.encode("utf-16"), b'{"a": "\xed\xa0\x80"}', b"\xff", b"", b"[" * 5000,
    b'{"a": 1, "a": 2}', b'{"t": "9400110898000700000000"}', b'{"a": 1}x', b" {} ",
])
def test_load_json_edge_cases_match_json_loads(payload: bytes) -> None:
    assert _load(payload) == _stdlib(payload)


# --- EasyPost without the known checkpoints -----------------------------------------------------

_EASYPOST = "easypost_tracker_updated.json"
_TRICKY: list[Any] = [None, "", " ", 7, 1.5, True, [], {}, [None], {"city": 5}, "2026-11-20T10:00:00",
                      "2026-11-20T10:00:00+01:00", " 2026-11-19T09:12:00Z ", "bogus", "delivered", "failure",
                      "pre_transit", {"city": "Lyon", "country": "FR"}, {"zip": 38118, "country": "US"}]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out += _paths(child, (*prefix, index))
    return out


def _outcome(call: Any) -> Any:
    try:
        return call()
    except ParseError as exc:
        return ("error", str(exc), sorted(exc.context.items()))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_skipping_known_checkpoints_changes_nothing_but_the_work(data: st.DataObject) -> None:
    document = fixture_json(_EASYPOST)
    document_changed = False
    for _ in range(data.draw(st.integers(0, 3))):
        document_changed = True
        path = data.draw(st.sampled_from(_paths(document)[1:]))
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        if data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            # A copy: later steps may edit inside the inserted value, which must not change _TRICKY
            # (hypothesis replays an example by drawing from the same values again).
            parent[path[-1]] = copy.deepcopy(data.draw(st.sampled_from(_TRICKY)))
    payload = json.dumps(document).encode()
    context = ctx("easypost.event.v2", partner="easypost")
    full = _outcome(lambda: parsers.parse(payload, context))
    known_ids = [r.milestone_id for r in parsers.parse(fixture_bytes(_EASYPOST), context)]
    known = set(data.draw(st.lists(st.sampled_from(known_ids), unique=True)))
    skipping = _outcome(lambda: parsers.parse_unseen(payload, context, known.__contains__))
    if isinstance(full, tuple):
        assert skipping == full
    else:
        records, skipped = skipping
        # Unknown checkpoints come back exactly; known ones are skipped or returned, each id once.
        assert [r for r in records if r.milestone_id not in known] == [r for r in full if r.milestone_id not in known]
        assert all(r in full for r in records)
        assert len(records) + skipped == len({r.milestone_id for r in full})
        if not document_changed:  # a clean history: every known checkpoint is skipped, none built
            assert skipped == len(known) and all(r.milestone_id not in known for r in records)


def test_parse_unseen_of_other_formats_is_parse() -> None:
    for name, fmt in FORMATS.items():
        context = ctx(fmt, partner=name.split("_")[0])
        assert parsers.parse_unseen(fixture_bytes(name), context, lambda _: True) == (
            parsers.parse(fixture_bytes(name), context) if fmt != "easypost.event.v2" else [], 0 if
            fmt != "easypost.event.v2" else 3)


def test_deduper_published_reads_the_seen_keys() -> None:
    store: dict[str, str] = {}

    class Store:
        def get(self, key: str) -> str | None:
            return store.get(key)

        def set(self, key: str, value: str) -> None:
            store[key] = value

    deduper = Deduper(Store())
    record = parse_fixture(_EASYPOST)[0]
    assert not deduper.published(record.milestone_id)
    deduper.remember([record])
    assert deduper.published(record.milestone_id)
    assert deduper.new_records([record]) == []


def test_shared_prefix_ids_are_milestone_ids() -> None:
    records = [r for name in FORMATS for r in parse_fixture(name) if isinstance(r, ShipmentMilestone)]
    assert records
    for record in records:
        ids = ShipmentIds(record.carrier, record.tracking_number)
        where = record.location.key() if record.location is not None else ""
        assert ids.milestone_id(utc_text(record.occurred_at), str(record.code), where) == milestone_id_for(record)


# --- caches -----------------------------------------------------------------------------------

def test_resolve_cache_answers_what_the_tables_answer() -> None:
    m = default_mappings()
    for chain in ([("status", "delivered")], [("status_detail", "arrived_at_facility"), ("status", "in_transit")],
                  [("status_detail", None), ("status", "nope")]):
        assert m.resolve("easypost", chain) == m._resolve("easypost", chain)
        assert m.resolve("easypost", chain) is m.resolve("easypost", chain)


def test_carrier_cache_answers_what_the_aliases_answer() -> None:
    m = default_mappings()
    for raw in ("USPS", " usps ", "FedEx Ground", "Some New Carrier!", "UPS", "!!!"):
        expected = m.carriers.get(re.sub(r"[^a-z0-9]+", "", raw.casefold())) or re.sub(
            r"[^a-z0-9]+", "_", raw.strip().casefold()).strip("_")
        assert m.normalize_carrier(raw) == expected
        assert m.normalize_carrier(raw) == expected  # second time from the cache


@pytest.mark.parametrize("where", [
    {"city": " Lyon ", "country": "fra", "zip": "69002"}, {"city": None, "country": None}, {},
    {"city": "X", "state": "tn", "postal_code": "1", "zip": None, "country": "US"},
])
def test_location_cache_answers_what_location_from_answers(where: dict[str, Any]) -> None:
    node = load_json(json.dumps({"w": where}).encode()).obj("w")
    m = default_mappings()
    expected = _build._location_from(node, m, "city", "state", ("zip", "postal_code"), ("country",), None)
    assert _build.location_from(node, m) == expected
    assert _build.location_from(node, m) == expected  # second time from the cache


# --- trace context ----------------------------------------------------------------------------

@pytest.mark.parametrize("traceparent", [
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
    "00-00000000000000000000000000000000-b7ad6b7169203331-01", "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
    "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", " 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x", "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-", "garbage", "", None,
])
@pytest.mark.parametrize("tracestate", [None, "k=v", ""])
def test_extract_w3c_is_the_propagators_extract(traceparent: str | None, tracestate: str | None) -> None:
    carrier = {k: v for k, v in (("traceparent", traceparent), ("tracestate", tracestate)) if v is not None}
    expected = trace.get_current_span(TraceContextTextMapPropagator().extract(carrier)).get_span_context()
    got = trace.get_current_span(extract_w3c(traceparent, tracestate)).get_span_context()
    assert got == expected
    assert (got.trace_state, got.is_remote) == (expected.trace_state, expected.is_remote)
