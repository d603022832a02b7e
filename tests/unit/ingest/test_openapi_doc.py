"""docs/ingest-openapi.json (for partners, without a running service) equals what /openapi.json serves."""

from __future__ import annotations

import json

import pytest

from backbone.config import load, repo_root
from services.ingest.config import IngestConfig
from services.ingest.openapi import build_openapi
from services.ingest.partners import load_partners


def test_published_openapi_document_is_current(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKBONE_INGEST_DEMO_SECRETS", "1")
    served = build_openapi(load_partners(load(IngestConfig)))
    published = json.loads((repo_root() / "docs" / "ingest-openapi.json").read_text())
    assert published == served, "regenerate docs/ingest-openapi.json (see README, 'Ingest API')"
