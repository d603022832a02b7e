"""Business methods with Odoo 17-19 behaviour: picking validation (backorder wizard), cancel,
inventory apply on quants, chatter posts, ``res.users.context_get``.

``button_validate`` follows ``stock.picking``: draft pickings are confirmed and reserved, nothing
picked means everything is picked, then unless the context has ``skip_backorder`` a partial
picking returns the ``stock.backorder.confirmation`` wizard action. With ``skip_backorder`` the
picking is done and a backorder is created for the remainder, except for ids listed in
``picking_ids_not_to_backorder`` whose remainder is cancelled (the wizard's "No Backorder" button).
"""

from __future__ import annotations

import html
from typing import Any

from simulators.odoo.exceptions import PythonError, UserError
from simulators.odoo.orm import Env, Method

__all__ = ["BACKORDER_WIZARD_VIEW_ID", "MAIL_THREAD", "SPECIFIC", "SUBTYPES"]

BACKORDER_WIZARD_VIEW_ID = 412
SUBTYPES = {"mail.mt_comment": 1, "mail.mt_note": 2}
_OPEN = ("draft", "waiting", "confirmed", "assigned")
_POST_KEYS = frozenset({"subject", "author_id", "partner_ids", "attachment_ids", "email_from", "parent_id"})


def _moves(env: Env, picking_id: int) -> list[dict[str, Any]]:
    moves = env.store.records["stock.move"]
    return [m for _, m in sorted(moves.items()) if m.get("picking_id") == picking_id and m["state"] != "cancel"]


def _backorder_policy(env: Env, picking: dict[str, Any]) -> str:
    ptype = env.store.records["stock.picking.type"].get(picking.get("picking_type_id") or 0, {})
    return str(ptype.get("create_backorder") or "ask")


def _adjust_quant(env: Env, product_id: int, location_id: int | None, delta: float) -> None:
    if location_id is None:
        return
    quants = env.store.records["stock.quant"]
    for quant in quants.values():
        if quant["product_id"] == product_id and quant["location_id"] == location_id:
            quant["quantity"] = (quant.get("quantity") or 0.0) + delta
            return
    env.store.create("stock.quant", {"product_id": product_id, "location_id": location_id, "quantity": delta})


def _post(env: Env, model: str, res_id: int, body: str, message_type: str, subtype_id: int) -> int:
    return env.store.create(
        "mail.message",
        {"model": model, "res_id": res_id, "body": body, "message_type": message_type,
         "subtype_id": subtype_id, "create_uid": env.uid, "date": env.now()},
    )


def _action_done(env: Env, picking: dict[str, Any], cancel_backorder: bool) -> None:
    remainders: list[dict[str, Any]] = []
    for move in _moves(env, picking["id"]):
        done, demand = move.get("quantity") or 0.0, move.get("product_uom_qty") or 0.0
        if demand > done:
            remainders.append({"name": move.get("name"), "product_id": move["product_id"],
                               "product_uom_qty": demand - done, "location_id": move.get("location_id"),
                               "location_dest_id": move.get("location_dest_id")})
        if done <= 0:
            move["state"] = "cancel"
            continue
        move.update(product_uom_qty=done, state="done", picked=True)
        _adjust_quant(env, move["product_id"], move.get("location_id"), -done)
    picking.update(state="done", date_done=env.now())
    if not remainders:
        return
    if cancel_backorder:
        for rest in remainders:
            env.store.create("stock.move", {**rest, "picking_id": picking["id"], "state": "cancel"})
        return
    keep = ("origin", "picking_type_id", "location_id", "location_dest_id", "carrier_id", "sale_id")
    backorder_id = env.store.create(
        "stock.picking",
        {"name": env.store.next_name("WH/OUT/"), "backorder_id": picking["id"], "state": "assigned",
         "scheduled_date": picking.get("scheduled_date"), **{k: picking.get(k) for k in keep}},
    )
    for rest in remainders:
        env.store.create("stock.move", {**rest, "picking_id": backorder_id, "state": "assigned",
                                        "quantity": rest["product_uom_qty"]})
    name = env.store.raw("stock.picking", backorder_id)["name"]
    _post(env, "stock.picking", picking["id"], f"The backorder {name} has been created.", "notification",
          SUBTYPES["mail.mt_note"])


