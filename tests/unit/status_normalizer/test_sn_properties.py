"""Property tests: whatever bytes arrive, a parser returns valid records or raises ParseError only."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.status_normalizer.errors import ParseError
from services.status_normalizer.parsers import PARSERS, parse

from ._support import FORMATS, assert_valid_avro, ctx, fixture_json

TRICKY: list[Any] = [
    "", " ", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-11-20 10:00:00", "2026-11-20",
    "2026-02-30T10:00:00Z", "2026-03-29T02:30:00", "yesterday", "NaN", "Infinity", "-1", "1e400", "1/0", "3/2",
    "Package #7", "UNKNOWN", "Exception", "DELIVERED", "label.created", "order.shipped", "Shipment Update",
    2**31, 2**63, -(2**63), 10**400, 1e308, -1, 0, 1.5, True, False, None, [], {}, [None], {"": None},
]
leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                   st.text(max_size=12), st.sampled_from(TRICKY))
json_values = st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=20)


def _run(payload: bytes, fmt: str) -> None:
    try:
        records = parse(payload, ctx(fmt))
    except ParseError:
        return
    for record in records:
        assert_valid_avro(record)


def _dump(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


@pytest.mark.parametrize("fmt", sorted(PARSERS))
@settings(max_examples=120, deadline=None)
@given(value=json_values)
def test_random_json_never_raises_anything_but_parse_error(fmt: str, value: Any) -> None:
    _run(_dump(value), fmt)


@pytest.mark.parametrize("fmt", sorted(PARSERS))
@settings(max_examples=60, deadline=None)
@given(payload=st.binary(max_size=64))
def test_random_bytes_never_raise_anything_but_parse_error(fmt: str, payload: bytes) -> None:
    _run(payload, fmt)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


def _mutate(document: Any, path: tuple[Any, ...], new: Any, delete: bool) -> Any:
    if not path:
        return new
    doc = copy.deepcopy(document)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return doc


@pytest.mark.parametrize("name", sorted(FORMATS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_partner_payloads_never_raise_anything_but_parse_error(name: str, data: st.DataObject) -> None:
    document = fixture_json(name)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(list(_paths(document))))
        delete = bool(path) and data.draw(st.booleans())
        document = _mutate(document, path, data.draw(json_values), delete)
    _run(_dump(document), FORMATS[name])
