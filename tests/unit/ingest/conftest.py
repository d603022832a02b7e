"""Fixtures for ingest unit tests: an in-process app on 127.0.0.1 with an in-memory producer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from backbone.serialization import AvroSerde
from services.ingest.app import create_app
from services.ingest.config import IngestConfig
from tests.unit.ingest._support import FakeProducer, encoder, make_config, raw_serde


@pytest.fixture
def cfg(tmp_path: Path) -> IngestConfig:
    return make_config(tmp_path)


@pytest.fixture
def serde() -> AvroSerde:
    return raw_serde()


@pytest.fixture
def producer() -> FakeProducer:
    return FakeProducer()


@pytest.fixture
async def client(cfg: IngestConfig, producer: FakeProducer, serde: AvroSerde) -> AsyncIterator[TestClient]:
    app = create_app(cfg, producer, encoder=encoder(serde))
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client
