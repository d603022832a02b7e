"""Typed, path-aware access to untrusted JSON: every wrong shape becomes a ParseError naming the path.

Messages name the field and the expected type, never the value (values may be personal data).
Paths (``$.msg.checkpoints[2]``) are built only when a message needs them: a node keeps its parent
and key, so reading a payload costs no string formatting.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

from services.status_normalizer.errors import ParseError

__all__ = ["INT32_MAX", "Node", "PathRef", "load_json"]

INT32_MAX = 2**31 - 1


# orjson reads exactly what json.loads reads, except integers beyond 64 bits (it makes them floats)
# and what it refuses outright (NaN, lone surrogates, a BOM, UTF-16...). A number token is a digit
# run right after start, whitespace, ':', ',', '[' or '-': mapped to ' ' + '0' * n, such a run of 19
# digits or more (possibly beyond 64 bits) sends the payload to json.loads. Strings that merely
# look like that cost a slower parse, never a different one.
_SHAPE = bytes(ord("0") if chr(b).isdigit() and b < 128 else ord(" ") if chr(b) in " \t\n\r:,[-" else ord("x")
               for b in range(256))
_LONG_NUMBER = b" " + b"0" * 19


def _orjson_safe(payload: bytes) -> bool:
    shape = payload.translate(_SHAPE)
    return _LONG_NUMBER not in shape and not shape.startswith(_LONG_NUMBER[1:])


def _decode(payload: bytes) -> Any:
    if type(payload) is bytes and _orjson_safe(payload):
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            return json.loads(payload)  # what orjson refuses, json.loads may accept (or reject its own way)
    return json.loads(payload)


def load_json(payload: bytes) -> Node:
    """Decode a JSON object payload: same documents, values and errors as ``json.loads``."""
    try:
        value = _decode(payload)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ParseError(f"payload is not valid UTF-8 JSON: {type(exc).__name__}") from exc
    node = Node(value, "$")
    if not isinstance(value, dict):
        raise ParseError(f"payload must be a JSON object, got {node.type_name}")
    return node


class PathRef:
    """``<node path>.<key>``, formatted when printed (timestamp parsers only need it for errors)."""

    __slots__ = ("key", "node")

    def __init__(self, node: Node, key: str) -> None:
        self.node = node
        self.key = key

    def __str__(self) -> str:
        return f"{self.node.path}.{self.key}"


class Node:
    """A JSON value and where it was found (``$.msg.checkpoints[2]``)."""

    __slots__ = ("_key", "_parent", "_path", "value")

    def __init__(self, value: Any, path: str | None = None, parent: Node | None = None,
                 key: str | int | None = None) -> None:
        self.value = value
        self._path = path
        self._parent = parent
        self._key = key

    @property
    def path(self) -> str:
        if self._path is None:
            assert self._parent is not None
            key = self._key
            self._path = f"{self._parent.path}[{key}]" if isinstance(key, int) else f"{self._parent.path}.{key}"
        return self._path

    @property
    def type_name(self) -> str:
        return "null" if self.value is None else type(self.value).__name__

    def _expect_object(self) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            raise ParseError(f"{self.path}: expected an object, got {self.type_name}")
        return self.value

    def has(self, key: str) -> bool:
        return isinstance(self.value, dict) and self.value.get(key) is not None

    def get(self, key: str) -> Node:
        """Child node (its value is None when missing)."""
        obj = self.value if type(self.value) is dict else self._expect_object()
        return Node(obj.get(key), None, self, key)

    def obj(self, key: str) -> Node:
        child = self.get(key)
        child._expect_object()
        return child

    def opt_obj(self, key: str) -> Node | None:
        child = self.get(key)
        if child.value is None:
            return None
        child._expect_object()
        return child

    def items(self, key: str, *, required: bool = False) -> list[Node]:
        child = self.get(key)
        if child.value is None and not required:
            return []
        if not isinstance(child.value, list):
            raise ParseError(f"{child.path}: expected an array, got {child.type_name}")
        return [Node(v, None, child, i) for i, v in enumerate(child.value)]

    def text(self, key: str) -> str:
        value = self.opt_text(key)
        if value is None:
            raise ParseError(f"{self.path}.{key}: required string is missing or empty")
        return value

    def opt_text(self, key: str) -> str | None:
        """A string field; integer ids are accepted and turned into text (vendors mix both)."""
        # The hot path of every parser: a dict holding a str (exact types, as json.loads makes them).
        obj = self.value if type(self.value) is dict else self._expect_object()
        value = obj.get(key)
        if type(value) is str:
            return value.strip() or None
        if value is None:
            return None
        if isinstance(value, bool):
            raise ParseError(f"{self.path}.{key}: expected a string, got bool")
        if isinstance(value, int):
            return str(value)
        if not isinstance(value, str):
            raise ParseError(f"{self.path}.{key}: expected a string, got {type(value).__name__}")
        value = value.strip()
        return value or None

    def opt_int(self, key: str, *, minimum: int = 0) -> int | None:
        value = self._expect_object().get(key)
        if value is None or value == "":
            return None
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParseError(f"{self.path}.{key}: expected an integer")
        if not minimum <= value <= INT32_MAX:
            raise ParseError(f"{self.path}.{key}: integer out of range [{minimum}, {INT32_MAX}]")
        return value

    def opt_number(self, key: str) -> float | None:
        """A finite number; numeric strings are accepted (ShipHero sends counts as strings)."""
        value = self._expect_object().get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise ParseError(f"{self.path}.{key}: expected a number, got bool")
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise ParseError(f"{self.path}.{key}: expected a number") from None
        if not isinstance(value, int | float):
            raise ParseError(f"{self.path}.{key}: expected a number, got {type(value).__name__}")
        try:
            number = float(value)
        except OverflowError:
            raise ParseError(f"{self.path}.{key}: number out of range") from None
        if not math.isfinite(number):
            raise ParseError(f"{self.path}.{key}: number must be finite")
        return number

    def number(self, key: str) -> float:
        value = self.opt_number(key)
        if value is None:
            raise ParseError(f"{self.path}.{key}: required number is missing")
        return value

    def opt_bool(self, key: str) -> bool | None:
        value = self._expect_object().get(key)
        if value is None or isinstance(value, bool):
            return value
        raise ParseError(f"{self.path}.{key}: expected true or false")

    def raw(self, key: str) -> Any:
        """The unvalidated value (for timestamps, which have their own parser)."""
        obj = self.value if type(self.value) is dict else self._expect_object()
        return obj.get(key)