def button_validate(env: Env, ids: list[int]) -> Any:
    env.store.check_exist(env.model, ids, env.uid)
    pickings = [env.store.raw("stock.picking", i) for i in ids]
    for picking in pickings:
        if picking["state"] not in _OPEN:
            raise UserError(f"You cannot validate a transfer that is {picking['state']}: {picking['name']}.")
        if picking["state"] == "draft":
            for move in _moves(env, picking["id"]):
                if not move.get("quantity"):
                    move["quantity"] = move.get("product_uom_qty") or 0.0
                move["state"] = "assigned"
            picking["state"] = "assigned"
        moves = _moves(env, picking["id"])
        if not any(m.get("quantity") for m in moves):
            raise UserError(
                "You cannot validate a transfer if no quantities are reserved nor done. You can use "
                "the info button on the top right corner of your screen to learn more about moves "
                "and their quantities."
            )
        if not any(m.get("picked") for m in moves):
            for move in moves:
                move["picked"] = True
    if not env.context.get("skip_backorder"):
        partial = [
            p["id"] for p in pickings
            if _backorder_policy(env, p) == "ask"
            and any((m.get("quantity") or 0.0) < (m.get("product_uom_qty") or 0.0) for m in _moves(env, p["id"]))
        ]
        if partial:
            return {
                "name": "Create Backorder?",
                "type": "ir.actions.act_window",
                "view_mode": "form",
                "res_model": "stock.backorder.confirmation",
                "views": [[BACKORDER_WIZARD_VIEW_ID, "form"]],
                "view_id": BACKORDER_WIZARD_VIEW_ID,
                "target": "new",
                "context": {**env.context, "button_validate_picking_ids": ids,
                            "default_show_transfers": False, "default_pick_ids": [[4, i] for i in partial]},
            }
    not_to_backorder = set(env.context.get("picking_ids_not_to_backorder") or ())
    for picking in pickings:
        policy = _backorder_policy(env, picking)
        cancel = policy == "never" or (picking["id"] in not_to_backorder and policy != "always")
        _action_done(env, picking, cancel_backorder=cancel)
    return True


def action_cancel(env: Env, ids: list[int]) -> bool:
    env.store.check_exist(env.model, ids, env.uid)
    for rec_id in ids:
        picking = env.store.raw("stock.picking", rec_id)
        if picking["state"] == "done":
            raise UserError(
                "You cannot cancel a stock move that has been set to 'Done'. Create a return in "
                "order to reverse the moves which took place."
            )
        for move in _moves(env, rec_id):
            move["state"] = "cancel"
        picking["state"] = "cancel"
    return True


def action_assign(env: Env, ids: list[int]) -> bool:
    env.store.check_exist(env.model, ids, env.uid)
    for rec_id in ids:
        picking = env.store.raw("stock.picking", rec_id)
        if picking["state"] in _OPEN:
            for move in _moves(env, rec_id):
                move.update(quantity=move.get("product_uom_qty") or 0.0, state="assigned")
            picking["state"] = "assigned"
    return True


def message_post(env: Env, ids: list[int], *, body: str = "", message_type: str = "notification",
                 subtype_xmlid: str | None = None, subtype_id: int | bool = False, **kwargs: Any) -> int:
    unsupported = set(kwargs) - _POST_KEYS
    if unsupported:
        raise PythonError("ValueError",
                          f"Those values are not supported when posting or notifying: {sorted(unsupported)}")
    res_id = env.ensure_one(ids)
    env.store.check_exist(env.model, ids, env.uid)
    if not subtype_id and subtype_xmlid:
        if subtype_xmlid not in SUBTYPES:
            raise PythonError("ValueError", f"External ID not found in the system: {subtype_xmlid}")
        subtype_id = SUBTYPES[subtype_xmlid]
    rendered = html.escape(str(body)).replace("\n", "<br>")  # RPC bodies are plain text, never Markup
    return _post(env, env.model, res_id, rendered, message_type, int(subtype_id or SUBTYPES["mail.mt_note"]))


