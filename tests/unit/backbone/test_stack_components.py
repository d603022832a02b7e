import base64
import uuid

import pytest

from backbone.stack import components


def test_kraft_cluster_id_redraws_ids_that_would_parse_as_an_option(monkeypatch: pytest.MonkeyPatch) -> None:
    # 0xf8 as the first byte encodes to a leading '-' in URL-safe base64.
    dashed = uuid.UUID(bytes=bytes([0xF8]) + bytes(15))
    plain = uuid.UUID(bytes=bytes(range(16)))
    draws = iter([dashed, dashed, plain])
    monkeypatch.setattr(components.uuid, "uuid4", lambda: next(draws))

    cluster_id = components.kraft_cluster_id()

    assert base64.urlsafe_b64encode(dashed.bytes).decode().startswith("-")
    assert cluster_id == base64.urlsafe_b64encode(plain.bytes).decode().rstrip("=")
    assert len(cluster_id) == 22


def test_kraft_cluster_ids_never_start_with_a_dash() -> None:
    assert not any(components.kraft_cluster_id().startswith("-") for _ in range(2000))
