"""Specialised Avro encoders and decoders, byte-identical to fastavro's for the schemas they accept.

Shared by ingest (RawEvent, one per request) and the status normalizer (canonical records out,
RawEvent in). fastavro's schemaless_writer walks the generic schema tree per call and picks union
branches by validating the value against each branch: ~15 us for a ShipmentMilestone (more than
parsing the checkpoint it came from), ~6 us for a RawEvent. Here a record schema is compiled once
into a Python function with one straight line of code per field (the technique dataclasses and
attrs use for ``__init__``), so encoding is varints and byte strings joined. Values are taken as
fastavro takes them: plain dicts (the normalizer's ``to_avro()``), aware datetimes or integer
microseconds for timestamp-micros, enum symbols as strings.

Accepted schemas: records of null, boolean, int, long, float, double, string, bytes, enums,
nested records, arrays, ``[null, T]`` unions, and timestamp-micros on long. Anything else raises
``UnsupportedSchema`` at compile time and the caller keeps fastavro. Unit tests compare the bytes
with fastavro's over generated records.

Decoding (RawEvent, flat records only) is a fast path in front of fastavro: any input it does not
read cleanly (truncated, bad UTF-8, a branch index out of range) is handed to fastavro, so errors
and resolution are exactly fastavro's.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from backbone.serialization import SMALL_AVRO_LONGS
from backbone.serialization import avro_long as _long

__all__ = ["UnsupportedSchema", "compile_reader", "compile_writer"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DOUBLE = struct.Struct("<d").pack
_FLOAT = struct.Struct("<f").pack


class UnsupportedSchema(ValueError):
    """The schema uses a type this module does not compile (the caller keeps fastavro)."""


def _timestamp_micros(value: Any) -> Any:
    """fastavro's prepare_timestamp_micros: datetimes to microseconds since the epoch, ints as is."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            delta = value - _EPOCH
            return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
        return int(time.mktime(value.timetuple())) * 1_000_000 + value.microsecond
    return value


_HELPERS: dict[str, Any] = {"_long": _long, "_ts": _timestamp_micros, "_double": _DOUBLE, "_float": _FLOAT,
                            "_sizes": SMALL_AVRO_LONGS[64:]}  # _sizes[n]: varint of a length n < 64


