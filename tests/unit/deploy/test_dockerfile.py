"""The Dockerfile cannot be built here (no Docker engine): its structure is what is tested."""

from __future__ import annotations

import json
import re

from tests.unit.deploy.support import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
IGNORE = (ROOT / ".dockerignore").read_text().split()


def _stages() -> dict[str, list[str]]:
    stages: dict[str, list[str]] = {}
    current = ""
    for line in re.sub(r"\\\n", " ", DOCKERFILE).splitlines():
        line = line.strip()
        if match := re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)", line, re.IGNORECASE):
            current = match.group(2)
            stages[current] = [line]
        elif current and line and not line.startswith("#"):
            stages[current].append(line)
    return stages


def test_multi_stage_slim_python_311() -> None:
    stages = _stages()
    assert list(stages) == ["build", "runtime"]
    assert re.search(r"ARG PYTHON_IMAGE=python:3\.11-slim", DOCKERFILE)
    assert stages["runtime"][0].startswith("FROM ${PYTHON_IMAGE}")


def test_final_image_is_non_root_without_build_tools() -> None:
    runtime = "\n".join(_stages()["runtime"])
    assert "USER 10001:10001" in runtime
    assert not re.search(r"apt-get install|build-essential|gcc|pip install", runtime)
    assert "COPY --from=build /opt/venv /opt/venv" in runtime
    entrypoint = re.search(r"^ENTRYPOINT (.+)$", runtime, re.MULTILINE)
    assert entrypoint and json.loads(entrypoint.group(1)) == ["backbone"]


def test_runtime_data_is_copied_and_found_through_backbone_home() -> None:
    runtime = "\n".join(_stages()["runtime"])
    for path in ("topics.yaml", "schemas", "config"):
        assert re.search(rf"^COPY {path} ", runtime, re.MULTILINE), path
        assert (ROOT / path).exists()
    assert "BACKBONE_HOME=/app" in runtime
    # The chart's UID and the normalizer's state dir match the image.
    assert "BACKBONE_NORMALIZER_DATADIR=/var/lib/backbone/normalizer" in runtime


def test_build_context_excludes_local_state() -> None:
    for entry in (".git", ".venv", ".backbone", "tests", "deploy"):
        assert entry in IGNORE
    for copied in re.findall(r"^COPY (?!--)(\S+)", DOCKERFILE, re.MULTILINE):
        assert copied not in IGNORE and (ROOT / copied).exists(), copied
