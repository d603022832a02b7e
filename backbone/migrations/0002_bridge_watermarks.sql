-- State of the bridges (wms_bridge, carrier_bridge) that is not per-record and so not in the ledger.

-- Where the last successful reconciliation poll of a partner's change feed ended (webhooks are not
-- guaranteed, so bridges also poll). One row per (bridge, stream); a restart resumes from here
-- instead of re-reading the partner's whole history.
CREATE TABLE bridge_watermarks (
    bridge        text        NOT NULL,
    stream        text        NOT NULL,   -- e.g. 'orders', 'inventory'
    cursor_token  text,                   -- the partner's opaque paging cursor, when it has one
    watermark     timestamptz,            -- time of the last change seen / start of the last poll
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bridge, stream)
);

-- Orders a bridge released to a partner (WMS) and the partner's answer as seen on the canonical
-- topic, so "released but never accepted" can be measured and a cancel finds the partner's id.
CREATE TABLE bridge_orders (
    bridge                text        NOT NULL,
    order_ref             text        NOT NULL,
    release_milestone_id  text,
    partner_order_id      text,
    state                 text        NOT NULL CHECK (state IN
                              ('released', 'accepted', 'rejected', 'backordered', 'cancelled')),
    released_at           timestamptz,
    answered_at           timestamptz,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bridge, order_ref)
);

-- The awaiting-acceptance gauge counts old unanswered releases.
CREATE INDEX bridge_orders_awaiting_idx ON bridge_orders (bridge, released_at)
    WHERE state IN ('released', 'backordered');
