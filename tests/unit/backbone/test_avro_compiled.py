"""The compiled Avro writer and reader (backbone.avro_compiled) give exactly fastavro's bytes and values."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backbone.avro_compiled import UnsupportedSchema, compile_reader, compile_writer
from backbone.serialization import load_schema

from ._avro_support import avro_values, fastavro_bytes

_EXTRA = {  # types the canonical schemas do not use (yet): floats, bytes, arrays of longs, [T, null]
    "type": "record", "name": "Extra", "namespace": "t",
    "fields": [{"name": "f", "type": "float"}, {"name": "b", "type": "bytes"},
               {"name": "a", "type": {"type": "array", "items": "long"}},
               {"name": "n", "type": ["string", "null"]}, {"name": "x", "type": "null"},
               {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"]}}],
}


@pytest.mark.parametrize("name", ["ShipmentMilestone", "OrderMilestone", "InventoryEvent", "RawEvent", "Extra"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_compiled_writer_writes_fastavros_bytes(name: str, data: st.DataObject) -> None:
    schema = _EXTRA if name == "Extra" else load_schema(name)
    value = data.draw(avro_values(schema))
    assert compile_writer(schema)(value) == fastavro_bytes(schema, value)


def test_compiled_writer_refuses_what_it_does_not_handle() -> None:
    for bad in ({"type": "record", "name": "U", "fields": [{"name": "u", "type": ["int", "string"]}]},
                {"type": "record", "name": "M", "fields": [{"name": "m", "type": {"type": "map", "values": "int"}}]},
                {"type": "record", "name": "D", "fields": [{"name": "d", "type": {"type": "int",
                                                                                   "logicalType": "date"}}]},
                {"type": "enum", "name": "E", "symbols": ["A"]}):
        with pytest.raises(UnsupportedSchema):
            compile_writer(bad)


def test_compiled_writer_reuses_a_timestamp_encoding_only_for_the_same_object() -> None:
    schema = {"type": "record", "name": "T", "fields": [{"name": "t", "type": {"type": "long",
                                                                               "logicalType": "timestamp-micros"}}]}
    write = compile_writer(schema)
    at = datetime(2026, 11, 20, tzinfo=UTC)
    for value in (at, at, at + timedelta(microseconds=1), 5, at):
        assert write({"t": value}) == fastavro_bytes(schema, {"t": value})


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_compiled_reader_reads_what_fastavro_reads(data: st.DataObject) -> None:
    schema = load_schema("RawEvent")
    value = data.draw(avro_values(schema))
    encoded = fastavro_bytes(schema, value)
    parsed = fastavro.parse_schema(schema)
    try:
        expected = fastavro.schemaless_reader(io.BytesIO(encoded), parsed, None)
    except OverflowError:  # a time outside datetime's range: both refuse it
        with pytest.raises(OverflowError):
            compile_reader(schema)(b"\0\0\0\0\1" + encoded, 5)
        return
    assert compile_reader(schema)(b"\0\0\0\0\1" + encoded, 5) == expected


def test_compiled_reader_refuses_nested_types() -> None:
    with pytest.raises(UnsupportedSchema):
        compile_reader(load_schema("ShipmentMilestone"))
