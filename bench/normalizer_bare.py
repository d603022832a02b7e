"""The benchmark's reference: a bare confluent-kafka consume -> map -> produce loop, no Faust.

Same Pipeline and parsers as the worker (RawEvent decode, parse, Avro encode, headers, spans),
same at-least-once discipline (a batch's outputs are acknowledged before its offsets are
committed), and dedupe over a plain in-memory dict, so it emits exactly what the worker emits.
What it lacks is what the benchmark prices: Faust's streams and durable dedupe tables (RocksDB
plus changelog). Run as ``python -m bench.normalizer_bare`` with the normalizer's environment
(BACKBONE_TOPICS_FILE, KAFKA_BOOTSTRAP_SERVERS, SCHEMA_REGISTRY_URL, BACKBONE_NORMALIZER_APP_ID).
"""

from __future__ import annotations

import gc
import signal
from types import FrameType
from typing import Any, cast

from confluent_kafka import Consumer, Producer, TopicPartition

from backbone.config import load
from backbone.headers import Headers
from backbone.kafka import consumer_config, producer_config
from backbone.serialization import SchemaRegistry
from backbone.telemetry import setup_tracing
from backbone.topics import load_topics
from services.status_normalizer.config import NormalizerConfig
from services.status_normalizer.dedupe import MemoryStore
from services.status_normalizer.mapping import default_mappings
from services.status_normalizer.parsers import parse
from services.status_normalizer.pipeline import Pipeline, RawMessage


def main() -> None:
    cfg = load(NormalizerConfig)
    setup_tracing("status_normalizer")  # spans cost the same as in the worker
    catalog = load_topics(cfg.topics_file)
    pipeline = Pipeline(SchemaRegistry.connect(cfg.schema_registry_url), catalog, parse,
                        mapping_version=default_mappings().version)
    consumer = Consumer(consumer_config(cfg, cfg.app_id, **{"fetch.wait.max.ms": 10}))
    producer = Producer(producer_config(cfg, **{"linger.ms": cfg.producer_linger_ms}))
    consumer.subscribe([spec.name for spec in catalog.by_prefix("raw.")])
    store = MemoryStore()
    gc.collect()  # the worker's garbage-collector tuning, so the comparison prices Faust only
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    while not stopping:
        batch = consumer.consume(cfg.batch_max, cfg.batch_within)
        if not batch:
            continue
        for m in batch:
            if m.error():
                continue
            msg = RawMessage(str(m.topic()), m.partition() or 0, m.offset() or 0, m.key(), m.value() or b"",
                             cast(Headers, m.headers() or []), m.timestamp()[1])
            try:
                outputs = pipeline.normalize(msg, store)
            except Exception:  # the worker dead-letters these; the workload has none
                continue
            for out in outputs:
                producer.produce(out.topic, out.value, out.key, headers=cast(Any, out.headers))
            producer.poll(0)
        if producer.flush(30) == 0:  # acknowledged before the offsets move, as in the worker
            ends = {(str(m.topic()), m.partition() or 0): (m.offset() or 0) + 1 for m in batch if not m.error()}
            consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in ends.items()], asynchronous=True)
    producer.flush(10)
    consumer.close()


if __name__ == "__main__":
    main()
