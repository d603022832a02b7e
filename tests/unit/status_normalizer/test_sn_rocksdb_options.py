from pathlib import Path

from backbone.config import load
from services.status_normalizer.app import create_app
from services.status_normalizer.config import NormalizerConfig


def test_every_dedupe_table_gets_bounded_rocksdb_options(tmp_path: Path) -> None:
    cfg = load(NormalizerConfig, kafka_bootstrap_servers="127.0.0.1:1", schema_registry_url="http://127.0.0.1:1",
               datadir=tmp_path, rocksdb_write_buffer_mb=4, rocksdb_block_cache_mb=2)
    app = create_app(cfg)
    stores = [table.data for table in app.tables.values()]
    assert len(stores) == 3  # one per raw topic
    for store in stores:
        opts = store.rocksdb_options
        assert opts.write_buffer_size == 4 * 1024 * 1024
        assert opts.max_write_buffer_number == 2
        assert opts.block_cache_size == 2 * 1024 * 1024
        assert opts.bloom_filter_size == 10


def test_memory_store_takes_no_rocksdb_options(tmp_path: Path) -> None:
    cfg = load(NormalizerConfig, kafka_bootstrap_servers="127.0.0.1:1", schema_registry_url="http://127.0.0.1:1",
               datadir=tmp_path, store="memory://")
    app = create_app(cfg)
    assert all(not hasattr(table.data, "rocksdb_options") for table in app.tables.values())


def test_worst_case_memtable_and_cache_memory_fits_the_chart_limit() -> None:
    # 15 partition databases with topics.yaml (6 + 6 + 3); the chart's memory limit is 1 GiB and
    # the Python worker itself uses about 300 MB under load.
    cfg = NormalizerConfig()
    opts = cfg.rocksdb_options()
    per_db = opts["write_buffer_size"] * opts["max_write_buffer_number"] + opts["block_cache_size"]
    assert 15 * per_db <= 400 * 1024 * 1024
