-- Idempotency ledger of every sink write (DESIGN.md: exactly-once effects at the edges).
-- One row per (sink, milestone_id); the runtime marks it in_flight before calling the target so
-- a crash mid-call is visible on restart (the handler's reconcile() runs before re-applying).
CREATE TABLE sink_ledger (
    sink              text        NOT NULL,
    milestone_id      text        NOT NULL,
    status            text        NOT NULL CHECK (status IN
                          ('in_flight', 'applied', 'skipped', 'skipped_stale', 'dead_lettered', 'failed')),
    attempts          integer     NOT NULL DEFAULT 0,
    response          jsonb,
    error             text,
    entity_key        text,
    rank              integer,
    source_topic      text        NOT NULL,
    source_partition  integer     NOT NULL,
    source_offset     bigint      NOT NULL,
    correlation_id    text,
    first_seen_at     timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    applied_at        timestamptz,
    PRIMARY KEY (sink, milestone_id)
);

-- On-call looks for rows stuck in flight or failed, newest first.
CREATE INDEX sink_ledger_status_idx ON sink_ledger (sink, status, updated_at DESC)
    WHERE status IN ('in_flight', 'failed', 'dead_lettered');

-- Monotonic guard: the highest rank applied per entity, so a late IN_TRANSIT never overwrites
-- DELIVERED at the target.
CREATE TABLE sink_entity_state (
    sink          text        NOT NULL,
    entity_key    text        NOT NULL,
    rank          integer     NOT NULL,
    milestone_id  text        NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sink, entity_key)
);
