"""Root fixtures. Integration tests get the real local stack (started once per session when no
explicit KAFKA_BOOTSTRAP_SERVERS / SCHEMA_REGISTRY_URL / DATABASE_URL is exported)."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
PARTNER_FIXTURES = FIXTURES / "partners"


def partner_fixture_bytes(name: str) -> bytes:
    """Raw bytes of a partner payload sample (tests/fixtures/partners/<name>)."""
    return (PARTNER_FIXTURES / name).read_bytes()


def partner_fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(partner_fixture_bytes(name))
    return loaded


@dataclass(frozen=True)
class StackEndpoints:
    kafka: str
    registry: str
    database: str


@pytest.fixture(scope="session")
def stack_env() -> StackEndpoints:
    """Endpoints of the real stack. Starts it (idempotently) unless all three are exported."""
    keys = ("KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL", "DATABASE_URL")
    if not all(os.environ.get(k) for k in keys):
        from backbone.stack import Stack

        status = Stack().up()
        for key, value in status.env.items():
            os.environ.setdefault(key, value)
    return StackEndpoints(*(os.environ[k] for k in keys))


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic, group and subject names so tests never collide."""
    return uuid.uuid4().hex[:10]


@dataclass(frozen=True)
class IsolatedTopics:
    """A private copy of topics.yaml (every name suffixed) applied to the real broker."""

    path: Path
    suffix: str

    def name(self, role: str) -> str:
        from backbone.topics import load_topics

        return load_topics(self.path).name(role)


@pytest.fixture
def isolated_topics(
    stack_env: StackEndpoints, tmp_path: Path, unique: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[IsolatedTopics]:
    """Every topic of topics.yaml under a unique name, created on the real broker, with schemas
    registered; BACKBONE_TOPICS_FILE points services at it. Tests never share topics, and every topic
    named with the suffix (including Faust changelogs) is deleted afterwards so a long-lived local
    broker does not accumulate thousands of partitions."""
    from confluent_kafka.admin import AdminClient

    from backbone.config import repo_root
    from backbone.schema_registry_ops import register_schemas
    from backbone.serialization import SchemaRegistry
    from backbone.topic_admin import apply_plan, plan_topics
    from backbone.topics import load_topics

    text = (repo_root() / "topics.yaml").read_text().replace(".v1\n", f"-{unique}.v1\n")
    path = tmp_path / "topics.yaml"
    path.write_text(text)
    catalog = load_topics(path)
    admin = AdminClient({"bootstrap.servers": stack_env.kafka})
    apply_plan(admin, plan_topics(admin, catalog, replication=1))
    register_schemas(SchemaRegistry.connect(stack_env.registry), catalog)
    monkeypatch.setenv("BACKBONE_TOPICS_FILE", str(path))
    yield IsolatedTopics(path, unique)
    leftovers = [t for t in admin.list_topics(timeout=10).topics if unique in t]
    if leftovers:
        for future in admin.delete_topics(leftovers, operation_timeout=30).values():
            with contextlib.suppress(Exception):  # cleanup only; a failure here must not fail the test
                future.result(timeout=30)
