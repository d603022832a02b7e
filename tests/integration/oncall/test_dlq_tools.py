from __future__ import annotations

import json
import time

import pytest
from confluent_kafka import Consumer, Producer

from backbone import headers as h
from backbone.config import BackboneConfig, load
from backbone.dlq import Origin, dlq_headers
from backbone.dlq_tools import list_dead_letters, redrive, show_dead_letter
from backbone.topics import load_topics
from tests.conftest import IsolatedTopics, StackEndpoints

pytestmark = pytest.mark.integration


def _dead_letter(
    p: Producer, dlq: str, origin_topic: str, i: int, error: Exception, stage: str, redrives: int = 0
) -> None:
    value = json.dumps({"order_ref": f"SO-{i}", "ship_to": {"name": "Jane Doe", "phone": "+33 6"}}).encode()
    hdrs = dlq_headers(
        [(h.CORRELATION_ID, f"c-{i}".encode())],
        error=error,
        stage=stage,
        origin=Origin(origin_topic, 0, i),
        consumer="odoo_sink",
    )
    if redrives:
        hdrs.append((h.REDRIVE_COUNT, str(redrives).encode()))
    p.produce(dlq, value, f"SO-{i}".encode(), headers=hdrs)


def test_list_show_redrive_round_trip(stack_env: StackEndpoints, isolated_topics: IsolatedTopics) -> None:
    dlq = isolated_topics.name("dlq.odoo_sink")
    origin = isolated_topics.name("canonical.order-milestones")
    p = Producer({"bootstrap.servers": stack_env.kafka, "acks": "all"})
    for i in range(3):
        _dead_letter(p, dlq, origin, i, ValueError("no picking"), "apply")
    _dead_letter(p, dlq, origin, 3, KeyError("x"), "decode")
    _dead_letter(p, dlq, origin, 4, ValueError("no picking"), "apply", redrives=3)
    assert p.flush(15) == 0
    cfg = load(BackboneConfig)
    catalog = load_topics(cfg.topics_file)

    summary = list_dead_letters(cfg, catalog, consumer="odoo_sink")
    assert summary.total == 5
    assert summary.by_class_stage[("odoo_sink", "ValueError", "apply")] == 4
    assert summary.by_class_stage[("odoo_sink", "KeyError", "decode")] == 1
    assert list_dead_letters(cfg, catalog, consumer="odoo_sink", error_class="KeyError").total == 1

    shown = show_dead_letter(cfg, f"{dlq}:0:0")
    assert shown["headers"][h.ERROR_CLASS] == "ValueError"
    assert shown["payload"]["ship_to"] == "***"
    assert shown["payload"]["order_ref"] == "SO-0"
    assert show_dead_letter(cfg, f"{dlq}:0:0", unmask=True)["payload"]["ship_to"]["name"] == "Jane Doe"

    dry = redrive(cfg, catalog, consumer="odoo_sink", error_class="ValueError", dry_run=True)
    assert (dry.selected, dry.redriven, dry.refused_max_redrives) == (4, 0, 1)

    done = redrive(cfg, catalog, consumer="odoo_sink", error_class="ValueError")
    assert (done.selected, done.redriven, done.refused_max_redrives, done.skipped_filter) == (4, 3, 1, 1)
    again = redrive(cfg, catalog, consumer="odoo_sink", error_class="ValueError")
    assert again.selected == 0 and again.redriven == 0  # progress committed: nothing re-sent twice

    c = Consumer(
        {
            "bootstrap.servers": stack_env.kafka,
            "group.id": f"check-{isolated_topics.suffix}",
            "auto.offset.reset": "earliest",
        }
    )
    c.subscribe([origin])
    got = []
    deadline = time.monotonic() + 20
    while len(got) < 3 and time.monotonic() < deadline:
        for msg in c.consume(10, 0.5):
            if not msg.error():
                got.append(msg)
    c.close()
    assert sorted(m.key() for m in got) == [b"SO-0", b"SO-1", b"SO-2"]
    for m in got:
        d = h.to_dict(m.headers())
        assert d[h.REDRIVE_COUNT] == "1"
        assert d[h.CORRELATION_ID].startswith("c-")
        assert d[h.ATTEMPTS] == "1"
