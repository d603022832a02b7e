"""The models the simulator knows, with the field names and types of Odoo 17-19 (``stock``, ``sale``,
``mail``, ``delivery``) plus the optional OCA ``delivery_state`` module.

Fields tagged ``module="delivery_state"`` exist only while that module is "installed"
(``SimulatorConfig.delivery_state`` or ``POST /_sim/modules``), so a client's ``fields_get``
detection is exercised both ways.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["DELIVERY_STATES", "MODELS", "Field", "ModelDef"]

PICKING_STATES = (
    ("draft", "Draft"),
    ("waiting", "Waiting Another Operation"),
    ("confirmed", "Waiting"),
    ("assigned", "Ready"),
    ("done", "Done"),
    ("cancel", "Cancelled"),
)
# OCA delivery-carrier/delivery_state, stock.picking.delivery_state
DELIVERY_STATES = (
    ("no_update", "No Update"),
    ("shipping_recorded_in_carrier", "Shipping recorded in carrier"),
    ("in_transit", "In transit"),
    ("canceled_shipment", "Canceled shipment"),
    ("incident", "Incident"),
    ("customer_delivered", "Delivered"),
    ("warehouse_delivered", "Warehouse Delivered"),
)
MESSAGE_TYPES = (
    ("email", "Incoming Email"),
    ("comment", "Comment"),
    ("email_outgoing", "Outgoing Email"),
    ("notification", "System notification"),
    ("auto_comment", "Automated Targeted Notification"),
    ("user_notification", "User Specific Notification"),
)


@dataclass(frozen=True)
class Field:
    type: str
    string: str
    relation: str | None = None
    inverse: str | None = None  # one2many: the many2one on the comodel
    related: str | None = None  # dotted path read through many2one fields
    selection: tuple[tuple[str, str], ...] = ()
    required: bool = False
    readonly: bool = False
    module: str | None = None
    default: Any = None

    @property
    def stored(self) -> bool:
        return self.inverse is None and self.related is None

    def describe(self, name: str) -> dict[str, Any]:
        """One entry of ``fields_get``."""
        info: dict[str, Any] = {
            "name": name,
            "type": self.type,
            "string": self.string,
            "required": self.required,
            "readonly": self.readonly or not self.stored,
            "store": self.stored,
            "searchable": True,
            "sortable": self.stored,
        }
        if self.relation:
            info["relation"] = self.relation
        if self.inverse:
            info["relation_field"] = self.inverse
        if self.type == "selection":
            info["selection"] = [list(pair) for pair in self.selection]
        return info


@dataclass(frozen=True)
class ModelDef:
    name: str
    description: str
    fields: dict[str, Field]
    rec_name: str = "name"
    mail_thread: bool = False
    seq_prefix: str = ""
    extra_methods: frozenset[str] = field(default_factory=frozenset)


def _m2o(relation: str, string: str, **kw: Any) -> Field:
    return Field("many2one", string, relation=relation, **kw)


def _o2m(relation: str, inverse: str, string: str) -> Field:
    return Field("one2many", string, relation=relation, inverse=inverse)


_DEFS = (
    ModelDef("res.users", "User", {"name": Field("char", "Name"), "login": Field("char", "Login")}),
    ModelDef(
        "product.product",
        "Product Variant",
        {
            "name": Field("char", "Name", required=True),
            "default_code": Field("char", "Internal Reference"),
            "barcode": Field("char", "Barcode"),
            "type": Field("selection", "Product Type", selection=(("consu", "Goods"), ("service", "Service"))),
            "active": Field("boolean", "Active", default=True),
        },
    ),
    ModelDef(
        "stock.location",
        "Inventory Locations",
        {
            "name": Field("char", "Location Name", required=True),
            "complete_name": Field("char", "Full Location Name"),
            "usage": Field(
                "selection",
                "Location Type",
                selection=(("internal", "Internal Location"), ("customer", "Customer Location")),
            ),
        },
        rec_name="complete_name",
    ),
    ModelDef(
        "delivery.carrier",
        "Shipping Methods",
        {"name": Field("char", "Delivery Method", required=True), "delivery_type": Field("char", "Provider")},
    ),
    ModelDef(
        "stock.picking.type",
        "Picking Type",
        {
            "name": Field("char", "Operation Type", required=True),
            "code": Field(
                "selection",
                "Type of Operation",
                selection=(("incoming", "Receipt"), ("outgoing", "Delivery"), ("internal", "Internal")),
            ),
            "sequence_code": Field("char", "Sequence Prefix"),
            "create_backorder": Field(
                "selection",
                "Create Backorder",
                selection=(("ask", "Ask"), ("always", "Always"), ("never", "Never")),
                default="ask",
            ),
        },
    ),
    ModelDef(
        "sale.order",
        "Sales Order",
        {
            "name": Field("char", "Order Reference", required=True),
            "client_order_ref": Field("char", "Customer Reference"),
            "state": Field(
                "selection",
                "Status",
                selection=(("draft", "Quotation"), ("sent", "Quotation Sent"), ("sale", "Sales Order"),
                           ("cancel", "Cancelled")),
                default="draft",
            ),
            "picking_ids": _o2m("stock.picking", "sale_id", "Transfers"),
        },
        mail_thread=True,
    ),
    ModelDef(
        "stock.picking",
        "Transfer",
        {
            "name": Field("char", "Reference"),
            "origin": Field("char", "Source Document"),
            "state": Field("selection", "Status", selection=PICKING_STATES, default="draft", readonly=True),
            "picking_type_id": _m2o("stock.picking.type", "Operation Type", required=True),
            "picking_type_code": Field("selection", "Type of Operation", related="picking_type_id.code",
                                       selection=(("incoming", "Receipt"), ("outgoing", "Delivery"),
                                                  ("internal", "Internal"))),
            "location_id": _m2o("stock.location", "Source Location"),
            "location_dest_id": _m2o("stock.location", "Destination Location"),
            "carrier_id": _m2o("delivery.carrier", "Carrier"),
            "carrier_tracking_ref": Field("char", "Tracking Reference"),
            "sale_id": _m2o("sale.order", "Sales Order"),
            "backorder_id": _m2o("stock.picking", "Back Order of"),
            "move_ids": _o2m("stock.move", "picking_id", "Stock Moves"),
            "scheduled_date": Field("datetime", "Scheduled Date"),
            "date_done": Field("datetime", "Date of Transfer", readonly=True),
            "delivery_state": Field("selection", "Delivery State", selection=DELIVERY_STATES,
                                    default="no_update", module="delivery_state"),
            "tracking_state": Field("char", "Shipping tracking state", module="delivery_state"),
            "tracking_state_history": Field("text", "Shipping tracking history", module="delivery_state"),
            "date_shipped": Field("date", "Shipping Date", module="delivery_state"),
            "date_delivered": Field("datetime", "Delivered Date", module="delivery_state"),
        },
        mail_thread=True,
        seq_prefix="WH/OUT/",
        extra_methods=frozenset({"button_validate", "action_cancel", "action_assign"}),
    ),
    ModelDef(
        "stock.move",
        "Stock Move",
        {
            "name": Field("char", "Description"),
            "picking_id": _m2o("stock.picking", "Transfer"),
            "product_id": _m2o("product.product", "Product", required=True),
            "product_uom_qty": Field("float", "Demand"),
            "quantity": Field("float", "Quantity"),
            "picked": Field("boolean", "Picked"),
            "state": Field("selection", "Status", selection=PICKING_STATES, default="draft"),
            "location_id": _m2o("stock.location", "Source Location"),
            "location_dest_id": _m2o("stock.location", "Destination Location"),
        },
        rec_name="name",
    ),
    ModelDef(
        "stock.quant",
        "Quants",
        {
            "product_id": _m2o("product.product", "Product", required=True),
            "location_id": _m2o("stock.location", "Location", required=True),
            "quantity": Field("float", "Quantity", readonly=True),
            "reserved_quantity": Field("float", "Reserved Quantity", readonly=True),
            "inventory_quantity": Field("float", "Counted Quantity"),
            "inventory_diff_quantity": Field("float", "Difference", readonly=True),
            "inventory_quantity_set": Field("boolean", "Inventory Quantity Set"),
            "inventory_date": Field("date", "Scheduled Date"),
        },
        rec_name="product_id",
        extra_methods=frozenset({"action_apply_inventory"}),
    ),
    ModelDef(
        "mail.message.subtype",
        "Message subtypes",
        {"name": Field("char", "Message Type"), "internal": Field("boolean", "Internal Only")},
    ),
    ModelDef(
        "mail.message",
        "Message",
        {
            "model": Field("char", "Related Document Model"),
            "res_id": Field("integer", "Related Document ID"),
            "body": Field("html", "Contents"),
            "message_type": Field("selection", "Type", selection=MESSAGE_TYPES, default="comment"),
            "subtype_id": _m2o("mail.message.subtype", "Subtype"),
            "create_uid": _m2o("res.users", "Created by"),
            "date": Field("datetime", "Date"),
        },
        rec_name="body",
    ),
)

MODELS: dict[str, ModelDef] = {m.name: m for m in _DEFS}
