"""Avro in the Confluent Schema Registry wire format, with no registry I/O per message.

Wire format: byte 0 = 0 (magic), bytes 1-4 = schema id (big-endian), then Avro binary. Schema ids
are registered (or looked up) once at startup; decoding caches writer schemas by id.

Example::

    registry = SchemaRegistry.connect("http://127.0.0.1:8081/apis/ccompat/v7")
    serde = registry.serde_for("canonical.shipment-milestones.v1", "ShipmentMilestone")
    data = serde.encode(record_dict)
    record = registry.decode(data)
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from backbone.config import repo_root
from backbone.errors import SchemaError, SerializationError

__all__ = [
    "SMALL_AVRO_LONGS",
    "AvroSerde",
    "SchemaRegistry",
    "avro_long",
    "load_schema",
    "parse_wire_header",
    "schema_dir",
    "subject_for",
]

MAGIC = 0
_HEADER = struct.Struct(">bI")


def _zigzag_varint(value: int) -> bytes:
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# Encodings of -64..63 (one byte each): lengths under 64, flags and union branches are most values
# the specialised encoders write, so those are looked up rather than computed.
SMALL_AVRO_LONGS: tuple[bytes, ...] = tuple(_zigzag_varint(i) for i in range(-64, 64))


def avro_long(value: int) -> bytes:
    """Avro int/long: the zig-zag varint of a signed 64-bit value."""
    return SMALL_AVRO_LONGS[value + 64] if -64 <= value < 64 else _zigzag_varint(value)


def schema_dir() -> Path:
    return repo_root() / "schemas"


def load_schema(name: str, directory: Path | None = None) -> dict[str, Any]:
    """Read ``schemas/<name>.avsc`` as JSON (raises SchemaError with the file name)."""
    path = (directory or schema_dir()) / f"{name}.avsc"
    try:
        raw: dict[str, Any] = json.loads(path.read_text())
        fastavro.parse_schema(raw)
    except (OSError, ValueError, fastavro.schema.SchemaParseException) as exc:
        raise SchemaError(f"invalid schema {path}: {exc}") from exc
    return raw


def subject_for(topic: str) -> str:
    """TopicNameStrategy, as Confluent serializers and analytics tools expect."""
    return f"{topic}-value"


def parse_wire_header(data: bytes) -> int:
    """Schema id of a Confluent-framed message, or SerializationError."""
    if len(data) < 5:
        raise SerializationError(f"message too short for Confluent wire format ({len(data)} bytes)")
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise SerializationError(f"unknown magic byte {magic}; not Confluent wire format")
    return int(schema_id)


@dataclass
class AvroSerde:
    """Encode/decode one schema whose registry id is already known."""

    schema_id: int
    schema: dict[str, Any]
    _parsed: Any = field(init=False, repr=False)
    wire_prefix: bytes = field(init=False, repr=False)  # Confluent framing: magic byte 0, schema id

    def __post_init__(self) -> None:
        self._parsed = fastavro.parse_schema(self.schema)
        self.wire_prefix = _HEADER.pack(MAGIC, self.schema_id)

    def encode(self, record: dict[str, Any]) -> bytes:
        buf = io.BytesIO()
        buf.write(self.wire_prefix)
        try:
            fastavro.schemaless_writer(buf, self._parsed, record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise SerializationError(
                f"record does not fit schema {self.schema.get('name')}: {exc}", schema_id=self.schema_id
            ) from exc
        return buf.getvalue()

    def decode(self, data: bytes) -> dict[str, Any]:
        schema_id = parse_wire_header(data)
        if schema_id != self.schema_id:
            raise SerializationError(f"expected schema id {self.schema_id}, got {schema_id}")
        return self._read(data, self._parsed)

    @staticmethod
    def _read(data: bytes, writer: Any, reader: Any = None) -> dict[str, Any]:
        try:
            value = fastavro.schemaless_reader(io.BytesIO(data[5:]), writer, reader)
        except (EOFError, ValueError, IndexError, TypeError, fastavro.read.SchemaResolutionError) as exc:
            raise SerializationError(f"cannot decode Avro payload: {exc}") from exc
        if not isinstance(value, dict):
            raise SerializationError("Avro payload is not a record")
        return value


class SchemaRegistry:
    """Thin wrapper over confluent-kafka's SchemaRegistryClient: register once, cache forever."""

    def __init__(self, client: SchemaRegistryClient) -> None:
        self._client = client
        self._writers: dict[int, Any] = {}

    @classmethod
    def connect(cls, url: str, **conf: Any) -> SchemaRegistry:
        if not url:
            raise SchemaError("schema registry URL is empty; set SCHEMA_REGISTRY_URL")
        return cls(SchemaRegistryClient({"url": url, **conf}))

    @property
    def client(self) -> SchemaRegistryClient:
        return self._client

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        """Register (idempotent: an identical schema returns its existing id)."""
        try:
            return int(self._client.register_schema(subject, Schema(json.dumps(schema), "AVRO")))
        except SchemaRegistryError as exc:
            raise SchemaError(f"registry refused {subject}: {exc.error_message}", subject=subject) from exc
        except Exception as exc:  # transport errors surface as requests/httpx exceptions
            raise SchemaError(f"schema registry unreachable while registering {subject}: {exc}") from exc

    def is_compatible(self, subject: str, schema: dict[str, Any]) -> bool:
        """Registry's own compatibility check of ``schema`` against the latest version of ``subject``."""
        try:
            return bool(self._client.test_compatibility(subject, Schema(json.dumps(schema), "AVRO")))
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                return True
            raise SchemaError(f"compatibility check failed for {subject}: {exc.error_message}") from exc

    def set_compatibility(self, subject: str, level: str = "BACKWARD") -> None:
        try:
            self._client.set_compatibility(subject_name=subject, level=level)
        except SchemaRegistryError as exc:
            raise SchemaError(f"cannot set {level} on {subject}: {exc.error_message}") from exc

    def serde_for(self, topic: str, schema_name: str, directory: Path | None = None) -> AvroSerde:
        """Register ``schemas/<schema_name>.avsc`` under the topic's subject and return its serde."""
        schema = load_schema(schema_name, directory)
        schema_id = self.register(subject_for(topic), schema)
        self._writers[schema_id] = fastavro.parse_schema(schema)
        return AvroSerde(schema_id, schema)

    def writer_schema(self, schema_id: int) -> Any:
        if schema_id not in self._writers:
            try:
                registered = self._client.get_schema(schema_id)
            except SchemaRegistryError as exc:
                raise SerializationError(f"unknown schema id {schema_id}: {exc.error_message}") from exc
            self._writers[schema_id] = fastavro.parse_schema(json.loads(registered.schema_str or "null"))
        return self._writers[schema_id]

    def decode(self, data: bytes, reader: dict[str, Any] | None = None) -> dict[str, Any]:
        """Decode any Confluent-framed message, resolving to ``reader`` when given."""
        writer = self.writer_schema(parse_wire_header(data))
        parsed_reader = fastavro.parse_schema(reader) if reader else None
        return AvroSerde._read(data, writer, parsed_reader)
