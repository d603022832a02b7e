"""execute_kw-style calls mapped to JSON-2 bodies; Retry-After parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.odoo_sink.errors import OdooRequestError
from services.odoo_sink.protocol import json2_body, parse_retry_after


@pytest.mark.parametrize(("method", "args", "kwargs", "body"), [
    ("search_read", [[("origin", "=", "S1")], ["name"]], {"limit": 1},
     {"domain": [("origin", "=", "S1")], "fields": ["name"], "limit": 1}),
    ("search", [], {"domain": []}, {"domain": []}),
    ("read", [[1, 2], ["name"]], None, {"ids": [1, 2], "fields": ["name"]}),
    ("read", [7], None, {"ids": [7]}),
    ("write", [[1], {"origin": "X"}], {"context": {"lang": "fr_FR"}},
     {"ids": [1], "vals": {"origin": "X"}, "context": {"lang": "fr_FR"}}),
    ("create", [{"origin": "X"}], None, {"vals_list": {"origin": "X"}}),
    ("fields_get", [], {"attributes": ["type"]}, {"attributes": ["type"]}),
    ("button_validate", [[3]], {"context": {"skip_backorder": True}}, {"ids": [3], "context": {"skip_backorder": True}}),
    ("message_post", [[3]], {"body": "hi"}, {"ids": [3], "body": "hi"}),
    ("context_get", [], None, {}),
])
def test_json2_body(method: str, args: list[Any], kwargs: dict[str, Any] | None, body: dict[str, Any]) -> None:
    assert json2_body("stock.picking", method, args, kwargs) == body


@pytest.mark.parametrize(("method", "args", "kwargs"), [
    ("search", [[], 0, 10, "id", "extra"], None),
    ("button_validate", [[3], "positional"], None),
    ("write", [], None),
    ("read", [["1"]], None),
    ("search_read", [[]], {"domain": []}),
])
def test_json2_body_refuses_what_json2_cannot_express(method: str, args: list[Any],
                                                       kwargs: dict[str, Any] | None) -> None:
    with pytest.raises(OdooRequestError) as caught:
        json2_body("stock.picking", method, args, kwargs)
    assert caught.value.context == {"protocol": "json2", "model": "stock.picking", "method": method}


def test_retry_after() -> None:
    now = datetime(2026, 11, 25, 8, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 25 Nov 2026 08:00:30 GMT", now) == 30.0
    assert parse_retry_after("Wed, 25 Nov 2026 07:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
