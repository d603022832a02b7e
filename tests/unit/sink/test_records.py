from __future__ import annotations

from datetime import UTC, datetime

import pytest

from backbone.errors import PermanentError, TargetUnavailableError
from backbone.sink.guard import judge
from backbone.sink.records import ApplyContext, ApplyResult, RecordFields, build_record


def test_build_record_reads_ids_rank_key_and_correlation() -> None:
    at = datetime(2026, 4, 1, 12, tzinfo=UTC)
    rec = build_record(
        topic="canonical.shipment-milestones.v1",
        partition=2,
        offset=7,
        key=b"ups:1Z999",
        value={"milestone_id": "m1", "code": "DELIVERED", "rank": 90, "occurred_at": at, "correlation_id": "c-body"},
        headers=[("correlation_id", b"c-header")],
    )
    assert (rec.milestone_id, rec.entity_key, rec.rank, rec.code) == ("m1", "ups:1Z999", 90, "DELIVERED")
    assert rec.correlation_id == "c-header"
    assert rec.occurred_at == at
    assert rec.received_at is None


def test_build_record_custom_fields_and_missing_milestone() -> None:
    rec = build_record(
        topic="t",
        partition=0,
        offset=1,
        key=None,
        value={"id": "x", "kind": "COUNTED", "inventory_key": "wh1:sku"},
        headers=None,
        fields=RecordFields(milestone_id="id", rank=None, entity_key="inventory_key"),
    )
    assert (rec.milestone_id, rec.entity_key, rec.rank, rec.code, rec.correlation_id) == (
        "x",
        "wh1:sku",
        None,
        "COUNTED",
        None,
    )
    with pytest.raises(PermanentError, match="milestone_id"):
        build_record(topic="t", partition=0, offset=1, key=b"k", value={}, headers=None)


def test_apply_result_and_context_helpers() -> None:
    assert ApplyResult.applied(id=4) == ApplyResult("applied", None, {"id": 4})
    assert ApplyResult.skipped("irrelevant").reason == "irrelevant"
    ctx = ApplyContext(sink="s", target="t", attempt=2, verdict=judge(None, 70), previous_status="in_flight")
    assert ctx.outcome_unknown
    ctx2 = ApplyContext(
        sink="s", target="t", attempt=2, verdict=judge(None, 70), previous_error=TargetUnavailableError("x")
    )
    assert ctx2.outcome_unknown
    assert not ApplyContext(sink="s", target="t", attempt=1, verdict=judge(None, 70)).outcome_unknown
