"""Every service imports only backbone.* and itself: never another service, never the simulators.
The shared runtime imports no service either (the CLI imports them lazily to run them)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from backbone.config import repo_root

SERVICES = ("ingest", "status_normalizer", "odoo_sink", "wms_bridge", "carrier_bridge")
FORBIDDEN = {
    name: ("simulators", *(f"services.{other}" for other in SERVICES if other != name)) for name in SERVICES
}


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module if node.level == 0 else f"<relative>.{node.module}")
    return found


@pytest.mark.parametrize("service", sorted(FORBIDDEN))
def test_service_imports_stay_inside_their_boundary(service: str) -> None:
    files = sorted((repo_root() / "services" / service).rglob("*.py"))
    assert files, f"no sources found for {service}"
    offending = {
        f"{path.name}: {module}"
        for path in files for module in imported_modules(path)
        if module.startswith(FORBIDDEN[service])
    }
    assert offending == set()


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from simulators.wms import create_app\nimport services.wms_bridge.client\n")
    assert {"simulators.wms", "services.wms_bridge.client"} <= imported_modules(sample)


def test_runtime_imports_no_service_at_module_level() -> None:
    offending = set()
    for path in sorted((repo_root() / "backbone").rglob("*.py")):
        if "cli" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(("services", "simulators")):
                offending.add(f"{path.name}: {node.module}")
            if isinstance(node, ast.Import):
                offending |= {f"{path.name}: {a.name}" for a in node.names if a.name.startswith(("services", "simulators"))}
    assert offending == set()
