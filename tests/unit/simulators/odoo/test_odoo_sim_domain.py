"""Domains evaluated the way Odoo does, on a seeded in-memory store (no HTTP)."""

from __future__ import annotations

from typing import Any

import pytest

from simulators.odoo.exceptions import PythonError
from simulators.odoo.orm import Env, search
from simulators.odoo.seed import base_data, seed_orders
from simulators.odoo.store import Store


@pytest.fixture
def env() -> Env:
    store = Store({"delivery_state"})
    uid = base_data(store, "bot")
    seed_orders(store, [
        {"order_ref": "S1", "lines": [{"sku": "MUG-01", "qty": 1}], "packages": [{"tracking_ref": "T-1", "carrier": "ups"}]},
        {"order_ref": "S2", "lines": [{"sku": "TEE-M", "qty": 2}], "packages": ["T-2"], "carrier": "dhl"},
        {"order_ref": "S3", "state": "confirmed", "lines": [{"sku": "MUG-01", "qty": 3}, {"sku": "CAP", "qty": 1}]},
    ])
    return Env(store, "stock.picking", uid)


@pytest.mark.parametrize(("domain", "expected"), [
    ([], [1, 2, 3]),
    ([("origin", "=", "S2")], [2]),
    ([("carrier_tracking_ref", "=", False)], [3]),
    ([("carrier_tracking_ref", "!=", False)], [1, 2]),
    ([("origin", "in", ["S1", "S3"])], [1, 3]),
    ([("origin", "not in", ["S1", "S3"])], [2]),
    (["|", ("origin", "=", "S1"), ("state", "=", "confirmed")], [1, 3]),
    (["!", ("origin", "=", "S1")], [2, 3]),
    ([("origin", "=", "S1"), ("state", "=", "confirmed")], []),
    ([("carrier_id.name", "ilike", "dhl")], [2]),
    ([("carrier_id", "=", "UPS")], [1]),
    ([("carrier_id", "=", 1)], [2]),  # DHL Express is the first carrier
    ([("move_ids.product_id.default_code", "=", "CAP")], [3]),
    ([("picking_type_code", "=", "outgoing"), ("sale_id.name", "like", "S")], [1, 2, 3]),
    ([("origin", "=like", "S_")], [1, 2, 3]),
    ([("carrier_tracking_ref", "=?", False)], [1, 2, 3]),
    ([("id", ">", 1), ("id", "<=", 2)], [2]),
    ([(1, "=", 1)], [1, 2, 3]),
    ([("delivery_state", "=", "no_update")], [1, 2, 3]),
])
def test_domains(env: Env, domain: list[Any], expected: list[int]) -> None:
    assert search(env, [], domain) == expected


def test_order_offset_and_limit(env: Env) -> None:
    assert search(env, [], [], order="origin desc") == [3, 2, 1]
    assert search(env, [], [], offset=1, limit=1, order="id") == [2]


@pytest.mark.parametrize("domain", [
    [("origin", "~", "S1")],
    [("no_such_field", "=", 1)],
    ["&", ("origin", "=", "S1")],
    "origin = S1",
])
def test_malformed_domains_raise_value_error(env: Env, domain: Any) -> None:
    with pytest.raises(PythonError) as caught:
        search(env, [], domain)
    assert caught.value.odoo_name == "builtins.ValueError"