# --- stock.quant: edits restricted outside inventory mode, counts applied explicitly -----------
def quant_create(env: Env, ids: list[int], vals_list: Any) -> list[int]:
    batch = [vals_list] if isinstance(vals_list, dict) else list(vals_list)
    if not env.context.get("inventory_mode"):
        raise UserError("Quant's creation is restricted, you can't do this operation.")
    created: list[int] = []
    for vals in batch:
        existing = [
            q["id"] for q in env.store.records["stock.quant"].values()
            if q["product_id"] == vals.get("product_id") and q["location_id"] == vals.get("location_id")
        ]
        if existing:  # Odoo reuses the quant of the same product/location in inventory mode
            quant_write(env, existing[:1], {k: v for k, v in vals.items() if k.startswith("inventory_")})
            created.append(existing[0])
            continue
        quant_id = env.store.create("stock.quant", {**vals, "quantity": 0.0})
        quant_write(env, [quant_id], {k: v for k, v in vals.items() if k.startswith("inventory_")})
        created.append(quant_id)
    return created


def quant_write(env: Env, ids: list[int], vals: dict[str, Any]) -> bool:
    if not isinstance(vals, dict):
        raise PythonError("TypeError", "write() argument must be a dict")
    if {"quantity", "reserved_quantity"} & set(vals):
        raise UserError("Quant's editing is restricted, you can't do this operation.")
    env.store.check_exist(env.model, ids, env.uid)
    env.store.write("stock.quant", ids, vals)
    if "inventory_quantity" in vals:
        for rec_id in ids:
            quant = env.store.raw("stock.quant", rec_id)
            quant["inventory_quantity_set"] = True
            quant["inventory_diff_quantity"] = (quant.get("inventory_quantity") or 0.0) - (quant.get("quantity") or 0.0)
    return True


def action_apply_inventory(env: Env, ids: list[int]) -> None:
    env.store.check_exist(env.model, ids, env.uid)
    for rec_id in ids:
        quant = env.store.raw("stock.quant", rec_id)
        if not quant.get("inventory_quantity_set"):
            continue  # an unset count has no difference to apply
        diff = (quant.get("inventory_quantity") or 0.0) - (quant.get("quantity") or 0.0)
        if diff:
            env.store.create("stock.move", {"name": "Product Quantity Updated", "product_id": quant["product_id"],
                                            "product_uom_qty": abs(diff), "quantity": abs(diff), "state": "done",
                                            "picked": True, "location_id": quant["location_id"]})
        quant.update(quantity=quant.get("inventory_quantity") or 0.0, inventory_quantity=0.0,
                     inventory_diff_quantity=0.0, inventory_quantity_set=False, inventory_date=None)
    return None  # real Odoo returns None here: JSON-RPC then omits "result"


def context_get(env: Env, ids: list[int]) -> dict[str, Any]:
    return {"lang": "en_US", "tz": "UTC", "uid": env.uid}


SPECIFIC: dict[tuple[str, str], Method] = {
    ("stock.picking", "button_validate"): Method(button_validate, operation="write"),
    ("stock.picking", "action_cancel"): Method(action_cancel, operation="write"),
    ("stock.picking", "action_assign"): Method(action_assign, operation="write"),
    ("stock.quant", "create"): Method(quant_create, api_model=True, operation="create"),
    ("stock.quant", "write"): Method(quant_write, operation="write"),
    ("stock.quant", "action_apply_inventory"): Method(action_apply_inventory, operation="write"),
    ("res.users", "context_get"): Method(context_get, api_model=True),
}
MAIL_THREAD: dict[str, Method] = {"message_post": Method(message_post, operation="write")}
