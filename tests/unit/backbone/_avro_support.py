"""Hypothesis values for an Avro schema and fastavro's bytes for them: the reference the compiled
codec (backbone.avro_compiled) and its users are checked against."""

from __future__ import annotations

import copy
import io
from datetime import UTC, datetime
from typing import Any

import fastavro
from hypothesis import strategies as st

__all__ = ["avro_values", "fastavro_bytes"]

_TEXT = st.text(max_size=80)
_TIME = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                     timezones=st.sampled_from([UTC, None]).map(lambda z: z or UTC))
_INT = st.integers(-(2**31), 2**31 - 1)
_LONG = st.integers(-(2**63), 2**63 - 1)
_DOUBLE = st.floats(allow_nan=False) | st.integers(-(2**53), 2**53)


def avro_values(schema: Any, named: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """Values fastavro accepts for ``schema`` (plain values, no tuple notation)."""
    named = {} if named is None else named
    if isinstance(schema, list):
        (other,) = [b for b in schema if b != "null"]
        return st.none() | avro_values(other, named)
    if isinstance(schema, str) and schema in named:
        return avro_values(named[schema], named)
    kind = schema.get("type") if isinstance(schema, dict) else schema
    if isinstance(kind, dict | list):
        return avro_values(kind, named)
    if isinstance(schema, dict) and schema.get("logicalType") == "timestamp-micros":
        return _TIME | st.integers(-(2**60), 2**60)
    simple: dict[str, st.SearchStrategy[Any]] = {
        "string": _TEXT, "bytes": st.binary(max_size=80), "int": _INT, "long": _LONG, "boolean": st.booleans(),
        "double": _DOUBLE, "float": st.floats(width=32, allow_nan=False), "null": st.none(),
    }
    if kind in simple:
        return simple[kind]
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(avro_values(schema["items"], named), max_size=3)
    assert kind == "record", kind
    named[schema["name"]] = schema
    fields = {f["name"]: avro_values(f["type"], named) for f in schema["fields"]}
    return st.fixed_dictionaries(fields)


def fastavro_bytes(schema: dict[str, Any], value: dict[str, Any]) -> bytes:
    """fastavro's schemaless encoding (of a copy: fastavro may rewrite values it is given)."""
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), copy.deepcopy(value))
    return buf.getvalue()
