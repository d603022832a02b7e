"""Order milestones against the simulated Odoo: SHIPPED validates the picking with Odoo's backorder
semantics, never twice; wizards and unknown SKUs are permanent; some codes only leave a note."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from backbone.errors import PermanentError
from backbone.sink import NotYetAvailableError
from services.odoo_sink.client import Json2Client, JsonRpcClient
from services.odoo_sink.errors import OdooConflictError, OdooUserError, OdooWizardError
from services.odoo_sink.handlers import OdooHandler
from simulators.odoo.testing import RunningSimulator
from tests.unit.odoo_sink.records import ctx, order, record

Client = JsonRpcClient | Json2Client


def pickings(sim: RunningSimulator, origin: str) -> list[dict[str, Any]]:
    return [p for p in sim.state.store.records["stock.picking"].values() if p["origin"] == origin]


def moves(sim: RunningSimulator, picking_id: int) -> list[tuple[float, float, str]]:
    return [(m["product_uom_qty"], m["quantity"], m["state"]) for m in sim.state.store.records["stock.move"].values()
            if m.get("picking_id") == picking_id]


async def validate_calls(sim: RunningSimulator) -> list[dict[str, Any]]:
    return [c for c in await sim.calls() if c.get("method") == "button_validate"]


def our_notes(sim: RunningSimulator, milestone_id: str) -> int:
    return sum(milestone_id in m["body"] for m in sim.state.store.records["mail.message"].values())


async def test_fully_shipped_validates_without_backorder(odoo: Client, sim: RunningSimulator) -> None:
    value = order("S30002", fully_shipped=True)  # 3 of 4 reserved: "No Backorder" cancels the rest
    result = await OdooHandler(odoo).apply(record(value), ctx(new=60))
    assert (result.outcome, result.summary["picking_id"], result.summary["backorder"]) == ("applied", 2, "cancel")
    assert [p["state"] for p in pickings(sim, "S30002")] == ["done"]
    [call] = await validate_calls(sim)
    assert call["context"] == {"skip_backorder": True, "picking_ids_not_to_backorder": [2]}
    assert our_notes(sim, value["milestone_id"]) == 1


async def test_partial_shipment_keeps_the_backorder(odoo: Client, sim: RunningSimulator) -> None:
    result = await OdooHandler(odoo).apply(record(order("S30002", fully_shipped=False)), ctx(new=60))
    assert result.summary["backorder"] == "keep"
    [done, backorder] = pickings(sim, "S30002")
    assert (done["state"], backorder["state"], backorder["backorder_id"]) == ("done", "assigned", done["id"])
    assert moves(sim, backorder["id"]) == [(1.0, 1.0, "assigned")]
    [call] = await validate_calls(sim)
    assert call["context"] == {"skip_backorder": True}


async def test_shipped_lines_set_the_done_quantities(odoo: Client, sim: RunningSimulator) -> None:
    value = order("S30001", fully_shipped=False, lines=[("MUG-01", 1), ("TEE-M", 1)], tracking="1ZSECOND")
    await OdooHandler(odoo).apply(record(value), ctx(new=60))
    [done, backorder] = pickings(sim, "S30001")
    assert moves(sim, done["id"]) == [(1.0, 1.0, "done"), (1.0, 1.0, "done")]
    assert moves(sim, backorder["id"]) == [(1.0, 1.0, "assigned")]  # the second mug follows
    assert done["carrier_tracking_ref"] == "1Z999AA10123456784,1ZSECOND"


async def test_the_next_shipment_validates_the_backorder_and_a_replay_changes_nothing(
    odoo: Client, sim: RunningSimulator
) -> None:
    handler = OdooHandler(odoo)
    first = order("S30002", fully_shipped=False)
    await handler.apply(record(first), ctx(new=60))
    # The same milestone again (e.g. --force-reapply): the note names the picking, already done.
    again = await OdooHandler(odoo).apply(record(first), ctx(current=60, new=60))
    assert again.summary == {"picking_id": 2, "validated_before": True}
    second = order("S30002", fully_shipped=True)
    result = await handler.apply(record(second), ctx(current=60, new=60))
    assert result.summary["picking_id"] == 3
    assert [p["state"] for p in pickings(sim, "S30002")] == ["done", "done"]
    assert len(await validate_calls(sim)) == 2
    # Everything is done now: a third SHIPPED finds nothing to validate.
    third = await handler.apply(record(order("S30002")), ctx(current=60, new=60))
    assert (third.outcome, third.reason) == ("skipped", "already_done")
    assert len(await validate_calls(sim)) == 2


async def test_a_retry_after_a_lock_error_validates_once_and_notes_once(odoo: Client, sim: RunningSimulator) -> None:
    await sim.faults(fail_next=[{"error": "LockError", "model": "stock.picking", "method": "button_validate"}])
    handler = OdooHandler(odoo)
    value = order("S30001")
    with pytest.raises(OdooConflictError):
        await handler.apply(record(value), ctx(new=60))
    result = await handler.apply(record(value), ctx(new=60, attempt=2))
    assert result.outcome == "applied"
    assert [p["state"] for p in pickings(sim, "S30001")] == ["done"]
    assert our_notes(sim, value["milestone_id"]) == 1


async def test_already_done_is_skipped(odoo: Client, sim: RunningSimulator) -> None:
    sim.state.store.records["stock.picking"][1]["state"] = "done"  # validated by hand in Odoo
    result = await OdooHandler(odoo).apply(record(order("S30001")), ctx(new=60))
    assert (result.outcome, result.reason, result.summary["picking_id"]) == ("skipped", "already_done", 1)
    assert await validate_calls(sim) == []


class AnswersWizard:
    """button_validate answers an action dict, as Odoo does when it needs a person."""

    protocol = "fake"

    def __init__(self, inner: Client) -> None:
        self.inner = inner

    async def authenticate(self) -> int:
        return 2

    async def call(self, model: str, method: str, args: Sequence[Any] = (),
                   kwargs: Mapping[str, Any] | None = None) -> Any:
        if method == "button_validate":
            return {"type": "ir.actions.act_window", "res_model": "stock.immediate.transfer", "target": "new"}
        return await self.inner.call(model, method, args, kwargs)

    async def close(self) -> None:
        pass


async def test_a_wizard_answer_is_a_permanent_error(odoo: Client, sim: RunningSimulator) -> None:
    with pytest.raises(OdooWizardError, match=r"stock\.immediate\.transfer"):
        await OdooHandler(AnswersWizard(odoo)).apply(record(order("S30001")), ctx(new=60))
    assert issubclass(OdooWizardError, PermanentError)
    assert pickings(sim, "S30001")[0]["state"] == "assigned"


async def test_unknown_sku_in_the_shipped_lines_is_permanent(odoo: Client, sim: RunningSimulator) -> None:
    with pytest.raises(OdooUserError, match="NOT-THERE"):
        await OdooHandler(odoo).apply(record(order("S30001", lines=[("NOT-THERE", 1)])), ctx(new=60))
    assert await validate_calls(sim) == []


async def test_missing_order_is_not_yet_available(odoo: Client) -> None:
    with pytest.raises(NotYetAvailableError):
        await OdooHandler(odoo).apply(record(order("S39999")), ctx(new=60))


async def test_rejection_is_a_note_and_picking_is_skipped_without_a_call(odoo: Client, sim: RunningSimulator) -> None:
    handler = OdooHandler(odoo)
    rejected = order("S30001", "REJECTED_BY_WAREHOUSE")
    result = await handler.apply(record(rejected), ctx(new=20))
    assert result.outcome == "applied" and our_notes(sim, rejected["milestone_id"]) == 1
    await sim.admin("DELETE", "calls")
    skipped = await handler.apply(record(order("S30001", "PICKED")), ctx(current=20, new=40))
    assert (skipped.outcome, skipped.reason) == ("skipped", "not_mapped")
    assert await sim.calls() == []
    # A retried note is found, not posted again.
    await handler.apply(record(rejected), ctx(new=20))
    assert our_notes(sim, rejected["milestone_id"]) == 1
