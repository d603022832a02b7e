"""Fixtures of the deployment tests: helm/kubeconform from scripts/helm-tools.sh, rendered charts."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest

from tests.unit.deploy.support import ROOT, VALUES_SETS, HelmTools


@pytest.fixture(scope="session")
def helm_tools() -> HelmTools:
    """helm, kubeconform and the Kubernetes JSON schemas, built once into ~/.cache/backbone.

    The first run compiles helm and kubeconform from the Go module proxy (a minute or two); later
    runs find them cached. Skipped only when the go toolchain is absent and nothing is cached.
    """
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "helm-tools.sh")], capture_output=True, text=True, timeout=1200, cwd=ROOT
    )
    if proc.returncode == 3 and shutil.which("go") is None:
        pytest.skip("the go toolchain is not installed: helm and kubeconform cannot be built (scripts/helm-tools.sh)")
    assert proc.returncode == 0, f"scripts/helm-tools.sh failed:\n{proc.stderr}"
    env = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    return HelmTools(env["HELM"], env["KUBECONFORM"], env["K8S_SCHEMAS"], env["KUBE_VERSION"])


@pytest.fixture(scope="session")
def rendered(helm_tools: HelmTools) -> dict[str, list[dict[str, Any]]]:
    """Every values set of the chart, rendered once: {"default": [...], "all-enabled": [...], ...}."""
    return {name: helm_tools.render(path) for name, path in VALUES_SETS.items()}


@pytest.fixture(scope="session")
def all_docs(rendered: dict[str, list[dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, doc) for name, docs in rendered.items() for doc in docs]
