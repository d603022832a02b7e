"""SQL of :mod:`backbone.ledger`, kept apart so the ledger's logic reads in one screen.

Statements are built from constants only: the schema is composed with ``psycopg.sql.Identifier``
(``{s}``) and every value is a bound parameter. A batch is one JSON array of row objects read by
``json_to_recordset`` (one text parameter: psycopg's per-element array dumping cost about 14 us a
row, orjson about 1 us).
"""

from __future__ import annotations

__all__ = ["CLAIM", "COUNTS", "ENTRY", "FINISH", "MARK", "RANK"]

RANK = "SELECT rank FROM {s}.sink_entity_state WHERE sink = %s AND entity_key = %s"
COUNTS = "SELECT status, count(*) FROM {s}.sink_ledger WHERE sink = %s GROUP BY status"

ENTRY = """
SELECT sink, milestone_id, status, attempts, response, error, entity_key, rank, source_topic, source_partition,
       source_offset, correlation_id, applied_at
FROM {s}.sink_ledger WHERE sink = %s AND milestone_id = %s
"""
_COLUMNS = (
    "sink, milestone_id, status, attempts, entity_key, rank, source_topic, source_partition, source_offset, "
    "correlation_id"
)
_VALUES = (
    "%(sink)s, %(mid)s, {status}, {attempts}, %(key)s::text, %(rank)s::int, %(topic)s, %(partition)s::int, "
    "%(offset)s::bigint, %(cid)s::text"
)
_SOURCE = (
    "source_topic = EXCLUDED.source_topic, source_partition = EXCLUDED.source_partition, "
    "source_offset = EXCLUDED.source_offset, correlation_id = EXCLUDED.correlation_id, updated_at = now()"
)

_INPUT = """
    SELECT * FROM json_to_recordset(%(rows)s::json)
        AS i(ord int, mid text, key text, rank int, topic text, part int, off bigint, cid text{extra})
"""

# prev and st see the snapshot before the upsert: the caller learns what was there, atomically.
CLAIM = f"""
WITH input AS ({_INPUT.format(extra="")}
), prev AS (
    SELECT l.milestone_id, l.status, l.attempts, l.error
    FROM {{s}}.sink_ledger AS l JOIN input AS i ON l.sink = %(sink)s AND l.milestone_id = i.mid
), st AS (
    SELECT DISTINCT s.entity_key, s.rank
    FROM {{s}}.sink_entity_state AS s JOIN input AS i ON s.sink = %(sink)s AND s.entity_key = i.key
), up AS (
    INSERT INTO {{s}}.sink_ledger AS l ({_COLUMNS})
    SELECT %(sink)s, mid, 'in_flight', 1, key, rank, topic, part, off, cid FROM input ORDER BY ord
    ON CONFLICT (sink, milestone_id) DO UPDATE
        SET status = 'in_flight', attempts = l.attempts + 1, error = NULL, {_SOURCE}
        WHERE l.status NOT IN ('applied', 'skipped', 'skipped_stale', 'dead_lettered') OR %(force)s::bool
    RETURNING l.milestone_id
)
SELECT i.ord, p.status, p.attempts, p.error, st.rank, up.milestone_id IS NOT NULL
FROM input AS i
LEFT JOIN prev AS p ON p.milestone_id = i.mid
LEFT JOIN st ON st.entity_key = i.key
LEFT JOIN up ON up.milestone_id = i.mid
ORDER BY i.ord
"""  # noqa: S608

MARK = f"""
INSERT INTO {{s}}.sink_ledger AS l ({_COLUMNS}, error)
VALUES ({_VALUES.format(status="%(status)s", attempts="%(attempts)s::int")}, %(error)s::text)
ON CONFLICT (sink, milestone_id) DO UPDATE
    SET status = EXCLUDED.status, attempts = EXCLUDED.attempts, error = EXCLUDED.error, {_SOURCE}
"""  # noqa: S608

FINISH = f"""
WITH input AS ({
    _INPUT.format(extra=", status text, attempts int, response text, error text, new_rank int")
}
), l AS (
    INSERT INTO {{s}}.sink_ledger AS l ({_COLUMNS}, response, error, applied_at)
    SELECT %(sink)s, mid, status, attempts, key, rank, topic, part, off, cid, response::jsonb, error,
           CASE WHEN status = 'applied' THEN now() END
    FROM input ORDER BY ord
    ON CONFLICT (sink, milestone_id) DO UPDATE
        SET status = EXCLUDED.status, attempts = EXCLUDED.attempts, response = EXCLUDED.response,
            error = EXCLUDED.error, applied_at = COALESCE(EXCLUDED.applied_at, l.applied_at), {_SOURCE}
    RETURNING 1
)
INSERT INTO {{s}}.sink_entity_state AS st (sink, entity_key, rank, milestone_id)
SELECT %(sink)s, key, new_rank, mid FROM input WHERE new_rank IS NOT NULL AND key IS NOT NULL ORDER BY ord
ON CONFLICT (sink, entity_key) DO UPDATE
    SET rank = EXCLUDED.rank, milestone_id = EXCLUDED.milestone_id, updated_at = now()
"""  # noqa: S608