class _Compiler:
    def __init__(self, namespace: str) -> None:
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}
        self._n = 0
        self._namespace = namespace

    def var(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def const(self, value: Any) -> str:
        name = self.var("_c")
        self.consts[name] = value
        return name

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def value(self, schema: Any, expr: str, indent: int) -> None:
        """Code appending the encoding of ``expr`` (a variable name) for ``schema``."""
        if isinstance(schema, list):
            self.union(schema, expr, indent)
            return
        kind = schema.get("type") if isinstance(schema, dict) else schema
        logical = schema.get("logicalType") if isinstance(schema, dict) else None
        if isinstance(kind, dict | list):  # {"type": {...}}: a wrapped schema
            self.value(kind, expr, indent)
            return
        if logical is not None and not (logical == "timestamp-micros" and kind == "long"):
            raise UnsupportedSchema(f"logical type {logical!r} on {kind!r}")
        if kind == "null":
            return
        if kind == "boolean":
            self.emit(indent, f'ap(b"\\x01" if {expr} else b"\\x00")')
        elif kind in ("int", "long") and logical:
            # The records of one raw event share received_at (and re-sent checkpoints their time):
            # the previous encoding is reused for the same object (one tuple: swapped atomically).
            memo, last = self.const([(None, b"")]), self.var("m")
            self.emit(indent, f"{last} = {memo}[0]")
            self.emit(indent, f"if {last}[0] is {expr} and {expr} is not None:")
            self.emit(indent + 1, f"ap({last}[1])")
            self.emit(indent, "else:")
            self.emit(indent + 1, f"{last} = _long(_ts({expr}))")
            self.emit(indent + 1, f"{memo}[0] = ({expr}, {last})")
            self.emit(indent + 1, f"ap({last})")
        elif kind in ("int", "long"):
            self.emit(indent, f"ap(_long({expr}))")
        elif kind == "double":
            self.emit(indent, f"ap(_double({expr}))")
        elif kind == "float":
            self.emit(indent, f"ap(_float({expr}))")
        elif kind == "string":
            b = self.var("b")
            self.emit(indent, f"{b} = {expr}.encode()")
            self.emit(indent, f"ap(_sizes[len({b})] if len({b}) < 64 else _long(len({b})))")
            self.emit(indent, f"ap({b})")
        elif kind == "bytes":
            self.emit(indent, f"ap(_sizes[len({expr})] if len({expr}) < 64 else _long(len({expr})))")
            self.emit(indent, f"ap({expr})")
        elif kind == "enum":
            symbols = self.const({s: _long(i) for i, s in enumerate(schema["symbols"])})
            self.emit(indent, f"ap({symbols}[{expr}])")
        elif kind == "record":
            self.record(schema, expr, indent)
        elif kind == "array":
            item = self.var("i")
            self.emit(indent, f"if {expr}:")
            self.emit(indent + 1, f"ap(_long(len({expr})))")
            self.emit(indent + 1, f"for {item} in {expr}:")
            self.value(schema["items"], item, indent + 2)
            self.emit(indent, 'ap(b"\\x00")')
        else:
            raise UnsupportedSchema(f"Avro type {kind!r}")

    def union(self, branches: list[Any], expr: str, indent: int) -> None:
        if len(branches) != 2 or "null" not in branches:
            raise UnsupportedSchema(f"union {branches!r} (only [null, T])")
        null_at = branches.index("null")
        self.emit(indent, f"if {expr} is None:")
        self.emit(indent + 1, f"ap({_long(null_at)!r})")
        self.emit(indent, "else:")
        self.emit(indent + 1, f"ap({_long(1 - null_at)!r})")
        self.value(branches[1 - null_at], expr, indent + 1)

    def record(self, schema: dict[str, Any], expr: str, indent: int) -> None:
        for field in schema["fields"]:
            name, kind = field["name"], field["type"]
            v = self.var("v")
            # fastavro reads datum.get(name, default); a field without default (and not nullable) must be there.
            if "default" in field or (isinstance(kind, list) and "null" in kind):
                self.emit(indent, f"{v} = {expr}.get({name!r}, {self.const(field.get('default'))})")
            else:
                self.emit(indent, f"{v} = {expr}[{name!r}]")
            if kind in ("float", "double"):
                self.emit(indent, f"{v} = float({v})")  # as fastavro's write_record does
            self.value(kind, v, indent)


def compile_writer(schema: dict[str, Any]) -> Callable[[dict[str, Any]], bytes]:
    """A function writing ``schema``'s binary encoding of a record dict (no framing)."""
    if schema.get("type") != "record":
        raise UnsupportedSchema("only record schemas are compiled")
    c = _Compiler(schema.get("namespace", ""))
    c.emit(1, "parts = []")
    c.emit(1, "ap = parts.append")
    c.record(schema, "value", 1)
    c.emit(1, 'return b"".join(parts)')
    source = "def write(value):\n" + "\n".join(c.lines) + "\n"
    scope: dict[str, Any] = {**_HELPERS, **c.consts}
    exec(compile(source, f"<avro writer {schema.get('name')}>", "exec"), scope)  # noqa: S102 - generated from the schema
    writer: Callable[[dict[str, Any]], bytes] = scope["write"]
    return writer


def _read_long(data: bytes, pos: int) -> tuple[int, int]:
    byte = data[pos]
    if byte < 0x80:
        return (byte >> 1) ^ -(byte & 1), pos + 1
    n = byte & 0x7F
    shift = 7
    pos += 1
    while byte & 0x80:
        byte = data[pos]
        n |= (byte & 0x7F) << shift
        shift += 7
        pos += 1
    return (n >> 1) ^ -(n & 1), pos


def compile_reader(schema: dict[str, Any]) -> Callable[[bytes, int], dict[str, Any]]:
    """A reader of flat records (string, bytes, int, long, boolean, timestamp-micros, [null, T]).

    Compiled like the writers (one straight line per field, one-byte varints inline). It raises on
    anything unusual (IndexError, UnicodeDecodeError, ValueError); callers then use fastavro,
    which gives its own result or error for the same bytes.
    """
    lines = ["def read(data, pos):", "    size = len(data)"]
    names: list[str] = []

    def long_into(var: str, indent: str) -> None:
        lines.extend([f"{indent}b = data[pos]", f"{indent}if b < 0x80:",
                      f"{indent}    {var} = (b >> 1) ^ -(b & 1)", f"{indent}    pos += 1",
                      f"{indent}else:", f"{indent}    {var}, pos = _read_long(data, pos)"])

    for index, field in enumerate(schema.get("fields", ())):
        kind, null_at = field["type"], -1
        if isinstance(kind, list):
            if len(kind) != 2 or "null" not in kind:
                raise UnsupportedSchema(f"union {kind!r}")
            null_at = kind.index("null")
            kind = kind[1 - null_at]
        if isinstance(kind, dict):
            if kind.get("type") == "long" and kind.get("logicalType") == "timestamp-micros":
                kind = "timestamp-micros"
            else:
                raise UnsupportedSchema(f"field type {kind!r}")
        if kind not in ("string", "bytes", "int", "long", "boolean", "timestamp-micros"):
            raise UnsupportedSchema(f"field type {kind!r}")
        var, indent = f"f{index}", "    "
        names.append(f"{field['name']!r}: {var}")
        if null_at >= 0:
            long_into("branch", indent)
            lines.extend([f"{indent}if branch == {null_at}:", f"{indent}    {var} = None",
                          f"{indent}elif branch != {1 - null_at}:", f'{indent}    raise ValueError("union branch")',
                          f"{indent}else:"])
            indent += "    "
        if kind in ("string", "bytes"):
            long_into("n", indent)
            lines.extend([f"{indent}end = pos + n", f"{indent}if n < 0 or end > size:",
                          f'{indent}    raise ValueError("truncated")',
                          f"{indent}{var} = data[pos:end]{'.decode()' if kind == 'string' else ''}",
                          f"{indent}pos = end"])
        elif kind == "boolean":
            lines.extend([f"{indent}b = data[pos]", f"{indent}if b > 1:", f'{indent}    raise ValueError("boolean")',
                          f"{indent}{var} = b == 1", f"{indent}pos += 1"])
        else:
            long_into(var, indent)
            if kind == "timestamp-micros":
                lines.append(f"{indent}{var} = _EPOCH + timedelta(microseconds={var})")
    lines.append("    return {" + ", ".join(names) + "}")
    scope: dict[str, Any] = {"_read_long": _read_long, "_EPOCH": _EPOCH, "timedelta": timedelta}
    exec(compile("\n".join(lines) + "\n", f"<avro reader {schema.get('name')}>", "exec"), scope)  # noqa: S102
    reader: Callable[[bytes, int], dict[str, Any]] = scope["read"]
    return reader
