"""Root fixtures. Integration tests get the real local stack (started once per session when no
explicit KAFKA_BOOTSTRAP_SERVERS / SCHEMA_REGISTRY_URL / DATABASE_URL is exported)."""

from __future__ import annotations

import json
import os
import uuid
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
