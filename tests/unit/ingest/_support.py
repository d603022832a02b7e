"""Test support for ingest: partner secrets, request signing per scheme, an in-memory producer."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backbone.config import repo_root
from backbone.errors import DeliveryError
from backbone.serialization import AvroSerde, load_schema
from backbone.signatures import (
    AFTERSHIP_HEADER,
    EASYPOST_HEADER,
    SHIPHERO_HEADER,
    SHIPPO_HEADER,
    sign_aftership,
    sign_easypost,
    sign_shiphero,
    sign_shippo,
    standard_webhooks_headers,
)
from services.ingest.config import IngestConfig

PARTNERS_FILE = repo_root() / "config" / "partners.yaml"

# Test secrets only (the demo ones live in config/demo-secrets.yaml). EasyPost's has a composed
# character so the NFKD step of the scheme matters.
SECRETS: dict[str, str] = {
    "easypost": "ep-t\u00e9st-secret-0001",
    "aftership": "as-test-secret-0001",
    "shippo": "shippo-test-token-0001",
    "shippo-hmac": "shippo-hmac-test-secret-0001",
    "shiphero": "sh-test-secret-0001",
    "shipbob": "whsec_" + "dGVzdC1zaGlwYm9iLXNpZ25pbmcta2V5LTAwMDE=",
    "generic-tms": "gt-test-api-key-000000000001",
    "odoo": "odoo-test-api-key-0000000001",
    "tms-two": "tms-two-test-api-key-00000001",
}

# Fixture file -> partner that sends it.
FIXTURES: dict[str, str] = {
    "easypost_tracker_updated.json": "easypost",
    "aftership_tracking_update.json": "aftership",
    "shippo_track_updated.json": "shippo",
    "shiphero_shipment_update.json": "shiphero",
    "shipbob_order_shipped.json": "shipbob",
    "generic_milestone.json": "generic-tms",
}

EXTRA_PARTNERS = """
  shippo-hmac:
    channel: carrier-tracking
    format: shippo.track_updated
    signature: shippo-hmac
  tms-two:
    channel: carrier-tracking
    format: generic.milestone.v1
    signature: api-key
    rate_limit: {per_second: 5, burst: 10}
"""


def write_secrets(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for partner, secret in SECRETS.items():
        (directory / partner).write_text(secret + "\n")
    return directory


def partners_file(tmp_path: Path, extra: str = EXTRA_PARTNERS) -> Path:
    """The repo's partners.yaml plus test partners (a Shippo HMAC variant, a tightly limited TMS)."""
    path = tmp_path / "partners.yaml"
    path.write_text(PARTNERS_FILE.read_text() + extra)
    return path


def make_config(tmp_path: Path, **overrides: Any) -> IngestConfig:
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": "127.0.0.1:1",
        "partners_file": partners_file(tmp_path),
        "secrets_dir": write_secrets(tmp_path / "secrets"),
        "produce_timeout_s": 0.3,
        **overrides,
    }
    return IngestConfig(**values)


def sign(
    partner: str, body: bytes, *, secret: str | None = None, timestamp: int | None = None, msg_id: str | None = None
) -> dict[str, str]:
    """Headers (and for Shippo tokens a query string) a real sender of ``partner`` attaches."""
    secret = SECRETS[partner] if secret is None else secret
    stamp = int(time.time()) if timestamp is None else timestamp
    headers = {"Content-Type": "application/json"}
    if partner == "easypost":
        headers[EASYPOST_HEADER] = sign_easypost(body, secret)
    elif partner == "aftership":
        headers[AFTERSHIP_HEADER] = sign_aftership(body, secret)
    elif partner == "shiphero":
        headers[SHIPHERO_HEADER] = sign_shiphero(body, secret)
    elif partner == "shipbob":
        headers.update(standard_webhooks_headers(msg_id or f"msg_{uuid.uuid4().hex}", stamp, body, secret))
    elif partner == "shippo-hmac":
        headers[SHIPPO_HEADER] = sign_shippo(body, secret, stamp)
    elif partner in ("generic-tms", "odoo", "tms-two"):
        headers["Authorization"] = f"Bearer {secret}"
    return headers


def query(partner: str, *, secret: str | None = None) -> dict[str, str]:
    return {"token": SECRETS[partner] if secret is None else secret} if partner == "shippo" else {}


def raw_serde() -> AvroSerde:
    return AvroSerde(1, load_schema("RawEvent"))


def encoder(serde: AvroSerde) -> Any:
    def encode(topic: str, record: dict[str, Any]) -> bytes:
        return serde.encode(record)

    return encode


@dataclass
class Sent:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]


@dataclass
class FakeProducer:
    """In-memory double of the RawProducer protocol. ``fail`` makes deliveries fail, ``hang`` never ack."""

    sent: list[Sent] = field(default_factory=list)
    fail: DeliveryError | None = None
    hang: bool = False
    ack_delay_s: float = 0.0
    flushed: int = 0
    healthy_answer: bool = True

    def send_nowait(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self.hang:
            return future
        if self.fail is not None:
            loop.call_soon(future.set_exception, self.fail)
            return future

        def ack() -> None:
            if not future.done():
                self.sent.append(Sent(topic, key, value, dict(headers or [])))
                future.set_result(None)

        loop.call_later(self.ack_delay_s, ack)
        return future

    def healthy(self, timeout: float = 2.0, topic: str | None = None) -> bool:
        return self.healthy_answer

    def flush(self, timeout: float = 10.0) -> int:
        self.flushed += 1
        return 0

    def close(self, timeout: float = 10.0) -> int:
        return self.flush(timeout)
