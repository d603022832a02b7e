from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient

from backbone.config import BackboneConfig, load
from tests.conftest import IsolatedTopics, StackEndpoints

pytestmark = pytest.mark.integration


def test_isolated_topics_exist_and_config_points_at_them(
    stack_env: StackEndpoints, isolated_topics: IsolatedTopics
) -> None:
    name = isolated_topics.name("raw.erp")
    assert name == f"raw.erp-{isolated_topics.suffix}.v1"
    md = AdminClient({"bootstrap.servers": stack_env.kafka}).list_topics(timeout=10)
    assert name in md.topics
    assert load(BackboneConfig).topics_file == isolated_topics.path
